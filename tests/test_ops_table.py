"""Every op, at several points each: its value, its reverse-mode derivative (backward) and its
forward-mode tangent (jvp), against the mpmath oracle and against PyTorch float64.

One table drives every test. A row is one function f(m, *xs) written once with the namespace
``m`` (see oracle.py), so the same line runs in tapegrad, in mpmath and in torch:

- ``points`` are where f is smooth: the mpmath oracle differentiates numerically there;
- ``conventions`` are where it is not (relu and abs at their kinks, roots at 0, a negative base
  to a Value power): the expected value and partials are written down, as PyTorch defines them,
  and checked against tapegrad and torch.

Rows with an ``op`` are the primitive ops (the output node must carry that Op, and together they
cover every Op); rows without are the derived operators built from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import pytest

from oracle import (
    MP,
    TAPEGRAD,
    assert_close,
    mp_directional,
    mp_gradient,
    torch_directional,
    torch_gradient,
    torch_ops,
)
from tapegrad import RULES, Graph, Op, Value, jvp

VALUE_REL = 1e-13  # a value is a few correctly rounded float operations away from the truth

inf, nan = math.inf, math.nan


@dataclass(frozen=True)
class Row:
    name: str
    op: Op | None  # the Op of the output node; None for a derived operator
    f: Callable  # f(m, *xs)
    points: list = field(default_factory=list)
    conventions: dict = field(default_factory=dict)  # point -> (value, partials)


ROWS = [
    # -- the primitive ops ---------------------------------------------------------------------
    Row("x", Op.LEAF, lambda m, x: x, [(2.5,), (-0.0,), (1e300,)]),
    Row(
        "x + y",
        Op.ADD,
        lambda m, x, y: x + y,
        [(1.5, -2.25), (0.0, 0.0), (-1e-300, 3e-300), (1e300, -1e300)],
    ),
    Row(
        "x * y",
        Op.MUL,
        lambda m, x, y: x * y,
        [(1.5, -2.25), (0.0, 5.0), (-3.0, -4.0), (1e-200, 1e-200), (1e150, -1e150)],
    ),
    Row("x * x", Op.MUL, lambda m, x: x * x, [(-1.5,), (0.0,), (3.0,)]),
    Row("x ** 2", Op.POW, lambda m, x: m.pow(x, 2), [(-3.0,), (0.0,), (1e-5,), (1e150,)]),
    Row("x ** 3", Op.POW, lambda m, x: m.pow(x, 3), [(-2.0,), (0.0,), (0.1,)]),
    Row("x ** 2.0 (float, negative base)", Op.POW, lambda m, x: m.pow(x, 2.0), [(-3.0,), (0.5,)]),
    # At 1e-300 and -1e-200 the slope is beyond the float range: ±inf, as in PyTorch.
    Row(
        "x ** -1",
        Op.POW,
        lambda m, x: m.pow(x, -1),
        [(-4.0,), (0.1,), (1e300,), (1e-300,), (-1e-300,)],
    ),
    Row("x ** -2", Op.POW, lambda m, x: m.pow(x, -2), [(-0.5,), (3.0,), (1e-110,), (-1e-110,)]),
    Row(
        "x ** 0.5",
        Op.POW,
        lambda m, x: m.pow(x, 0.5),
        [(4.0,), (2.0,), (1e-300,)],
        {(0.0,): (0.0, [inf])},
    ),
    Row("x ** 1.5", Op.POW, lambda m, x: m.pow(x, 1.5), [(2.25,), (1e-8,)], {(0.0,): (0.0, [0.0])}),
    Row("x ** 0", Op.POW, lambda m, x: m.pow(x, 0), [(3.0,), (-2.0,), (0.0,)]),
    Row("x ** 1", Op.POW, lambda m, x: m.pow(x, 1), [(-7.5,), (0.0,)]),
    Row(
        "x ** y",
        Op.POWV,
        lambda m, x, y: m.pow(x, y),
        [(2.0, 3.0), (0.5, -1.5), (1e-3, 0.5), (7.0, 0.0), (1.0, 100.0)],
        {
            (0.0, 2.0): (0.0, [0.0, 0.0]),
            (0.0, 0.5): (0.0, [inf, 0.0]),
            (-2.0, 3.0): (-8.0, [12.0, nan]),
        },
    ),
    Row("2 ** x", Op.POWV, lambda m, x: 2**x, [(0.0,), (-3.5,), (10.0,), (1000.0,)]),
    Row("exp", Op.EXP, lambda m, x: m.exp(x), [(0.0,), (-1.0,), (1.0,), (700.0,), (-745.0,)]),
    Row("log", Op.LOG, lambda m, x: m.log(x), [(1.0,), (0.5,), (1e-300,), (1e300,), (3.0,)]),
    Row(
        "tanh",
        Op.TANH,
        lambda m, x: m.tanh(x),
        [(0.0,), (0.5,), (-3.0,), (10.0,), (20.0,), (1000.0,), (-1000.0,)],
    ),
    Row(
        "sigmoid",
        Op.SIGMOID,
        lambda m, x: m.sigmoid(x),
        [(0.0,), (2.0,), (-30.0,), (40.0,), (1000.0,), (-1000.0,)],
    ),
    Row(
        "relu",
        Op.RELU,
        lambda m, x: m.relu(x),
        [(-1.5,), (2.0,), (1e-300,), (-1e-300,)],
        {(0.0,): (0.0, [0.0])},
    ),
    Row("abs", Op.ABS, lambda m, x: m.abs(x), [(-2.0,), (3.0,), (1e-300,)], {(0.0,): (0.0, [0.0])}),
    Row("sin", Op.SIN, lambda m, x: m.sin(x), [(0.0,), (1.0,), (-3.0,), (math.pi / 2,), (1e6,)]),
    Row("cos", Op.COS, lambda m, x: m.cos(x), [(0.0,), (1.0,), (-3.0,), (math.pi / 2,), (1e6,)]),
    Row(
        "dot, 1 term",
        Op.DOT,
        lambda m, w, x, b: m.dot([w], [x], b),
        [(0.5, -2.0, 0.25), (0.0, 0.0, 0.0)],
    ),
    Row(
        "dot, 3 terms",
        Op.DOT,
        lambda m, w1, w2, w3, x1, x2, x3, b: m.dot([w1, w2, w3], [x1, x2, x3], b),
        [(0.5, -1.0, 0.25, 2.0, 3.0, -4.0, 0.125), (1e-3, 2.0, -7.0, 1e3, -0.5, 0.0, -1.0)],
    ),
    # The slope k · x ** (k - 1) the derivatives of x ** k record: at 0 its limits (PyTorch's).
    Row("slope of x ** 2.5", Op.SLOPE, lambda m, x: m.slope(x, 2.5), [(1.5,), (0.25,), (7.0,)],
        {(0.0,): (0.0, [0.0])}),
    Row("slope of x ** 0.5", Op.SLOPE, lambda m, x: m.slope(x, 0.5), [(1.5,), (0.01,)],
        {(0.0,): (inf, [-inf])}),
    Row("slope of x ** 3", Op.SLOPE, lambda m, x: m.slope(x, 3), [(-2.0,), (0.5,)]),
    # -- derived operators: built from the primitives ------------------------------------------
    Row("-x", None, lambda m, x: -x, [(2.0,), (-0.5,), (0.0,)]),
    Row("x - y", None, lambda m, x, y: x - y, [(1.5, 0.25), (-3.0, 4.0)]),
    Row("3 - x", None, lambda m, x: 3 - x, [(1.5,), (-8.0,)]),
    Row("2 + x", None, lambda m, x: 2 + x, [(1.5,), (-8.0,)]),
    Row("2 * x", None, lambda m, x: 2 * x, [(1.5,), (-8.0,)]),
    Row(
        "x / y", None, lambda m, x, y: x / y, [(1.5, -0.25), (-3.0, 7.0), (0.0, 2.0), (1.0, 1e-200)]
    ),
    Row("x / 4", None, lambda m, x: x / 4, [(1.5,), (-8.0,)]),
    Row("2.5 / x", None, lambda m, x: 2.5 / x, [(1.5,), (-8.0,), (1e-100,)]),
    Row("sqrt", None, lambda m, x: m.sqrt(x), [(4.0,), (1e-300,), (2.0,)], {(0.0,): (0.0, [inf])}),
]

SMOOTH = [
    pytest.param(row, point, id=f"{row.name} at {point}") for row in ROWS for point in row.points
]
KINKS = [
    pytest.param(row, point, expected, id=f"{row.name} at {point}")
    for row in ROWS
    for point, expected in row.conventions.items()
]


def directions(n: int) -> list[tuple]:
    """Each unit vector, and one direction that moves every input at once."""
    units = [tuple(1.0 if j == i else 0.0 for j in range(n)) for i in range(n)]
    mixed = tuple((0.75, -1.25, 0.5, 2.0, -0.25, 1.5, -1.0)[:n])
    return units + [mixed]


def run_tapegrad(row: Row, point):
    """Record f at `point` and back-propagate: (output node, [leaf grads])."""
    xs = [Value(p) for p in point]
    out = row.f(TAPEGRAD, *xs)
    out.backward()
    return out, [x.grad for x in xs]


def tapegrad_function(row: Row):
    return lambda *xs: row.f(TAPEGRAD, *xs)


# ---------------------------------------------------------------------------------------------


def test_the_table_covers_every_op():
    covered = {row.op for row in ROWS if row.op is not None}
    assert covered == set(RULES), f"ops with no row: {set(RULES) - covered}"


@pytest.mark.parametrize("row, point", SMOOTH)
def test_value_and_backward_match_mpmath(row, point):
    out, grads = run_tapegrad(row, point)
    if row.op is not None:
        assert out.op is row.op, f"{row.name} made a {out.op} node, expected {row.op}"
    value, partials = mp_gradient(lambda *xs: row.f(MP, *xs), point)
    assert_close(out.data, value, f"{row.name} value", rel=VALUE_REL)
    assert_close(grads, partials, f"{row.name} gradient")


@pytest.mark.parametrize("row, point", SMOOTH)
def test_jvp_matches_mpmath(row, point):
    for direction in directions(len(point)):
        value, tangent = jvp(tapegrad_function(row), point, direction)
        mp_value, mp_tangent = mp_directional(lambda *xs: row.f(MP, *xs), point, direction)
        where = f"{row.name} along {direction}"
        assert_close(value, mp_value, f"{where}: jvp value", rel=VALUE_REL)
        assert_close(tangent, mp_tangent, f"{where}: jvp tangent")


@pytest.mark.parametrize("row, point", SMOOTH)
def test_graph_jvp_is_a_forward_sweep_that_leaves_grads_alone(row, point):
    """Graph.jvp pushes tangents forwards from one input: it gives that input's partial and
    must not run backward or touch any .grad."""
    xs = [Value(p) for p in point]
    out = row.f(TAPEGRAD, *xs)
    graph = Graph(out)
    _, partials = mp_gradient(lambda *v: row.f(MP, *v), point)
    for i, x in enumerate(xs):
        tangents = graph.jvp({x: 1.0})
        assert all(node.grad == 0.0 for node in graph), f"{row.name}: Graph.jvp changed a grad"
        tangent = tangents[graph.index[out]]
        assert_close(0.0 if tangent is None else tangent, partials[i], f"{row.name}: from x{i}")


@pytest.mark.parametrize("row, point", SMOOTH)
def test_backward_and_jvp_match_torch(row, point):
    ops = torch_ops()
    out, grads = run_tapegrad(row, point)
    value, partials = torch_gradient(lambda *xs: row.f(ops, *xs), point)
    assert_close(out.data, value, f"{row.name} value vs torch", rel=VALUE_REL)
    assert_close(grads, partials, f"{row.name} gradient vs torch")
    for direction in directions(len(point)):
        _, tangent = jvp(tapegrad_function(row), point, direction)
        _, torch_tangent = torch_directional(lambda *xs: row.f(ops, *xs), point, direction)
        assert_close(tangent, torch_tangent, f"{row.name} tangent along {direction} vs torch")


@pytest.mark.parametrize("row, point, expected", KINKS)
def test_kinks_and_domain_edges_follow_pytorch_conventions(row, point, expected):
    value, partials = expected
    out, grads = run_tapegrad(row, point)
    assert_close(out.data, value, f"{row.name} value")
    assert_close(grads, partials, f"{row.name} gradient")
    # Forward mode, one input at a time (a nan partial times a zero tangent would spread nan).
    xs = [Value(p) for p in point]
    out = row.f(TAPEGRAD, *xs)
    graph = Graph(out)
    for i, x in enumerate(xs):
        tangent = graph.jvp({x: 1.0})[graph.index[out]]
        assert_close(tangent, partials[i], f"{row.name}: tangent from x{i}")


@pytest.mark.parametrize("row, point, expected", KINKS)
def test_the_conventions_are_pytorchs(row, point, expected):
    value, partials = expected
    torch_value, torch_partials = torch_gradient(lambda *xs: row.f(torch_ops(), *xs), point)
    assert_close(torch_value, value, f"{row.name} value in torch")
    assert_close(torch_partials, partials, f"{row.name} gradient in torch")


def test_jvp_is_not_reverse_mode_in_disguise(monkeypatch):
    """tapegrad.jvp must push tangents forwards: with every reverse sweep disabled, it still
    gives J·v for every row."""

    def refuse(*args, **kwargs):
        raise AssertionError("jvp ran a reverse sweep")

    monkeypatch.setattr(Graph, "backward", refuse)
    monkeypatch.setattr(Graph, "vjp", refuse)
    monkeypatch.setattr(Value, "backward", refuse)
    for row in ROWS:
        point = row.points[0]
        direction = directions(len(point))[-1]
        _, tangent = jvp(tapegrad_function(row), point, direction)
        _, expected = mp_directional(lambda *xs: row.f(MP, *xs), point, direction)
        assert_close(tangent, expected, f"{row.name}: jvp without reverse mode")
