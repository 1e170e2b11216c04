"""Section 5 of bench.py: issue #15's four training workloads (workloads.py) at their sizes,
every row one thread, interleaved round by round in one process, so that a busy machine slows
them all alike; then what compiling costs, and a deep narrow graph on both backends.

Each row's median ms per training step (forward, backward, SGD update), its ratio to the floor
(NumPy forward and backward by hand) and to the fastest peer (PyTorch batched or JAX jit), and
the worst relative difference of its losses from the floor's over the steps both ran.

    python3 benchmarks/sizes.py            # this section alone
    python3 benchmarks/sizes.py --quick
    python3 benchmarks/sizes.py --all-cores   # JAX on its thread pool, as it runs by default

The process is pinned to one CPU first (pin_to_one_core): PyTorch and NumPy's BLAS are told to
use one thread, but JAX's runtime has a pool of its own, which only pinning keeps to one core.
The cores column says what each row used.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread each, before NumPy (or a peer) loads BLAS

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import peers  # noqa: E402
import workloads  # noqa: E402

PEERS = ("PyTorch batched", "JAX jit")


class Row:
    def __init__(self, label, step):
        self.label, self.step, self.k, self.times, self.losses = label, step, 0, [], []
        self.reps, self.wall, self.cpu = 1, 0.0, 0.0

    def run(self, reps):
        gc.collect()
        start, cpu = time.perf_counter(), time.process_time()  # (the process's every thread)
        for _ in range(reps):
            loss = self.step(self.k)
            if len(self.losses) < 200:
                self.losses.append(loss)
            self.k += 1
        wall = time.perf_counter() - start
        self.wall, self.cpu = self.wall + wall, self.cpu + time.process_time() - cpu
        return wall / reps

    @property
    def cores(self) -> float:
        """CPU time over wall time while it ran: 1.00 for one thread, more for a pool."""
        return self.cpu / self.wall if self.wall else 0.0


def bench_workload(w, rounds: int, min_seconds: float):
    rows, notes = [], []
    for label, make in workloads.MAKERS.items():
        try:
            rows.append(Row(label, make(w)))
        except peers.Missing as missing:
            notes.append(f"{label}: skipped, {missing}")
    for r in rows:  # warm up (JAX compiles here) and calibrate
        spent, fastest = 0.0, float("inf")
        while spent < 2 * min_seconds or r.k < 3:
            step = r.run(1)
            spent, fastest = spent + step, min(fastest, step)
        r.reps = max(1, int(min_seconds / fastest))
    for r in rows:
        r.wall = r.cpu = 0.0  # (the cores column counts the timed rounds only)
    for i in range(rounds):
        for r in rows[i % len(rows):] + rows[: i % len(rows)]:
            r.times.append(r.run(r.reps))
    return rows, notes


def report_workload(w, rows, notes):
    median = {r.label: statistics.median(r.times) for r in rows}
    floor = median.get("floor")
    peer = min((median[p] for p in PEERS if p in median), default=None)
    reference = next((r.losses for r in rows if r.label == "floor"), None)
    print(f"\n### {w.title}\n")
    print(f"{'':20} {'median ms':>10} {'min ms':>9} {'/ floor':>8} {'/ fastest peer':>15}"
          f" {'loss vs floor':>14} {'cores':>6}")
    for r in rows:
        m = median[r.label]
        worst = max((abs(a - b) / abs(b) for a, b in zip(r.losses, reference or [])), default=0)
        print(f"{r.label:20} {m * 1e3:10.3f} {min(r.times) * 1e3:9.3f} "
              f"{m / floor if floor else 0:8.2f} {m / peer if peer else 0:15.2f} {worst:14.1e}"
              f" {r.cores:6.2f}")
    for note in notes:
        print(note)
    return median


def bench_compile(w):
    """Recording the workload's step on placeholders, then compiling it: seconds, and µs per
    argument reference (the sum of every node's argument count) and per node."""
    import random

    import tapegrad.backends.compiled_step  # noqa: F401  (NumPy's import is not compile time)
    from tapegrad import Graph
    from tapegrad.backends import compile_step, placeholders
    from tapegrad.nn import MLP

    random.seed(1337)
    model = MLP(w.sizes[0], list(w.sizes[1:]))
    xs = placeholders(w.samples, w.sizes[0])
    ts = placeholders(w.samples, w.classes) if w.classes > 2 else placeholders(w.samples)
    t0 = time.perf_counter()
    loss = workloads.tapegrad_loss(w, model, xs, ts)
    t1 = time.perf_counter()
    graph = Graph(loss)
    refs, nodes = sum(map(len, graph.arg_indices)), len(graph)
    del graph
    t2 = time.perf_counter()
    compile_step(loss, feeds=(xs, ts), params=model.parameters())
    t3 = time.perf_counter()
    return {"record": t1 - t0, "compile": t3 - t2, "refs": refs, "nodes": nodes}


def bench_deep_narrow(n: int = 20_000, repeats: int = 5):
    """A chain y = tanh(... tanh(x · 1.0001) ...): one node per level, the worst shape for a
    backend that vectorises across a level. Compile and forward + backward on both backends."""
    from tapegrad import Graph, Value

    out = {}
    for backend in ("python", "numpy"):
        x = Value(0.5)
        y = x
        for _ in range(n // 2):
            y = (y * 1.0001).tanh()
        t0 = time.perf_counter()
        g = Graph(y, backend=backend)
        t1 = time.perf_counter()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            g.forward()
            g.backward()
            times.append(time.perf_counter() - t)
        out[backend] = {"compile": t1 - t0, "sweep": statistics.median(times), "nodes": len(g)}
    return out


def pin_to_one_core() -> str:
    """Keep this process, and every thread it starts from now on, on one CPU: "one thread
    each" then holds for JAX too, whose XLA runtime otherwise spreads a step over a pool of
    threads (about 1.5 cores on 2; no XLA flag we tried stops it). Returns what was done."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity here): the cores column says what each used"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}, every row and its threads (--all-cores to let JAX spread)"


def bench_sizes(quick: bool, all_cores: bool = False) -> None:
    """The whole section, printed; pinned to one core unless `all_cores` (pin_to_one_core)."""
    print("\n## 5. Issue #15's workloads: ms per training step, one thread each, interleaved")
    print("\nfloor: forward and backward by hand in NumPy; peers: PyTorch batched (1 thread), "
          "JAX jit (the whole step jitted); tapegrad compiled: recorded once on placeholders, "
          "fed the batch each step (compile_step); tapegrad replay: Graph(loss, "
          "backend=\"numpy\") on the data itself.")
    pinned = "not pinned (--all-cores): JAX's row used its pool of threads, see its cores"
    if not all_cores:
        pinned = pin_to_one_core()
    print("\n" + "\n".join(workloads.blas_kernels() + [f"Process: {pinned}; cores: CPU time "
                                                        "over wall time in the timed rounds"]))
    for w in workloads.WORKLOADS.values():
        rows, notes = bench_workload(w, 5 if quick else 11, 0.02 if quick else 0.05)
        report_workload(w, rows, notes)
    print("\n### Compiling a step (record on placeholders, then compile_step; fastest of 3)\n")
    print(f"{'':44} {'nodes':>9} {'arg refs':>10} {'record s':>9} {'compile s':>10} "
          f"{'µs/ref':>7} {'µs/node':>8}")
    for w in workloads.WORKLOADS.values():  # the fastest of 3 (a first compile warms caches)
        c = min((bench_compile(w) for _ in range(3)), key=lambda c: c["compile"])
        print(f"{w.title:44} {c['nodes']:9,} {c['refs']:10,} {c['record']:9.3f} "
              f"{c['compile']:10.3f} {1e6 * c['compile'] / c['refs']:7.3f} "
              f"{1e6 * c['compile'] / c['nodes']:8.2f}")
    deep = bench_deep_narrow(10_000 if quick else 40_000)
    print("\n### A deep narrow graph (a chain of tanh(y · 1.0001), one node per level)\n")
    for backend, d in deep.items():
        print(f"{backend:7} backend: {d['nodes']:,} nodes, compile {d['compile']:.3f} s "
              f"({1e6 * d['compile'] / d['nodes']:.2f} µs/node), forward + backward "
              f"{d['sweep'] * 1e3:.1f} ms ({1e6 * d['sweep'] / d['nodes']:.2f} µs/node)")
    ratio = deep["numpy"]["sweep"] / deep["python"]["sweep"]
    print(f"numpy / python, forward + backward: {ratio:.2f}x (Graph(..., backend=\"numpy\") "
          "runs a large deep narrow graph on the python interpreters: backends.numpy.too_narrow)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--all-cores", action="store_true",
                        help="do not pin the process to one CPU (JAX then uses its thread pool)")
    args = parser.parse_args(argv)
    bench_sizes(args.quick, args.all_cores)


if __name__ == "__main__":
    main()
