"""Function transforms: derivatives of Python functions of Values.

``jvp`` is forward mode: it records ``f`` once and sweeps the recorded graph forwards, pushing a
tangent from the inputs to the output with each op's local derivatives (see Graph.jvp).
"""

from __future__ import annotations

import numbers

from .graph import Graph
from .value import Value


def _leaves_for(primals, what: str) -> list[Value]:
    leaves = []
    for i, primal in enumerate(primals):
        if not isinstance(primal, numbers.Real):
            raise TypeError(
                f"{what}: primal {i} is {primal!r} ({type(primal).__name__}); primals are numbers"
            )
        leaves.append(Value(primal, label=f"x{i}"))
    return leaves


def jvp(f, primals, tangents):
    """Forward mode: ``(f(*primals), J_f(primals) · tangents)`` as two floats.

    One forward sweep of the recorded graph, for the one input direction ``tangents``:

    >>> jvp(lambda x: (2.0 * x + 3.0) ** 2, (2.0,), (1.0,))
    (49.0, 28.0)
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(
            f"jvp: {len(primals)} primals but {len(tangents)} tangents; give one tangent per input"
        )
    leaves = _leaves_for(primals, "jvp")
    for i, t in enumerate(tangents):
        if not isinstance(t, numbers.Real):
            raise TypeError(f"jvp: tangent {i} is {t!r} ({type(t).__name__}); tangents are numbers")
    out = f(*leaves)
    if not isinstance(out, Value):
        if isinstance(out, numbers.Real):
            return float(out), 0.0  # f ignored its inputs: a constant has zero derivative
        raise TypeError(
            f"jvp: f returned {out!r} ({type(out).__name__}); f must return one Value"
        )
    graph = Graph(out)
    tangent = graph.jvp({leaf: float(t) for leaf, t in zip(leaves, tangents)})
    out_tangent = tangent[graph.index[out]]
    return out.data, 0.0 if out_tangent is None else float(out_tangent)


__all__ = ["jvp"]
