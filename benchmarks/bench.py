"""tapegrad's benchmarks, against the peers that are installed, in one command:

    python3 benchmarks/bench.py                       # the full run (several minutes)
    python3 benchmarks/bench.py --quick               # a smaller run (a couple of minutes)
    python3 benchmarks/bench.py --baseline ../old     # and another checkout, before and after

1. micrograd's demo training step (moons, MLP(2, [16, 16, 1])) for tapegrad eager, tapegrad
   replay (python backend), tapegrad replay (numpy backend), micrograd with the garbage collector
   on and off, PyTorch batched and NumPy by hand -- interleaved in one process, round by round,
   so that a busy machine slows them all alike. Medians, ratios against micrograd and PyTorch,
   and each path's loss curve checked against micrograd's reference.
2. Deep and wide graphs: a chain of 1,000,000 nodes and a 100,000-term sum of products, built and
   back-propagated (µs per node), each run in its own process (micrograd may crash on them).
3. Memory: RSS over many training steps (flat or not) and the demo's peak, each workload in its
   own process that imports only what it needs.
4. What the engine costs where it grows (growth.py): Graph(y) of chains of 10^4 to 10^6 nodes
   (linear or not), jvp against grad of functions of 1,000 inputs, `import tapegrad`, and one
   recorded node (x ** 2) against the arithmetic inside it; each workload in its own process.
5. Issue #15's four training workloads (sizes.py, workloads.py): micrograd's demo, MLP(2,
   [32,32,1]) on 300 points, MLP(2,[64,64,1]) on 1,000, digits with MLP(64,[32,10]) on 256
   samples -- tapegrad's compiled step and NumPy replay, PyTorch, JAX jit (when installed) and
   the floor (NumPy by hand), interleaved, each row's ratio to the floor and to the fastest
   peer; then compile time per argument reference, and a deep narrow graph on both backends.
   The process is pinned to one CPU for this section, the last (sizes.pin_to_one_core), so
   that JAX's thread pool runs on one core like every other row.

Every row runs on one thread: NumPy's BLAS is limited to one before NumPy loads (OMP, OpenBLAS
and MKL's thread variables, unless already set), PyTorch's rows say their threads.

With ``--baseline DIR`` (another checkout of this project, e.g. the code before a redesign) the
same run measures both trees, so before/after ratios come from one run on one machine state:
section 1 loads DIR's package in this process under another name (``tapegrad_baseline``) and
times its eager and replay steps among the other rows; sections 2 and 4 run each workload once
per tree, in a process with that tree's src first on sys.path. Section 3 measures this tree only.
Rows say which tree they are: "tapegrad" is this tree, "baseline" is DIR; the header gives
each tree's path and git commit.

Absolute times on a shared machine are noise; read the ratios.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # NumPy's BLAS on one thread, as every row is measured

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))  # a clean clone works without installing

import growth  # noqa: E402
import peers  # noqa: E402
import sizes  # noqa: E402

MiB = 1024 * 1024

# -------------------------------------------------------------------------------------------
# The trees measured: this one, and the baseline given with --baseline
# -------------------------------------------------------------------------------------------

BASELINE_PACKAGE = "tapegrad_baseline"  # the baseline's name when loaded in this process


class Tree:
    """A checkout of this project: its label in the report, its root and its src folder."""

    def __init__(self, label, root):
        self.label, self.root = label, Path(root).resolve()
        self.src = self.root / "src"

    def describe(self) -> str:
        """The tree's path and git commit (with a note when its src/ has uncommitted changes),
        or only the path when git cannot tell."""
        def git(*args):
            done = subprocess.run(["git", "-C", str(self.root), *args], capture_output=True,
                                  text=True, timeout=30)
            return done.stdout.strip() if done.returncode == 0 else None

        try:
            commit = git("rev-parse", "--short", "HEAD")
            changed = commit and git("status", "--porcelain", "--", "src")
        except (OSError, subprocess.TimeoutExpired):
            commit = changed = None
        if not commit:
            return f"{self.root} (no git commit found)"
        note = " + uncommitted changes in src/" if changed else ""
        return f"{self.root}, commit {commit}{note}"


def load_in_process(tree: Tree, name: str = BASELINE_PACKAGE):
    """Import `tree`'s tapegrad package under `name`, beside this tree's ``tapegrad``. Its
    modules import each other relatively, so they resolve inside it (``name.value``, ...)."""
    init = tree.src / "tapegrad" / "__init__.py"
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(init.parent)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


# -------------------------------------------------------------------------------------------
# 1. The demo step, interleaved
# -------------------------------------------------------------------------------------------

# (label, DEMOS key, garbage collector on during the step)
# Each tapegrad row is followed by the baseline's, when there is one (see demo_rows).
DEMO_ROWS = [
    ("tapegrad eager", "tapegrad-eager", True),
    ("tapegrad replay, python", "tapegrad-replay-python", True),
    ("tapegrad replay, numpy", "tapegrad-replay-numpy", True),
    ("micrograd (GC on)", "micrograd", True),
    ("micrograd (GC off)", "micrograd", False),
    ("PyTorch batched", "torch", True),
    ("PyTorch batched, 1 thread", "torch-1-thread", True),
    ("NumPy by hand", "numpy-by-hand", True),
]


class Runner:
    """One row: its Demo, its step counter and its timings (seconds per step)."""

    def __init__(self, label, demo, gc_on):
        self.label, self.demo, self.gc_on = label, demo, gc_on
        self.k, self.times, self.worst = 0, [], 0.0
        self.reps = 1

    def run(self, reference, reps):
        gc.collect()  # garbage left by other rows is not this row's to collect
        if not self.gc_on:
            gc.disable()
        start = time.perf_counter()
        for _ in range(reps):
            loss = self.demo.step(self.k)
            if self.k < 100:
                self.worst = max(self.worst, abs(loss - reference[self.k]) / abs(reference[self.k]))
            self.k += 1
        elapsed = time.perf_counter() - start
        gc.enable()
        if not self.gc_on:
            gc.collect()  # micrograd's cycles, outside the timed region
        return elapsed / reps


def demo_rows(baseline_package):
    """(label, maker of the Demo, GC on) for every row: DEMO_ROWS, each tapegrad row followed by
    the same path on the baseline's package (labelled "baseline ...") when one is loaded."""
    rows = []
    for label, key, gc_on in DEMO_ROWS:
        rows.append((label, peers.DEMOS[key], gc_on))
        if baseline_package and key.startswith("tapegrad-"):
            maker = functools.partial(peers.DEMOS[key], package=baseline_package)
            rows.append((label.replace("tapegrad", "baseline", 1), maker, gc_on))
    return rows


def bench_demo(rounds: int, min_seconds: float, baseline_package=None):
    data = peers.reference()
    runners, notes = [], []
    for label, make, gc_on in demo_rows(baseline_package):
        try:
            runners.append(Runner(label, make(data), gc_on))
        except peers.Missing as missing:
            notes.append(f"{label}: skipped, {missing}")
    # Warm up and calibrate: enough steps per measurement that each takes about min_seconds
    # (the first steps of some peers are slow: PyTorch's warm-up, caches).
    for r in runners:
        spent, fastest = 0.0, float("inf")
        while spent < 2 * min_seconds or r.k < 3:
            step = r.run(data["loss"], 1)
            spent, fastest = spent + step, min(fastest, step)
        r.reps = max(1, int(min_seconds / fastest))
    for i in range(rounds):
        order = runners[i % len(runners) :] + runners[: i % len(runners)]  # rotate the order
        for r in order:
            r.times.append(r.run(data["loss"], r.reps))
    return runners, notes


def report_demo(runners, notes):
    median = {r.label: statistics.median(r.times) for r in runners}
    micro = median.get("micrograd (GC on)")
    # PyTorch's faster setting is the reference: its default threads, or one thread when the
    # machine is busy enough that its thread pool gets in the way.
    torch_rows = [
        median[k] for k in ("PyTorch batched", "PyTorch batched, 1 thread") if k in median
    ]
    torch_ = min(torch_rows) if torch_rows else None
    print("\n## 1. The demo's training step (moons, MLP(2, [16, 16, 1])), interleaved\n")
    print(
        f"{'':26} {'median ms':>10} {'min ms':>10} {'x micrograd':>12} {'/ PyTorch':>10}"
        f" {'steps':>6} {'loss vs ref':>12}"
    )
    for r in runners:
        m = median[r.label]
        vs_micro = f"{micro / m:10.1f}x" if micro else "-"
        vs_torch = f"{m / torch_:9.2f}x" if torch_ else "-"
        print(
            f"{r.label:26} {m * 1e3:10.3f} {min(r.times) * 1e3:10.3f} {vs_micro:>12} "
            f"{vs_torch:>10} {r.k:6d} {r.worst:12.1e}"
        )
    for note in notes:
        print(note)
    print(
        "x micrograd: how many times faster than micrograd (GC on); / PyTorch: time divided by "
        "the faster PyTorch row's (below 1 is faster); loss vs ref: worst relative difference from "
        "micrograd's reference curve over the steps run (up to 100)."
    )
    if micro and "tapegrad eager" in median:
        key = f"key figure: tapegrad eager is {micro / median['tapegrad eager']:.1f}x micrograd"
        if "baseline eager" in median:
            key += f" (baseline eager: {micro / median['baseline eager']:.1f}x)"
        print(key)
    pairs = [(label, label.replace("tapegrad", "baseline", 1)) for label in median
             if label.startswith("tapegrad")]
    pairs = [(this, base) for this, base in pairs if base in median]
    if pairs:
        print(
            "baseline / tapegrad, medians of this run (above 1: this tree is faster): "
            + ", ".join(f"{this[len('tapegrad '):].replace(',', '')} "
                        f"{median[base] / median[this]:.2f}x" for this, base in pairs)
        )
    return median


# -------------------------------------------------------------------------------------------
# 2. Deep and wide graphs, each in its own process
# -------------------------------------------------------------------------------------------


def _value_class(library):
    if library == "tapegrad":
        from tapegrad import Value
    else:
        from micrograd.engine import Value
    return Value


def child_deep(library, shape, n, raise_limit):
    """Build and back-propagate one graph; report seconds and node count."""
    import random

    if raise_limit:
        sys.setrecursionlimit(max(10 * n, 10_000))
    Value = _value_class(library)
    result = {"library": library, "shape": shape, "n": n}
    if shape == "chain":
        x = Value(1.0)
        start = time.perf_counter()
        y = x
        for _ in range(n // 2):
            y = y * 1.0000001  # two nodes: the constant and the product
        built = time.perf_counter()
        result["nodes"] = 2 * (n // 2) + 1
    else:
        random.seed(0)
        a = [Value(random.uniform(-1, 1)) for _ in range(n)]
        b = [Value(random.uniform(-1, 1)) for _ in range(n)]
        start = time.perf_counter()
        y = sum(ai * bi for ai, bi in zip(a, b))
        built = time.perf_counter()
        result["nodes"] = 4 * n + 1  # 2n leaves, n products, n additions, the 0 sum starts from
    try:
        y.backward()
    except RecursionError:
        result["error"] = f"RecursionError at recursion limit {sys.getrecursionlimit()}"
        return result
    done = time.perf_counter()
    result.update(build=built - start, backward=done - built)
    if library == "tapegrad" and shape == "sum" and not raise_limit:
        result.update(_numpy_replay(y))
    return result


def _numpy_replay(y):
    """The graph compiled for the NumPy backend (Graph(y, backend="numpy")), then replayed."""
    from tapegrad import Graph

    try:
        import tapegrad.backends.numpy  # noqa: F401  (NumPy's import is not compile time)
    except ImportError:
        return {}
    start = time.perf_counter()
    run = Graph(y, backend="numpy")
    compiled = time.perf_counter()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        run.forward()
        run.backward()
        times.append(time.perf_counter() - t)
    return {"numpy_compile": compiled - start, "numpy_replay": statistics.median(times)}


DEEP_ROWS = [
    # (label, library, shape, n, raise the recursion limit)
    ("tapegrad", "tapegrad", "chain", 1_000_000, False),
    ("micrograd, default limit", "micrograd", "chain", 1_000_000, False),
    ("micrograd, limit raised", "micrograd", "chain", 100_000, True),
    ("tapegrad", "tapegrad", "sum", 100_000, False),
    ("micrograd, default limit", "micrograd", "sum", 100_000, False),
    ("micrograd, limit raised", "micrograd", "sum", 100_000, True),
]


def _child(args, timeout, tree=None):
    """Run ``bench.py --child *args`` in a fresh process -- on `tree`'s tapegrad when given --
    and return the dict it prints last (or {"error": why})."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", *map(str, args)]
    if tree is not None:
        command += ["--src", str(tree.src)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"no answer within {timeout} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return {"error": f"crashed ({done.returncode}): {last[:80]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_deep(rounds, have_micrograd, trees):
    """Each DEEP_ROWS workload in its own process, `rounds` times; tapegrad's rows once per tree
    (labelled by the tree), the trees taking turns at going first."""
    results = {}
    for i in range(rounds):
        for label, library, shape, n, raise_limit in DEEP_ROWS:
            if library == "micrograd" and not have_micrograd:
                continue
            args = ["deep", library, shape, n, int(raise_limit)]
            if library == "micrograd":
                results.setdefault((label, shape, n), []).append(_child(args, timeout=600))
                continue
            for tree in growth.by_turns(trees, i):
                results.setdefault((tree.label, shape, n), []).append(
                    _child(args, timeout=600, tree=tree)
                )
    print("\n## 2. Deep and wide: build + backward, each in its own process\n")
    print(f"{'':52} {'nodes':>9} {'build s':>8} {'backward s':>10} {'µs/node':>8}")
    for (label, shape, n), runs in results.items():
        name = f"{'chain' if shape == 'chain' else 'sum of products'} ({n:,}): {label}"
        ok = [r for r in runs if "error" not in r]
        if not ok:
            print(f"{name:52} {runs[0]['error']}")
            continue
        build = statistics.median(r["build"] for r in ok)
        back = statistics.median(r["backward"] for r in ok)
        nodes = ok[0]["nodes"]
        print(f"{name:52} {nodes:9,} {build:8.3f} {back:10.3f} {(build + back) / nodes * 1e6:8.2f}")
        if "numpy_replay" in ok[0]:
            replay = statistics.median(r["numpy_replay"] for r in ok)
            compile_s = statistics.median(r["numpy_compile"] for r in ok)
            print(
                f"{'  the same graph replayed, numpy backend':52} {nodes:9,} "
                f"compiled once in {compile_s:.2f} s, then forward + backward in "
                f"{replay * 1e3:.2f} ms ({replay / nodes * 1e6:.4f} µs/node)"
            )
    if not have_micrograd:
        print("micrograd: skipped, not installed (pip install micrograd)")


# -------------------------------------------------------------------------------------------
# 3. Memory, each workload in its own process
# -------------------------------------------------------------------------------------------


def _rss() -> int:
    """This process's resident memory now, in bytes."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the peak is the best we have
        return _peak()


def _peak() -> int:
    """This process's peak resident memory, in bytes. On Linux from VmHWM, because getrusage's
    ru_maxrss carries over the peak of the parent process this one was forked from."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def child_memory(key, steps, gc_on):
    data = peers.reference()
    demo = peers.DEMOS[key](data)
    if not gc_on:
        gc.disable()
    checkpoints = sorted({max(1, steps // 10), steps // 2, steps})
    samples = []
    for k in range(steps):
        demo.step(k)
        if k + 1 in checkpoints:
            samples.append(_rss())
    return {"key": key, "steps": steps, "rss": samples, "peak": _peak()}


MEMORY_ROWS = [
    # (label, DEMOS key, steps in a full run, GC on)
    ("tapegrad eager", "tapegrad-eager", 1000, True),
    ("tapegrad replay, python", "tapegrad-replay-python", 1000, True),
    ("tapegrad replay, numpy", "tapegrad-replay-numpy", 1000, True),
    ("micrograd (GC on)", "micrograd", 10, True),
    ("micrograd (GC off)", "micrograd", 10, False),
]


def bench_memory(quick, have_micrograd):
    print("\n## 3. Memory (this tree): RSS after 10%, 50% and 100% of the steps, and the peak\n")
    print(f"{'':26} {'steps':>6} {'RSS MiB':>24} {'growth':>9} {'peak MiB':>9}")
    peaks = {}
    for label, key, steps, gc_on in MEMORY_ROWS:
        if key == "micrograd" and not have_micrograd:
            continue
        if quick:
            steps = max(2, steps // 10) if key != "micrograd" else 3
        r = _child(["memory", key, steps, int(gc_on)], timeout=1800)
        if "error" in r:
            print(f"{label:26} {r['error']}")
            continue
        rss = [x / MiB for x in r["rss"]]
        growth = rss[-1] - rss[0]
        flat = "flat" if growth < max(2.0, 0.02 * rss[0]) else "GROWS"
        peaks[label] = r["peak"] / MiB
        print(
            f"{label:26} {steps:6d} {' -> '.join(f'{x:.1f}' for x in rss):>24} "
            f"{growth:+8.1f} {peaks[label]:9.1f}  {flat}"
        )
    micro = peaks.get("micrograd (GC on)")
    if micro and "tapegrad eager" in peaks:
        print(
            f"demo peak: tapegrad eager {peaks['tapegrad eager']:.1f} MiB vs micrograd "
            f"{micro:.1f} MiB ({peaks['tapegrad eager'] / micro:.2f}x)"
        )
    print(
        "micrograd runs only a few steps here: with the collector on a step takes about a "
        "second."
    )


# -------------------------------------------------------------------------------------------


def describe_machine(trees):
    versions = [f"Python {platform.python_version()}"]
    for module in ("numpy", "torch", "micrograd"):
        try:
            version = getattr(__import__(module), "__version__", "installed")
        except ImportError:
            version = "not installed"
        versions.append(f"{module} {version}")
    try:
        import torch

        versions.append(f"torch threads {torch.get_num_threads()}")
    except ImportError:
        pass
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    print(f"# tapegrad benchmarks -- {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(
        f"machine: {os.cpu_count()} CPUs (nproc), {cpu}, {platform.system()} "
        f"{platform.release()}"
    )
    print("versions: " + ", ".join(versions))
    if hasattr(os, "getloadavg"):
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average at the start (1, 5, 15 min): {load}")
    print(f"tapegrad = this tree: {trees[0].describe()}")
    if len(trees) > 1:
        print(
            f"baseline = {trees[1].describe()}; in section 1 loaded in this process as "
            f"{BASELINE_PACKAGE}, in sections 2 and 4 in processes of its own"
        )


def child_work(kind, rest):
    """The work of one child process: its result as a dict."""
    if kind == "deep":
        library, shape, n, raise_limit = rest
        return child_deep(library, shape, int(n), raise_limit == "1")
    if kind == "memory":
        key, steps, gc_on = rest
        return child_memory(key, int(steps), gc_on == "1")
    if kind == "graph":
        n, repeats = rest
        return growth.child_graph(int(n), int(repeats))
    if kind == "calculus":
        (repeats,) = rest
        return growth.child_calculus(int(repeats))
    if kind == "pow":
        repeats, number = rest
        return growth.child_pow(int(repeats), int(number))
    raise SystemExit(f"unknown child {kind!r}")


def _use_tree(src):
    """Make `src`'s tapegrad the one this (child) process imports, and check that it is."""
    sys.path.insert(0, src)
    import tapegrad

    if not Path(tapegrad.__file__).resolve().is_relative_to(Path(src).resolve()):
        raise SystemExit(f"imported {tapegrad.__file__}, not the tapegrad in {src}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps")
    parser.add_argument(
        "--baseline", metavar="DIR",
        help="another checkout of this project, measured beside this tree (rows 'baseline')",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--src", help=argparse.SUPPRESS)  # a child's tree
    args = parser.parse_args(argv)
    if args.child:
        if args.src:
            _use_tree(args.src)
        kind, *rest = args.child
        print(json.dumps(child_work(kind, rest)))
        return
    trees = [Tree("tapegrad", HERE.parent)]
    if args.baseline:
        baseline = Tree("baseline", args.baseline)
        if not (baseline.src / "tapegrad" / "__init__.py").is_file():
            parser.error(f"--baseline {args.baseline}: no src/tapegrad/__init__.py there")
        trees.append(baseline)
    describe_machine(trees)
    try:
        import micrograd  # noqa: F401

        have_micrograd = True
    except ImportError:
        have_micrograd = False
    baseline_package = None
    if len(trees) > 1:
        try:
            load_in_process(trees[1])
            baseline_package = BASELINE_PACKAGE
        except Exception as failed:  # noqa: BLE001  (the report says why, and goes on)
            print(f"baseline: could not be loaded in this process ({type(failed).__name__}: "
                  f"{failed}); section 1 has no baseline rows")
    runners, notes = bench_demo(3 if args.quick else 11, 0.02, baseline_package)
    report_demo(runners, notes)
    bench_deep(rounds=1 if args.quick else 3, have_micrograd=have_micrograd, trees=trees)
    bench_memory(args.quick, have_micrograd)
    growth.bench_growth(trees, args.quick, run_child=_child)
    sizes.bench_sizes(args.quick)


if __name__ == "__main__":
    main()
