"""backends/products.py: the forms a compiled matrix product can take, how one is chosen, and
that a relu'd layer publishes the outputs its sweeps computed."""

from __future__ import annotations

import random

import pytest

np = pytest.importorskip("numpy")

from tapegrad import Graph, Value  # noqa: E402
from tapegrad.backends import compile_graph, products  # noqa: E402
from tapegrad.backends.products import (  # noqa: E402
    WHOLE, Form, blocks_for, candidate_forms, fastest_form, product_calls)
from tapegrad.nn import MLP  # noqa: E402
from tapegrad.ops import Op  # noqa: E402


@pytest.mark.parametrize("m, n, k, block", [
    (1000, 64, 64, (125, 64)),    # a 64-wide layer on 1,000 rows: rows halved
    (64, 64, 1000, (32, 16)),     # its dW: columns first on a tie
    (300, 32, 32, None),          # 307,200 multiply-adds: small enough whole
    (100, 100, 100, None),        # exactly the limit
    (101, 100, 100, (51, 100)),
    (1000, 256, 256, None),       # would need 128 blocks
    (64, 64, 100_000, None),      # no block is small enough
    (1, 1, 10_000_000, None),
])
def test_blocks_for(m, n, k, block):
    assert blocks_for(m, n, k) == block
    if block:
        rows, cols = block
        assert rows * cols * k <= products.BLOCK_LIMIT
        assert -(-m // rows) * -(-n // cols) <= products.MAX_BLOCKS


def _operands(rng, m, k, n, b_transposed, out_strided):
    """a (m×k), b (k×n) and out (m×n), b as a layer's W.T in a parameters' place (rows of k+1)
    or contiguous, out contiguous or inside a wider array."""
    a = rng.normal(size=(m, k))
    b = rng.normal(size=(n, k + 1))[:, :k].T if b_transposed else rng.normal(size=(k, n))
    out = np.full((m, n + 3), np.nan)[:, :n] if out_strided else np.full((m, n), np.nan)
    return a, b, out


@pytest.mark.parametrize("m, k, n", [(1000, 64, 64), (64, 1000, 64), (256, 64, 32), (130, 70, 9)])
@pytest.mark.parametrize("b_transposed", [False, True])
@pytest.mark.parametrize("out_strided", [False, True])
def test_every_form_is_the_product(m, k, n, b_transposed, out_strided):
    """Each form writes every entry of out (it starts as nan) with a @ b's value, to rounding:
    within 1e-13 of Σ|a||b| for each entry (the kernels may add the k products in other
    orders)."""
    a, b, out = _operands(np.random.default_rng(m + k + n), m, k, n, b_transposed, out_strided)
    forms = candidate_forms(a, b)
    assert forms[0] == WHOLE
    assert any(f.copy_b for f in forms) == b_transposed
    forms += [Form(True, (17, 5)), Form(False, (m, 1))]  # (uneven blocks, and columns)
    scale = np.abs(a) @ np.abs(b)
    for form in forms:
        out[...] = np.nan
        for call in product_calls(a, b, out, form):
            call()
        assert not np.isnan(out).any(), form
        assert (np.abs(out - a @ b) <= 1e-13 * scale).all(), form


def test_a_small_product_is_whole_untimed(monkeypatch):
    monkeypatch.setattr(products, "_seconds", lambda calls, reps: pytest.fail("timed"))
    a, b, out = _operands(np.random.default_rng(0), 100, 16, 16, True, False)
    assert fastest_form(a, b, out) == WHOLE


@pytest.mark.parametrize("times, chosen", [
    ({WHOLE: 1.0, Form(False, (125, 64)): 0.8}, Form(False, (125, 64))),
    ({WHOLE: 1.0, Form(False, (125, 64)): 0.95}, WHOLE),          # under 10% faster: whole
    ({WHOLE: 1.0, Form(True, None): 0.7, Form(True, (125, 64)): 0.6}, Form(True, (125, 64))),
])
def test_the_fastest_form_by_a_margin_is_chosen_once(monkeypatch, times, chosen):
    """fastest_form times each candidate on a scratch array (out keeps its numbers), takes
    another form than the whole only when it is at least 10% faster, and keeps the choice for
    the process: the same operands are not timed again."""
    a, b, out = _operands(np.random.default_rng(1), 1000, 64, 64, True, True)
    out[...] = 7.0
    monkeypatch.setattr(products, "_CHOSEN", {})
    timed = []

    def seconds(calls, reps):
        form = next(f for f in candidate_forms(a, b)
                    if len(product_calls(a, b, out, f)) == len(calls))
        timed.append(form)
        return times.get(form, 2.0)

    monkeypatch.setattr(products, "_seconds", seconds)
    assert fastest_form(a, b, out) == chosen
    assert (out == 7.0).all()
    assert len(timed) == len(candidate_forms(a, b)) == 4
    assert fastest_form(a, b, out) == chosen and len(timed) == 4


def test_a_relud_layer_publishes_the_outputs_its_sweep_computed(monkeypatch):
    """A relu'd layer does not store its outputs Y; publishing computes them again, with the
    form its forward's product took, so that every published H is exactly max(Y, 0). Here
    the form is forced to W.T copied first, whose numbers differ from one whole matmul's in some
    entries at this shape (checked: else this test could not fail)."""
    forced = Form(True, None)
    monkeypatch.setattr(products, "_CHOSEN", {})
    monkeypatch.setattr(products, "_seconds",
                        lambda calls, reps: 0.1 if len(calls) == 2 else 1.0)
    random.seed(5)
    model = MLP(32, [10, 1])
    rng = np.random.default_rng(5)
    rows = rng.normal(size=(256, 32))
    loss = sum(model(list(map(Value, row))) for row in rows)
    graph = Graph(loss)
    run = compile_graph(graph)
    layer = next(g for g in run.groups if getattr(g, "relu_val", None) is not None)
    assert layer.form == forced
    for p in model.parameters():  # (move the weights, so that the forward's numbers are new)
        p.data *= 1.01
    run.forward()
    run.publish()
    nodes, args = graph.nodes, graph.arg_indices
    relus = [i for i, v in enumerate(nodes) if v.op is Op.RELU]
    assert len(relus) == 256 * 10
    ys = np.array([nodes[args[i][0]].data for i in relus])
    hs = np.array([nodes[i].data for i in relus])
    assert (hs == np.maximum(ys, 0.0)).all()
    W = np.array([[w.data for w in n.w] for n in model.layers[0].neurons])
    b = np.array([n.b.data for n in model.layers[0].neurons])
    whole = (rows @ W.T + b).ravel()
    assert (ys != whole).any()  # (the two forms' numbers differ: the test can tell them apart)
