"""``tapegrad demo`` in a real terminal: tmux, at 60 and at 120 columns.

What a person sees, read back from the terminal's screen (``tmux capture-pane -J``, which joins
the lines the terminal itself wrapped, so a line too wide for it shows up as one too long):
no line wider than the terminal, the header wrapped by tapegrad at spaces, one progress bar
redrawn in place (no flood of lines, no leftovers such as ``%%``), the closing lines right,
Ctrl-C ending with ``tapegrad demo: interrupted`` on a line of its own and exit status 130, and
without tqdm plain lines plus one line saying how to get the bar.

Each test starts its own tmux server on a socket in its temporary folder, and kills that
server, only, when done. Skipped when tmux is not installed.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None,
                       reason="tmux is not installed: the real-terminal tests need it "
                              "(apt-get install tmux)"),
]

SRC = str(Path(__file__).resolve().parent.parent / "src")
BAR = re.compile(r"^ *(step +)?\d+/\d+ +(loss )?\S+ +(train|batch)( acc)? +\d+\.\d%")


class Pane:
    """A tmux session of its own (a server on a private socket), ``columns`` wide, running
    one command; its screen is read with ``lines()``."""

    def __init__(self, folder: Path, columns: int, command: str) -> None:
        self.socket = str(folder / "tmux.sock")
        self.columns = columns
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
        env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
        # the command's exit status is printed after it, and the pane stays to be read
        script = f"{command}; echo EXIT=$?; sleep 60"
        subprocess.run(["tmux", "-S", self.socket, "-f", os.devnull, "new-session", "-d",
                        "-x", str(columns), "-y", "40", "-c", str(folder), script],
                       check=True, env=env, timeout=30)

    def lines(self) -> list[str]:
        """The screen's lines, each as the program wrote it (wrapped lines joined)."""
        out = subprocess.run(["tmux", "-S", self.socket, "capture-pane", "-p", "-J", "-t", "0"],
                             capture_output=True, text=True, check=True, timeout=30).stdout
        return [line.rstrip() for line in out.splitlines() if line.strip()]

    def wait_for(self, pattern: str, timeout: float = 60.0) -> list[str]:
        """The screen's lines once one of them matches ``pattern``."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()
            if any(re.search(pattern, line) for line in lines):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError(f"no line matches {pattern!r} after {timeout} s: {lines}")
            time.sleep(0.1)

    def send(self, keys: str) -> None:
        """Type ``keys`` (tmux's key names: C-c is Ctrl-C)."""
        subprocess.run(["tmux", "-S", self.socket, "send-keys", "-t", "0", keys], check=True,
                       timeout=30)

    def close(self) -> None:
        """Kill this pane's tmux server (its own socket: no other tmux is touched)."""
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True,
                       timeout=30)


@pytest.fixture
def terminal(tmp_path):
    """``terminal(columns, *args, python=...)``: tapegrad run in a fresh tmux pane."""
    panes = []

    def start(columns: int, *args: str, python: str = "-m tapegrad") -> Pane:
        command = f"{shlex.quote(sys.executable)} {python} {shlex.join(args)}"
        pane = Pane(tmp_path, columns, command)
        panes.append(pane)
        return pane

    yield start
    for pane in panes:
        pane.close()


def finished(pane: Pane) -> list[str]:
    """The screen once the command has ended."""
    return pane.wait_for(r"^EXIT=\d+$")


def assert_fits(lines: list[str], columns: int) -> None:
    """No line is wider than the terminal (so none was wrapped by it)."""
    wide = [line for line in lines if len(line) > columns]
    assert not wide, f"wider than {columns} columns: {wide}"


def joined(lines: list[str]) -> str:
    """The lines as one text, the two-space continuation of a wrapped line undone."""
    return " ".join(" ".join(lines).split())


@pytest.mark.parametrize("columns", [60, 120])
def test_the_demo_fits_the_terminal_with_one_bar(terminal, columns):
    pytest.importorskip("tqdm")
    lines = finished(terminal(columns, "demo", "--steps", "20", "--hidden", "4",
                              "--no-pictures"))
    assert lines[-1] == "EXIT=0", lines
    assert_fits(lines, columns)
    assert "%%" not in "\n".join(lines)
    bars = [line for line in lines if BAR.match(line)]
    assert len(bars) == 1, lines  # redrawn in place: one line, not one per step
    bar = bars[0]
    assert "20/20" in bar and re.search(r"\|[█▏▎▍▌▋▊▉ ]+\|", bar)  # the bar itself, full
    assert re.search(r"\d\d:\d\d<\d\d:\d\d", bar)  # elapsed < time left
    if columns >= 100:
        assert bar.startswith("step 20/20  loss ") and "train acc" in bar and "step/s" in bar
    header = joined(lines[:lines.index(bar)])
    assert header == ("tapegrad demo: moons, 100 training samples, MLP(2, [4, 1]) with 17 "
                      "parameters, sgd lr 1, 20 steps each step: loss and train acc on all 100 "
                      "training samples, before the step's update")
    assert any("MLP(2, [4, 1])" in line for line in lines)  # never broken across lines
    after = lines[lines.index(bar) + 1:-1]
    assert re.fullmatch(r"trained in \d+\.\d s", after[0])
    assert re.fullmatch(r"accuracy \d+\.\d% on the 100 training samples, after the last step "
                        r"\(micrograd's demo scores there too\)", joined(after[1:])), after


def test_ctrl_c_ends_on_a_line_of_its_own(terminal):
    pytest.importorskip("tqdm")
    pane = terminal(60, "demo", "--steps", "100000", "--hidden", "4", "--no-pictures")
    pane.wait_for(r"^ *\d*[2-9]/100000 ")  # training, a step or more done
    pane.send("C-c")
    lines = finished(pane)
    assert lines[-1] == "EXIT=130" and lines[-2] == "tapegrad demo: interrupted", lines
    assert BAR.match(lines[-3]), lines  # the bar, closed, with the ^C typed after it
    assert_fits(lines, 60)
    assert len([line for line in lines if BAR.match(line)]) == 1


def test_without_tqdm_plain_lines_and_one_line_of_advice(terminal):
    hide_tqdm = ("-c " + shlex.quote("import sys; sys.modules['tqdm'] = None; "
                                     "from tapegrad.cli import main; raise SystemExit(main())"))
    lines = finished(terminal(60, "demo", "--steps", "20", "--hidden", "4", "--no-pictures",
                              python=hide_tqdm))
    assert lines[-1] == "EXIT=0", lines
    assert_fits(lines, 60)
    assert lines.count('for a live progress bar: pip install "tapegrad[demo]"') == 1
    steps = [line for line in lines if line.startswith("step ")]
    assert [line.split()[1] for line in steps] == ["1/20", "2/20", "4/20", "6/20", "8/20",
                                                   "10/20", "12/20", "14/20", "16/20", "18/20",
                                                   "20/20"]
    assert all(re.fullmatch(r"step +\d+/20  loss \d\.\d{4}  train acc +\d+\.\d%  \(\d+\.\d s\)",
                            line) for line in steps), steps


NAMES_BAR = re.compile(r"^ *(step +)?\d+/\d+ +(loss )?\d\.\d{4}( |$)")


@pytest.mark.parametrize("columns", [60, 120])
def test_the_names_demo_shows_one_loss_bar_its_checks_and_ten_names(terminal, columns):
    """--dataset names: one bar (the loss, no accuracy) redrawn in place, the validation
    checks printed above it, every line within the terminal, and the ten names last."""
    pytest.importorskip("tqdm")
    pytest.importorskip("numpy")
    lines = finished(terminal(columns, "demo", "--dataset", "names", "--steps", "30",
                              "--hidden", "8"))
    assert lines[-1] == "EXIT=0", lines
    assert_fits(lines, columns)
    bars = [line for line in lines if NAMES_BAR.match(line)]
    assert len(bars) == 1 and "30/30" in bars[0], lines
    assert "acc" not in bars[0] and re.search(r"\|[█▏▎▍▌▋▊▉ ]+\|", bars[0])
    checks = [line for line in lines if re.fullmatch(r"step \d+: validation loss \d\.\d{4}", line)]
    assert len(checks) == 4 and lines.index(checks[-1]) < lines.index(bars[0]), lines
    told = lines.index(next(line for line in lines if line.startswith("10 names the model")))
    assert len(lines[told + 1:-1]) == 10, lines
