"""What recording one node costs, in CPU instructions: a figure that does not move with the load.

    python3 benchmarks/recording_cost.py                    # this tree
    python3 benchmarks/recording_cost.py --baseline ../old  # and another checkout beside it

On a shared machine a training step's time moves by a third from run to run; the number of
instructions it executes does not. This script runs each workload under valgrind's callgrind
(`apt-get install valgrind`), twice -- with the work and without it, the same setup both times
-- and divides the difference by the work's size:

- ``w * x`` in ``sum(w * x for w, x in zip(ws, xs))``, the line microgpt spends its forward
  pass in: 16 parameters times 16 nodes, summed -- per recorded operation (a product or a sum);
- ``x * 1.0001``: a node and its constant; ``x.tanh()``: one function op;
- the same sum on ``Number``, a Value that only computes its number (benchmarks/microgpt.py's
  floor): what the program's own Python costs before any engine records anything;
- microgpt's training step (forward, backward, Adam) on its first three names, per step,
  and of that its forward pass alone.

Each count is exact for a given Python and tree (repeatable to a few parts in a million), so
rows of two trees compare directly. Instructions are not time -- a cache miss costs many -- but
for an engine in pure Python the two move together closely (benchmarks/microgpt.py measures the
time)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPS = 64_000  # recorded operations per per-op workload
STEPS = 3  # microgpt steps

WORKLOADS = {  # name -> (what it is, its unit, how many units the work is)
    "sum of w * x": ("w * x in sum(...)", "op", OPS),
    "x * constant": ("x * 1.0001", "op", OPS),
    "tanh": ("x.tanh()", "op", OPS),
    "floor: sum of w * x": ("the same sum on Number (records nothing)", "op", OPS),
    "microgpt step": ("forward, backward and Adam on one name", "step", STEPS),
    "microgpt forward": ("its forward pass alone", "step", STEPS),
}


def _microgpt_bench():
    """benchmarks/microgpt.py, as a module of another name (it imports the example `microgpt`)."""
    spec = importlib.util.spec_from_file_location("microgpt_bench", ROOT / "benchmarks" /
                                                  "microgpt.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def child(tree: Path, name: str, size: int) -> None:
    """Set everything up, then do `size` units of workload `name` (0: only the setup), on the
    tapegrad of `tree`."""
    sys.path.insert(0, str(tree / "src"))
    import tapegrad  # noqa: PLC0415 (the tree's, not necessarily this one)
    from tapegrad import Value, record  # noqa: PLC0415

    assert Path(tapegrad.__file__).is_relative_to(tree), tapegrad.__file__

    if name.startswith("microgpt"):
        bench = _microgpt_bench()

        docs, vocab_size, state = bench.documents()
        run = bench.Run("tapegrad", Value, vocab_size, state)
        for step in range(size):
            if name == "microgpt step":
                run.step(docs[step], step, bench.NUM_STEPS)
            else:
                del run.losses[:]
                bench.microgpt.document_loss(run.model, docs[step])
                record.fresh()
        return
    if name.startswith("floor"):
        bench = _microgpt_bench()
        ws, xs = [bench.Number(0.5) for _ in range(16)], [bench.Number(1.0) for _ in range(16)]
        for _ in range(size // 32):
            sum(w * x for w, x in zip(ws, xs))
        return
    ws, xs, x = [Value(0.5) for _ in range(16)], None, None
    for done in range(0, size, 32):
        if xs is None or len(record.CURRENT.record.data) > 50_000:  # (stay on one record)
            record.fresh()
            xs = [Value(1.0) * 1.0 for _ in range(16)]
            x = xs[0]
        if name == "sum of w * x":
            sum(w * x for w, x in zip(ws, xs))
        else:
            for _ in range(32):
                x * 1.0001 if name == "x * constant" else x.tanh()


def instructions(tree: Path, name: str, size: int) -> int:
    """What callgrind counts for this script's child in `tree` doing `size` units of `name`."""
    run = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          sys.executable, __file__, "--child", name, "--size", str(size),
                          "--tree", str(tree)],
                         capture_output=True, text=True, check=True)
    found = re.search(r"refs:\s+([\d,]+)", run.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from callgrind: {run.stderr[-500:]}")
    return int(found.group(1).replace(",", ""))


def main(argv=None) -> None:
    """Count every workload in this tree (and --baseline's), and print them side by side."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="another checkout, counted beside this one")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--tree", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.tree, args.child, args.size)
    if shutil.which("valgrind") is None:
        sys.exit("recording_cost.py needs valgrind (Debian/Ubuntu: apt-get install valgrind)")
    trees = [ROOT] + ([args.baseline.resolve()] if args.baseline else [])
    print(f"instructions per unit, counted by callgrind; Python {sys.version.split()[0]}; "
          f"{WORKLOADS['sum of w * x'][2]:,} operations, or {STEPS} steps, less the same setup")
    jobs = {(name, tree, size): None for name, (_, _, units) in WORKLOADS.items()
            for tree in (trees[:1] if name.startswith("floor") else trees) for size in (units, 0)}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # (one valgrind a core)
        for key, count in zip(jobs, pool.map(lambda job: instructions(job[1], job[0], job[2]),
                                             jobs)):
            jobs[key] = count
    print(f"{'workload':<22}{'per':<6}" + "".join(f"{str(t)[-20:]:>22}" for t in trees))
    for name, (what, unit, units) in WORKLOADS.items():
        cells = [f"{(jobs[name, t, units] - jobs[name, t, 0]) / units:>22,.0f}"
                 if (name, t, 0) in jobs else f"{'(same)':>22}" for t in trees]
        print(f"{name:<22}{unit:<6}" + "".join(cells) + f"   {what}")

if __name__ == "__main__":
    main()
