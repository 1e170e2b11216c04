"""Saving and loading models (tapegrad.serialize, Module.state_dict / load_state_dict).

A save is atomic (a temporary file renamed into place), writes through a symlink, keeps an
existing file's mode, refuses anything but a regular file, and cleans up what killed saves left
behind -- never what a running save is writing. Every failed load -- wrong shape, corrupt,
nested too deep, too large, NaN -- raises a clear error naming the file and leaves the model
exactly as it was."""

import errno
import json
import math
import os
import random
import re
import socket
import stat
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapegrad import Value
from tapegrad.cli import main
from tapegrad.nn import MLP, Layer, Module, Neuron
from tapegrad import files
from tapegrad.serialize import check_save_path, load, named_parameters, save


def model(seed: int, sizes=(4, 1)) -> MLP:
    random.seed(seed)
    return MLP(2, list(sizes))


def datas(m: Module) -> list[float]:
    return [p.data for p in m.parameters()]


def test_state_dict_names_and_values():
    m = model(0, (2, 1))
    state = m.state_dict()
    assert list(state) == [
        "layers.0.neurons.0.w", "layers.0.neurons.0.b",
        "layers.0.neurons.1.w", "layers.0.neurons.1.b",
        "layers.1.neurons.0.w", "layers.1.neurons.0.b",
    ]
    assert state["layers.0.neurons.1.w"] == [p.data for p in m.layers[0].neurons[1].w]
    assert state["layers.1.neurons.0.b"] == 0.0
    json.dumps(state)  # plain numbers only


def test_round_trip_in_memory_and_through_a_file(tmp_path):
    source = model(1)
    for p in source.parameters():
        p.data += 0.125  # as if trained: biases are no longer 0
    target = model(2)
    target.load_state_dict(source.state_dict())
    assert datas(target) == datas(source)

    path = tmp_path / "model.json"
    save(source, path)
    fresh = model(3)
    load(fresh, path)
    assert datas(fresh) == datas(source)  # floats survive JSON exactly
    x = [Value(0.3), Value(-0.8)]
    assert fresh(x).data == source(x).data
    document = json.loads(path.read_text())
    assert (document["format"], document["version"], document["module"]) == (
        "tapegrad.state_dict", 1, "MLP"
    )


def test_neuron_and_layer_have_state_dicts_too():
    random.seed(0)
    n = Neuron(3)
    assert list(n.state_dict()) == ["w", "b"]
    layer = Layer(2, 2)
    assert list(layer.state_dict()) == ["neurons.0.w", "neurons.0.b", "neurons.1.w", "neurons.1.b"]


def test_a_custom_module_falls_back_to_positions():
    class Scaled(Module):
        def __init__(self):
            self.table = {"a": Value(1.0), "b": Value(2.0)}  # not found by attribute walk

        def parameters(self):
            return list(self.table.values())

    m = Scaled()
    assert m.state_dict() == {"parameters.0": 1.0, "parameters.1": 2.0}
    m.load_state_dict({"parameters.0": 5.0, "parameters.1": 6.0})
    assert [p.data for p in m.parameters()] == [5.0, 6.0]


def test_named_parameters_cover_parameters_in_order():
    m = model(0, (3, 2, 1))
    flat = [v for _, p in named_parameters(m) for v in (p if isinstance(p, list) else [p])]
    assert [id(v) for v in flat] == [id(v) for v in m.parameters()]


# ---------------------------------------------------------------------------------------------
# Failed loads leave the model as it was
# ---------------------------------------------------------------------------------------------


def bad_states():
    good = model(7).state_dict()
    last = list(good)[-2]  # the last neuron's weights: a check that fails only at the very end
    cases = {
        "missing": ({k: v for k, v in good.items() if k != last}, f"missing {last}"),
        "unexpected": ({**good, "layers.9.neurons.0.b": 0.0}, "unexpected layers.9.neurons.0.b"),
        "short list": ({**good, last: good[last][:-1]}, f"{last} needs a list of 4 numbers"),
        "not a list": ({**good, last: 1.0}, f"{last} needs a list of 4 numbers"),
        "a string": ({**good, last: [*good[last][:-1], "1"]}, f"{last}[3] is '1', not a number"),
        "a bool": ({**good, "layers.1.neurons.0.b": True}, "is True, not a number"),
        # A whole number that JSON can hold but a float cannot: found while checking, not
        # halfway through copying (which would leave the model half loaded).
        "too large": (
            {**good, last: [*good[last][:-1], 10**400]},
            f"{last}[3] is too large for a float",
        ),
        "not a dict": ([1, 2], "expected a dict"),
        "nan": ({**good, "layers.1.neurons.0.b": math.nan},
                "layers.1.neurons.0.b is nan; a parameter must be a finite number"),
        "inf in a list": ({**good, last: [*good[last][:-1], -math.inf]},
                          f"{last}[3] is -inf; a parameter must be a finite number"),
        "an int too long to print": ({**good, last: 10**5000},
                                     f"{last} needs a list of 4 numbers, the saved state has an "
                                     "int too long to show"),
        "a name too long to print": ({**good, "x" * 10**6: 0.0}, f"unexpected {'x' * 60}..."),
    }
    return cases


@pytest.mark.parametrize("case", list(bad_states()))
def test_bad_state_dicts_change_nothing(case):
    state, words = bad_states()[case]
    m = model(0)
    before = datas(m)
    with pytest.raises(ValueError, match=re.escape(words)):
        m.load_state_dict(state)
    assert datas(m) == before


def test_loading_a_model_of_another_shape(tmp_path):
    path = tmp_path / "wide.json"
    save(model(0, (8, 1)), path)
    m = model(1, (4, 1))
    before = datas(m)
    with pytest.raises(ValueError, match="same shape") as error:
        load(m, path)
    assert str(path) in str(error.value)
    assert datas(m) == before


@pytest.mark.parametrize(
    "content, words",
    [
        ('{"format": "tapegrad.state_dict", "version": 1, "sta', "corrupt or truncated"),
        ("", "JSON is broken at line 1"),
        ('{"weights": [1, 2]}', "not a tapegrad model file"),
        ("[1, 2, 3]", "not a tapegrad model file"),
        ('{"format": "tapegrad.state_dict", "version": 99, "state": {}}', "version 99"),
        ('{"format": "tapegrad.state_dict", "version": 1}', "expected a dict"),
    ],
)
def test_corrupt_files_change_nothing(tmp_path, content, words):
    path = tmp_path / "broken.json"
    path.write_text(content)
    m = model(0)
    before = datas(m)
    with pytest.raises(ValueError, match=re.escape(words)) as error:
        load(m, path)
    assert str(error.value).startswith(f"load: {str(path)!r}")
    assert datas(m) == before


def good_document() -> dict:
    return {"format": "tapegrad.state_dict", "version": 1, "module": "MLP",
            "state": model(7).state_dict()}


def file_with(name: str, token: str, index: "int | None" = None) -> str:
    """A saved model(0)-shaped file whose parameter `name` (its item `index`) is written as
    `token`, a piece of JSON text."""
    document = good_document()
    if index is None:
        document["state"][name] = 12345.5
    else:
        document["state"][name][index] = 12345.5
    text = json.dumps(document)
    assert text.count("12345.5") == 1
    return text.replace("12345.5", token)


BIAS, WEIGHTS = "layers.1.neurons.0.b", "layers.0.neurons.0.w"
# name: (the file's text, what the message says after "load: 'PATH'")
BAD_FILES = {
    "nested 50,000 deep (RecursionError)": ("[" * 50_000, " is not a tapegrad model file: "
                                            "its JSON is nested more than 32 levels deep"),
    "nested 33 deep": (file_with(BIAS, "[" * 31 + "]" * 31),
                       " is not a tapegrad model file: its JSON is nested more than 32 levels"),
    "nested 32 deep: refused by the state's check": (
        file_with(BIAS, "[" * 30 + "]" * 30), f": {BIAS} is [[[...]]], not a number"),
    "a 5,000-digit whole number": (file_with(BIAS, "9" * 5000), f": {BIAS} is 999999999999..."
                                   "9999: a number written with 5,000 characters; save writes "
                                   "at most 24"),
    "a 5,000-digit fraction": (file_with(WEIGHTS, "0." + "0" * 4997 + "1", 1),
                               f": {WEIGHTS}[1] is 0.0000000000...0001: a number written with "
                               "5,000 characters"),
    "a 5,000-digit version": (json.dumps({**good_document(), "version": 0}).replace(
        '"version": 0', '"version": ' + "9" * 5000), " has format version 999999999999...9999"),
    "NaN": (file_with(BIAS, "NaN"), f": {BIAS} is NaN: a parameter must be a finite number"),
    "Infinity": (file_with(BIAS, "Infinity"), f": {BIAS} is Infinity: a parameter must be"),
    "-Infinity in a list": (file_with(WEIGHTS, "-Infinity", 0),
                            f": {WEIGHTS}[0] is -Infinity: a parameter must be a finite number"),
    "1e999": (file_with(BIAS, "1e999"), f": {BIAS} is 1e999: too large for a float"),
    "-1e999 in a list": (file_with(WEIGHTS, "-1e999", 1),
                         f": {WEIGHTS}[1] is -1e999: too large for a float"),
    "NaN as the version": (json.dumps({**good_document(), "version": 0}).replace(
        '"version": 0', '"version": NaN'),
        " has format version NaN; this tapegrad reads version 1"),
    "too large for this model": (json.dumps(good_document()) + " " * 100_000,
                                 " is 100,"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_are_refused_naming_the_file(tmp_path, case):
    text, words = BAD_FILES[case]
    path = tmp_path / "bad.json"
    path.write_text(text)
    m = model(0)
    before = datas(m)
    with pytest.raises(ValueError) as error:
        load(m, path)
    assert str(error.value).startswith(f"load: {str(path)!r}{words}"), str(error.value)[:300]
    assert len(str(error.value)) < 400
    assert datas(m) == before


def test_a_file_too_large_for_the_model_says_how_large_may_be(tmp_path):
    path = tmp_path / "big.json"
    path.write_text(json.dumps(good_document()) + " " * 100_000)
    with pytest.raises(ValueError, match=r"is 10\d,\d{3} bytes, larger than a file of this "
                       r"model's 17 parameters can be \(at most 67,\d{3} bytes\)"):
        load(model(0), path)


def test_the_size_limit_leaves_room_for_a_pretty_printed_file(tmp_path):
    """Indented, one number a line, names of a deep model: still well within the limit."""
    random.seed(0)
    m = MLP(3, [8, 8, 8, 8, 1])
    path = tmp_path / "pretty.json"
    document = {"format": "tapegrad.state_dict", "version": 1, "state": m.state_dict()}
    path.write_text(json.dumps(document, indent=8))
    fresh = MLP(3, [8, 8, 8, 8, 1])
    load(fresh, path)
    assert datas(fresh) == datas(m)


def test_a_huge_file_is_refused_without_reading_it(tmp_path):
    """The issue's 76 MiB file took 9 s and 860 MiB: now its size alone refuses it."""
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.truncate(76 << 20)  # sparse: nothing written, nothing to read
    started = time.perf_counter()
    with pytest.raises(ValueError, match="is 79,691,776 bytes, larger than a file of this "):
        load(model(0), path)
    assert time.perf_counter() - started < 0.5


def test_a_file_whose_size_is_not_known_is_read_only_up_to_the_limit(tmp_path, monkeypatch):
    """Files of /proc say they are empty; reading stops one byte past the limit anyway."""
    path = tmp_path / "growing.json"
    path.write_text(json.dumps(good_document()) + " " * 1_000_000)
    real_fstat, reads = os.fstat, []

    def fstat(fd):
        found = real_fstat(fd)
        return os.stat_result((*found[:6], 0, *found[7:]))  # st_size 0

    real_open = open

    class Counting:
        def __init__(self, file):
            self.file = file

        def read(self, size=-1):
            reads.append(size)
            return self.file.read(size)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    monkeypatch.setattr(os, "fstat", fstat)
    monkeypatch.setattr("builtins.open", lambda *a, **k: Counting(real_open(*a, **k)))
    with pytest.raises(ValueError, match=r"is more than 67,\d{3} bytes, larger than a file"):
        load(model(0), path)
    monkeypatch.undo()
    assert len(reads) == 1 and 67_000 < reads[0] < 68_000


@pytest.mark.parametrize("where", ["folder", "/dev/zero", "fifo"])
def test_load_refuses_what_is_not_a_file_without_reading_it(tmp_path, where):
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")  # opening it to read would wait for a writer
    path = where if where.startswith("/") else str(tmp_path / where)
    with pytest.raises(ValueError, match=r"is a (folder|character device|fifo)"):
        load(model(0), path)


def test_deep_nesting_is_refused_whatever_the_recursion_limit(tmp_path):
    """json's parser recurses in C: with the recursion limit raised (micrograd's users raise
    it), 400,000 brackets would crash the interpreter (a segfault) -- unless load refuses them
    before parsing. Run in a process of its own, since that is what a failure would take."""
    path = tmp_path / "deep.json"
    path.write_text("[" * 400_000)
    script = f"""
import sys
from tapegrad import Value
from tapegrad.nn import Module
from tapegrad.serialize import load

class Flat(Module):
    def __init__(self):
        self.w = [Value(0.0) for _ in range(10_000)]  # a size limit of 700 kB

    def parameters(self):
        return self.w

sys.setrecursionlimit(10**7)
try:
    load(Flat(), {str(path)!r})
except ValueError as error:
    print(error)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-500:])
    assert "is nested more than 32 levels deep" in proc.stdout


def test_brackets_and_quotes_inside_strings_are_not_nesting(tmp_path):
    document = good_document()
    document["module"] = '[{"' * 40 + "\\" + '\\"' + "[" * 40
    path = tmp_path / "m.json"
    path.write_text(json.dumps(document))
    m = model(0)
    load(m, path)
    assert datas(m) == datas(model(7))


def test_a_byte_order_mark_is_fine(tmp_path):
    path = tmp_path / "m.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(good_document()).encode())
    m = model(0)
    load(m, path)
    assert datas(m) == datas(model(7))


FINITE = st.floats(allow_nan=False, allow_infinity=False)


# One file for every example: each example overwrites it.
ONE_FILE = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@settings(ONE_FILE, max_examples=20)
@given(st.lists(FINITE, min_size=1, max_size=30), FINITE)
def test_every_finite_float_survives_a_save_exactly(tmp_path, weights, bias):
    class Small(Module):
        def __init__(self, ws, b):
            self.w, self.b = [Value(x) for x in ws], Value(b)

        def parameters(self):
            return [*self.w, self.b]

    path = tmp_path / "m.json"
    save(Small(weights, bias), path)
    fresh = Small([0.0] * len(weights), 0.0)
    load(fresh, path)
    assert [p.data.hex() for p in fresh.parameters()] == [x.hex() for x in [*weights, bias]]


NASTY = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * 400, "[" * 40, "]", "{",
         "}", '"', "\\", ",", ":", "1e-400", "-0", "true", "null", "\x00", "\u00e9", "\ufeff",
         '"state"', "[]", "{}", '"x":']


@settings(ONE_FILE, max_examples=50)
@given(st.data())
def test_a_damaged_file_loads_whole_or_is_refused_clearly(tmp_path, data):
    """Whatever is inserted, deleted or cut off, load either loads finite numbers into every
    parameter, or raises ValueError naming the file and changes nothing."""
    text = json.dumps(good_document())
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        how = data.draw(st.sampled_from(["insert", "delete", "cut"]))
        if how == "insert":
            text = text[:at] + data.draw(st.sampled_from(NASTY) | st.text(max_size=5)) + text[at:]
        elif how == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 20)):]
        else:
            text = text[:at]
    path = tmp_path / "m.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    m = model(0)
    before = datas(m)
    try:
        load(m, path)
    except ValueError as error:
        assert str(error).startswith(f"load: {str(path)!r}") and len(str(error)) < 700
        assert datas(m) == before
    else:
        assert all(math.isfinite(x) for x in datas(m))


def test_binary_garbage(tmp_path):
    path = tmp_path / "garbage.json"
    path.write_bytes(bytes(range(256)))
    m = model(0)
    before = datas(m)
    with pytest.raises(ValueError, match="not a tapegrad model file"):
        load(m, path)
    assert datas(m) == before


def test_missing_file(tmp_path):
    m = model(0)
    before = datas(m)
    with pytest.raises(FileNotFoundError, match="there is no such file; save a model there first"):
        load(m, tmp_path / "nope.json")
    assert datas(m) == before


# ---------------------------------------------------------------------------------------------
# Saves are atomic
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fail_in", ["fdopen", "fsync", "replace"])
def test_an_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch, fail_in):
    path = tmp_path / "model.json"
    old = model(0)
    save(old, path)
    old_text = path.read_text()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-save

    # fdopen: the temporary file exists, empty; fsync: it holds the new JSON, not yet on disk;
    # replace: it is complete but not yet renamed over the old one.
    monkeypatch.setattr(f"tapegrad.serialize._os.{fail_in}", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(model(1), path)
    monkeypatch.undo()
    assert path.read_text() == old_text  # the old model, whole
    assert os.listdir(tmp_path) == ["model.json"]  # and no temporary file left behind
    fresh = model(2)
    load(fresh, path)
    assert datas(fresh) == datas(old)


def test_save_into_a_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist; create it first"):
        save(model(0), tmp_path / "no" / "such" / "model.json")


def test_save_overwrites(tmp_path):
    path = tmp_path / "m.json"
    save(model(0), path)
    newer = model(1)
    save(newer, path)
    m = model(2)
    load(m, path)
    assert datas(m) == datas(newer)


def test_a_saved_file_has_the_permissions_of_any_new_file(tmp_path):
    """Atomic saves go through a temporary file; it must not leave the model readable by its
    owner only (tempfile.mkstemp's 0600), but get what open() gives: 0666 less the umask."""
    plain = tmp_path / "plain.txt"
    plain.write_text("")
    path = tmp_path / "m.json"
    save(model(0), path)
    assert os.stat(path).st_mode & 0o777 == os.stat(plain).st_mode & 0o777


# ---------------------------------------------------------------------------------------------
# What save writes to: a regular file or nothing yet, through symlinks, keeping its mode
# ---------------------------------------------------------------------------------------------


def deny_writing(monkeypatch, path) -> None:
    """Take write permission away from `path`. Root is not stopped by permission bits, so for
    root os.access is made to answer as it would for anyone else (what the check reads)."""
    os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) & ~0o222)
    if os.access(path, os.W_OK):
        denied, real = os.path.realpath(path), os.access

        def access(p, mode, **kwargs):
            if mode & os.W_OK and os.path.realpath(p) == denied:
                return False
            return real(p, mode, **kwargs)

        monkeypatch.setattr(os, "access", access)


def a_socket(path) -> str:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()  # the socket file stays
    return str(path)


def made(tmp_path) -> None:
    """Make the folder "d", the file "f" (holding "old") and the fifo "fifo" in tmp_path."""
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("old")
    os.mkfifo(tmp_path / "fifo")


# name: (how to make the path, given tmp_path and monkeypatch; what the message says)
REFUSED_TARGETS = {
    "empty": (lambda t, mp: "", "the path is empty; pass a file name such as 'model.json'"),
    "ends in /": (lambda t, mp: f"{t / 'd'}/", "ends in '/', so it names a folder, not a file"),
    "ends in / (no such folder)": (lambda t, mp: f"{t / 'new'}/", "ends in '/'"),
    "a folder": (lambda t, mp: str(t / "d"), "is a folder; pass a file path inside it, such as"),
    "a symlink to a folder": (
        lambda t, mp: (os.symlink(t / "d", t / "link"), str(t / "link"))[1],
        "(a symlink to",
    ),
    "/dev/null": (lambda t, mp: "/dev/null",
                  "'/dev/null' is a character device, not a regular file"),
    "a symlink to /dev/null": (
        lambda t, mp: (os.symlink("/dev/null", t / "link"), str(t / "link"))[1],
        "(a symlink to '/dev/null') is a character device",
    ),
    "a fifo": (lambda t, mp: str(t / "fifo"), "is a fifo (named pipe), not a regular file"),
    "a socket": (lambda t, mp: a_socket(t / "s"), "is a socket, not a regular file"),
    "no such folder": (lambda t, mp: str(t / "no" / "m.json"), "does not exist; create it first"),
    "a file where the folder should be": (lambda t, mp: str(t / "f" / "m.json"),
                                          "is a file, not a folder"),
    "a dangling symlink into no folder": (
        lambda t, mp: (os.symlink(t / "no" / "m.json", t / "link"), str(t / "link"))[1],
        "does not exist; create it first",
    ),
    "a symlink loop": (lambda t, mp: (os.symlink("loop", t / "loop"), str(t / "loop"))[1],
                       "cannot write"),
    "a folder that cannot be written into": (
        lambda t, mp: (deny_writing(mp, t / "d"), str(t / "d" / "m.json"))[1],
        "cannot be written into",
    ),
    "a read-only file": (lambda t, mp: (deny_writing(mp, t / "f"), str(t / "f"))[1],
                         "is read-only; make it writable"),
}


def snapshot(folder) -> dict:
    """Every entry below `folder`: its type and mode bits, and a regular file's content."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            content = open(path, "rb").read() if stat.S_ISREG(st.st_mode) else None
            found[os.path.relpath(path, folder)] = (st.st_mode, content)
    return found


@pytest.mark.parametrize("function", [check_save_path, lambda path: save(model(0), path)],
                         ids=["check_save_path", "save"])
@pytest.mark.parametrize("case", list(REFUSED_TARGETS))
def test_save_refuses_what_is_not_a_regular_file_and_touches_nothing(tmp_path, monkeypatch,
                                                                     function, case):
    made(tmp_path)
    make, words = REFUSED_TARGETS[case]
    path = make(tmp_path, monkeypatch)
    before, null = snapshot(tmp_path), os.stat("/dev/null")
    with pytest.raises(ValueError, match=re.escape(words)) as error:
        function(path)
    message = str(error.value)
    assert message.startswith("save: ") and "tapegrad-" not in message  # never the temp file
    assert path == "" or repr(path) in message
    assert snapshot(tmp_path) == before
    assert os.stat("/dev/null").st_mode == null.st_mode and stat.S_ISCHR(null.st_mode)


@pytest.mark.parametrize("where", ["d/", "d", "/dev/null", "f/m.json", "fifo", "no/m.json"])
def test_demo_save_to_a_bad_target_fails_before_training(tmp_path, capsys, where):
    made(tmp_path)
    path = where if where.startswith("/") else f"{tmp_path}{os.sep}{where}"
    code = main(["demo", "--no-pictures", "--save", path])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and repr(path) in err, err
    assert "step " not in out  # no training thrown away
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_check_save_path_returns_the_file_save_writes(tmp_path):
    (tmp_path / "store").mkdir()
    os.symlink(tmp_path / "store" / "m.json", tmp_path / "latest.json")  # dangling: not saved yet
    resolved = os.path.realpath(tmp_path / "store" / "m.json")
    assert check_save_path(tmp_path / "latest.json") == resolved
    assert check_save_path(os.fsencode(tmp_path / "store" / "m.json")) == resolved
    assert not os.path.exists(resolved)  # a check writes nothing


def test_save_writes_through_symlinks_to_their_target(tmp_path, monkeypatch):
    store, links = tmp_path / "store", tmp_path / "links"
    store.mkdir()
    links.mkdir()
    target = store / "model.json"
    save(model(0), target)
    os.symlink(os.path.join("..", "store", "model.json"), links / "model.json")  # relative
    os.symlink(links / "model.json", tmp_path / "latest.json")  # a chain of two links
    renames, real_replace = [], os.replace

    def replace(src, dst):
        renames.append((os.path.dirname(src), dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    newer = model(1)
    save(newer, tmp_path / "latest.json")
    monkeypatch.undo()
    assert renames == [(os.path.realpath(store), os.path.realpath(target))]  # beside the target
    assert os.readlink(links / "model.json") == os.path.join("..", "store", "model.json")
    assert os.readlink(tmp_path / "latest.json") == str(links / "model.json")
    assert sorted(os.listdir(store)) == ["model.json"] and sorted(os.listdir(links)) == [
        "model.json"]
    m = model(2)
    load(m, target)
    assert datas(m) == datas(newer)


def test_save_through_a_dangling_symlink_creates_its_target(tmp_path):
    (tmp_path / "store").mkdir()
    os.symlink(tmp_path / "store" / "new.json", tmp_path / "latest.json")
    saved = model(3)
    save(saved, tmp_path / "latest.json")
    assert os.path.islink(tmp_path / "latest.json")
    m = model(4)
    load(m, tmp_path / "store" / "new.json")
    assert datas(m) == datas(saved)


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o604, 0o660, 0o755], ids=oct)
def test_save_keeps_an_existing_files_mode(tmp_path, monkeypatch, mode):
    """Also while it is written: the temporary file is never readable by more than the file
    it replaces (a private model is not world-readable for a moment)."""
    path = tmp_path / "m.json"
    save(model(0), path)
    os.chmod(path, mode)
    modes_at_fsync, real_fsync = [], os.fsync

    def fsync(fd):
        modes_at_fsync.append(stat.S_IMODE(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    newer = model(1)
    save(newer, path)
    monkeypatch.undo()
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    assert modes_at_fsync[0] == mode  # the temporary file, synced before the rename
    m = model(2)
    load(m, path)
    assert datas(m) == datas(newer)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_new_file_gets_what_open_would_give(tmp_path, umask):
    old = os.umask(umask)
    try:
        save(model(0), tmp_path / "m.json")
        with open(tmp_path / "plain", "w"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.json").st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(os.stat(tmp_path / "plain").st_mode) == 0o666 & ~umask


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="only root can give a file to another user")
def test_root_saving_a_users_file_leaves_it_theirs(tmp_path):
    path = tmp_path / "m.json"
    save(model(0), path)
    os.chown(path, 65534, 65534)
    save(model(1), path)
    assert (os.stat(path).st_uid, os.stat(path).st_gid) == (65534, 65534)


def test_a_failing_disk_names_the_file_not_the_temporary(tmp_path, monkeypatch):
    path = tmp_path / "m.json"
    save(model(0), path)
    old = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=re.escape(f"save: could not write {str(path)!r} (No space "
                                                "left on device)")) as error:
        save(model(1), path)
    assert error.value.errno == errno.ENOSPC and "tapegrad-" not in str(error.value)
    assert os.listdir(tmp_path) == ["m.json"] and path.read_bytes() == old


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_save_refuses_a_model_with_a_non_finite_parameter(tmp_path, bad):
    path = tmp_path / "m.json"
    save(model(0), path)
    old = path.read_bytes()
    broken = model(1)
    broken.layers[1].neurons[0].w[2].data = bad
    with pytest.raises(ValueError, match=re.escape(
            f"save: parameter layers.1.neurons.0.w[2] is {bad!r}, so the model could not be "
            "loaded back; nothing was written")):
        save(broken, path)
    assert os.listdir(tmp_path) == ["m.json"] and path.read_bytes() == old


def test_paths_of_every_kind(tmp_path):
    saved = model(5)
    save(saved, os.fsencode(tmp_path / "bytes.json"))
    save(saved, str(tmp_path / "str.json"))
    for name in ["bytes.json", "str.json"]:
        m = model(6)
        load(m, os.fsencode(tmp_path / name))
        assert datas(m) == datas(saved)
    for function in (lambda p: save(saved, p), lambda p: load(saved, p), check_save_path):
        with pytest.raises(TypeError, match="path must be a file name .* got 3 of type int"):
            function(3)


def test_a_long_file_name_still_saves(tmp_path, writers):
    """The temporary file's name adds ~50 characters: a 240-character name (a name may have
    255) is shortened in it, and its leftovers are still found."""
    name = "m" * 235 + ".json"
    leftover = files._temporary_name(name).replace(f"-{os.getpid()}-", f"-{writers['dead']}-")
    (tmp_path / leftover).write_text("{half")
    saved = model(0)
    save(saved, tmp_path / name)
    assert os.listdir(tmp_path) == [name]
    m = model(1)
    load(m, tmp_path / name)
    assert datas(m) == datas(saved)


# ---------------------------------------------------------------------------------------------
# Leftovers of killed saves: removed by the next save, when provably abandoned
# ---------------------------------------------------------------------------------------------

LINUX = sys.platform.startswith("linux")


def process_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rpartition(")")[2].split()[0]


@pytest.fixture(scope="module")
def writers():
    """Processes whose pids the leftovers name: one that runs, one that has ended, one that has
    ended but is not reaped yet (a zombie: still a pid os.kill(pid, 0) finds)."""
    live = subprocess.Popen(["sleep", "120"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    zombie = subprocess.Popen(["true"])
    deadline = time.monotonic() + 5
    while LINUX and process_state(zombie.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.005)  # (not zombie.poll(): that would reap it)
    yield {"live": live.pid, "dead": dead.pid, "zombie": zombie.pid}
    live.kill()
    live.wait()
    zombie.wait()


def temporary(pid, host=None, name="model.json") -> str:
    """A temporary file name as a save by process `pid` on `host` gives it."""
    return f".{name}.tapegrad-{host or files._host()}-{pid}-0123456789abcdef.tmp"


NOW, HOURS_AGO, MINUTES_AGO = 0.0, -2 * 3600.0, -600.0
# name: (the leftover's name, given the writers; its kind; its age; whether save removes it)
LEFTOVERS = {
    "a dead writer's": (lambda w: temporary(w["dead"]), "file", NOW, True),
    "a dead writer's, written as a symlink": (lambda w: temporary(w["dead"]), "link", NOW, False),
    "a dead writer's, a folder": (lambda w: temporary(w["dead"]), "folder", NOW, False),
    "a zombie writer's": (lambda w: temporary(w["zombie"]), "file", NOW, LINUX),
    "a live writer's": (lambda w: temporary(w["live"]), "file", NOW, False),
    # Older than the live process: its pid was reused, the writer is gone (only /proc tells).
    "a live pid's, from before that process": (lambda w: temporary(w["live"]), "file",
                                               MINUTES_AGO, LINUX),
    "a live writer's, untouched for hours": (lambda w: temporary(w["live"]), "file",
                                             HOURS_AGO, True),
    "this process's (another thread saving)": (lambda w: temporary(os.getpid()), "file", NOW,
                                               False),
    "this pid's, older than this process": (lambda w: temporary(os.getpid()), "file",
                                            "before import", True),
    "another machine's": (lambda w: temporary(w["dead"], host="elsewhere"), "file", NOW, False),
    "another machine's, untouched for hours": (lambda w: temporary(w["dead"], host="elsewhere"),
                                               "file", HOURS_AGO, True),
    "another file's": (lambda w: temporary(w["dead"], name="other.json"), "file", NOW, False),
    "another file's, whose name extends this one": (
        lambda w: temporary(w["dead"], name="model.json.bak"), "file", NOW, False),
    "not this library's": (lambda w: ".model.json.0123abcd.tmp", "file", HOURS_AGO, False),
    "pid 0 (os.kill(0, 0) would ask about a whole process group)": (
        lambda w: temporary(0), "file", NOW, False),
}


@pytest.mark.parametrize("case", list(LEFTOVERS))
def test_a_save_removes_only_abandoned_temporaries_of_its_file(tmp_path, writers, case):
    name_of, kind, age, removed = LEFTOVERS[case]
    path = tmp_path / name_of(writers)
    if kind == "file":
        path.write_bytes(b'{"format": "tapegrad.state_dict", "version": 1, "sta')
    elif kind == "folder":
        path.mkdir()
    else:
        (tmp_path / "precious").write_text("keep")
        path.symlink_to(tmp_path / "precious")
    when = files._IMPORTED_AT - 60 if age == "before import" else time.time() + age
    os.utime(path, (when, when), follow_symlinks=False)
    saved = model(0)
    save(saved, tmp_path / "model.json")
    assert os.path.lexists(path) is not removed
    if kind == "link":
        assert (tmp_path / "precious").read_text() == "keep"
    m = model(1)
    load(m, tmp_path / "model.json")
    assert datas(m) == datas(saved)


# A process that forks savers on request, so each kill costs a fork, not a new interpreter and
# an import of tapegrad. Commands, one JSON list a line on stdin, each answered by a line:
#   ["save", PATH, N, VALUE, TIMES]: fork a process that builds a model of N parameters, all
#       VALUE, waits for the file PATH.go, then saves to PATH TIMES times (for ever if < 0);
#       answers its pid;
#   ["wait", PID]: reap that process; answers its exit code (negative: killed by that signal).
FORKER = """
import json, os, sys, time, traceback
from tapegrad import Value
from tapegrad.nn import Module
from tapegrad.serialize import save

class Flat(Module):
    def __init__(self, n, value):
        self.w = [Value(value) for _ in range(n)]

    def parameters(self):
        return self.w

def saving(path, n, value, times):
    model, done = Flat(n, value), 0
    while not os.path.exists(path + ".go"):
        time.sleep(0.001)
    while times < 0 or done < times:
        save(model, path)
        done += 1

print("ready", flush=True)
for line in sys.stdin:
    command, *args = json.loads(line)
    if command == "save":
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                saving(*args)
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        print(pid, flush=True)
    elif command == "wait":
        print(os.waitstatus_to_exitcode(os.waitpid(args[0], 0)[1]), flush=True)
"""


class Forker:
    """The FORKER process, driven from the tests."""

    def __init__(self, errors):
        self.errors = errors
        self.process = subprocess.Popen([sys.executable, "-c", FORKER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=open(errors, "w"),
                                        text=True)
        assert self.process.stdout.readline() == "ready\n", self.stderr()

    def ask(self, *command) -> int:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        assert answer, self.stderr()
        return int(answer)

    def saver(self, path, n: int, value: float, times: int) -> int:
        return self.ask("save", str(path), n, value, times)

    def wait(self, pid: int) -> int:
        return self.ask("wait", pid)

    def stderr(self) -> str:
        return open(self.errors).read()


@pytest.fixture(scope="module")
def forker(tmp_path_factory):
    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork")
    forker = Forker(tmp_path_factory.mktemp("forker") / "errors.txt")
    yield forker
    forker.process.stdin.close()
    forker.process.wait()
    forker.process.stdout.close()


class Flat(Module):
    """A model of `n` parameters in one list (FORKER's, for loading what it saves)."""

    def __init__(self, n: int, value: float = 0.0):
        self.w = [Value(value) for _ in range(n)]

    def parameters(self):
        return self.w


def temporaries(folder, name="model.json") -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith(f".{name}.tapegrad-"))


def test_killed_saves_leave_temporaries_that_the_next_save_removes(tmp_path, forker):
    """kill -9 a process in the middle of saving a big model, again and again: each kill
    leaves its temporary file (the issue counted 12 files, 14 MiB after 200 kills), the next
    process's first save removes it, and the file is always a whole model."""
    path, n = tmp_path / "model.json", 20_000
    (tmp_path / "model.json.go").write_text("")
    rng, left_behind, rounds = random.Random(5), 0, 0
    deadline = time.monotonic() + 10
    while (left_behind < 2 or rounds < 3) and time.monotonic() < deadline:
        pid = forker.saver(path, n, float(rounds), -1)
        mine, waited = f"-{pid}-", time.monotonic() + 5
        while not any(mine in name for name in temporaries(tmp_path)):
            assert time.monotonic() < waited, f"no temporary file from {pid}: {forker.stderr()}"
            time.sleep(0.0002)
        time.sleep(rng.uniform(0.0, 0.002))  # a random moment of the write
        os.kill(pid, 9)  # SIGKILL: nothing of the save's own cleanup runs
        assert forker.wait(pid) == -9, forker.stderr()
        rounds += 1
        left = temporaries(tmp_path)
        assert all(mine in name for name in left), left  # the earlier kills' are gone
        left_behind += bool(left)
        if path.exists():  # (the first kill may come before any save is done)
            m = Flat(n)
            load(m, path)  # whole, whatever the moment of the kill
            assert {p.data for p in m.parameters()} <= {float(k) for k in range(rounds)}
    assert left_behind >= 2, f"only {left_behind} of {rounds} kills left a temporary file"
    saved = Flat(n, 0.25)
    save(saved, path)
    assert temporaries(tmp_path) == []
    m = Flat(n)
    load(m, path)
    assert {p.data for p in m.parameters()} == {0.25}


def test_two_processes_saving_at_once_never_harm_each_other(tmp_path, forker):
    """Each process's save removes dead writers' temporaries, never the other's live one (its
    rename would then fail), and every read sees one process's whole model."""
    path, n = tmp_path / "model.json", 15_000
    pids = [forker.saver(path, n, value, 6) for value in (1.0, 2.0)]
    (tmp_path / "model.json.go").write_text("")
    m, reads, deadline = Flat(n), 0, time.monotonic() + 10
    while time.monotonic() < deadline and (reads < 3 or temporaries(tmp_path)):
        if path.exists():
            load(m, path)
            assert {p.data for p in m.parameters()} in ({1.0}, {2.0})
            reads += 1
    assert [forker.wait(pid) for pid in pids] == [0, 0], forker.stderr()
    assert temporaries(tmp_path) == []
    load(m, path)
    assert {p.data for p in m.parameters()} in ({1.0}, {2.0})


def test_two_threads_saving_at_once_keep_each_others_temporaries(tmp_path):
    """Threads share a pid: a temporary file of this process, younger than it, may be another
    thread's and is never removed (its rename would fail)."""
    import threading

    path, errors = tmp_path / "model.json", []
    models = [Flat(5_000, 1.0), Flat(5_000, 2.0)]

    def saving(m):
        try:
            for _ in range(6):
                save(m, path)
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=saving, args=(m,)) for m in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and temporaries(tmp_path) == []
    m = Flat(5_000)
    load(m, path)
    assert {p.data for p in m.parameters()} in ({1.0}, {2.0})
