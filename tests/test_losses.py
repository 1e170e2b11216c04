"""Losses (tapegrad.losses), and nn: the nonlinearity option of neurons, the sizes of networks.

Each loss is checked against a naive textbook formula evaluated by the mpmath oracle at 50
digits (value and gradient by high-precision numerical differentiation), against PyTorch's own
loss in float64 where installed, and at extreme logits where a naive formula would overflow.
"""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

import mpmath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle import assert_close, mp_gradient
from tapegrad import Value
from tapegrad.losses import (
    binary_cross_entropy_with_logits,
    hinge,
    l2,
    log_sum_exp,
    mse,
    softmax,
    softmax_cross_entropy,
)
from tapegrad.nn import MLP, Layer, Neuron

finite = st.floats(-8, 8, allow_nan=False, allow_infinity=False)
REFERENCE = Path(__file__).parent / "data" / "micrograd-demo-moons.json"


def tapegrad_gradient(loss_of, point):
    """(loss, [d loss / d point_i]) by tapegrad's reverse mode."""
    xs = [Value(p) for p in point]
    loss = loss_of(xs)
    loss.backward()
    return loss.data, [x.grad for x in xs]


# ---------------------------------------------------------------------------------------------
# Each loss against its textbook formula, in mpmath
# ---------------------------------------------------------------------------------------------


def mp_sigmoid(z):
    return 1 / (1 + mpmath.exp(-z))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=4))
def test_mse_matches_the_formula(pairs):
    preds = [p for p, _ in pairs]
    targets = [t for _, t in pairs]
    value, grad = tapegrad_gradient(lambda xs: mse(xs, targets), preds)
    want, want_grad = mp_gradient(
        lambda *ps: mpmath.fsum((p - t) ** 2 for p, t in zip(ps, targets)) / len(ps), preds
    )
    assert_close(value, want, "mse", rel=1e-12, abs_=1e-12)
    assert_close(grad, want_grad, "d mse / d p", rel=1e-8, abs_=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(finite, st.sampled_from([-1, 1])), min_size=1, max_size=4))
def test_hinge_matches_the_formula(pairs):
    scores = [s for s, _ in pairs]
    labels = [y for _, y in pairs]
    if any(abs(1 - y * s) < 1e-6 for s, y in pairs):
        return  # at the kink the numerical oracle has no single answer; see the kink test
    value, grad = tapegrad_gradient(lambda xs: hinge(xs, labels), scores)
    want, want_grad = mp_gradient(
        lambda *ss: mpmath.fsum(max(0, 1 - y * s) for s, y in zip(ss, labels)) / len(ss), scores
    )
    assert_close(value, want, "hinge", rel=1e-12, abs_=1e-12)
    assert_close(grad, want_grad, "d hinge / d s", rel=1e-8, abs_=1e-9)


def test_hinge_gradient_at_the_kink_is_zero_like_relu():
    value, grad = tapegrad_gradient(lambda xs: hinge(xs, [1]), [1.0])
    assert (value, grad) == (0.0, [0.0])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(-30, 30), st.floats(0, 1)), min_size=1, max_size=4))
def test_binary_cross_entropy_matches_the_formula(pairs):
    logits = [z for z, _ in pairs]
    targets = [t for _, t in pairs]
    value, grad = tapegrad_gradient(
        lambda xs: binary_cross_entropy_with_logits(xs, targets), logits
    )

    def naive(*zs):  # -t log σ(z) - (1-t) log(1-σ(z)): fine at 50 digits for |z| <= 30
        return mpmath.fsum(
            -t * mpmath.log(mp_sigmoid(z)) - (1 - t) * mpmath.log(1 - mp_sigmoid(z))
            for z, t in zip(zs, targets)
        ) / len(zs)

    want, want_grad = mp_gradient(naive, logits)
    assert_close(value, want, "bce", rel=1e-12, abs_=1e-14)
    assert_close(grad, want_grad, "d bce / d z", rel=1e-8, abs_=1e-12)


@pytest.mark.parametrize("t", [0.0, 0.3, 1.0])
def test_binary_cross_entropy_gradient_at_zero_is_sigmoid_minus_target(t):
    # relu(z) and |z| both have a kink at 0 whose gradient is taken as 0; the loss does not.
    _, grad = tapegrad_gradient(lambda xs: binary_cross_entropy_with_logits(xs, [t]), [0.0])
    assert grad == [pytest.approx(0.5 - t, abs=1e-15)]


@pytest.mark.parametrize("z, t", [(1000.0, 0.0), (-1000.0, 1.0), (800.0, 1.0), (-800.0, 0.0)])
def test_binary_cross_entropy_never_overflows(z, t):
    value, grad = tapegrad_gradient(lambda xs: binary_cross_entropy_with_logits(xs, [t]), [z])
    # The exact loss is log(1 + exp(-|z|)) + |z| · [wrong side]: |z| or ~exp(-|z|).
    wrong_side = (z > 0) != (t > 0.5)
    assert value == pytest.approx(abs(z) if wrong_side else 0.0, abs=1e-300)
    sigma = 1.0 if z > 0 else 0.0
    assert grad == [pytest.approx(sigma - t, abs=1e-300)]


@settings(max_examples=25, deadline=None)
@given(
    st.integers(2, 5).flatmap(
        lambda k: st.lists(
            st.tuples(st.lists(finite, min_size=k, max_size=k), st.integers(0, k - 1)),
            min_size=1,
            max_size=3,
        )
    )
)
def test_softmax_cross_entropy_matches_the_formula(samples):
    k = len(samples[0][0])
    flat = [z for row, _ in samples for z in row]
    targets = [c for _, c in samples]

    def rows_of(xs):
        return [xs[i * k : (i + 1) * k] for i in range(len(samples))]

    value, grad = tapegrad_gradient(lambda xs: softmax_cross_entropy(rows_of(xs), targets), flat)

    def naive(*zs):  # -log(exp(z_c) / Σ exp(z_j)), averaged
        rows = rows_of(list(zs))
        return mpmath.fsum(
            -mpmath.log(mpmath.exp(row[c]) / mpmath.fsum(mpmath.exp(z) for z in row))
            for row, c in zip(rows, targets)
        ) / len(rows)

    want, want_grad = mp_gradient(naive, flat)
    assert_close(value, want, "cross-entropy", rel=1e-12, abs_=1e-14)
    assert_close(grad, want_grad, "d cross-entropy / d z", rel=1e-8, abs_=1e-12)


def test_softmax_cross_entropy_of_huge_logits_is_finite_and_exact():
    value, grad = tapegrad_gradient(
        lambda xs: softmax_cross_entropy(xs, 1), [1000.0, 0.0, -1000.0]
    )
    assert value == pytest.approx(1000.0)
    assert grad == pytest.approx([1.0, -1.0, 0.0])
    assert log_sum_exp([Value(1000.0), Value(1000.0)]).data == pytest.approx(1000 + math.log(2))


def test_softmax_gives_probabilities():
    p = softmax([Value(1.0), 2.0, Value(3.0)])
    e = [math.exp(1), math.exp(2), math.exp(3)]
    assert p == pytest.approx([v / sum(e) for v in e])
    assert softmax([1000.0, 0.0]) == pytest.approx([1.0, 0.0])


def test_l2_is_alpha_times_the_sum_of_squares():
    params = [Value(1.0), Value(-2.0), Value(3.0)]
    loss = l2(params, 0.5)
    loss.backward()
    assert loss.data == 7.0
    assert [p.grad for p in params] == [1.0, -2.0, 3.0]


# ---------------------------------------------------------------------------------------------
# Against PyTorch's losses, float64
# ---------------------------------------------------------------------------------------------


def test_losses_agree_with_pytorch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = random.Random(3)
    zs = [rng.uniform(-4, 4) for _ in range(6)]
    targets01 = [rng.random() for _ in range(6)]
    signs = [rng.choice([-1, 1]) for _ in range(6)]
    classes = [rng.randrange(3) for _ in range(2)]
    cases = [
        ("mse", lambda xs: mse(xs, targets01),
         lambda t: F.mse_loss(t, torch.tensor(targets01, dtype=torch.float64))),
        ("hinge", lambda xs: hinge(xs, signs),
         lambda t: torch.relu(1 - torch.tensor(signs, dtype=torch.float64) * t).mean()),
        ("bce", lambda xs: binary_cross_entropy_with_logits(xs, targets01),
         lambda t: F.binary_cross_entropy_with_logits(
             t, torch.tensor(targets01, dtype=torch.float64))),
        ("cross-entropy", lambda xs: softmax_cross_entropy([xs[:3], xs[3:]], classes),
         lambda t: F.cross_entropy(t.reshape(2, 3), torch.tensor(classes))),
    ]
    for name, ours, theirs in cases:
        value, grad = tapegrad_gradient(ours, zs)
        t = torch.tensor(zs, dtype=torch.float64, requires_grad=True)
        out = theirs(t)
        out.backward()
        assert_close(value, float(out.detach()), name, rel=1e-12)
        assert_close(grad, t.grad.tolist(), f"d {name}", rel=1e-10, abs_=1e-15)


# ---------------------------------------------------------------------------------------------
# micrograd's demo loss, built with these functions, is micrograd's loss to the last bit
# ---------------------------------------------------------------------------------------------


def test_hinge_plus_l2_is_micrograds_demo_loss():
    ref = json.loads(REFERENCE.read_text())
    X, y = ref["X"], ref["y"]
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    for k in range(5):
        scores = [model(list(map(Value, row))) for row in X]
        loss = hinge(scores, y) + l2(model.parameters(), 1e-4)
        accuracy = sum((yi > 0) == (s.data > 0) for yi, s in zip(y, scores)) / len(y)
        assert loss.data == pytest.approx(ref["loss"][k], rel=1e-12)
        assert accuracy == ref["acc"][k]
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= (1.0 - 0.9 * k / 100) * p.grad


# ---------------------------------------------------------------------------------------------
# What a loss takes (each mistake and its message is a row of tests/test_bad_input.py)
# ---------------------------------------------------------------------------------------------


def test_a_loss_takes_one_sample_bare_or_any_iterable_of_them():
    assert mse(Value(3.0), 1.0).data == 4.0
    assert mse((Value(x) for x in [1.0, 3.0]), iter([0.0, 0.0])).data == 5.0
    assert hinge(Value(0.5), 1).data == 0.5


def test_nan_flows_through_a_loss_as_in_pytorch():
    """nan in the data is not refused: the loss is nan, and so is the gradient."""
    x = Value(math.nan)
    loss = mse([x], [1.0])
    loss.backward()
    assert math.isnan(loss.data) and math.isnan(x.grad)


def test_l2_of_no_parameters_is_zero_and_of_a_generator_is_the_same_as_of_a_list():
    assert l2([], 1e-4) == 0.0
    ps = [Value(1.0), Value(-2.0)]
    assert l2((p for p in ps), 0.5).data == l2(ps, 0.5).data == 2.5


# ---------------------------------------------------------------------------------------------
# nn: the nonlinearity option keeps micrograd's defaults
# ---------------------------------------------------------------------------------------------


def test_defaults_are_micrograds():
    random.seed(0)
    assert repr(Neuron(2)) == "ReLUNeuron(2)"
    assert repr(Neuron(2, nonlin=False)) == "LinearNeuron(2)"
    assert repr(Layer(2, 1, nonlin=False)) == "Layer of [LinearNeuron(2)]"
    assert repr(MLP(2, [3, 1])) == (
        "MLP of [Layer of [ReLUNeuron(2), ReLUNeuron(2), ReLUNeuron(2)], "
        "Layer of [LinearNeuron(3)]]"
    )


def test_act_does_not_change_the_initial_weights():
    random.seed(5)
    plain = [p.data for p in MLP(3, [4, 2]).parameters()]
    random.seed(5)
    tanh = [p.data for p in MLP(3, [4, 2], act="tanh").parameters()]
    assert plain == tanh


@pytest.mark.parametrize(
    "act, name, f",
    [
        ("relu", "ReLU", lambda a: max(a, 0.0)),
        ("tanh", "Tanh", math.tanh),
        ("sigmoid", "Sigmoid", lambda a: 1 / (1 + math.exp(-a))),
        ("linear", "Linear", lambda a: a),
    ],
)
def test_each_nonlinearity(act, name, f):
    random.seed(2)
    n = Neuron(2, act=act)
    assert repr(n) == f"{name}Neuron(2)"
    x = [0.3, -0.7]
    a = n.w[0].data * x[0] + n.w[1].data * x[1]
    assert n(x).data == pytest.approx(f(a))
    assert n(x).op.name == ("DOT" if act == "linear" else act.upper())


def test_mlp_act_sets_hidden_layers_and_keeps_the_last_linear():
    model = MLP(2, [3, 3, 1], act="sigmoid")
    assert [repr(layer.neurons[0]) for layer in model.layers] == [
        "SigmoidNeuron(2)", "SigmoidNeuron(3)", "LinearNeuron(3)"
    ]


@settings(max_examples=20, deadline=None)
@given(nin=st.integers(1, 4), nouts=st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_an_mlp_of_any_sizes_has_its_parameters_and_outputs(nin, nouts):
    model = MLP(nin, nouts)
    sizes = [nin] + nouts
    assert len(model.parameters()) == sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    out = model([0.5] * nin)
    assert (isinstance(out, Value) if nouts[-1] == 1 else len(out) == nouts[-1])


@settings(max_examples=40, deadline=None)
@given(
    nin=st.integers(-3, 4),
    nouts=st.lists(st.integers(-3, 4), min_size=1, max_size=3),
)
def test_a_size_below_1_is_refused_before_any_weight_is_drawn(nin, nouts):
    sizes = [nin] + nouts
    if min(sizes) >= 1:
        return
    random.seed(7)
    state = random.getstate()
    first = next(i for i, n in enumerate(sizes) if n < 1)
    name = "nin" if first == 0 else f"nouts[{first - 1}]"
    with pytest.raises(ValueError, match=re.escape(f"{name}={sizes[first]}, but")):
        MLP(nin, nouts)
    assert random.getstate() == state


def test_a_layer_reads_a_generator_of_inputs_once():
    random.seed(3)
    layer = Layer(2, 3)
    from_list = [v.data for v in layer([0.5, -1.0])]
    assert [v.data for v in layer(x for x in [0.5, -1.0])] == from_list
    assert [v.data for v in layer((0.5, -1.0))] == from_list


def test_sizes_and_inputs_of_numpys_types_work():
    np = pytest.importorskip("numpy")
    model = MLP(np.int64(2), [np.int64(3), 1])
    assert repr(model.layers[0]) == "Layer of [ReLUNeuron(2), ReLUNeuron(2), ReLUNeuron(2)]"
    assert isinstance(model(np.array([0.5, -1.0])), Value)
