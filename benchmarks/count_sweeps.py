"""Forward mode vs reverse mode, counted: the work to get all n partials of f: Rⁿ → R.

    python benchmarks/count_sweeps.py              # n = 1 .. 1000
    python benchmarks/count_sweeps.py --n 1 2 10   # chosen n

For f(x) = Σ x_i · x_{(i+1) mod n} it records f once as a Graph, then gets the gradient twice:
by reverse mode (Graph.vjp, one sweep seeded at the output) and by forward mode (Graph.jvp, one
sweep per input, seeded at that input). It counts two things per mode:

- sweeps: passes over the graph's array;
- node visits: nodes at which a sweep applied the chain rule, i.e. evaluated the node's local
  derivatives from the rule table. Counted, not derived: every sweep looks up the node's
  partials in ``tapegrad.ops.PARTIALS`` once per node it visits, and this script wraps each
  entry of that table with a counter.

Both modes must give the same n partials; the script checks it. docs/forward-vs-reverse.md prints
its output, and tests/test_transforms.py runs it for small n.
"""

from __future__ import annotations

import argparse
import contextlib

import tapegrad.ops as ops_module
from tapegrad import Graph, Value

DEFAULT_NS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def neighbour_products(xs):
    """f(x) = Σ x_i · x_{(i+1) mod n}: one output that every input reaches."""
    n = len(xs)
    return sum(xs[i] * xs[(i + 1) % n] for i in range(n))


@contextlib.contextmanager
def counting_visits():
    """Count evaluations of the rule table's partials (one per node a sweep visits)."""
    counter = {"visits": 0}
    originals = dict(ops_module.PARTIALS)

    def counted(partials):
        def counting(*args):
            counter["visits"] += 1
            return partials(*args)

        return counting

    for op, partials in originals.items():
        ops_module.PARTIALS[op] = counted(partials)
    try:
        yield counter
    finally:
        ops_module.PARTIALS.update(originals)


def count(n: int) -> dict:
    """Sweeps and node visits for all n partials of neighbour_products, in both modes."""
    xs = [Value(1.0 + i / n) for i in range(n)]
    out = neighbour_products(xs)
    graph = Graph(out)
    where = graph.index

    with counting_visits() as reverse:
        cotangents = graph.vjp({out: 1.0})
        reverse_grad = [cotangents[where[x]] for x in xs]

    with counting_visits() as forward:
        forward_grad = [graph.jvp({x: 1.0})[where[out]] for x in xs]

    for i, (r, f) in enumerate(zip(reverse_grad, forward_grad)):
        if abs(r - f) > 1e-12 * (1 + abs(r)):
            raise AssertionError(f"n={n}: ∂f/∂x{i} is {r} by reverse mode but {f} by forward mode")
    return {
        "n": n,
        "nodes": len(graph),
        "reverse_sweeps": 1,
        "reverse_visits": reverse["visits"],
        "forward_sweeps": n,
        "forward_visits": forward["visits"],
    }


HEADER = ("n", "nodes", "rev sweeps", "rev visits", "fwd sweeps", "fwd visits", "fwd/rev")


def table(ns) -> str:
    rows = [HEADER]
    for n in ns:
        c = count(n)
        rows.append(
            (
                str(c["n"]),
                str(c["nodes"]),
                str(c["reverse_sweeps"]),
                str(c["reverse_visits"]),
                str(c["forward_sweeps"]),
                str(c["forward_visits"]),
                f"{c['forward_visits'] / c['reverse_visits']:.1f}x",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=DEFAULT_NS, help="input sizes")
    args = parser.parse_args(argv)
    print("f(x) = sum(x[i] * x[(i + 1) % n] for i in range(n)); all n partials, both modes")
    print(table(args.n))
    print("both modes gave the same n partials for every n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
