"""Graphs a million nodes deep, at Python's default recursion limit.

micrograd sorts its graph recursively and dies of RecursionError past about a thousand nodes;
tapegrad must never recurse over a graph. These tests pin the recursion limit to Python's default
(1000) while they run and check that nothing raised it behind their back.

Expected numbers come from the same chain computed with plain floats in a loop: the values are
the very same float operations (so they are compared exactly), the derivative is the product of
the local slopes (compared to rounding).
"""

from __future__ import annotations

import math
import sys

import pytest

from oracle import assert_close
from tapegrad import Graph, Value

DEPTH = 1_000_000
DEFAULT_RECURSION_LIMIT = 1000


@pytest.fixture
def default_recursion_limit():
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(DEFAULT_RECURSION_LIMIT)
    try:
        yield
        assert sys.getrecursionlimit() == DEFAULT_RECURSION_LIMIT, "tapegrad changed the limit"
    finally:
        sys.setrecursionlimit(before)


def tanh_chain_by_floats(x: float, depth: int) -> tuple[float, float]:
    """(tanh∘…∘tanh (x), its derivative) in a plain loop: d/dx = Π (1 - y_i²)."""
    slope = 1.0
    for _ in range(depth):
        x = math.tanh(x)
        slope *= 1.0 - x * x
    return x, slope


def test_a_million_tanh_nodes_backward_forward_and_jvp(default_recursion_limit):
    x = Value(0.5)
    y = x
    for _ in range(DEPTH):
        y = y.tanh()
    value, slope = tanh_chain_by_floats(0.5, DEPTH)
    assert y.data == value

    y.backward()  # reverse mode
    assert_close(x.grad, slope, "d tanh^1e6(x)/dx at 0.5", rel=1e-9)

    graph = Graph(y)
    assert len(graph) == DEPTH + 1
    x.data, x.grad = 0.25, 0.0  # replay from a new input
    assert graph.forward() == y.data
    value, slope = tanh_chain_by_floats(0.25, DEPTH)
    assert y.data == value
    graph.backward()
    assert_close(x.grad, slope, "after replay", rel=1e-9)

    tangent = graph.jvp({x: 1.0})[-1]  # forward mode: one sweep the other way
    assert_close(tangent, slope, "forward mode", rel=1e-9)


def test_a_deep_chain_of_binary_ops_with_constants(default_recursion_limit):
    """x ← x * 1.0000001 + 0.0, micrograd style: each step records two constant leaves and two
    ops, so 100,000 steps make 400,000 nodes, half of them on one path (kept shorter than the
    tanh chain only to keep the suite fast)."""
    steps = 100_000
    x = Value(1.0)
    y = x
    for _ in range(steps):
        y = y * 1.0000001 + 0.0
    expected = 1.0
    for _ in range(steps):
        expected = expected * 1.0000001 + 0.0
    assert y.data == expected
    y.backward()
    assert_close(x.grad, 1.0000001**steps, "d/dx", rel=1e-9)
    graph = Graph(y)
    assert len(graph) == 4 * steps + 1
    x.data, x.grad = 2.0, 0.0
    graph.forward()
    assert y.data == 2 * expected  # scaling by 2 is exact in floats
    graph.backward()
    assert_close(x.grad, 1.0000001**steps, "d/dx after replay", rel=1e-9)
