"""``tapegrad demo`` (and the CLI around it), run as a real subprocess where it matters: the
default demo reaches micrograd's accuracy, progress is plain lines when stdout is not a
terminal and a bar that fits the terminal when it is one, every figure says what it is measured
on, a diverging run says so and a nan or inf stops it naming the step, pictures are written (or
skipped with a clear message), mistakes exit 2 with one line and cost no training; --version
and every command's --help. The CLI in a real terminal (tmux) is tests/test_cli_terminal.py.
"""

import argparse
import importlib.metadata
import io
import math
import os
import random
import re
import shutil
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as package
from tapegrad import cli, demo
from tapegrad.cli import main
from tapegrad.demo import (INSTALL_BAR, Progress, Task, TrainingStopped, fit_lines,
                           loss_is_growing, loss_text, parse_hidden, run)
from tapegrad.nn import MLP
from tapegrad.serialize import load

# the closing line: measured after the last update, and saying on what
ACCURACY_LINE = re.compile(r"^accuracy (\d{1,3}\.\d)% on the \d+ (training|held-out test) "
                           r"samples, after the last step")
PLAIN_STEP = re.compile(r"^step +\d+/\d+  loss \d+\.\d{4}  (train|batch) acc +\d{1,3}\.\d%  "
                        r"\(\d+\.\d s\)$")


def tapegrad(*args, cwd=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "tapegrad", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


def test_default_demo_is_micrograds_and_reaches_95_percent(tmp_path):
    proc = tapegrad("demo", "--no-pictures", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "moons, 100 training samples, MLP(2, [16, 16, 1]) with 337 parameters" in lines[0]
    assert "sgd lr 1, 100 steps" in lines[0]
    assert lines[1] == ("each step: loss and train acc on all 100 training samples, before the "
                        "step's update")
    assert lines[-1] == (f"accuracy {lines[-1].split()[1]} on the 100 training samples, after "
                         "the last step (micrograd's demo scores there too)")
    accuracy = float(ACCURACY_LINE.match(lines[-1]).group(1))
    assert accuracy >= 95.0
    assert "\r" not in proc.stdout and "%%" not in proc.stdout  # not a terminal: plain lines
    assert INSTALL_BAR not in proc.stdout  # a log needs no bar, so no advice to get one
    progress = [line for line in lines if line.startswith("step ")]
    assert 5 <= len(progress) <= 12 and progress[-1].startswith("step 100/100")
    assert all(PLAIN_STEP.match(line) for line in progress), progress
    assert re.fullmatch(r"trained in \d+\.\d s", lines[-2])
    assert proc.stderr == ""
    assert list(tmp_path.iterdir()) == []


def test_pictures_are_written_into_out(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "pictures"
    proc = tapegrad("demo", "--steps", "3", "--hidden", "4", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    for name in ("moons_boundary.png", "moons_curves.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    assert ACCURACY_LINE.match(proc.stdout.splitlines()[-1])


def test_pictures_default_to_the_current_folder(tmp_path):
    pytest.importorskip("matplotlib")
    proc = tapegrad("demo", "--dataset", "xor", "--steps", "2", "--hidden", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xor_boundary.png", "xor_curves.png"]


def test_without_matplotlib_the_demo_still_trains(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    stream = io.StringIO()
    result = run("moons", steps=3, hidden=(4,), out_dir=str(tmp_path), stream=stream)
    text = stream.getvalue()
    assert "matplotlib is not installed" in text and "pip install matplotlib" in text
    assert ACCURACY_LINE.match(text.splitlines()[-1])
    assert result.pictures == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dataset, classes", [("circles", 2), ("spiral", 3), ("xor", 2)])
def test_other_toy_datasets_train(dataset, classes):
    stream = io.StringIO()
    result = run(dataset, steps=4, hidden=(4,), out_dir=None, stream=stream)
    assert len(result.losses) == len(result.accuracies) == 4
    assert len(result.model.layers[-1].neurons) == (1 if classes == 2 else classes)
    assert 0.0 <= result.accuracy <= 1.0
    assert ACCURACY_LINE.match(stream.getvalue().splitlines()[-1])


def test_digits_trains_on_minibatches_and_scores_held_out(tmp_path):
    pytest.importorskip("sklearn")
    stream = io.StringIO()
    result = run("digits", steps=3, hidden=(8,), batch_size=4, out_dir=None, stream=stream)
    lines = stream.getvalue().splitlines()
    assert "MLP(64, [8, 10])" in lines[0]
    assert lines[1] == ("each step: loss and batch acc on the step's minibatch of 4 training "
                        "samples, before the step's update")
    assert "the 359 held-out test samples" in result.scored_on
    assert len(result.losses) == 3
    assert all(PLAIN_STEP.match(line) and " batch acc " in line for line in lines[2:5])
    train = f"{100 * result.train_accuracy:.1f}%"
    assert lines[-2] == (f"training-set accuracy {train} on all 1438 training samples, after the "
                         "last step")
    assert lines[-1] == (f"accuracy {100 * result.accuracy:.1f}% on the 359 held-out test "
                         "samples, after the last step")


def test_digits_picture(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    result = run("digits", steps=1, hidden=(4,), batch_size=2, out_dir=str(tmp_path),
                 stream=io.StringIO())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits_curves.png",
                                                           "digits_predictions.png"]
    assert len(result.pictures) == 2


def test_the_loss_falls():
    result = run("moons", steps=30, out_dir=None, stream=io.StringIO())
    assert result.losses[-1] < 0.5 * result.losses[0]


def test_save_writes_a_loadable_model(tmp_path):
    path = tmp_path / "moons.json"
    stream = io.StringIO()
    result = run("moons", steps=5, hidden=(4,), out_dir=None, save=str(path), stream=stream)
    assert f"model saved to {path}" in stream.getvalue()
    random.seed(0)
    fresh = MLP(2, [4, 1])
    load(fresh, path)
    assert [p.data for p in fresh.parameters()] == [p.data for p in result.model.parameters()]


# ---------------------------------------------------------------------------------------------
# The progress bar
# ---------------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    """What Progress writes to a terminal, kept; its width is $COLUMNS (see `columns`)."""

    def isatty(self):
        return True


@pytest.fixture
def columns(monkeypatch):
    """Set the terminal's width (shutil.get_terminal_size reads $COLUMNS first)."""

    def set_width(width: int) -> None:
        monkeypatch.setenv("COLUMNS", str(width))
        monkeypatch.setenv("LINES", "30")

    return set_width


def screen(text: str) -> list[str]:
    """The lines a terminal shows after `text`: '\r' returns to the line's start and what
    follows writes over it, '\n' starts a new line. Trailing spaces dropped."""
    lines, row, col = [[]], 0, 0
    for char in text:
        if char == "\n":
            lines.append([])
            row, col = row + 1, 0
        elif char == "\r":
            col = 0
        else:
            line = lines[row]
            line[col:col + 1] = [char]
            col += 1
    return ["".join(line).rstrip() for line in lines]


def frames(text: str) -> list[str]:
    """Each drawing of the bar: what is written between two carriage returns or newlines."""
    return [frame for frame in re.split(r"[\r\n]", text) if frame.strip()]


def test_progress_on_a_terminal_is_one_bar_redrawn_in_place(columns):
    pytest.importorskip("tqdm")
    columns(100)
    stream = Terminal()
    losses = [123.4567, 12.3456, 1.2345, 0.5, 0.25]  # each shorter than the one before
    with Progress(5, stream) as progress:
        assert progress.live
        for k, loss in enumerate(losses):
            progress.update(k, loss, k / 4)
    text = stream.getvalue()
    shown = [line for line in screen(text) if line]
    assert len(shown) == 1 and text.endswith("\n")  # one line, ended when the bar closed
    bar = shown[0]
    assert re.fullmatch(r"step 5/5  loss 0\.2500  train acc 100\.0% \|#+\| "
                        r"\d\d:\d\d<\d\d:\d\d, +\S+step/s", bar), bar
    assert "%%" not in text and bar.count("%") == 1  # nothing left of the longer lines before


@settings(max_examples=40, deadline=None)
@given(width=st.integers(20, 200), steps=st.sampled_from([1, 7, 100, 500, 12345]),
       loss=st.one_of(st.floats(0, 1e300), st.just(math.nan)), accuracy=st.floats(0, 1),
       label=st.sampled_from(["train acc", "batch acc"]))
def test_every_drawing_of_the_bar_fits_the_terminal(width, steps, loss, accuracy, label):
    pytest.importorskip("tqdm")
    os.environ["COLUMNS"] = str(width)
    try:
        stream = Terminal()
        Progress.MININTERVAL, saved = 0.0, Progress.MININTERVAL  # draw every update
        with Progress(steps, stream, label=label) as progress:
            for k in sorted({0, steps // 2, steps - 1}):
                progress.update(k, loss, accuracy)
    finally:
        Progress.MININTERVAL = saved
        del os.environ["COLUMNS"]
    drawn = frames(stream.getvalue())
    assert drawn and all(len(frame) <= width - Progress.SPARE for frame in drawn), drawn
    final = screen(stream.getvalue())[0]
    assert final.strip()[:1].isalnum()  # the bar's line begins with the count, cut or not
    if width >= 40:  # below that, even the leanest layout is cut short
        assert f"{steps}/{steps}" in final
    # the loss is shown whole or not at all: never a number cut short ("10.000" for 10.0000)
    assert loss_text(loss) in final or not any(
        loss_text(loss).startswith(word) for word in final.split()[1:]), final
    if width >= 100:  # room for everything
        assert f"step {steps}/{steps}" in final and label in final and "step/s" in final


@pytest.mark.parametrize(
    "width, present, absent",
    [
        (120, ["step  50/100  loss 0.1234  train acc  90.0% |", "<", "step/s"], []),
        (60, ["50/100 loss 0.1234 train  90.0% |", "<"], ["step/s"]),
        (40, ["50/100 0.1234  90.0%"], ["|"]),
    ],
)
def test_the_bar_drops_words_then_the_rate_then_the_bar_as_the_terminal_narrows(
        columns, width, present, absent):
    pytest.importorskip("tqdm")
    columns(width)
    stream = Terminal()
    with Progress(100, stream) as progress:
        for k in range(50):
            progress.update(k, 0.1234, 0.9)
    last = frames(stream.getvalue())[-1]
    assert len(last) <= width - Progress.SPARE
    for words in present:
        assert words in last, last
    for words in absent:
        assert words not in last, last


def test_a_note_gets_a_line_of_its_own_above_the_bar(columns):
    pytest.importorskip("tqdm")
    columns(60)
    stream = Terminal()
    with Progress(10, stream) as progress:
        progress.update(0, 0.5, 0.5)
        progress.note("warning: loss is growing: try a smaller --lr (the loss went from "
                      "0.9094 at step 1 to 5.996e+04 at step 3; --lr was 10)")
        progress.update(1, 0.5, 0.5)
    shown = [line for line in screen(stream.getvalue()) if line]
    assert shown[0].startswith("warning: loss is growing: try a smaller --lr")
    assert all(len(line) <= 60 for line in shown), shown
    assert shown[-1].startswith(" 2/10 loss 0.5000") and len(shown) == 3  # note (wrapped), bar


def test_a_terminal_without_tqdm_gets_plain_lines_and_one_line_of_advice(monkeypatch, columns):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm raises ImportError
    columns(60)
    stream = Terminal()
    with Progress(100, stream) as progress:
        assert not progress.live
        for k in range(100):
            progress.update(k, 0.5, 0.5)
    lines = stream.getvalue().splitlines()
    assert lines[0] == 'for a live progress bar: pip install "tapegrad[demo]"' == INSTALL_BAR
    assert stream.getvalue().count("pip install") == 1 and "\r" not in stream.getvalue()
    assert len(lines) == 12 and all(PLAIN_STEP.match(line) for line in lines[1:])


def test_progress_in_a_pipe_prints_about_ten_lines():
    stream = io.StringIO()
    with Progress(100, stream) as progress:
        for k in range(100):
            progress.update(k, 0.5, 0.5)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0].startswith("step   1/100") and lines[-1].startswith("step 100/100")
    assert len(lines) == 11 and all(PLAIN_STEP.match(line) for line in lines)


def test_a_long_header_is_wrapped_on_a_terminal_and_not_in_a_log(columns):
    columns(60)
    on_terminal, in_a_log = Terminal(), io.StringIO()
    for stream in (on_terminal, in_a_log):
        run("moons", steps=1, out_dir=None, stream=stream)
    shown = on_terminal.getvalue().splitlines()
    assert all(len(line) <= 60 for line in shown), shown
    assert shown[0] == "tapegrad demo: moons, 100 training samples,"
    assert shown[1].startswith("  MLP(2, [16, 16, 1]) with 337 parameters")  # in one piece
    assert in_a_log.getvalue().splitlines()[0] == (
        "tapegrad demo: moons, 100 training samples, MLP(2, [16, 16, 1]) with 337 parameters, "
        "sgd lr 1, 1 step")


@settings(max_examples=30, deadline=None)
@given(words=st.lists(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1,
                              max_size=30), min_size=1, max_size=40),
       width=st.integers(20, 120))
def test_fit_lines_keeps_every_word_and_wraps_only_at_spaces(words, width):
    text = " ".join(words)
    fitted = fit_lines(text, width).split("\n")
    assert " ".join(fitted).split() == words  # nothing lost, nothing split
    for line in fitted:
        assert len(line) <= width or " " not in line.strip() or "(" in line or "[" in line


@pytest.mark.parametrize(
    "loss, text",
    [(0.9093643844649194, "0.9094"), (124.01030133393957, "124.0103"), (9999.0, "9999.0000"),
     (55920.682432572874, "5.592e+04"), (4.6e30, "4.600e+30"), (math.inf, "inf"),
     (math.nan, "nan"), (0.0, "0.0000")],
)
def test_a_loss_is_never_forty_digits(loss, text):
    assert loss_text(loss) == text


@pytest.mark.parametrize(
    "losses, growing",
    [
        ([0.9], False),
        ([0.9, 124.0], False),  # one spike is not yet a trend
        ([0.9, 124.0, 5.6e4], True),  # two steps running over ten times the first
        ([0.9, 9.1, 9.2], True),
        ([0.9, 9.1, 0.5, 9.2], False),
        ([0.9] + [0.5 + 0.01 * k for k in range(11)], False),  # rising, still below the first
        ([0.9] + [0.5 + 0.05 * k for k in range(11)], True),  # ten rises ending above it
        ([0.9] + [0.5 + 0.05 * k for k in range(10)], False),  # nine rises
        ([1.0 / (k + 1) for k in range(100)], False),  # micrograd's kind of run
        ([2.3, 1.0, 0.4, 0.6, 0.3, 0.5, 0.2, 0.45, 0.3, 0.25, 0.35, 0.2], False),  # minibatch noise
    ],
)
def test_loss_is_growing(losses, growing):
    assert loss_is_growing(losses) is growing


def test_a_diverging_run_says_so_once_and_shows_no_forty_digit_loss():
    stream = io.StringIO()
    result = run("moons", steps=5, lr=10.0, out_dir=None, stream=stream)
    text = stream.getvalue()
    assert text.count("loss is growing") == 1
    assert ("warning: loss is growing: try a smaller --lr (the loss went from 0.9094 at step 1 "
            "to 4.491e+04 at step 3; --lr was 10)") in text
    assert max(result.losses) > 9e4 and not re.search(r"\d{5}", text)  # 9.159e+04, not 91590.2
    assert ACCURACY_LINE.match(text.splitlines()[-1])


@pytest.fixture
def bad_task(monkeypatch):
    """A dataset of our own making: --dataset NAME trains on X, y."""

    def add(name, X, y):
        monkeypatch.setitem(demo.TASKS, name, Task(lambda seed: (X, y), 2, 3, (2,), "sgd", 1.0))

    return add


def test_a_nan_in_the_loss_stops_training_at_step_1(bad_task):
    bad_task("nan-data", [[math.nan, 0.0], [0.0, 1.0]], [0, 1])
    with pytest.raises(TrainingStopped, match=r"^training stopped at step 1 of 3: the loss is "
                                              r"nan; try a smaller --lr"):
        run("nan-data", out_dir=None, stream=io.StringIO())


@pytest.mark.parametrize("eager", [True, False], ids=["eager", "compiled"])
def test_a_nan_gradient_stops_training_though_the_loss_is_finite(bad_task, monkeypatch, eager):
    bad_task("finite", [[0.5, 0.5], [0.0, 1.0]], [0, 1])

    def loss_with_a_nan_gradient(model, X, y, classes, params):
        # d sqrt(u)/du at u = 0 is inf, and du/dp = 0: the gradient inf * 0 is nan
        return (params[3] * 0.0).sqrt() + 1.0, 0.5

    def compiled_loss_with_a_nan_gradient(scores, targets, classes, params):
        # the same, read from the placeholders' scores and targets (a compiled step's feeds)
        return (params[3] * 0.0).sqrt() + 1.0 + 0.0 * (sum(scores) + sum(targets))

    monkeypatch.setattr(demo, "_batch_loss", loss_with_a_nan_gradient)
    monkeypatch.setattr(demo, "_loss", compiled_loss_with_a_nan_gradient)
    with pytest.raises(TrainingStopped) as stopped:
        run("finite", out_dir=None, stream=io.StringIO(), eager=eager)
    assert str(stopped.value).startswith("training stopped at step 1 of 3: the gradient of "
                                         "parameter 3 (of 9) is nan")


def test_a_loss_that_reaches_inf_stops_training_at_its_step_with_one_line(capsys):
    code = main(["demo", "--no-pictures", "--steps", "30", "--lr", "1e6"])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert err == ("tapegrad demo: error: training stopped at step 7 of 30: the loss is inf; "
                   "try a smaller --lr (this run's: 1e+06)\n")
    assert "loss is growing: try a smaller --lr" in out  # said at step 3, as it began
    assert "step  6/30" in out and "accuracy" not in out and "trained in" not in out


def test_the_last_accuracy_is_measured_after_the_last_update():
    result = run("moons", steps=1, hidden=(4,), out_dir=None, stream=io.StringIO())
    X, y = demo.TASKS["moons"].load(1337)
    after = sum(demo._predict(result.model, x, 2) == c for x, c in zip(X, y)) / len(y)
    assert result.accuracy == result.train_accuracy == after
    assert result.accuracies == [0.5]  # the step's own figure: its batch, before its update
    assert after != 0.5  # so a final line that reused the step's figure would be caught


# ---------------------------------------------------------------------------------------------
# The command line around the demo
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, words",
    [
        (["demo", "--hidden", "abc"], "--hidden 'abc': each layer width must be a whole number"),
        (["demo", "--hidden", "16,0"], "from 1 to 1024"),
        (["demo", "--steps", "0"], "--steps 0: train for at least 1 step"),
        (["demo", "--steps", "many"], "invalid int value: 'many'"),
        (["demo", "--lr", "-1"], "--lr -1.0: the learning rate must be > 0"),
        (["demo", "--lr", "nan"], "--lr nan: the learning rate must be > 0"),
        (["demo", "--lr", "inf"], "--lr inf: the learning rate must be a finite number"),
        (["demo", "--batch-size", "0"], "a batch needs at least 1 sample"),
        (["demo", "--dataset", "mnist"], "invalid choice: 'mnist'"),
        (["demo", "--optimizer", "rmsprop"], "invalid choice: 'rmsprop'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_demo_options(capsys, argv, words):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and words in err, err
    assert "Traceback" not in err


def test_out_that_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = main(["demo", "--steps", "1", "--hidden", "2", "--out", str(blocker)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "tapegrad demo: error:" in err


def test_save_into_a_missing_folder_fails_before_training(tmp_path, capsys):
    path = tmp_path / "missing" / "model.json"
    code = main(["demo", "--no-pictures", "--save", str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err, err
    assert out == ""  # no training thrown away


@pytest.mark.parametrize("suffix", [os.sep, ""])
def test_save_to_a_folder_fails_at_once(tmp_path, capsys, suffix):
    folder = str(tmp_path) + suffix
    started = time.perf_counter()
    code = main(["demo", "--dataset", "spiral", "--save", folder])  # 20 s of training, if run
    out, err = capsys.readouterr()
    assert time.perf_counter() - started < 2.0
    assert code == 2 and err.count("\n") == 1 and out == "", err
    assert err == (f"tapegrad demo: error: --save {folder!r} is a folder; name the file to "
                   f"write, e.g. --save {os.path.join(folder, 'model.json')}\n")
    assert list(tmp_path.iterdir()) == []


def test_out_below_a_file_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = main(["demo", "--dataset", "spiral", "--out", str(blocker / "pictures")])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and out == ""
    assert f"{str(blocker)!r} is a file, not a folder" in err


def test_parse_hidden():
    assert parse_hidden("16,16") == (16, 16)
    assert parse_hidden(" 8 , 4 ") == (8, 4)
    assert parse_hidden("") == ()


def test_a_linear_model_trains_too():
    result = run("moons", steps=3, hidden=(), out_dir=None, stream=io.StringIO())
    assert repr(result.model) == "MLP of [Layer of [LinearNeuron(2)]]"


@pytest.mark.parametrize("argv", [[], ["sanity"]])
def test_sanity_is_still_there(argv):
    proc = tapegrad(*argv)
    assert proc.returncode == 0
    assert "reverse mode:  u = 7, f = 49, df/dx = 28" in proc.stdout


def test_the_console_script():
    # pip puts the script beside the interpreter it installed into (a venv's bin/), which need
    # not be on PATH
    beside = os.path.join(os.path.dirname(sys.executable), "tapegrad")
    script = beside if os.path.exists(beside) else shutil.which("tapegrad")
    if script is None:
        pytest.skip("the tapegrad console script is not installed (package not pip-installed)")
    proc = subprocess.run([script, "explain", "(2*x + 3)**2", "--at", "x=2"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.splitlines()[-2:] == ["f = 49", "df/dx = 28"]


def test_forward_floats_is_the_models_forward_pass():
    from tapegrad.demo import forward_floats

    for act in (None, "tanh", "sigmoid"):
        random.seed(3)
        model = MLP(2, [5, 4, 3], act=act)
        for x in ([0.3, -1.2], [2.0, 0.5], [-0.7, -0.1]):
            assert forward_floats(model, x) == [v.data for v in model(x)]


def test_the_demos_training_step_is_micrograds():
    """The demo's loss, labels, optimizer and schedule, on micrograd's own data: its loss and
    accuracy at every one of the first 20 steps."""
    import json
    from pathlib import Path

    from tapegrad.demo import _batch_loss
    from tapegrad.optim import SGD

    ref = json.loads((Path(__file__).parent / "data" / "micrograd-demo-moons.json").read_text())
    labels = [(y + 1) // 2 for y in ref["y"]]  # the demo's 0/1 classes
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    params = model.parameters()
    opt = SGD(params, lr=1.0)
    for k in range(20):
        loss, accuracy = _batch_loss(model, ref["X"], labels, 2, params)
        assert loss.data == pytest.approx(ref["loss"][k], rel=1e-12), k
        assert accuracy == ref["acc"][k], k
        opt.zero_grad()
        loss.backward()
        opt.lr = 1.0 * (1.0 - 0.9 * k / 100)
        opt.step()


def test_progress_bar_on_a_real_terminal_of_60_columns():
    pty = pytest.importorskip("pty")  # POSIX only
    pytest.importorskip("tqdm")
    import fcntl
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 60, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tapegrad", "demo", "--steps", "4", "--hidden", "2",
         "--no-pictures"],
        stdout=follower, stderr=subprocess.PIPE, env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    text = b"".join(chunks).decode().replace("\r\n", "\n")  # the tty's newline is \r\n
    shown = [line for line in screen(text) if line]
    assert all(len(line) <= 60 for line in shown) and all(len(f) <= 58 for f in frames(text))
    bars = [line for line in shown if re.match(r"4/4 loss \d\.\d{4} train +\d+\.\d% \|", line)]
    assert len(bars) == 1, shown  # one bar, redrawn in place
    joined = " ".join(shown[shown.index(bars[0]) + 2:])  # after "trained in": the accuracy
    assert re.fullmatch(r"accuracy \d+\.\d% on the 100 training samples, after the last +step "
                        r"\(micrograd's demo scores there too\)", " ".join(joined.split()))


# ---------------------------------------------------------------------------------------------
# --version, and --help for every command
# ---------------------------------------------------------------------------------------------


def test_version():
    proc = tapegrad("--version")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == f"tapegrad {importlib.metadata.version('tapegrad')}\n"
    assert proc.stdout == f"tapegrad {package.__version__}\n"  # the two agree


def test_version_without_installed_metadata_is_the_packages(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert cli.version() == package.__version__


def _commands():
    """The top-level parser and each command's parser, by name."""
    parser = cli._build_parser()
    (commands,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return {"tapegrad": parser, **commands.choices}


@pytest.mark.parametrize("command", ["tapegrad", "sanity", "demo", "explain"])
def test_help_has_a_description_every_default_and_an_example(command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    parser = _commands()[command]
    text = parser.format_help()
    assert parser.description and " ".join(parser.description.split()[:6]) in " ".join(
        text.split())
    assert all(len(line) <= 60 for line in text.splitlines()), text
    options = [a for a in parser._actions
               if a.option_strings and a.default is not argparse.SUPPRESS]
    for action in options:
        said = parser._get_formatter()._expand_help(action)
        assert "(default: " in said, (command, action.option_strings, said)
        assert said.count("(default: ") == 1, said
    epilog = parser.epilog.strip().splitlines()
    assert epilog[0] in ("example:", "examples:")
    assert any(line.strip().startswith("tapegrad ") for line in epilog)
    assert text.rstrip().endswith(parser.epilog.rstrip().splitlines()[-1].rstrip())


@pytest.mark.parametrize("argv", [["--help"], ["sanity", "--help"], ["demo", "--help"],
                                  ["explain", "--help"], ["-h"]])
def test_help_exits_0(argv, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    out, err = capsys.readouterr()
    assert done.value.code == 0 and out.startswith("usage: tapegrad") and err == ""
    assert "example" in out


def test_the_demos_examples_are_real_commands():
    """Each example in `tapegrad demo --help` parses (the command line as it is written)."""
    examples = [line.split()[1:] for line in cli.DEMO_EXAMPLE.splitlines()
                if line.strip().startswith("tapegrad ")]
    assert len(examples) == 5  # the default, spiral, names, digits, and the training explorer
    for argv in examples:
        args = cli._build_parser().parse_args(argv)
        assert args.command == "demo"


def test_the_demo_help_states_the_datasets_real_defaults():
    parser = _commands()["demo"]
    said = {a.dest: parser._get_formatter()._expand_help(a) for a in parser._actions}
    assert ("(default: 100 for moons, circles and xor; 150 for spiral; 500 for digits; 8000 for "
            "names)") in said["steps"]
    assert "0.01 for digits" in said["lr"] and "32 for digits" in said["batch_size"]


@pytest.mark.parametrize("argv", [
    ["explain", "x", "--at", "x=1", "\x1b[2J"],           # an extra argument: argparse repeats it
    ["demo", "--steps", "1\x1b[31m"],                       # a bad number: argparse repeats it
    ["explain", "x", "--at", "x=1", "two\nlines"],
    ["demo", "--dataset", "moons\x07"],
])
def test_usage_errors_never_send_control_characters_to_the_terminal(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n")  # one line
    assert all(ch.isprintable() for ch in err[:-1]), repr(err)
    assert "\\x1b" in err or "\\n" in err or "\\x07" in err  # shown, escaped
