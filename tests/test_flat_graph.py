"""The graph as flat arrays (tapegrad.backends.flat_graph), which compiling reads: the same
nodes, arguments and numbers as the Graph's own array, and levels as a plain loop gives them,
for wide graphs (a wave at a time) and deep ones (finished node by node)."""

from __future__ import annotations

import random

import pytest

np = pytest.importorskip("numpy")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tapegrad import Graph, Op, Value, losses  # noqa: E402
from tapegrad.backends import compile_graph  # noqa: E402
from tapegrad.backends.flat_graph import NARROW_AFTER, FlatGraph, levels  # noqa: E402
from tapegrad.nn import MLP  # noqa: E402


def _mlp_loss():
    random.seed(2)
    model = MLP(3, [4, 1])
    xs = [[Value(random.uniform(-1, 1)) for _ in range(3)] for _ in range(5)]
    return losses.hinge([model(x) for x in xs], [1, -1, 1, 1, -1]) + losses.l2(
        model.parameters(), 1e-4)


def _chain(n: int):
    y = Value(0.5)
    for _ in range(n):
        y = (y * 1.0001).tanh()
    return y


@pytest.mark.parametrize("make", [_mlp_loss, lambda: _chain(50)], ids=["mlp", "chain"])
def test_the_flat_arrays_are_the_graphs_own(make):
    graph = Graph(make())
    flat = FlatGraph(graph)
    assert flat.n == len(graph)
    assert [flat.args[i] for i in range(flat.n)] == graph.arg_indices
    assert flat.ops == [Op.LEAF if v._rec is None else v._rec.op[v._i] for v in graph.nodes]
    assert flat.data.tolist() == [node.data for node in graph.nodes]
    uses = [0] * flat.n
    for args in graph.arg_indices:
        for j in args:
            uses[j] += 1
    assert flat.uses.tolist() == uses


def _plain_levels(args: list, need: list):
    level, need = [0] * len(args), list(need)
    for i, a in enumerate(args):
        if a:
            level[i] = 1 + max(level[j] for j in a)
            need[i] = any(need[j] for j in a)
    return level, need


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 60), st.integers(0, 4), st.floats(0.0, 1.0), st.integers(0, 10_000))
def test_levels_are_the_longest_paths_wide_or_deep(n, width, narrow, seed):
    """Random DAGs in topological order: each node takes up to `width` earlier nodes (mostly
    its predecessor when `narrow` is high: a chain, deeper than NARROW_AFTER waves)."""
    rng = random.Random(seed)
    args = []
    for i in range(n):
        if i == 0 or rng.random() < 0.2:
            args.append(())
        elif rng.random() < narrow:
            args.append((i - 1,) * rng.randint(1, 2))
        else:
            args.append(tuple(rng.randrange(i) for _ in range(rng.randint(1, max(1, width)))))
    need = [not a and rng.random() < 0.5 for a in args]
    nodes = np.array([i for i, a in enumerate(args) if a], dtype=np.intp)
    order = np.random.default_rng(seed).permutation(nodes.size)  # any order of the nodes
    nodes = nodes[order]
    counts = np.array([len(args[i]) for i in nodes.tolist()], dtype=np.intp)
    src = np.array([j for i in nodes.tolist() for j in args[i]], dtype=np.intp)
    level, needs = levels(n, nodes, counts, src, np.array(need, dtype=bool))
    assert (level.tolist(), needs.tolist()) == _plain_levels(args, need)


def test_a_deep_chain_compiles_and_replays_as_the_python_graph_does():
    """Deeper than NARROW_AFTER waves: levels finishes it node by node."""
    y = _chain(4 * NARROW_AFTER)
    expected = Graph(y).forward()
    run = compile_graph(Graph(y))
    assert run.forward() == pytest.approx(expected, rel=1e-15)
