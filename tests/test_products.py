"""backends/products.py: the forms a compiled matrix product can take, how one is chosen, and
that a relu'd layer publishes the outputs its sweeps computed."""

from __future__ import annotations

import random

import pytest

np = pytest.importorskip("numpy")

from tapegrad import Graph, Value  # noqa: E402
from tapegrad.backends import compile_graph, products  # noqa: E402
from tapegrad.backends.products import (  # noqa: E402
    WHOLE, Affine, Form, affine_calls, blocks_for, candidate_forms, fastest_affine, fastest_form,
    product_calls)
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


@pytest.mark.parametrize("sizes, rows, fast_calls, forced, differs", [
    ((32, [10, 1]), 256, 2, Affine(Form(True, None)), True),  # W.T copied first, then product
    ((2, [64, 1]), 100, 4, Affine(bias_column=True), False),  # three copies, then the product
])
def test_a_relud_layer_publishes_the_outputs_its_sweep_computed(monkeypatch, sizes, rows,
                                                                 fast_calls, forced, differs):
    """A relu'd layer does not store its outputs Y; publishing computes them again, the way its
    forward did, so that every published H is exactly max(Y, 0). Here the way is forced (the
    candidate of `fast_calls` calls is timed fastest). The first way's numbers differ from
    X @ W.T + b's in some entries at its shape (checked: else the test could not tell the ways
    apart); the bias column's come out the same here (BLAS adds it last, as + b does), so
    there the test checks that publish's Y has the bias at all."""
    monkeypatch.setattr(products, "_CHOSEN", {})
    monkeypatch.setattr(products, "_seconds",
                        lambda calls, reps: 0.1 if len(calls) == fast_calls else 1.0)
    random.seed(5)
    model = MLP(*sizes)
    data = np.random.default_rng(5).normal(size=(rows, sizes[0]))
    loss = sum(model(list(map(Value, row))) for row in data)
    graph = Graph(loss)
    run = compile_graph(graph)
    layer = next(g for g in run.groups if getattr(g, "relu_val", None) is not None)
    assert layer.affine == forced
    for p in model.parameters():  # (new numbers for the forward, and biases that are not 0)
        p.data = 1.01 * p.data + 0.1
    run.forward()
    run.publish()
    nodes, args = graph.nodes, graph.arg_indices
    relus = [i for i, v in enumerate(nodes) if v.op is Op.RELU]
    assert len(relus) == rows * sizes[1][0]
    ys = np.array([nodes[args[i][0]].data for i in relus])
    hs = np.array([nodes[i].data for i in relus])
    assert (hs == np.maximum(ys, 0.0)).all()
    W = np.array([[w.data for w in n.w] for n in model.layers[0].neurons])
    b = np.array([n.b.data for n in model.layers[0].neurons])
    plain = (data @ W.T + b).ravel()
    assert (ys != plain).any() == differs
    assert np.allclose(ys, plain, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("s, k, j", [(1000, 2, 64), (300, 2, 32), (7, 1, 5), (50, 9, 40)])
@pytest.mark.parametrize("affine", [Affine(), Affine(bias_column=True),
                                    Affine(Form(False, (4, 8)), bias_column=True)])
def test_a_layers_outputs_with_the_bias_added_or_as_a_column(s, k, j, affine):
    """affine_calls computes Y = X W^T + b either way, to rounding, from the numbers its
    operands hold when the calls run (they are copied in each time)."""
    rng = np.random.default_rng(s + k + j)
    x, place = rng.normal(size=(s, k)), rng.normal(size=(j, k + 1))
    w, b = place[:, :k], place[:, k]  # (the parameters' place: each neuron's w, then its b)
    y = np.full((s, j), np.nan)
    calls = affine_calls(x, w, b, y, affine)
    for _ in range(2):
        for call in calls:
            call()
        scale = np.abs(x) @ np.abs(w.T) + np.abs(b)
        assert (np.abs(y - (x @ w.T + b)) <= 1e-13 * scale).all()
        x += 1.0
        place *= 0.5


def test_the_bias_column_is_timed_only_for_a_large_layer_of_few_inputs(monkeypatch):
    monkeypatch.setattr(products, "_CHOSEN", {})
    rng = np.random.default_rng(3)
    calls = []
    monkeypatch.setattr(products, "_seconds",
                        lambda c, reps: calls.append(len(c)) or (0.5 if len(c) == 4 else 1.0))
    for s, k, j in [(100, 2, 16), (1000, 64, 64)]:  # (1,600 outputs; as many inputs as outputs)
        x, place = rng.normal(size=(s, k)), rng.normal(size=(j, k + 1))
        assert not fastest_affine(x, place[:, :k], place[:, k], np.empty((s, j))).bias_column
    calls.clear()
    x, place = rng.normal(size=(1000, 2)), rng.normal(size=(64, 3))
    chosen = fastest_affine(x, place[:, :2], place[:, 2], np.empty((1000, 64)))
    assert chosen.bias_column and 4 in calls  # (three copies and one product: taken, 2× faster)


def test_timing_is_quiet_and_leaves_reversed_outputs_alone(monkeypatch):
    """Timing the forms runs on a graph's own numbers, which may be inf, without warnings even
    under np.seterr(all="raise") (as the sweeps run); an out with negative strides is timed on
    a contiguous scratch array."""
    monkeypatch.setattr(products, "_CHOSEN", {})
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(1000, 64)), rng.normal(size=(64, 64))
    a[0, 0], b[0, :] = np.inf, 0.0  # (inf · 0 is nan)
    with np.errstate(all="raise"):
        fastest_form(a, b, np.empty((1000, 64)))
    for out in (np.full((1000, 64), 7.0)[::-1], np.full((1000, 64), 7.0)[:, ::-1]):
        form = fastest_form(a, b, out)
        assert (out == 7.0).all()
        with np.errstate(invalid="ignore"):
            for call in product_calls(a, b, out, form):
                call()
            assert np.array_equal(out, a @ b, equal_nan=True)
