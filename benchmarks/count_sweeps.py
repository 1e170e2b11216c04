"""Forward mode vs reverse mode, counted: the work to get all n partials of f: Rⁿ → R.

    python benchmarks/count_sweeps.py              # n = 1 .. 1000
    python benchmarks/count_sweeps.py --n 1 2 10   # chosen n

For f(x) = Σ x_i · x_{(i+1) mod n} it records f once as a Graph, then gets the gradient twice:
by reverse mode (Graph.vjp, one sweep seeded at the output) and by forward mode (Graph.jvp, one
sweep per input, seeded at that input). It counts two things per mode:

- sweeps: passes over the graph's array;
- node visits: nodes at which a sweep applied the chain rule. Counted, not derived: a sweep
  reads a node's Op at each node it visits (to know which partials to apply, from the rule
  table or, for + and *, written into the reverse sweep), so this script swaps each record's
  list of Ops for one that notes which entries were read, and counts them sweep by sweep.

Both modes must give the same n partials; the script checks it. docs/forward-vs-reverse.md prints
its output, and tests/test_transforms.py runs it for small n.
"""

from __future__ import annotations

import argparse
import contextlib

from tapegrad import Graph, Value

DEFAULT_NS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def neighbour_products(xs):
    """f(x) = Σ x_i · x_{(i+1) mod n}: one output that every input reaches."""
    n = len(xs)
    return sum(xs[i] * xs[(i + 1) % n] for i in range(n))


class _CountingOps(list):
    """A record's list of Ops that notes which entries were read (each node a sweep visits)."""

    def __init__(self, ops, seen):
        super().__init__(ops)
        self.seen = seen

    def __getitem__(self, i):
        self.seen.add((id(self), i))
        return super().__getitem__(i)


@contextlib.contextmanager
def counting_visits(graph):
    """A set of the (record, entry) pairs whose Op the sweeps read (clear it between sweeps:
    an entry read twice in one sweep is one visit)."""
    seen = set()
    records = [stretch[0] for stretch in graph._stretches]
    originals = [rec.op for rec in records]
    for rec in records:
        rec.op = _CountingOps(rec.op, seen)
    try:
        yield seen
    finally:
        for rec, ops in zip(records, originals):
            rec.op = ops


def count(n: int) -> dict:
    """Sweeps and node visits for all n partials of neighbour_products, in both modes."""
    xs = [Value(1.0 + i / n) for i in range(n)]
    out = neighbour_products(xs)
    graph = Graph(out)
    where = graph.index

    with counting_visits(graph) as seen:
        cotangents = graph.vjp({out: 1.0})
        reverse_grad, reverse_visits = [cotangents[where[x]] for x in xs], len(seen)

    forward_grad, forward_visits = [], 0
    with counting_visits(graph) as seen:
        for x in xs:  # one sweep per input
            seen.clear()
            forward_grad.append(graph.jvp({x: 1.0})[where[out]])
            forward_visits += len(seen)

    for i, (r, f) in enumerate(zip(reverse_grad, forward_grad)):
        if abs(r - f) > 1e-12 * (1 + abs(r)):
            raise AssertionError(f"n={n}: ∂f/∂x{i} is {r} by reverse mode but {f} by forward mode")
    return {
        "n": n,
        "nodes": len(graph),
        "reverse_sweeps": 1,
        "reverse_visits": reverse_visits,
        "forward_sweeps": n,
        "forward_visits": forward_visits,
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
