"""tapegrad.plain computes the very same floats as the engine (tapegrad.Value), so the two never
drift: plain.py is the design to read, and these tests keep it honest.

Every comparison is bit for bit -- the same float, the sign of a zero included, nan for nan --
never approximate: both run the rule table's formulas (tapegrad.ops.RULES) in the same order.

- The op table: every primitive op and derived operator plain has, at a few points each (kinks,
  zeros, negatives, the edge of the float range): the output's data, every leaf's grad after
  backward(), the forward-mode tangent of the output with respect to each leaf, and a replay
  from new leaf data. The table must cover every function op of the rule table.
- Random programs (hypothesis): leaves, then steps that apply ops to earlier nodes, shared and
  reused (the same node twice in one op): every node's data, grad and tangents, and a replay.
- micrograd's demo: MLP(2, [16, 16, 1]) built from plain.Neuron and from tapegrad.nn.MLP after
  the same seed, trained a few steps: the same loss and parameters at every step, and the
  losses micrograd printed (tests/data/micrograd-demo-moons.json).
- plain's own behaviour where it mirrors the engine: backward() twice, Values of an ended
  graph, the seed's example.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad import RULES, Graph, Op, Value, plain
from tapegrad.nn import MLP

DEMO = Path(__file__).parent / "data" / "micrograd-demo-moons.json"


# ---------------------------------------------------------------------------------------------
# Comparing floats bit for bit
# ---------------------------------------------------------------------------------------------


def same_float(a, b) -> bool:
    """The very same float: equal and with the same sign (0.0 is not -0.0), or both nan; or both
    None (a tangent no seed reaches)."""
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def assert_same(plains, engines, what: str) -> None:
    """plain's floats (a float or a list of them) are the engine's, bit for bit."""
    if not isinstance(plains, list):
        plains, engines = [plains], [engines]
    assert len(plains) == len(engines), f"{what}: {len(plains)} values vs {len(engines)}"
    for i, (p, e) in enumerate(zip(plains, engines)):
        assert same_float(p, e), f"{what}[{i}]: plain {p!r}, engine {e!r}"


# ---------------------------------------------------------------------------------------------
# The two engines' forward mode, by the same question: d(node)/d(seeds) for each node
# ---------------------------------------------------------------------------------------------


def plain_tangents(nodes, seeds: dict) -> list:
    """plain's forward mode: the tangent of each of `nodes` given `seeds`, leaf -> tangent.
    (Before backward(): it ends the graph the nodes are on.)"""
    graph = next(v.graph for v in nodes if v.graph is not None)
    positions = [graph.position(v) for v in nodes]  # (imports a leaf no op has used yet)
    t = graph.tangents({graph.position(leaf): dot for leaf, dot in seeds.items()})
    return [t[i] for i in positions]


def engine_tangents(nodes, seeds: dict) -> list:
    """The engine's forward mode (Graph.jvp), for the same question."""
    graph = Graph(*nodes)
    t = graph.jvp(seeds)
    return [t[graph.index[v]] for v in nodes]


def plain_op(v) -> Op:
    return Op.LEAF if v.graph is None else v.graph.op[v.i]


def plain_replay(out) -> None:
    out.graph.forward()


def engine_replay(out) -> None:
    Graph(out).forward()


# ---------------------------------------------------------------------------------------------
# 1. The op table
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    op: Op  # the Op of the output node (for a derived operator, the last primitive it uses)
    f: Callable  # f(*leaves), with operators and methods both engines have
    points: list  # at least two: each point is replayed from the next one's data


def function_row(name: str, points: list) -> Row:
    return Row(name, getattr(Op, name.upper()), lambda x: getattr(x, name)(), points)


ROWS = [
    # -- the primitive ops, Values on both sides ---------------------------------------------
    Row("x + y", Op.ADD, lambda x, y: x + y, [(1.5, -2.25), (0.0, -0.0), (-0.0, -0.0),
                                              (0.1, 0.2), (1e308, 1e308)]),
    Row("x + x", Op.ADD, lambda x: x + x, [(1.5,), (-0.0,)]),
    Row("x * y", Op.MUL, lambda x, y: x * y, [(3.0, -1.5), (0.0, 5.0), (-0.0, 2.0),
                                              (1e-200, 1e-200), (1e200, -1e200)]),
    Row("x * x", Op.MUL, lambda x: x * x, [(-3.0,), (0.1,), (0.0,)]),
    Row("x ** 2", Op.POW, lambda x: x**2, [(3.0,), (-1.5,), (0.0,), (1e150,)]),
    Row("x ** 3", Op.POW, lambda x: x**3, [(-2.0,), (0.5,), (0.0,)]),
    Row("x ** -1", Op.POW, lambda x: x**-1, [(4.0,), (-0.5,), (1e-300,)]),
    Row("x ** 0.5", Op.POW, lambda x: x**0.5, [(2.0,), (0.0,), (1e-300,)]),  # slope +inf at 0
    Row("x ** 2.5", Op.POW, lambda x: x**2.5, [(2.25,), (0.0,)]),
    Row("x ** 0", Op.POW, lambda x: x**0, [(0.0,), (-2.0,)]),
    Row("x ** y", Op.POWV, lambda x, y: x**y, [(2.0, 3.0), (0.5, -1.5), (0.0, 2.0),
                                               (-2.0, 3.0), (7.0, 0.0)]),  # (-2)**3: ∂/∂y nan
    Row("x ** x", Op.POWV, lambda x: x**x, [(1.5,), (0.25,)]),
    # -- with numbers: plain makes them leaves, the engine constants -------------------------
    Row("x + 2", Op.ADD, lambda x: x + 2, [(1.5,), (-2.0,)]),
    Row("x * 2.5", Op.MUL, lambda x: x * 2.5, [(1.5,), (-0.0,)]),
    Row("2 + x (radd)", Op.ADD, lambda x: 2 + x, [(1.5,), (-8.0,)]),
    Row("0.5 + x (radd)", Op.ADD, lambda x: 0.5 + x, [(-0.5,), (1e-300,)]),
    Row("-3 * x (rmul)", Op.MUL, lambda x: -3 * x, [(1.5,), (0.0,)]),
    Row("0.1 * x (rmul)", Op.MUL, lambda x: 0.1 * x, [(3.0,), (-7.0,)]),
    # -- derived operators, written with the primitives as micrograd writes them --------------
    Row("-x", Op.MUL, lambda x: -x, [(2.5,), (0.0,), (-1.0,)]),
    Row("x - y", Op.ADD, lambda x, y: x - y, [(1.0, 3.0), (0.0, 0.0), (-2.5, 1e-300)]),
    Row("x - 2", Op.ADD, lambda x: x - 2, [(5.0,), (2.0,)]),
    Row("x - x", Op.ADD, lambda x: x - x, [(1.25,), (-3.0,)]),
    Row("x / y", Op.MUL, lambda x, y: x / y, [(1.0, 3.0), (-2.0, 0.5), (0.0, -7.0)]),
    Row("x / 3", Op.MUL, lambda x: x / 3, [(1.0,), (-2.0,)]),
    Row("x / x", Op.MUL, lambda x: x / x, [(0.1,), (-3.0,)]),
    # -- the function ops --------------------------------------------------------------------
    function_row("exp", [(0.0,), (1.0,), (-2.0,), (700.0,), (-745.0,)]),
    function_row("log", [(1.0,), (0.5,), (1e-300,), (10.0,)]),
    function_row("tanh", [(0.0,), (0.5,), (-3.0,), (20.0,), (-1000.0,)]),
    function_row("sigmoid", [(0.0,), (2.0,), (-40.0,), (800.0,), (-800.0,)]),
    function_row("relu", [(0.0,), (-0.0,), (-1.5,), (2.0,)]),  # 0: the kink
    function_row("abs", [(0.0,), (-0.0,), (-2.0,), (3.0,)]),  # 0: the kink
    function_row("sin", [(0.0,), (1.0,), (-2.5,), (1e5,)]),
    function_row("cos", [(0.0,), (1.0,), (-2.5,), (1e5,)]),
]

CASES = [(row, point, row.points[(j + 1) % len(row.points)])
         for row in ROWS for j, point in enumerate(row.points)]


def test_rows_name_real_points():
    for row in ROWS:
        assert len(row.points) >= 2, f"{row.name}: a replay needs a second point"
        assert all(len(p) == len(row.points[0]) for p in row.points), row.name


def test_the_table_covers_every_function_op_and_every_primitive():
    """A new function op in the rule table (it gets a method, in plain too) needs its row here."""
    function_ops = {op for op, rule in RULES.items() if rule.method}
    assert function_ops, "the rule table has no function ops?"
    covered = {row.op for row in ROWS}
    assert function_ops - covered == set(), f"ops with no row: {function_ops - covered}"
    assert {Op.ADD, Op.MUL, Op.POW, Op.POWV} <= covered


@pytest.mark.parametrize(("row", "point", "moved"), CASES,
                         ids=[f"{row.name} at {point}" for row, point, _ in CASES])
def test_op_table_row_is_the_same_floats_in_plain_and_the_engine(row, point, moved):
    plain_leaves, engine_leaves = [plain.Value(x) for x in point], [Value(x) for x in point]
    p, e = row.f(*plain_leaves), row.f(*engine_leaves)
    assert plain_op(p) is row.op and e.op is row.op, (plain_op(p), e.op)
    assert_same(p.data, e.data, "data")
    for i, (pl, el) in enumerate(zip(plain_leaves, engine_leaves)):
        assert_same(plain_tangents([p], {pl: 1.0}), engine_tangents([e], {el: 1.0}),
                    f"tangent along leaf {i}")
    p.backward()
    e.backward()
    assert_same([v.grad for v in plain_leaves], [v.grad for v in engine_leaves], "grads")

    # Replay from the next point's data, then differentiate there again, in both directions.
    for pl, el, x in zip(plain_leaves, engine_leaves, moved):
        pl.data, el.data, pl.grad, el.grad = x, x, 0.0, 0.0
    plain_replay(p)
    engine_replay(e)
    assert_same(p.data, e.data, f"data replayed at {moved}")
    for i, (pl, el) in enumerate(zip(plain_leaves, engine_leaves)):
        assert_same(plain_tangents([p], {pl: 1.0}), engine_tangents([e], {el: 1.0}),
                    f"tangent along leaf {i}, replayed at {moved}")
    p.backward()
    e.backward()
    assert_same([v.grad for v in plain_leaves], [v.grad for v in engine_leaves],
                f"grads replayed at {moved}")


# ---------------------------------------------------------------------------------------------
# 2. Random programs
# ---------------------------------------------------------------------------------------------

# name -> (arity, f(*args)): plain's ops and operators, each kept inside its domain.
STEPS = {
    "add": (2, lambda a, b: a + b),
    "sub": (2, lambda a, b: a - b),
    "mul": (2, lambda a, b: a * b),
    "div": (2, lambda a, b: a / (b * b + 1)),
    "neg": (1, lambda a: -a),
    "add 1.5": (1, lambda a: a + 1.5),
    "2 + a": (1, lambda a: 2 + a),
    "-0.5 * a": (1, lambda a: -0.5 * a),
    "square": (1, lambda a: a**2),
    "cube": (1, lambda a: a**3),
    "root": (1, lambda a: (a * a + 0.5) ** 0.5),
    "powv": (2, lambda a, b: (a.sigmoid() + 0.5) ** (b.tanh() * 4)),
    "exp": (1, lambda a: (a.tanh() * 3).exp()),
    "log": (1, lambda a: (a * a + 1).log()),
    "tanh": (1, lambda a: a.tanh()),
    "sigmoid": (1, lambda a: a.sigmoid()),
    "relu": (1, lambda a: a.relu()),
    "abs": (1, lambda a: a.abs()),
    "sin": (1, lambda a: a.sin()),
    "cos": (1, lambda a: a.cos()),
}

# What the floats of a program may do: overflow (x ** 3 of x ** 3 of ...) or reach sin(inf). Then
# both engines must refuse, with the same error.
REFUSALS = (ArithmeticError, ValueError)


@dataclass(frozen=True)
class Program:
    inputs: tuple  # one float per leaf
    steps: tuple  # (step name, argument node indices); node i < len(inputs) is leaf i
    direction: tuple  # a tangent per leaf, for one forward sweep along all of them at once
    replay_at: tuple  # new leaf data, for a replay

    def run(self, value_class):
        """(leaves, every node: the leaves, then one per step) in `value_class`'s engine."""
        leaves = [value_class(x) for x in self.inputs]
        nodes = list(leaves)
        for name, args in self.steps:
            nodes.append(STEPS[name][1](*[nodes[i] for i in args]))
        return leaves, nodes


# Plain floats, with the interesting ones often: zeros of both signs (the kinks), tiny and huge.
FLOATS = st.one_of(st.floats(-3, 3, allow_nan=False),
                   st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e-300, -1e150]))


@st.composite
def programs(draw, max_steps: int = 10):
    n = draw(st.integers(1, 3))
    inputs = tuple(draw(FLOATS) for _ in range(n))
    steps = []
    for k in range(draw(st.integers(1, max_steps))):
        name = draw(st.sampled_from(sorted(STEPS)))
        # any earlier node, with repeats: shared subexpressions, and a node twice in one op
        args = tuple(draw(st.integers(0, n + k - 1)) for _ in range(STEPS[name][0]))
        steps.append((name, args))
    direction = tuple(draw(st.floats(-2, 2)) for _ in range(n))
    replay_at = tuple(draw(FLOATS) for _ in range(n))
    return Program(inputs, tuple(steps), direction, replay_at)


def run_both(program):
    """The program in both engines: ((plain leaves, nodes), (engine leaves, nodes)), or None
    once both have refused it with the same error."""
    try:
        engine = program.run(Value)
    except REFUSALS as error:
        with pytest.raises(type(error)):
            program.run(plain.Value)
        return None
    return program.run(plain.Value), engine


def replay_both(plain_nodes, engine_nodes) -> bool:
    """Replay both from the leaves' new data: False once both have refused it alike."""
    try:
        Graph(*engine_nodes).forward()
    except REFUSALS as error:
        with pytest.raises(type(error)):
            plain_nodes[-1].graph.forward()
        return False
    plain_nodes[-1].graph.forward()
    return True


def assert_tangents_agree(program, plain_run, engine_run, when: str) -> None:
    (plain_leaves, plain_nodes), (engine_leaves, engine_nodes) = plain_run, engine_run
    for i, (pl, el) in enumerate(zip(plain_leaves, engine_leaves)):
        assert_same(plain_tangents(plain_nodes, {pl: 1.0}),
                    engine_tangents(engine_nodes, {el: 1.0}), f"{when}: tangents along x{i}")
    assert_same(plain_tangents(plain_nodes, dict(zip(plain_leaves, program.direction))),
                engine_tangents(engine_nodes, dict(zip(engine_leaves, program.direction))),
                f"{when}: tangents along {program.direction}")


def test_the_random_steps_use_every_op_plain_records():
    made = set()
    for arity, f in STEPS.values():
        made |= {node.op for node in Graph(f(*[Value(0.5)] * arity)).nodes}
    ops = {op for op, rule in RULES.items() if rule.method} | {Op.ADD, Op.MUL, Op.POW, Op.POWV}
    assert ops - made == set(), f"no step makes {ops - made}"


@settings(max_examples=60, deadline=None)
@given(programs())
def test_random_programs_are_the_same_floats_in_plain_and_the_engine(program):
    runs = run_both(program)
    if runs is None:
        return
    plain_run, engine_run = runs
    (plain_leaves, plain_nodes), (engine_leaves, engine_nodes) = runs
    assert_same([v.data for v in plain_nodes], [v.data for v in engine_nodes], "data")
    assert_tangents_agree(program, plain_run, engine_run, "recorded")
    plain_nodes[-1].backward()
    engine_nodes[-1].backward()
    assert_same([v.grad for v in plain_nodes], [v.grad for v in engine_nodes], "grads")

    for pl, el, x in zip(plain_leaves, engine_leaves, program.replay_at):
        pl.data, el.data, pl.grad, el.grad = x, x, 0.0, 0.0
    if not replay_both(plain_nodes, engine_nodes):
        return
    assert_same([v.data for v in plain_nodes], [v.data for v in engine_nodes], "replayed data")
    assert_tangents_agree(program, plain_run, engine_run, "replayed")
    plain_nodes[-1].backward()
    engine_nodes[-1].backward()
    assert_same([v.grad for v in plain_nodes], [v.grad for v in engine_nodes], "replayed grads")


# ---------------------------------------------------------------------------------------------
# 3. micrograd's demo
# ---------------------------------------------------------------------------------------------

DEMO_STEPS = 8  # plain records a neuron as 2n + 1 nodes: about half a second a step


class PlainMLP:
    """micrograd's MLP(nin, nouts) out of plain.Neuron, neuron by neuron, weight by weight:
    relu in the hidden layers, linear in the last."""

    def __init__(self, nin: int, nouts: list):
        sizes = [nin] + list(nouts)
        self.layers = [[plain.Neuron(sizes[i], nonlin=i != len(nouts) - 1)
                        for _ in range(sizes[i + 1])] for i in range(len(nouts))]

    def __call__(self, x):
        for layer in self.layers:
            x = [neuron(x) for neuron in layer]
        return x[0] if len(x) == 1 else x

    def parameters(self) -> list:
        return [p for layer in self.layers for neuron in layer for p in neuron.parameters()]


def demo_loss(model, value_class, X, y):
    """micrograd's demo loss: the SVM max-margin loss, averaged, plus an L2 penalty."""
    inputs = [list(map(value_class, row)) for row in X]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * score).relu() for yi, score in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = 1e-4 * sum(p * p for p in model.parameters())
    return data_loss + reg_loss


def test_micrograd_demo_loss_curve_is_the_same_floats_in_plain_and_the_engine():
    reference = json.loads(DEMO.read_text(encoding="utf-8"))
    X, y = reference["X"], reference["y"]
    random.seed(1337)
    plain_model = PlainMLP(2, [16, 16, 1])
    random.seed(1337)
    engine_model = MLP(2, [16, 16, 1])
    plain_params, engine_params = plain_model.parameters(), engine_model.parameters()
    assert_same([p.data for p in plain_params], [p.data for p in engine_params], "initial")

    for k in range(DEMO_STEPS):
        plain_loss = demo_loss(plain_model, plain.Value, X, y)
        engine_loss = demo_loss(engine_model, Value, X, y)
        assert_same(plain_loss.data, engine_loss.data, f"step {k}: loss")
        assert plain_loss.data == pytest.approx(reference["loss"][k], rel=1e-12, abs=0), (
            f"step {k}: loss {plain_loss.data!r}, micrograd printed {reference['loss'][k]!r}")

        plain_loss.backward()
        engine_model.zero_grad()
        engine_loss.backward()
        assert_same([p.grad for p in plain_params], [p.grad for p in engine_params],
                    f"step {k}: grads")
        learning_rate = 1.0 - 0.9 * k / 100
        plain.sgd(plain_params, learning_rate)
        for p in engine_params:
            p.data -= learning_rate * p.grad
        assert_same([p.data for p in plain_params], [p.data for p in engine_params],
                    f"step {k}: parameters after sgd")
        assert all(p.grad == 0.0 for p in plain_params), "sgd zeroes the gradients"


# ---------------------------------------------------------------------------------------------
# 4. plain's own behaviour, where it mirrors the engine
# ---------------------------------------------------------------------------------------------


def shared_expression(x, y):
    """x used four times (a leaf whose gradient adds up), y once."""
    u = x * y + x
    return (u * u).tanh() + x.exp() * x


def test_backward_twice_accumulates_leaves_and_keeps_interior_grads():
    px, py, ex, ey = plain.Value(0.7), plain.Value(-1.3), Value(0.7), Value(-1.3)
    p, e = shared_expression(px, py), shared_expression(ex, ey)
    graph = p.graph
    p.backward()
    e.backward()
    interior = [g for g, args in zip(graph.grad, graph.args) if args]
    first = (px.grad, py.grad)
    assert first[0] != 0.0 and first[1] != 0.0
    p.backward()
    e.backward()
    assert [g for g, args in zip(graph.grad, graph.args) if args] == interior, (
        "a second backward() must not double-count interior grads")
    assert py.grad == 2 * first[1], "a leaf used once: its grad doubles, exactly"
    assert px.grad == pytest.approx(2 * first[0], rel=1e-15)
    assert_same([px.grad, py.grad], [ex.grad, ey.grad], "leaves after two backward() calls")


def test_a_value_of_an_ended_graph_raises_value_error():
    x = plain.Value(3.0)
    y = x * 2
    y.backward()
    with pytest.raises(ValueError, match="one graph at a time"):
        y + 1
    with pytest.raises(ValueError, match="one graph at a time"):
        x * y
    z = x * 2  # leaves are still welcome: a fresh graph imports them
    assert z.data == 6.0 and z.graph is not y.graph


def test_the_seed_example():
    x = plain.Value(2.0)
    f = (2 * x + 3) ** 2
    f.backward()
    assert (f.data, x.grad) == (49.0, 28.0)
