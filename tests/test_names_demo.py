"""``tapegrad demo --dataset names`` (tapegrad.names_demo and the CLI around it): a short run's
report line by line and its result's fields, the same seed giving the same run, the bigram
model counting only, a run long enough to learn beating the bigram baseline, every bad option
refused before anything is loaded, and the command line in a real subprocess."""

from __future__ import annotations

import io
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tapegrad import charlm, datasets, names_demo
from tapegrad.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"
NAME_LINE = re.compile(r"^  [a-z]*$")  # (an untrained model may end a name at once: "")
RECORDED = re.compile(r"^recorded one training step of (\d+) pairs once, on one-hot inputs: "
                      r"([\d,]+) nodes, \d+\.\d s to record and compile for (numpy|python); "
                      r"each step replays it on new pairs$")
TRAINED = re.compile(r"^trained in \d+\.\d s: validation loss (\d\.\d{4}) nats per character, "
                     r"against the bigram baseline's (\d\.\d{4})$")
BASELINE = re.compile(r"^bigram baseline \(counting pairs of characters\): validation loss "
                      r"(\d\.\d{4}) nats per character \(guessing uniformly: 3\.2958\)$")
STEPS = 2  # a short run: every = 1, so a validation check after step 1, then the last


def _run(**options):
    stream = io.StringIO()
    result = names_demo.run(stream=stream, **options)
    return result, stream.getvalue()


@pytest.fixture(scope="module")
def short():
    """A 2-step run of a 16-wide MLP on batches of 16, and what it printed."""
    return _run(steps=STEPS, hidden=16, batch_size=16)


@pytest.fixture(scope="module")
def split():
    words = datasets.names()
    train, val, _ = datasets.split(words, seed=42)
    return train, val, datasets.Vocab(words)


def test_short_run_report_lines(short, split):
    """Header, baseline, model, recording, progress, 'trained in', then exactly ten names."""
    result, text = short
    train, val, _ = split
    lines = text.splitlines()
    assert lines[0] == (f"tapegrad demo: names, {len(train):,} training names, {len(val):,} to "
                        f"validate ({sum(len(w) + 1 for w in val):,} characters), 27 tokens "
                        "('.' = BOS, start and end)")
    assert lines[0].startswith("tapegrad demo: names, 25,626 training names, 3,203 to validate")
    assert float(BASELINE.match(lines[1]).group(1)) == round(result.bigram_loss, 4)
    at = 2 if result.backend == "numpy" else 3  # (without NumPy, a line says so)
    assert lines[at] == ("model: MLP(context 3, embed 10, hidden 16, 27 tokens), 1,225 "
                         f"parameters; adam lr 0.01 falling to 0.001, {STEPS} steps of 16 pairs")
    recorded = RECORDED.match(lines[at + 1])
    assert recorded and recorded.group(1) == "16" and recorded.group(3) == result.backend
    assert int(recorded.group(2).replace(",", "")) > 16 * 27 * 4  # one-hot leaves, at least
    progress = lines[at + 2:-12]
    assert progress and all(line.startswith("step ") for line in progress)
    assert any(line.startswith(f"step {STEPS}/{STEPS}") for line in progress)
    trained = TRAINED.match(lines[-12])
    assert trained, lines[-12]
    assert trained.group(1) == f"{result.val_loss:.4f}"
    assert trained.group(2) == f"{result.bigram_loss:.4f}"
    assert lines[-11] == "10 names the model made up (temperature 1, seed 1337):"
    assert all(NAME_LINE.match(line) for line in lines[-10:])
    assert [line[2:] for line in lines[-10:]] == result.names


def test_short_run_result_fields(short):
    """val_loss finite below log 27, the bigram's ~2.45, 10 names, one loss per step."""
    result, _ = short
    assert isinstance(result, names_demo.NamesResult)
    assert isinstance(result.model, charlm.MLP) and len(result.model.hidden.neurons) == 16
    assert math.isfinite(result.val_loss) and 0 < result.val_loss < math.log(27)
    assert result.bigram_loss == pytest.approx(2.45, abs=0.01)
    assert len(result.names) == 10 and all(set(n) <= set("abcdefghijklmnopqrstuvwxyz")
                                           and len(n) <= 30 for n in result.names)
    assert len(result.losses) == STEPS and all(math.isfinite(x) for x in result.losses)
    assert abs(result.losses[0] - math.log(27)) < 0.15  # the init's near-uniform start
    assert [k for k, _ in result.checks] == list(range(1, STEPS))
    assert all(math.isfinite(v) and v < math.log(27) + 0.15 for _, v in result.checks)
    assert result.backend in ("numpy", "python") and result.seconds > 0


def test_same_seed_same_run(short):
    """The same options and seed give the same losses, validation loss and names."""
    again, _ = _run(steps=STEPS, hidden=16, batch_size=16)
    result, _ = short
    assert again.losses == result.losses
    assert again.checks == result.checks
    assert again.val_loss == result.val_loss
    assert again.names == result.names


def test_bigram_model_counts_without_training(split):
    """model="bigram": the baseline is the model, no step is taken, its names are its samples."""
    train, _, vocab = split
    runs = {}
    for temperature, seed in ((1.0, 1337), (0.5, 7)):
        result, text = runs[seed] = _run(model="bigram", temperature=temperature, seed=seed)
        lines = text.splitlines()
        assert isinstance(result.model, charlm.Bigram)
        assert result.val_loss == result.bigram_loss == pytest.approx(2.45, abs=0.01)
        assert result.losses == [] and result.checks == []
        assert len(lines) == 2 + 1 + 10 and BASELINE.match(lines[1])
        assert not any(line.startswith(("model:", "recorded", "trained in", "step "))
                       for line in lines)
        assert lines[2] == (f"10 names the model made up (temperature {temperature:g}, "
                            f"seed {seed}):")
        assert result.names == charlm.generate(charlm.Bigram(train, vocab), vocab, 10,
                                               temperature, seed)
        assert [line[2:] for line in lines[3:]] == result.names
    assert runs[1337][0].names != runs[7][0].names  # another seed, other names


def test_a_longer_run_beats_the_bigram_baseline(monkeypatch):
    """400 steps of a 32-wide MLP on 32 pairs reach a validation loss below the bigram's 2.45."""
    monkeypatch.setattr(names_demo, "CHECKS", 1)  # one look half-way: scoring costs more than steps
    result, text = _run(steps=400, hidden=32, batch_size=32)
    assert result.val_loss < result.bigram_loss
    assert [k for k, _ in result.checks] == [200]
    assert result.val_loss < result.checks[0][1]  # and it was still learning half-way
    first, last = result.losses[:50], result.losses[-50:]
    assert sum(last) / 50 < sum(first) / 50 - 0.4
    assert TRAINED.match(text.splitlines()[-12])


class Loaded(Exception):
    """Raised by a stand-in for datasets.names: the run got past checking its options."""


@pytest.fixture
def nothing_loaded(monkeypatch):
    """A run that gets as far as loading the names stops there, with Loaded."""
    def names():
        raise Loaded("the names were loaded: the options were accepted")
    monkeypatch.setattr(datasets, "names", names)


BAD_OPTIONS = [
    ("steps", 0, "--steps"), ("steps", -5, "--steps"), ("steps", 2.5, "--steps"),
    ("steps", True, "--steps"), ("batch_size", -1, "--batch-size"),
    ("batch_size", 1.5, "--batch-size"), ("hidden", -3, "--hidden"), ("hidden", "16", "--hidden"),
    ("lr", 0, "--lr"), ("lr", -0.01, "--lr"), ("lr", float("nan"), "--lr"),
    ("lr", float("inf"), "--lr"), ("lr", "0.01", "--lr"),
    ("temperature", 0, "--temperature"), ("temperature", -1.0, "--temperature"),
    ("temperature", float("nan"), "--temperature"), ("model", "gpt2", "--model"),
    ("model", "MLP", "--model"),
]


@pytest.mark.parametrize("option, value, named", BAD_OPTIONS)
def test_bad_options_are_refused_before_loading(nothing_loaded, option, value, named):
    """A bad option is a ValueError naming it, raised before the names are loaded."""
    with pytest.raises(ValueError, match=re.escape(named)):
        names_demo.run(**{"steps": 1, option: value}, stream=io.StringIO())


@pytest.mark.parametrize("option, named", [("hidden", "--hidden"), ("batch_size", "--batch-size")])
def test_zero_hidden_or_batch_size_is_refused(nothing_loaded, option, named):
    """hidden=0 and batch_size=0 are ValueErrors naming the option, like steps=0."""
    with pytest.raises(ValueError, match=re.escape(named)):
        names_demo.run(**{"steps": 1, option: 0}, stream=io.StringIO())


# ---------------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------------

def test_cli_names_run_in_a_subprocess(tmp_path):
    """`tapegrad demo --dataset names` exits 0, ends with ten names it made up, writes nothing."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run([sys.executable, "-m", "tapegrad", "demo", "--dataset", "names",
                           "--steps", "1", "--hidden", "8", "--batch-size", "32"],
                          capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert list(tmp_path.iterdir()) == []  # (no pictures, no model file)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("tapegrad demo: names, 25,626 training names")
    assert any(line.startswith("model: MLP(context 3, embed 10, hidden 8, 27 tokens)")
               and line.endswith("1 step of 32 pairs") for line in lines)
    assert TRAINED.match(lines[-12])
    assert lines[-11] == "10 names the model made up (temperature 1, seed 1337):"
    assert all(NAME_LINE.match(line) for line in lines[-10:])
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, named", [
    (["--save", "x.json"], "--save"),
    (["--optimizer", "sgd"], "--optimizer"),
    (["--hidden", "8,8"], "--hidden"),
    (["--hidden", ""], "--hidden"),  # no hidden layer: the names MLP has one
    (["--hidden", "0"], "--hidden"),
    (["--steps", "0"], "--steps"),
    (["--batch-size", "-1"], "--batch-size"),
    (["--lr", "0"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--temperature", "0"], "--temperature"),
    (["--batch-size", "0"], "--batch-size"),
])
def test_cli_refuses_options_that_mean_nothing_for_names(nothing_loaded, capsys, tmp_path,
                                                          monkeypatch, args, named):
    """Exit 2, one line on stderr naming the option, nothing loaded, trained or written."""
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--dataset", "names", "--steps", "1", *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("tapegrad demo: error: ") and named in err
    assert len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # (--save x.json wrote nothing)


def test_cli_refuses_an_unknown_model(capsys):
    """--model gpt2 is not a choice: argparse's usage error, exit 2, naming --model."""
    assert main(["demo", "--dataset", "names", "--model", "gpt2"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--model" in err and "gpt2" in err


def test_cli_help_mentions_names(capsys):
    """`tapegrad demo --help` offers names as a dataset, with its model, temperature, defaults."""
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "names" in text and "--dataset names" in text
    assert "bigram" in text and "--temperature" in text and "--model" in text
    assert f"{names_demo.STEPS} for names" in text and f"{names_demo.HIDDEN} for names" in text
    assert f"{names_demo.BATCH} for names" in text and f"{names_demo.LR:g} for names" in text


def test_cli_a_diverging_names_run_stops_with_one_line_naming_the_step(capsys):
    """--lr 1e6 blows up: exit 1, one 'error:' line naming the step and --lr, no internal error."""
    code = main(["demo", "--dataset", "names", "--lr", "1e6", "--steps", "30", "--hidden", "8",
                 "--batch-size", "8"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err
    assert code == 1
    assert re.match(r"^tapegrad demo: error: .*step \d+ of 30.*--lr", err)
    assert len(err.splitlines()) == 1
    assert "trained in" not in out
