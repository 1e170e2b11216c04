"""microgpt's training step on its own engine and on tapegrad's Value, side by side (issue 13).

    python3 benchmarks/microgpt.py                  # 30 timed steps, then a profile
    python3 benchmarks/microgpt.py --steps 60 --top 30

The program is examples/microgpt_style/microgpt.py: a GPT trained on names in the style of
Karpathy's microgpt, whose engine is one import line. This loads it once and builds its model
three times from the same seed: on the example's own micrograd-style Value (engine.py), on
tapegrad's, and on a Value that records nothing (the floor: what the program's own Python
costs), and trains them on the same documents, step by step, interleaved: a busy machine slows
all alike. Each step is timed in its parts (the forward pass that builds the loss, backward(),
the hand-written Adam update, dropping the graph), with the garbage collector's pauses in each,
after a few warm-up steps. It prints the medians in ms and the ratio, checks that both engines
printed the same loss at every step, and ends with cProfile's view of tapegrad's steps: the
functions that take the most time of their own.

Absolute times on a shared machine are noise; read the ratios.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import math
import os
import pstats
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "microgpt_style"
sys.path.insert(0, str(EXAMPLE))  # the example's `from engine import Value` finds engine.py
sys.path.insert(0, str(ROOT / "src"))  # a clean clone works without installing

import engine  # noqa: E402
import microgpt  # noqa: E402
import tapegrad  # noqa: E402

PARTS = ("forward", "backward", "adam", "free")  # "free": dropping the step's graph

# The run whose step is running, and its part: where the garbage collector's pauses go.
NOW = [None, ""]


def _gc_timer(phase: str, info: dict) -> None:
    """gc.callbacks hook: add each collection's pause to the part of the step it interrupted."""
    run, part = NOW
    if run is None:
        return
    if phase == "start":
        run.gc_started = time.perf_counter()
    elif run.gc_started is not None:
        run.gc_now[part] += time.perf_counter() - run.gc_started
        run.gc_started = None


class Run:
    """The example's model, built on one engine, with its optimizer state and a place for the
    times of its steps."""

    def __init__(self, name: str, value_class, vocab_size: int, random_state) -> None:
        """The model as microgpt.py builds it on `value_class`: its weights drawn from
        `random_state`, where random.seed(42) and the documents' shuffle left the generator."""
        self.name = name
        microgpt.Value = value_class  # what the import line at the top of microgpt.py sets
        random.setstate(random_state)
        self.model = microgpt.init_model(vocab_size)
        self.params = microgpt.parameters(self.model)
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)
        self.times = {part: [] for part in PARTS}
        self.gc = {part: [] for part in PARTS}  # of those times, the collector's pauses
        self.gc_now, self.gc_started = dict.fromkeys(PARTS, 0.0), None
        self.losses = []

    def step(self, tokens: list[int], step: int, num_steps: int, timed: bool = True) -> None:
        """microgpt.train_step, in its parts, each timed, and then the graph dropped (timed too:
        microgpt frees each step's graph when the next loss replaces it)."""
        self.gc_now = dict.fromkeys(PARTS, 0.0)
        NOW[:] = self, "forward"
        t0 = time.perf_counter()
        loss = microgpt.document_loss(self.model, tokens)
        t1 = time.perf_counter()
        NOW[1] = "backward"
        loss.backward()
        t2 = time.perf_counter()
        NOW[1] = "adam"
        microgpt.adam_step(self.params, self.m, self.v, step, num_steps)
        t3 = time.perf_counter()
        NOW[1] = "free"
        self.losses.append(f"{loss.data:.4f}")
        del loss
        t4 = time.perf_counter()
        NOW[0] = None
        if timed:
            for part, seconds in zip(PARTS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                self.times[part].append(seconds)
                self.gc[part].append(self.gc_now[part])

    def step_times(self, times=None) -> list[float]:
        """Each timed step's whole time (or whole GC time, given self.gc), in seconds."""
        return [sum(parts) for parts in zip(*(times or self.times).values())]


class Number:
    """The cheapest Value the program can run on: it computes the numbers and records nothing
    (no children, no gradients), making one small object per operation, as every engine must
    when the program's own code is unchanged. Its forward pass is the floor under any eager
    engine's: what the program's Python (generators, sum, slicing, operator dispatch) costs.
    Its backward does nothing, so its Adam steps are by zero gradients: it does not train."""

    __slots__ = ("data", "grad")

    def __init__(self, data):
        """A number, and a gradient that stays 0."""
        self.data, self.grad = data, 0

    def __add__(self, other):
        """self + other: the number only."""
        return Number(self.data + (other.data if type(other) is Number else other))

    def __mul__(self, other):
        """self * other: the number only."""
        return Number(self.data * (other.data if type(other) is Number else other))

    def __pow__(self, exponent):
        """self ** exponent, for a number exponent."""
        return Number(self.data**exponent)

    def exp(self):
        """e ** self."""
        return Number(math.exp(self.data))

    def log(self):
        """The natural logarithm."""
        return Number(math.log(self.data))

    def relu(self):
        """max(0, self)."""
        return Number(max(0, self.data))

    # The derived operations make the same objects as the engines' (two for a - b: -b, then +).
    __radd__ = __add__
    __rmul__ = __mul__

    def __neg__(self):
        """-self, as self * -1."""
        return self * -1

    def __sub__(self, other):
        """self + (-other)."""
        return self + (-other)

    def __rsub__(self, other):
        """other + (-self)."""
        return (-self) + other

    def __truediv__(self, other):
        """self * other ** -1."""
        return self * other**-1

    def __rtruediv__(self, other):
        """other * self ** -1."""
        return self**-1 * other

    def backward(self):
        """Nothing: there is no graph."""


def documents() -> tuple[list[list[int]], int, object]:
    """The training documents in microgpt.py's order (random.seed(42), shuffled), as token
    lists; the vocabulary's size; and the random state the model's weights are drawn from."""
    random.seed(42)
    docs = microgpt.load_docs(microgpt.default_names_path())
    random.shuffle(docs)
    uchars = sorted(set("".join(docs)))
    bos = len(uchars)
    stoi = {ch: i for i, ch in enumerate(uchars)}
    return [[bos] + [stoi[ch] for ch in doc] + [bos] for doc in docs], bos + 1, random.getstate()


def ms(seconds: float) -> str:
    """Seconds as milliseconds, for the table."""
    return f"{1000 * seconds:8.1f}"


def report(own: Run, tape: Run, floor: Run) -> None:
    """The medians of the runs, part by part, of which the garbage collector's, and tapegrad's
    speed-up over the own engine on each."""
    runs = (own, tape, floor)
    print(f"{'median ms':<16}" + "".join(f"{run.name:>22}" for run in runs)
          + f"{'speed-up':>10}")
    print(f"{'':<16}" + f"{'time (of which GC)':>22}" * 3 + f"{'own/tape':>10}")

    def row(label, times, gcs):
        """One line: each run's median time and median GC pause, and the speed-up."""
        medians = [statistics.median(t) for t in times]
        cells = "".join(f"{ms(t) + ' (' + ms(statistics.median(g)).strip() + ')':>22}"
                        for t, g in zip(medians, gcs))
        print(f"  {label:<14}{cells}{medians[0] / medians[1]:>9.2f}×")

    for part in PARTS:
        row(part, [run.times[part] for run in runs], [run.gc[part] for run in runs])
    row("whole step", [run.step_times() for run in runs], [run.step_times(run.gc) for run in runs])
    ratios = [x / y for x, y in zip(own.step_times(), tape.step_times())]
    print(f"per-step ratio {own.name} / {tape.name}: median {statistics.median(ratios):.2f}×, "
          f"range {min(ratios):.2f}× to {max(ratios):.2f}× over {len(ratios)} steps")
    print(f"({floor.name}: the program on a Value that computes numbers and records nothing, "
          "the floor under any eager engine's forward pass)")
    print(f"({own.name}: its backward() leaves each graph in a reference cycle, so the graph is "
          "freed by the collector, during a later forward pass: that is its GC there)")


def profile(tape: Run, docs, first: int, count: int, num_steps: int, top: int) -> None:
    """cProfile over `count` more of tapegrad's steps: the `top` functions by time of their own."""
    profiler = cProfile.Profile()
    profiler.enable()
    for step in range(first, first + count):
        tape.step(docs[step], step, num_steps, timed=False)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    print(f"\ncProfile of {count} tapegrad steps ({first + 1} to {first + count}), by tottime "
          "(profiling slows every call; read the shares, not the times):")
    calls = next((line.strip() for line in text.splitlines() if "function calls" in line), "")
    print(f"{calls}; the collector's pauses are not listed: they count to whatever allocated")
    print(text[text.index("   ncalls"):].rstrip() if "   ncalls" in text else text)


def header() -> None:
    """Which tree, which Python, how busy the machine was."""
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", ""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"microgpt-style training step: tapegrad {tapegrad.__version__} at {commit}"
          f"{' (src modified)' if dirty else ''}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores, load average {load}")


def main(argv=None) -> None:
    """Warm up, time --steps steps interleaved, report, then profile tapegrad."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    parser.add_argument("--profile-steps", type=int, default=10,
                        help="tapegrad steps to profile after the timed ones (default 10)")
    parser.add_argument("--top", type=int, default=25, help="functions to list (default 25)")
    args = parser.parse_args(argv)

    header()
    docs, vocab_size, weights_state = documents()
    own = Run("own engine", engine.Value, vocab_size, weights_state)
    tape = Run("tapegrad", tapegrad.Value, vocab_size, weights_state)
    floor = Run("no graph", Number, vocab_size, weights_state)
    gc.callbacks.append(_gc_timer)
    print(f"{len(own.params)} parameters; n_embd {microgpt.n_embd}, n_head {microgpt.n_head}, "
          f"n_layer {microgpt.n_layer}, block_size {microgpt.block_size}")
    num_steps = 1000  # microgpt's run: its learning-rate schedule
    total = args.warmup + args.steps
    for step in range(total):
        timed = step >= args.warmup
        # Interleaved, and which engine goes first alternates: neither always runs right
        # after the other's garbage.
        for run in (own, tape, floor) if step % 2 == 0 else (tape, own, floor):
            run.step(docs[step], step, num_steps, timed)
    tokens = [len(docs[step]) - 1 for step in range(args.warmup, total)]
    print(f"{args.warmup} warm-up steps, then {args.steps} timed, one document each "
          f"({min(tokens)} to {max(tokens)} positions, median {statistics.median(tokens)})\n")
    report(own, tape, floor)
    same = own.losses == tape.losses
    print(f"losses printed (4 decimals) identical at every step: {'yes' if same else 'NO'}")
    if not same:
        first = next(i for i, (a, b) in enumerate(zip(own.losses, tape.losses)) if a != b)
        print(f"  first difference at step {first + 1}: {own.losses[first]} vs "
              f"{tape.losses[first]}")
    if args.profile_steps > 0:
        profile(tape, docs, total, args.profile_steps, num_steps, args.top)


if __name__ == "__main__":
    main()
