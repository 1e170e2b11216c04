"""``tapegrad demo`` (and the CLI around it), run as a real subprocess where it matters: the
default demo reaches micrograd's accuracy, progress is plain lines when stdout is not a
terminal, pictures are written (or skipped with a clear message), mistakes exit 2 with one line.
"""

from __future__ import annotations

import io
import random
import re
import shutil
import subprocess
import sys

import pytest

from tapegrad.cli import main
from tapegrad.demo import Progress, parse_hidden, run
from tapegrad.nn import MLP
from tapegrad.serialize import load

ACCURACY_LINE = re.compile(r"^accuracy (\d{1,3}\.\d)%$")


def tapegrad(*args, cwd=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "tapegrad", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


def test_default_demo_is_micrograds_and_reaches_95_percent(tmp_path):
    proc = tapegrad("demo", "--no-pictures", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "moons, 100 training samples, MLP(2, [16, 16, 1]) with 337 parameters" in lines[0]
    assert "sgd lr 1, 100 steps" in lines[0]
    accuracy = float(ACCURACY_LINE.match(lines[-1]).group(1))
    assert accuracy >= 95.0
    assert "\r" not in proc.stdout  # not a terminal: plain lines
    progress = [line for line in lines if line.startswith("step ")]
    assert 5 <= len(progress) <= 12 and progress[-1].startswith("step 100/100")
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
    assert "MLP(64, [8, 10])" in stream.getvalue()
    assert "the 359 held-out test samples" in result.scored_on
    assert len(result.losses) == 3
    assert ACCURACY_LINE.match(stream.getvalue().splitlines()[-1])


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
    def isatty(self):
        return True


def test_progress_on_a_terminal_redraws_one_line():
    stream = Terminal()
    progress = Progress(5, stream)
    for k in range(5):
        progress.update(k, 1.0 / (k + 1), k / 4)
    text = stream.getvalue()
    assert text.count("\r") == 5 and text.count("\n") == 1 and text.endswith("\n")
    assert "[########################] step 5/5  loss 0.2000  accuracy 100.0%" in text


def test_progress_in_a_pipe_prints_about_ten_lines():
    stream = io.StringIO()
    progress = Progress(100, stream)
    for k in range(100):
        progress.update(k, 0.5, 0.5)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0].startswith("step   1/100") and lines[-1].startswith("step 100/100")
    assert len(lines) == 11


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
    pytest.importorskip("matplotlib")
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = main(["demo", "--steps", "1", "--hidden", "2", "--out", str(blocker)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "tapegrad demo: error:" in err


def test_save_into_a_missing_folder_fails_before_training(tmp_path, capsys):
    path = tmp_path / "missing" / "model.json"
    code = main(["demo", "--no-pictures", "--save", str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "does not exist; create it first" in err, err
    assert "step " not in out  # no training thrown away


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
    script = shutil.which("tapegrad")
    if script is None:
        pytest.skip("the tapegrad console script is not on PATH (package not pip-installed)")
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


def test_progress_bar_on_a_real_terminal():
    pty = pytest.importorskip("pty")  # POSIX only
    import os

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tapegrad", "demo", "--steps", "4", "--hidden", "2",
         "--no-pictures"],
        stdout=follower, stderr=subprocess.PIPE,
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
    text = b"".join(chunks).decode()
    assert text.count("\r[") >= 4  # each step redraws the bar in place (the tty adds \r\n too)
    assert "step 4/4" in text and ACCURACY_LINE.match(text.strip().splitlines()[-1].strip())
