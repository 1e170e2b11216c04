"""microgpt's training step on its own engine and on tapegrad's Value, side by side (issue 13).

    python3 benchmarks/microgpt.py                  # 30 timed steps, then a profile
    python3 benchmarks/microgpt.py --steps 60 --top 30

The program is examples/microgpt_style/microgpt.py: a GPT trained on names in the style of
Karpathy's microgpt, whose engine is one import line. Its model is built from the same seed on
four Values: the example's own micrograd-style one (engine.py), tapegrad's, one that records
nothing (the floor: what the program's own Python costs), and the cheapest tape engine there is
in Python (minimal_tape.py: what recording costs with none of a library's duties). Each engine
runs alone in a fresh Python, as a learner's program does -- in one process, each engine's garbage collector would
walk the other models' objects too -- over the same documents, in rounds: a process per engine
per round, their order alternating, so that a busy spell of the machine slows all alike. Each
step is timed in its parts (the forward pass that builds the loss, backward(), the hand-written
Adam update, dropping the graph), with the garbage collector's pauses in each, after a few
warm-up steps. It prints the means in ms and the own engine's time over tapegrad's and over the
minimal tape's, checks that tapegrad and the minimal tape printed the own engine's loss at every
step, and ends with cProfile's view of tapegrad's steps: the functions that
take the most time of their own.

Absolute times on a shared machine are noise; read the ratios.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
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
sys.path.append(str(ROOT / "benchmarks"))  # minimal_tape.py (after the example: its microgpt)

import engine  # noqa: E402
import microgpt  # noqa: E402
import minimal_tape  # noqa: E402
import tapegrad  # noqa: E402

NUM_STEPS = 1000  # microgpt's run: its learning-rate schedule
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
        if self.name == "minimal tape":  # (its one tape holds every step's graph until cut)
            minimal_tape.cut()
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


def report(own: Run, tape: Run, floor: Run, minimal: Run) -> None:
    """The mean time of a step, part by part, of which the garbage collector's, and tapegrad's
    speed-up over the own engine on each (and the minimal tape's). Means, not medians: a
    collection that walks the whole heap lands on one step in several, and it is as much the
    engine's cost as any other."""
    runs = (own, tape, floor, minimal)
    print(f"{'mean ms':<16}" + "".join(f"{run.name:>21}" for run in runs)
          + f"{'speed-up':>10}{'speed-up':>10}")
    print(f"{'':<16}" + f"{'time (of which GC)':>21}" * 4 + f"{'own/tape':>10}{'own/min':>10}")

    def speed_up(a: float, b: float) -> str:
        return f"{a / b if b else 0:>9.2f}×"

    def row(label, times, gcs):
        """One line: each run's mean time and mean GC pause, and the speed-ups."""
        means = [statistics.fmean(t) for t in times]
        cells = "".join(f"{ms(t) + ' (' + ms(statistics.fmean(g)).strip() + ')':>21}"
                        for t, g in zip(means, gcs))
        print(f"  {label:<14}{cells}{speed_up(means[0], means[1])}{speed_up(means[0], means[3])}")

    for part in PARTS:
        row(part, [run.times[part] for run in runs], [run.gc[part] for run in runs])
    row("whole step", [run.step_times() for run in runs], [run.step_times(run.gc) for run in runs])
    ratios = [x / y for x, y in zip(own.step_times(), tape.step_times())]
    print(f"step by step, {own.name} / {tape.name}: median {statistics.median(ratios):.2f}×, "
          f"range {min(ratios):.2f}× to {max(ratios):.2f}× over {len(ratios)} steps")
    print(f"({floor.name}: the program on a Value that computes numbers and records nothing, "
          "the floor under any eager engine's forward pass)")
    print(f"({own.name}: its backward() leaves each graph in a reference cycle, so the graph is "
          "freed by the collector, during a later forward pass: that is its GC there)")
    print(f"({minimal.name}: benchmarks/minimal_tape.py, the cheapest tape engine in Python, "
          "with none of a library's duties -- threads, freeing, checks -- a measuring stick)")


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


ENGINES = {"own engine": lambda: engine.Value, "tapegrad": lambda: tapegrad.Value,
           "no graph": lambda: Number, "minimal tape": lambda: minimal_tape.Value}


def worker(name: str, first: int, count: int, warmup: int) -> None:
    """One engine alone in this process, its model fresh from the seed: steps `first` to
    `first + count`, the first `warmup` of them untimed, printed as JSON (times and GC pauses
    per part, and the timed steps' losses)."""
    docs, vocab_size, weights_state = documents()
    run = Run(name, ENGINES[name](), vocab_size, weights_state)
    if name == "minimal tape":
        minimal_tape.keep(run.params)
    gc.callbacks.append(_gc_timer)
    for step in range(first, first + count):
        run.step(docs[step], step, NUM_STEPS, timed=step >= first + warmup)
    print(json.dumps({"times": run.times, "gc": run.gc, "losses": run.losses[warmup:]}))


def measured(name: str, first: int, count: int, warmup: int) -> dict:
    """worker() in a fresh Python: its JSON."""
    out = subprocess.run([sys.executable, __file__, "--worker", name, "--first", str(first),
                          "--count", str(count), "--warmup", str(warmup)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def main(argv=None) -> None:
    """Time --steps steps of each engine, each in processes of its own, rounds alternating;
    report; then profile tapegrad."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps (default 30)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="processes per engine the steps are split over (default 3)")
    parser.add_argument("--warmup", type=int, default=3,
                        help="untimed steps at the start of each process (default 3)")
    parser.add_argument("--profile-steps", type=int, default=10,
                        help="tapegrad steps to profile after the timed ones (default 10)")
    parser.add_argument("--top", type=int, default=25, help="functions to list (default 25)")
    parser.add_argument("--worker", choices=list(ENGINES), help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.first, args.count, args.warmup)

    header()
    docs, vocab_size, weights_state = documents()
    runs = {name: Run(name, ENGINES[name](), vocab_size, weights_state) for name in ENGINES}
    print(f"{len(runs['tapegrad'].params)} parameters; n_embd {microgpt.n_embd}, n_head "
          f"{microgpt.n_head}, n_layer {microgpt.n_layer}, block_size {microgpt.block_size}")
    # Each round is one process per engine over the next stretch of steps, the engines' order
    # alternating from round to round: a busy spell of the machine slows all alike. (One
    # process for all three would let each engine's collector walk the others' objects.)
    per_round = -(-args.steps // args.rounds)
    for r, first in enumerate(range(0, args.steps, per_round)):
        count = min(per_round, args.steps - first)
        for name in list(ENGINES) if r % 2 == 0 else list(ENGINES)[::-1]:
            found = measured(name, first, count + args.warmup, args.warmup)
            run = runs[name]
            for part in PARTS:
                run.times[part] += found["times"][part]
                run.gc[part] += found["gc"][part]
            run.losses += found["losses"]
    tokens = [len(docs[step]) - 1 for step in range(args.steps)]
    print(f"{args.steps} timed steps over {args.rounds} rounds of one process per engine, each "
          f"after {args.warmup} warm-up steps; one document a step ({min(tokens)} to "
          f"{max(tokens)} positions, median {statistics.median(tokens)})\n")
    own, tape, floor, minimal = runs.values()
    report(own, tape, floor, minimal)
    same = own.losses == tape.losses
    print(f"losses printed (4 decimals) identical at every step: {'yes' if same else 'NO'}"
          f" (and on the minimal tape: {'yes' if minimal.losses == own.losses else 'NO'})")
    if not same:
        first = next(i for i, (a, b) in enumerate(zip(own.losses, tape.losses)) if a != b)
        print(f"  first difference at step {first + 1}: {own.losses[first]} vs "
              f"{tape.losses[first]}")
    if args.profile_steps > 0:
        del runs["own engine"], runs["no graph"], runs["minimal tape"], own, floor, minimal
        gc.collect()
        profile(tape, docs, args.steps, args.profile_steps, NUM_STEPS, args.top)


if __name__ == "__main__":
    main()
