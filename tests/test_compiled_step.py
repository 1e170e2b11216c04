"""Compiled steps (tapegrad.backends.compile_step): a training step recorded once on
placeholders and run on new batches gives eager's losses, step for step.

- the four workloads of issue #15, at small sizes, table-driven: the compiled step on changing
  minibatches against the graph rebuilt on each (1e-12 relative), with SGD and Adam;
- hypothesis-generated networks, batches and losses: the same, plus the parameters' values;
- what only the parameters get (gradients), what a feed takes, and the errors in the user's words;
- the fused kernels compute what the rule table's formulas compute, for every special float;
- the demo: compiled and ``--eager`` train the same numbers.
"""

from __future__ import annotations

import io
import math
import random

import pytest

np = pytest.importorskip("numpy")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tapegrad import RULES, Op, Value, losses  # noqa: E402
from tapegrad.backends import compile_step, placeholders  # noqa: E402
from tapegrad.nn import MLP  # noqa: E402
from tapegrad.optim import SGD, Adam  # noqa: E402

REL = 1e-12


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= REL * max(abs(a), abs(b), 1e-300)


def _same_weights(a: list, b: list) -> bool:
    """Parameters equal to 1e-12 of the largest: one that ends near 0 by cancellation (a bias
    at 5e-7) carries the rounding of numbers a million times its size."""
    scale = max(map(abs, a + b), default=1.0)
    return all(abs(x - y) <= REL * scale for x, y in zip(a, b))


# (name, MLP sizes, samples per batch, L2 on): the issue's four workloads, shrunk
WORKLOADS = [
    ("micrograd's demo", (2, 4, 4, 1), 10, True),
    ("MLP(2,[32,32,1])", (2, 6, 6, 1), 12, True),
    ("MLP(2,[64,64,1])", (2, 8, 8, 1), 16, True),
    ("digits", (64, 5, 10), 8, False),
]


def _batches(n_in: int, classes: int, size: int, steps: int, seed: int):
    """`steps` minibatches of `size` rows (different every step) and their labels."""
    rng = random.Random(seed)
    for _ in range(steps):
        X = [[rng.uniform(-2, 2) for _ in range(n_in)] for _ in range(size)]
        y = [rng.randrange(classes) for _ in range(size)]
        yield X, y


def _loss(scores, targets, classes, params, l2):
    if classes == 2:
        loss = losses.hinge(scores, targets)
        return loss + losses.l2(params, 1e-4) if l2 else loss
    return losses.softmax_cross_entropy(scores, targets)


def _targets(y, classes):
    """Eager's targets (signs, or class indices) and the fed ones (signs, or one-hot rows)."""
    if classes == 2:
        signs = [2 * label - 1 for label in y]
        return signs, np.array(signs, dtype=float)
    return y, np.eye(classes)[y]


def _train_both(sizes, size, l2, steps, seed, optimizer=SGD, lr=0.05):
    """Eager and compiled training on the same minibatches: their losses and final weights."""
    classes = 2 if sizes[-1] == 1 else sizes[-1]
    random.seed(seed)
    eager_model = MLP(sizes[0], list(sizes[1:]))
    random.seed(seed)
    model = MLP(sizes[0], list(sizes[1:]))
    eager_opt, opt = optimizer(eager_model.parameters(), lr=lr), None
    xs = placeholders(size, sizes[0])
    ts = placeholders(size) if classes == 2 else placeholders(size, classes)
    outputs = [model(x) for x in xs]
    step = compile_step(_loss(outputs, ts, classes, model.parameters(), l2), feeds=(xs, ts),
                        params=model.parameters())
    opt = optimizer(model.parameters(), lr=lr)
    eager_losses, compiled_losses = [], []
    for X, y in _batches(sizes[0], classes, size, steps, seed):
        eager_targets, fed = _targets(y, classes)
        scores = [eager_model(list(map(Value, row))) for row in X]
        loss = _loss(scores, eager_targets, classes, eager_model.parameters(), l2)
        eager_opt.zero_grad()
        loss.backward()
        eager_opt.step()
        eager_losses.append(loss.data)
        opt.zero_grad()
        compiled_losses.append(step.run(np.array(X), fed))
        opt.step()
    return (eager_losses, [p.data for p in eager_model.parameters()],
            compiled_losses, [p.data for p in model.parameters()])


@pytest.mark.parametrize("optimizer", [SGD, Adam], ids=["sgd", "adam"])
@pytest.mark.parametrize("name, sizes, size, l2", WORKLOADS, ids=[w[0] for w in WORKLOADS])
def test_the_issues_workloads_train_as_eager_does(name, sizes, size, l2, optimizer):
    eager, eager_params, compiled, params = _train_both(sizes, size, l2, 6, 7, optimizer)
    for k, (a, b) in enumerate(zip(compiled, eager)):
        assert _close(a, b), f"{name}, step {k + 1}: compiled {a!r}, eager {b!r}"
    assert _same_weights(params, eager_params), name


@settings(max_examples=25, deadline=None)
@given(
    n_in=st.integers(1, 3),
    hidden=st.lists(st.integers(1, 5), min_size=0, max_size=2),
    out=st.sampled_from([1, 3]),
    size=st.integers(1, 5),
    l2=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_random_networks_and_batches_train_as_eager_does(n_in, hidden, out, size, l2, seed):
    eager, eager_params, compiled, params = _train_both((n_in, *hidden, out), size, l2, 3, seed)
    assert all(_close(a, b) for a, b in zip(compiled, eager)), (compiled, eager)
    assert _same_weights(params, eager_params)


def _compiled(sizes, size, l2, classes_fed=True):
    """A compiled step of a workload's shape (module WORKLOADS), and its executor."""
    classes = 2 if sizes[-1] == 1 else sizes[-1]
    random.seed(5)
    model = MLP(sizes[0], list(sizes[1:]))
    xs = placeholders(size, sizes[0])
    if classes == 2 or classes_fed:
        ts = placeholders(size) if classes == 2 else placeholders(size, classes)
        feeds, targets = (xs, ts), ts
    else:
        feeds, targets = (xs,), [k % classes for k in range(size)]
    loss = _loss([model(x) for x in xs], targets, classes, model.parameters(), l2)
    return compile_step(loss, feeds=feeds, params=model.parameters()).executor


@pytest.mark.parametrize("fed", [True, False], ids=["targets fed", "class indices"])
@pytest.mark.parametrize("name, sizes, size, l2", WORKLOADS, ids=[w[0] for w in WORKLOADS])
def test_each_groups_bound_calls_compute_what_its_methods_compute(name, sizes, size, l2, fed):
    """The sweeps run each group's forward_calls() and backward_calls() (NumPy functions bound
    to its arrays); they give the same numbers, bit for bit, as its forward() and backward()."""
    executor = _compiled(sizes, size, l2, fed)
    rng = np.random.default_rng(3)
    val, adj = executor.val, executor.adj
    val[: executor.n_leaves] = rng.uniform(-2, 2, executor.n_leaves)
    def same_by_calls(array, start, method, calls) -> bool:
        """Whether the bound calls leave `array` as the method does, both from `start`."""
        array[...] = start
        method()
        by_method = array.copy()
        array[...] = start
        for call in calls:
            call()
        return np.array_equal(array, by_method)

    with np.errstate(all="ignore"):
        for group in executor.groups:  # (each from what the groups before it computed)
            assert same_by_calls(val, val.copy(), group.forward, group.forward_calls()), (
                name, type(group).__name__)
        for group in executor._backward_groups:
            assert same_by_calls(adj, rng.normal(size=adj.size), group.backward,
                                 group.backward_calls()), (name, type(group).__name__)


def _small_step(size=3):
    random.seed(0)
    model = MLP(2, [3, 1])
    xs, ys = placeholders(size, 2), placeholders(size)
    loss = losses.hinge([model(x) for x in xs], ys) + losses.l2(model.parameters(), 1e-4)
    return model, xs, ys, loss


def test_only_the_parameters_get_gradients_and_they_accumulate():
    model, xs, ys, loss = _small_step()
    step = compile_step(loss, feeds=(xs, ys))  # params: every leaf that is not fed
    X, y = [[0.5, -1.0], [1.0, 2.0], [-0.3, 0.1]], [1, -1, 1]
    first = step.run(X, y)
    grads = [p.grad for p in model.parameters()]
    assert step.run(X, y) == first == loss.data
    assert [p.grad for p in model.parameters()] == pytest.approx([2 * g for g in grads])
    assert all(v.grad == 0.0 for row in xs for v in row) and all(v.grad == 0.0 for v in ys)
    assert step.finite()


def test_an_l2_penalty_adds_its_gradient_after_the_layers_write_theirs():
    """A sum of squares of the parameters runs last in backward (numpy._plan_backward), so that
    every layer, the first too, writes dW and db into their places (out=) and Σp²'s 2λp is added
    after; the gradients are eager's."""
    from tapegrad.backends.numpy import _LayerGroup, _SquareSumGroup

    model, xs, ys, loss = _small_step(size=40)
    step = compile_step(loss, feeds=(xs, ys))
    groups = step.executor._backward_groups
    assert isinstance(groups[-1], _SquareSumGroup)
    layers = [g for g in groups if isinstance(g, _LayerGroup)]
    assert len(layers) == 2 and all(g.into[1] is not None and g.into[2] is not None
                                    for g in layers)
    rng = random.Random(1)
    X = [[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(40)]
    y = [rng.choice([-1, 1]) for _ in range(40)]
    step.run(X, y)
    compiled = [p.grad for p in model.parameters()]
    for p in model.parameters():
        p.grad = 0.0
    eager = losses.hinge([model(row) for row in X], y) + losses.l2(model.parameters(), 1e-4)
    eager.backward()
    assert compiled == pytest.approx([p.grad for p in model.parameters()], rel=1e-12, abs=1e-15)


def test_a_parameter_the_loss_does_not_use_keeps_its_gradient():
    model, xs, ys, loss = _small_step()
    unused = Value(3.0)
    unused.grad = 0.5
    step = compile_step(loss, feeds=(xs, ys), params=model.parameters() + [unused])
    step.run([[0.5, -1.0], [1.0, 2.0], [-0.3, 0.1]], [1, -1, 1])
    assert unused.grad == 0.5 and unused.data == 3.0 and step.finite()


def test_a_batch_is_an_array_or_a_list_of_rows_of_the_placeholders_shape():
    _, xs, ys, loss = _small_step()
    step = compile_step(loss, feeds=(xs, ys))
    X = [[0.5, -1.0], [1.0, 2.0], [-0.3, 0.1]]
    assert step.run(X, [1, -1, 1]) == step.run(np.array(X), np.array([1.0, -1.0, 1.0]))
    assert step.evaluate(X, [1, -1, 1]) == loss.data
    with pytest.raises(ValueError, match=r"batch 0 has shape \(2, 2\), but its placeholders "
                                         r"were made for \(3, 2\)"):
        step.run(X[:2], [1, -1, 1])
    with pytest.raises(TypeError, match="takes 2 batch"):
        step.run(X)
    with pytest.raises(TypeError, match="batch 1 is not an array of numbers"):
        step.run(X, ["a", "b", "c"])


def test_compile_step_errors_name_the_placeholder_and_say_what_to_do():
    _, xs, ys, loss = _small_step()
    unused = placeholders(1)
    with pytest.raises(ValueError, match=r"placeholder x\[0\] is not used by the loss"):
        compile_step(loss, feeds=(xs, ys, unused))
    with pytest.raises(ValueError, match="appears twice"):
        compile_step(loss, feeds=(xs, xs))
    with pytest.raises(ValueError, match="parameter 0 is also a placeholder"):
        compile_step(loss, feeds=(xs, ys), params=[xs[0][0]])
    with pytest.raises(TypeError, match="feed 0 is float"):
        compile_step(loss, feeds=(1.0,))
    with pytest.raises(TypeError, match="the loss is 3"):
        compile_step(3, feeds=(xs,))
    compile_step(loss, feeds=(xs, ys))
    _, others, ys2, loss2 = _small_step()
    with pytest.raises(ValueError, match="already belongs to another compiled step"):
        compile_step(loss2 + loss, feeds=(xs, ys2))


def test_placeholders_are_labelled_leaves_and_sizes_are_checked():
    rows = placeholders(2, 3, name="img")
    assert [[v.label for v in row] for row in rows][1] == ["img[1][0]", "img[1][1]", "img[1][2]"]
    assert [v.data for v in placeholders(4)] == [0.0] * 4
    with pytest.raises(ValueError, match="rows=0 must be a whole number >= 1"):
        placeholders(0, 2)


def test_the_reader_gives_the_latest_runs_values_of_the_scores():
    model, xs, ys, _ = _small_step()
    scores = [model(x) for x in xs]
    step = compile_step(losses.hinge(scores, ys), feeds=(xs, ys), params=model.parameters())
    X = [[0.5, -1.0], [1.0, 2.0], [-0.3, 0.1]]
    step.run(X, [1, -1, 1])
    expected = [model(list(map(Value, row))).data for row in X]
    assert step.reader(scores)().tolist() == pytest.approx(expected, rel=1e-15)


def test_the_reader_refuses_a_relud_layers_outputs_and_reads_its_relus():
    """A hidden layer's Y = XW^T + b is never stored (relu is computed in its place): the
    reader says so, and reads the relus, which hold what eager computes."""
    model, xs, ys, _ = _small_step()
    hidden = [model.layers[0](x) for x in xs]  # the first layer's relus, row by row
    dots = [[h.args[0] for h in row] for row in hidden]  # the Y each relu was computed from
    loss = losses.hinge([model.layers[1](row) for row in hidden], ys)
    step = compile_step(loss, feeds=(xs, ys), params=model.parameters())
    assert step.executor._unkept, "no layer was fused with its relu: this test tests nothing"
    X = [[0.5, -1.0], [1.0, 2.0], [-0.3, 0.1]]
    step.run(X, [1, -1, 1])
    with pytest.raises(ValueError, match="relu was computed from in its place"):
        step.reader(dots)
    expected = [[h.data for h in model.layers[0](list(map(Value, row)))] for row in X]
    np.testing.assert_allclose(step.reader(hidden)(), expected, rtol=1e-15, atol=0)


def test_a_training_step_compiles_into_a_few_groups():
    """The demo's step: three matrix products with their relus in them, one sum of squares."""
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    xs, ys = placeholders(100, 2), placeholders(100)
    loss = losses.hinge([model(x) for x in xs], ys) + losses.l2(model.parameters(), 1e-4)
    executor = compile_step(loss, feeds=(xs, ys)).executor
    kinds = [type(group).__name__ for group in executor.groups]
    assert kinds.count("_LayerGroup") == 3 and kinds.count("_SquareSumGroup") == 1, kinds
    relus = [g for g in executor.groups if getattr(g, "op", None) is Op.RELU]
    assert len(relus) == 1, kinds  # the hinge's; the hidden layers' are inside their layers
    assert len(executor.groups) <= 12, kinds


SPECIAL = [0.0, -0.0, 1.0, -1.0, 1e-300, -1e-300, 1e300, -1e300, math.inf, -math.inf, math.nan]


def test_the_fused_relu_computes_the_rule_tables_relu():
    """The layer's max(z, 0) -- its bound call, against an array of zeros -- and [z > 0] are
    relu's table formula and its partial, for every special float."""
    from tapegrad.backends.numpy import _relu_call
    from tapegrad.backends.numpy_math import NUMPY_MATH

    z = np.array(SPECIAL)
    table = RULES[Op.RELU].forward(NUMPY_MATH, z)
    fused = np.full_like(z, 7.0)
    _relu_call(z, fused)()
    assert np.array_equal(table, fused, equal_nan=True)
    assert np.array_equal(np.signbit(table), np.signbit(fused))
    (partial,) = RULES[Op.RELU].partials(NUMPY_MATH, table, z)
    assert np.array_equal(partial, (z > 0).astype(float))
    assert np.array_equal(partial, (fused > 0).astype(float))  # (backward reads H, not z)


@pytest.mark.parametrize("name", ["relu", "abs", "tanh", "sigmoid"])
def test_functions_run_unchecked_are_total_on_floats(name):
    """The NumPy backend skips the float re-check for these: their float version never raises."""
    from tapegrad.backends.numpy_math import NUMPY_MATH, TOTAL
    from tapegrad.ops import FLOATS

    assert name in TOTAL
    for x in SPECIAL + [710.0, -745.5, 0.5]:
        expected = getattr(FLOATS, name)(x)  # (raises nothing)
        actual = float(getattr(NUMPY_MATH, name)(np.array([x]))[0])
        assert actual == expected or (math.isnan(actual) and math.isnan(expected)), (name, x)


@pytest.mark.parametrize("dataset, steps", [("moons", 4), ("digits", 3)])
def test_the_demo_trains_the_same_numbers_compiled_and_eager(dataset, steps):
    from tapegrad.demo import run

    compiled = run(dataset, steps=steps, out_dir=None, stream=io.StringIO())
    eager = run(dataset, steps=steps, out_dir=None, stream=io.StringIO(), eager=True)
    assert all(_close(a, b) for a, b in zip(compiled.losses, eager.losses)), (
        compiled.losses, eager.losses)
    assert compiled.accuracies == eager.accuracies
    assert compiled.accuracy == eager.accuracy


def test_softmax_cross_entropy_with_class_indices_runs_as_one_group():
    """Fixed class indices (a step fed only its inputs): one cross-entropy group, eager's
    numbers, on logits far from where they were recorded (the shift is the current maximum)."""
    random.seed(3)
    model = MLP(3, [4, 3])
    xs = placeholders(5, 3)
    labels = [0, 2, 1, 1, 0]
    loss = losses.softmax_cross_entropy([model(x) for x in xs], labels)
    step = compile_step(loss, feeds=(xs,), params=model.parameters())
    kinds = [type(group).__name__ for group in step.executor.groups]
    assert kinds.count("_CrossEntropyGroup") == 1, kinds
    for scale in (1.0, 30.0, 300.0):
        X = [[scale * random.uniform(-1, 1) for _ in range(3)] for _ in range(5)]
        for p in model.parameters():
            p.grad = 0.0
        value = step.run(X)
        grads = [p.grad for p in model.parameters()]
        for p in model.parameters():
            p.grad = 0.0
        eager = losses.softmax_cross_entropy([model(list(map(Value, r))) for r in X], labels)
        eager.backward()
        assert _close(value, eager.data), (scale, value, eager.data)
        assert all(abs(a - b) <= 1e-12 * max(1.0, abs(b))
                   for a, b in zip(grads, [p.grad for p in model.parameters()]))


def test_a_deep_narrow_step_replays_on_the_python_interpreters_with_eagers_numbers():
    """A chain of 6,000 levels (3,000 products and tanhs), one node each: NumPy would run it a
    group per level, several times slower than the python interpreter, so the step replays
    there, silently, fed like any step; only the parameters get gradients."""
    import warnings

    x, w, unused = placeholders(1, 1), Value(0.9), Value(0.25)
    y = x[0][0] + unused * 0.0
    for _ in range(3_000):
        y = (y * w).tanh()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step = compile_step(y, feeds=[x], params=[w])
    assert step.executor is None and "python interpreters" in repr(step)
    assert "6,002 levels" in repr(step)
    losses_at = {}
    for start in (0.5, -1.5):
        eager_x, eager_w = Value(start), Value(0.9)
        eager = eager_x + Value(0.25) * 0.0
        for _ in range(3_000):
            eager = (eager * eager_w).tanh()
        eager.backward()
        w.grad = 0.0
        assert math.isclose(step.run(np.array([[start]])), eager.data, rel_tol=1e-12)
        assert math.isclose(w.grad, eager_w.grad, rel_tol=1e-9)
        assert x[0][0].grad == 0.0 and unused.grad == 0.0  # (not parameters)
        assert step.finite()
        assert step.reader([y])().tolist() == [eager.data]
        losses_at[start] = eager.data
    assert math.isclose(step.evaluate([[0.5]]), losses_at[0.5], rel_tol=1e-12)
    with pytest.raises(ValueError, match=r"batch 0 has shape \(2,\)"):
        step.run([0.5, 1.0])
    with pytest.raises(ValueError, match="not in the loss's graph"):
        step.reader([Value(1.0)])
    x2 = placeholders(8, 2)
    wide = MLP(2, [16, 1])
    assert compile_step(sum(wide(row) for row in x2), feeds=[x2]).executor is not None


@pytest.mark.parametrize("a_shape, b_shape", [((5, 1), (1, 4)), ((1, 1), (1, 3)), ((5, 2), (2, 4)),
                                              ((1, 5), (5, 3)), ((5,), (5, 1))])
def test_a_bound_product_is_matmuls_product(a_shape, b_shape):
    """A column times a row goes to einsum (products.product_calls), other shapes to matmul in
    some form (products.py): matmul's numbers, infinities, nan and the sign of a zero included
    (a -0.0 product is added to 0.0 by both, so it comes out as 0.0)."""
    from tapegrad.backends.numpy import _product_calls

    rng = np.random.default_rng(7)
    a, b = rng.normal(size=a_shape), rng.normal(size=b_shape)
    a.flat[0], b.flat[-1], b.flat[0] = math.inf, math.nan, -0.0
    a.flat[-1] = 1.0  # (a column times a row: 1 · -0.0 is -0.0, which matmul gives as 0.0)
    with np.errstate(invalid="ignore"):  # (inf · 0 is nan, as it should be)
        product = np.matmul(a, b)
        out = np.full(product.shape, 7.0)
        for call in _product_calls(a, b, out):
            call()
    assert np.array_equal(out, product, equal_nan=True)
    numbers = ~np.isnan(product)
    assert (np.signbit(out) == np.signbit(product))[numbers].all()
    if a.ndim == 2 and a.shape[1] == 1:
        assert (product == 0).any() and not np.signbit(product[product == 0]).any()
