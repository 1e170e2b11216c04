"""Replay: a recorded Graph, run again from new leaf data, must match a fresh rebuild exactly.

Each row is a function written once (f(m, *xs), see oracle.py) and two points. It is recorded at
the first point; the leaves are set to the second; ``graph.forward()`` then ``graph.backward()``
must give every node the same data and grad, to the last bit, as building f afresh at the second
point and calling ``backward()``. Both do the same float operations in the same order, so there
is no tolerance.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle import TAPEGRAD
from tapegrad import Graph, Op, Value
from tapegrad.nn import MLP
from test_random_dags import programs

ROWS = [
    ("the seed, (2x + 3)^2", lambda m, x: (2 * x + 3) ** 2, (2.0,), (3.0,)),
    ("relu leaves its kink", lambda m, x, y: (x * y).relu() + x, (1.0, 2.0), (1.0, -2.0)),
    ("relu reaches its kink", lambda m, x: (x - 1).relu() * x, (3.0,), (1.0,)),
    ("abs changes sign", lambda m, x: abs(x) * x + abs(x - 2), (0.5,), (-0.5,)),
    (
        "reused nodes",
        lambda m, x, y: (lambda u: u * u + m.tanh(u) * u)(x * y + x),
        (0.3, -1.2),
        (2.0, 0.7),
    ),
    (
        "every unary op",
        lambda m, x: m.exp(m.sin(x)) + m.log(x * x + 1) + m.sigmoid(m.cos(x)) + m.tanh(x),
        (0.4,),
        (-2.5,),
    ),
    (
        "division and roots",
        lambda m, x, y: x / y + m.sqrt(y * y) - 3 / x,
        (1.5, -2.0),
        (-0.75, 4.0),
    ),
    ("x ** y and 2 ** x", lambda m, x, y: x**y + 2**x, (1.5, 2.0), (0.5, -3.0)),
    (
        "a neuron",
        lambda m, w1, w2, x1, x2, b: m.relu(m.dot([w1, w2], [x1, x2], b)),
        (0.5, -1.0, 2.0, 0.5, 0.1),
        (0.5, 1.0, 2.0, 0.5, 0.1),
    ),
]


def recorded_at(f, point):
    xs = [Value(p) for p in point]
    out = f(TAPEGRAD, *xs)
    return xs, out


def assert_same_nodes(graph: Graph, rebuilt: Graph, inputs):
    """Every node's data, and every grad but the constants' (leaves accumulate grads across
    backward calls, and only the inputs were zeroed before the replay)."""
    assert len(graph) == len(rebuilt)
    inputs = {id(x) for x in inputs}
    for i, (node, fresh) in enumerate(zip(graph, rebuilt)):
        assert node.op is fresh.op, f"node {i}: the graphs differ in shape"
        assert node.data == fresh.data, f"node {i} ({node._op or 'leaf'}): data"
        if node.op is not Op.LEAF or id(node) in inputs:
            assert node.grad == fresh.grad, f"node {i} ({node._op or 'leaf'}): grad"


@pytest.mark.parametrize("name, f, a, b", ROWS, ids=[row[0] for row in ROWS])
def test_replay_matches_a_fresh_rebuild(name, f, a, b):
    xs, out = recorded_at(f, a)
    graph = Graph(out)
    graph.backward()
    nodes_before = list(graph)

    for x, value in zip(xs, b):
        x.data, x.grad = value, 0.0
    assert graph.forward() == out.data
    graph.backward()

    _, fresh = recorded_at(f, b)
    fresh.backward()
    assert all(n is m for n, m in zip(graph, nodes_before)), "replay makes no new nodes"
    assert_same_nodes(graph, Graph(fresh), xs)


def test_the_seed_example():
    x = Value(2.0)
    f = (2 * x + 3) ** 2
    g = Graph(f)
    g.backward()
    assert (f.data, x.grad) == (49.0, 28.0)
    x.data, x.grad = 3.0, 0.0
    g.forward()
    g.backward()
    assert (f.data, x.grad) == (81.0, 36.0)


def test_constants_are_leaves_too():
    """Every leaf is an input of the replay, the numbers a program wrote included."""
    x = Value(2.0)
    f = 2 * x + 3
    graph = Graph(f)
    three = next(node for node in graph if node.op is Op.LEAF and node.data == 3.0)
    three.data = 10.0
    graph.forward()
    assert f.data == 14.0


def test_several_outputs():
    x, y = Value(1.0), Value(2.0)
    a, b = x * y, x + y
    graph = Graph(a, b)
    x.data = 3.0
    assert graph.forward() == [6.0, 5.0]
    graph.backward()  # seeds both outputs: d(a + b)/dx = y + 1
    assert (x.grad, y.grad) == (3.0, 4.0)


def test_replayed_backward_accumulates_into_leaves_only():
    x = Value(1.0)
    y = x * 2
    z = y * 3
    graph = Graph(z)
    graph.backward()
    graph.backward()
    assert (x.grad, y.grad, z.grad) == (12.0, 3.0, 1.0)


def test_a_failing_replay_names_the_node_and_the_graph_recovers():
    x = Value(2.0)
    f = (x - 1).log() * 3
    graph = Graph(f)
    x.data = 0.5  # log(-0.5)
    with pytest.raises(ValueError) as raised:
        graph.forward()
    message = str(raised.value)
    assert "log" in message and "-0.5" in message
    x.data = 3.0
    graph.forward()
    graph.backward()
    fresh_x = Value(3.0)
    fresh = (fresh_x - 1).log() * 3
    fresh.backward()
    assert (f.data, x.grad) == (fresh.data, fresh_x.grad)


def test_a_replay_that_divides_by_zero_names_the_node():
    x = Value(3.0)
    f = 1 / (x - 2)
    graph = Graph(f)
    x.data = 2.0
    with pytest.raises(ZeroDivisionError) as raised:
        graph.forward()
    assert "Graph.forward()" in str(raised.value) and "node" in str(raised.value)
    x.data = 4.0
    assert graph.forward() == 0.5


def test_replaying_a_training_loop_matches_rebuilding_it():
    """The use replay is for: record the loss once, then train by forward, backward, update."""
    rng = random.Random(5)
    X = [[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(12)]
    y = [1 if a * b > 0 else -1 for a, b in X]

    def loss_of(model):
        scores = [model([Value(a), Value(b)]) for a, b in X]
        losses = [(1 + -yi * s).relu() for yi, s in zip(y, scores)]
        return sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in model.parameters())

    random.seed(7)
    replayed = MLP(2, [4, 4, 1])
    random.seed(7)
    rebuilt = MLP(2, [4, 4, 1])
    loss = loss_of(replayed)
    graph = Graph(loss)
    for step in range(5):
        if step:
            graph.forward()
        replayed.zero_grad()
        graph.backward()
        fresh = loss_of(rebuilt)
        rebuilt.zero_grad()
        fresh.backward()
        assert loss.data == fresh.data, f"step {step}: loss"
        assert [p.grad for p in replayed.parameters()] == [p.grad for p in rebuilt.parameters()]
        for model in (replayed, rebuilt):
            for p in model.parameters():
                p.data -= 0.1 * p.grad


@settings(max_examples=40, deadline=None)
@given(programs(), st.data())
def test_random_programs_replay_exactly(program, data):
    xs = [Value(x) for x in program.inputs]
    out = program.output(TAPEGRAD, *xs)
    graph = Graph(out)
    graph.backward()
    b = [data.draw(st.floats(-3, 3, allow_nan=False)) for _ in xs]
    for x, value in zip(xs, b):
        x.data, x.grad = value, 0.0
    graph.forward()
    graph.backward()
    fresh = program.output(TAPEGRAD, *[Value(v) for v in b])
    fresh.backward()
    assert_same_nodes(graph, Graph(fresh), xs)
