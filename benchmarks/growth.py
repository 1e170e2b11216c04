"""Section 4 of bench.py: what the engine costs where it grows, for one tree per process.

Four measurements, each of a cost that grows with the work and that a redesign can change
without the demo step showing it:

- ``Graph(y)`` of a chain y = x * 1.0000001 * ... of n multiplications (n = 10^4, 10^5, 10^6):
  µs per graph node for the Graph object alone (the chain is built before the clock starts).
  The per-node cost should not grow with n: the ratio of the per-node cost at the largest n to
  that at the next one should be about 1 (linear). Construction may leave work for later (this
  tree's Graph lays out its array when it is first used), so ``Graph(y)`` and then ``len()``,
  the whole array, is timed too.
- ``jvp`` against ``grad`` of three functions of 1,000 inputs: forward mode's one sweep with a
  tangent, against reverse mode's one sweep; both give J · tangent, which is checked.
- ``import tapegrad``: ``-X importtime``'s cumulative time of the ``tapegrad`` line, with the
  compiled files cached (as a user's interpreter runs it) and with nothing cached (compiled each
  time, ``PYTHONDONTWRITEBYTECODE=1`` and an empty cache folder; pure-Python standard modules it
  loads are compiled too).
- ``x ** 2`` on a Value of the current record, one recorded node, and ``FloatMath.pow(1.5, 2)``
  alone, the arithmetic inside it: the rest is the cost of recording.

The ``child_*`` functions run inside a child process whose ``tapegrad`` is the tree measured
(bench.py puts that tree's src first on sys.path); `bench_growth` runs them and prints.
"""

from __future__ import annotations

import gc
import os
import random
import subprocess
import sys
import tempfile
import time
import timeit

GRAPH_SIZES = (10_000, 100_000, 1_000_000)  # multiplications in the chain
INPUTS = 1_000  # the inputs of jvp's and grad's functions


# -------------------------------------------------------------------------------------------
# Child processes
# -------------------------------------------------------------------------------------------


def child_graph(n: int, repeats: int) -> dict:
    """The fastest of `repeats` Graph(y) for a chain of `n` multiplications, alone and with the
    array laid out (len), in seconds; and the number of nodes the Graph has."""
    from tapegrad import Graph, Value

    y = Value(1.0)
    for _ in range(n):
        y = y * 1.0000001
    alone, whole, nodes = [], [], 0
    for _ in range(repeats):
        gc.collect()  # the previous Graph's garbage is not this one's to collect
        start = time.perf_counter()
        graph = Graph(y)
        built = time.perf_counter()
        nodes = len(graph)
        done = time.perf_counter()
        alone.append(built - start)
        whole.append(done - start)
        del graph
    return {"n": n, "nodes": nodes, "graph": min(alone), "graph_len": min(whole)}


def neighbour_products(xs):
    """Σ x_i · x_{(i+1) mod n}: every input meets two others."""
    n = len(xs)
    return sum(xs[i] * xs[(i + 1) % n] for i in range(n))


def tanh_of_halves(xs):
    """Σ tanh(x / 2): one function node per input."""
    return sum((x * 0.5).tanh() for x in xs)


def squares(xs):
    """Σ x²: the cheapest function of n inputs there is."""
    return sum(x * x for x in xs)


FUNCTIONS = [("neighbour products", neighbour_products), ("sum of tanh(x/2)", tanh_of_halves),
             ("sum of squares", squares)]


def child_calculus(repeats: int) -> dict:
    """For each function: the fastest of `repeats` grad(f)(point) and jvp(f, (point,),
    (tangent,)), in seconds, run by turns; and how far jvp's J · tangent is from grad's."""
    from tapegrad import grad, jvp

    rng = random.Random(0)
    point = [rng.uniform(-1, 1) for _ in range(INPUTS)]
    tangent = [rng.uniform(-1, 1) for _ in range(INPUTS)]
    times = {name: {"grad": [], "jvp": []} for name, _ in FUNCTIONS}
    result = {}
    for _ in range(repeats):
        for name, f in FUNCTIONS:
            gc.collect()
            start = time.perf_counter()
            g = grad(f)(point)
            times[name]["grad"].append(time.perf_counter() - start)
            gc.collect()
            start = time.perf_counter()
            _, t = jvp(f, (point,), (tangent,))
            times[name]["jvp"].append(time.perf_counter() - start)
            dot = sum(gi * ti for gi, ti in zip(g, tangent))
            result[name] = {"check": abs(t - dot) / max(abs(dot), 1e-300)}
    for name, _ in FUNCTIONS:
        result[name].update(grad=min(times[name]["grad"]), jvp=min(times[name]["jvp"]))
    return result


def _record_everything_on_one_record():
    """Make the current record take ~10^9 entries, so that timed calls stay on it (this tree:
    tapegrad.record; a tree from before the redesign: tapegrad.tape). Returns a check that a
    Value lives on the current record."""
    import tapegrad.record as record

    if hasattr(record, "fresh") and hasattr(record, "CAPACITY"):
        record.CAPACITY = 1 << 30
        record.fresh()
        return lambda v: v._rec is record.CURRENT.record
    import tapegrad.tape as tape

    tape.CAPACITY = 1 << 30
    tape.fresh_tape()
    return lambda v: v._tape is tape.CURRENT.tape


def child_pow(repeats: int, number: int) -> dict:
    """ns a call of `x ** 2` (x on the current record) and of FloatMath.pow(1.5, 2) alone: the
    fastest of `repeats` timeit runs of `number` calls."""
    from tapegrad import Value
    from tapegrad.ops import FLOATS

    on_current = _record_everything_on_one_record()
    x = Value(1.5) * 1.0  # a node of the current record, not a leaf
    if not on_current(x):
        return {"error": "x is not on the current record"}
    power = timeit.Timer("x ** 2", globals={"x": x}).repeat(repeats, number)
    y = x ** 2
    if not on_current(y):
        return {"error": "the timed calls moved to another record"}
    alone = timeit.Timer("pow(1.5, 2)", globals={"pow": FLOATS.pow}).repeat(repeats, 10 * number)
    return {"x ** 2": min(power) / number * 1e9, "pow": min(alone) / (10 * number) * 1e9}


# -------------------------------------------------------------------------------------------
# import tapegrad, in fresh interpreters
# -------------------------------------------------------------------------------------------


def _import_ms(src, env) -> float:
    """-X importtime's cumulative time of `import tapegrad` from `src`, in ms."""
    env = {**env, "PYTHONPATH": os.pathsep.join([str(src), env.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory() as cwd:  # nothing else named tapegrad on the path
        run = subprocess.run([sys.executable, "-X", "importtime", "-c", "import tapegrad"],
                             capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    for line in run.stderr.splitlines():
        if line.rstrip().endswith("| tapegrad"):
            return int(line.split("|")[1]) / 1000
    raise RuntimeError(f"no import time for tapegrad in: {run.stderr[-500:]}")


def import_times(trees, runs: int) -> dict:
    """Per tree label: (the fastest of `runs` imports with a warm cache, the fastest with none),
    in ms. Trees take turns, run by run; the caches are temporary folders of their own, so the
    trees stay free of compiled files."""
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached, compiled = {t.label: [] for t in trees}, {t.label: [] for t in trees}
    with tempfile.TemporaryDirectory() as caches:
        warm = {t.label: {**base, "PYTHONPYCACHEPREFIX": os.path.join(caches, t.label)}
                for t in trees}
        for t in trees:
            _import_ms(t.src, warm[t.label])  # writes the cache
        for i in range(runs):
            for t in by_turns(trees, i):
                cached[t.label].append(_import_ms(t.src, warm[t.label]))
                with tempfile.TemporaryDirectory() as empty:
                    cold = {**base, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": empty}
                    compiled[t.label].append(_import_ms(t.src, cold))
    return {label: (min(cached[label]), min(compiled[label])) for label in cached}


# -------------------------------------------------------------------------------------------
# The section
# -------------------------------------------------------------------------------------------


def by_turns(items, i):
    """`items` in the order of turn i: the first one goes first every other turn (so that a
    machine getting busier or quieter does not favour one tree)."""
    return items if i % 2 == 0 else items[::-1]


def bench_growth(trees, quick: bool, run_child) -> None:
    """Run the measurements for every tree, each workload in a child process of its own, and
    print them. ``run_child(args, timeout, tree)`` runs ``bench.py --child *args`` on `tree`."""
    sizes = GRAPH_SIZES[:-1] if quick else GRAPH_SIZES
    repeats = 3 if quick else 7
    print("\n## 4. What the engine costs where it grows, each workload in its own process\n")

    print("Graph(y), y = x * 1.0000001 * ... (the chain built before the clock starts):")
    print(f"{'':34} {'nodes':>10} {'Graph(y) ms':>12} {'µs/node':>8} {'+ len() ms':>11} "
          f"{'µs/node':>8}")
    graphs = {}
    for i, n in enumerate(sizes):
        for tree in by_turns(trees, i):
            reps = repeats if n <= 10_000 else 3  # (a big chain's Graph takes seconds)
            graphs[tree.label, n] = run_child(["graph", n, reps], 1200, tree)
    for tree in trees:
        for n in sizes:
            r = graphs[tree.label, n]
            name = f"{tree.label}, {n:,} multiplications"
            if "error" in r:
                print(f"{name:34} {r['error']}")
                continue
            nodes = r["nodes"]
            print(f"{name:34} {nodes:10,} {r['graph'] * 1e3:12.2f} "
                  f"{r['graph'] / nodes * 1e6:8.3f} {r['graph_len'] * 1e3:11.2f} "
                  f"{r['graph_len'] / nodes * 1e6:8.3f}")
        big, before = sizes[-1], sizes[-2]
        rb, ra = graphs[tree.label, big], graphs[tree.label, before]
        if "error" not in rb and "error" not in ra:
            per = {key: (rb[key] / rb["nodes"]) / (ra[key] / ra["nodes"])
                   for key in ("graph", "graph_len")}
            print(f"{'':2}{tree.label}: per-node cost at {big:,} / at {before:,}: "
                  f"Graph(y) {per['graph']:.2f}, with len() {per['graph_len']:.2f} "
                  "(1 = linear)")
    if quick:
        print(f"  ({GRAPH_SIZES[-1]:,} multiplications: skipped with --quick)")

    print(f"\njvp vs grad of functions of {INPUTS:,} inputs (fastest of {repeats}, by turns):")
    print(f"{'':34} {'grad ms':>9} {'jvp ms':>9} {'jvp/grad':>9} {'jvp vs grad':>12}")
    calculus = {tree.label: run_child(["calculus", repeats], 1200, tree) for tree in trees}
    for tree in trees:
        r = calculus[tree.label]
        if "error" in r:
            print(f"{tree.label:34} {r['error']}")
            continue
        for name, _ in FUNCTIONS:
            row = r[name]
            print(f"{tree.label + ', ' + name:34} {row['grad'] * 1e3:9.2f} {row['jvp'] * 1e3:9.2f}"
                  f" {row['jvp'] / row['grad']:8.2f}x {row['check']:12.1e}")
    print("jvp vs grad: relative difference between jvp's J · tangent and grad's gradient · "
          "tangent.")

    print(f"\nimport tapegrad (-X importtime, cumulative; fastest of {repeats} fresh "
          "interpreters, by turns):")
    print(f"{'':34} {'cached ms':>10} {'compiled ms':>12}")
    try:
        imports = import_times(trees, repeats)
    except (RuntimeError, subprocess.TimeoutExpired) as failed:
        imports = {}
        print(f"{'':34} failed: {failed}")
    for label, (cached, compiled) in imports.items():
        print(f"{label:34} {cached:10.2f} {compiled:12.2f}")
    print("cached: compiled files in a warm cache (PYTHONPYCACHEPREFIX, written by one run "
          "before); compiled: PYTHONDONTWRITEBYTECODE=1 and an empty cache, so every module is "
          "compiled each time.")

    print("\nOne recorded node: x ** 2, x on the current record (its capacity raised so the "
          "timed calls stay on it):")
    print(f"{'':34} {'x ** 2 ns':>10} {'FloatMath.pow ns':>17} {'recording ns':>13}")
    number = 20_000 if quick else 50_000
    powers = {tree.label: run_child(["pow", repeats, number], 600, tree) for tree in trees}
    for tree in trees:
        r = powers[tree.label]
        if "error" in r:
            print(f"{tree.label:34} {r['error']}")
            continue
        print(f"{tree.label:34} {r['x ** 2']:10.0f} {r['pow']:17.0f} "
              f"{r['x ** 2'] - r['pow']:13.0f}")
    print("FloatMath.pow: FLOATS.pow(1.5, 2) alone, the arithmetic x ** 2 does; recording: the "
          "difference, what recording the node costs. Fastest of timeit's repeats.")
    if len(trees) > 1:
        _summary(trees, graphs, sizes, calculus, imports, powers)


def _summary(trees, graphs, sizes, calculus, imports, powers) -> None:
    """The section's figures, the baseline's divided by this tree's (above 1: this tree is
    faster), from the same run."""
    this, base = trees[0].label, trees[1].label
    print(f"\n{base} / {this}, the same measurements (above 1: {this} is faster):")
    n = sizes[-1]
    a, b = graphs[this, n], graphs[base, n]
    if "error" not in a and "error" not in b:
        alone = (b["graph"] / b["nodes"]) / (a["graph"] / a["nodes"])
        whole = (b["graph_len"] / b["nodes"]) / (a["graph_len"] / a["nodes"])
        print(f"  Graph(y) of {n:,} multiplications, per node: {alone:.2f}x; "
              f"with len(): {whole:.2f}x")
    a, b = calculus[this], calculus[base]
    if "error" not in a and "error" not in b:
        for name, _ in FUNCTIONS:
            print(f"  {name}: grad {b[name]['grad'] / a[name]['grad']:.2f}x, "
                  f"jvp {b[name]['jvp'] / a[name]['jvp']:.2f}x")
    if this in imports and base in imports:
        print(f"  import tapegrad: cached {imports[base][0] / imports[this][0]:.2f}x, "
              f"compiled {imports[base][1] / imports[this][1]:.2f}x")
    a, b = powers[this], powers[base]
    if "error" not in a and "error" not in b:
        print(f"  x ** 2: {b['x ** 2'] / a['x ** 2']:.2f}x")


__all__ = ["bench_growth", "by_turns", "child_graph", "child_calculus", "child_pow",
           "import_times"]
