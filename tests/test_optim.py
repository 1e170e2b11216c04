"""Optimizers (tapegrad.optim): each update against its formula worked by hand, then against
PyTorch's optimizers in float64 on the same sequence of gradients."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad import Value
from tapegrad.optim import SGD, Adam, AdamW


def params_with_grads(datas, grads):
    params = [Value(d) for d in datas]
    for p, g in zip(params, grads):
        p.grad = g
    return params


# ---------------------------------------------------------------------------------------------
# By hand: one parameter, numbers small enough to follow on paper
# ---------------------------------------------------------------------------------------------


def test_sgd_step_by_hand():
    (p,) = params = params_with_grads([1.0], [0.5])
    SGD(params, lr=0.1).step()
    assert p.data == 1.0 - 0.1 * 0.5  # 0.95


def test_sgd_momentum_and_weight_decay_by_hand():
    (p,) = params = params_with_grads([1.0], [0.5])
    opt = SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01)
    opt.step()
    # step 1: g = 0.5 + 0.01·1 = 0.51; the buffer starts at g; p = 1 - 0.1·0.51 = 0.949
    assert p.data == pytest.approx(0.949, rel=1e-15)
    p.grad = 0.2
    opt.step()
    # step 2: g = 0.2 + 0.01·0.949 = 0.20949; b = 0.9·0.51 + 0.20949 = 0.66849
    #         p = 0.949 - 0.1·0.66849 = 0.882151
    assert p.data == pytest.approx(0.882151, rel=1e-14)


def test_adam_first_steps_by_hand():
    (p,) = params = params_with_grads([1.0], [0.5])
    opt = Adam(params, lr=0.1)
    opt.step()
    # step 1: m = 0.05, v = 0.00025; bias-corrected m̂ = 0.5, v̂ = 0.25, so the step is
    #         lr · 0.5 / (0.5 + 1e-8): just under lr, whatever the gradient's size
    assert p.data == pytest.approx(1.0 - 0.1 * 0.5 / (0.5 + 1e-8), rel=1e-15)
    p.grad = -1.0
    opt.step()
    m = 0.9 * 0.05 + 0.1 * -1.0  # -0.055
    v = 0.999 * 0.00025 + 0.001 * 1.0  # 0.00124975
    m_hat, v_hat = m / (1 - 0.9**2), v / (1 - 0.999**2)
    expected = 1.0 - 0.1 * 0.5 / (0.5 + 1e-8) - 0.1 * m_hat / (math.sqrt(v_hat) + 1e-8)
    assert p.data == pytest.approx(expected, rel=1e-14)


def test_adam_weight_decay_goes_through_the_gradient():
    (p,) = params = params_with_grads([2.0], [0.0])
    Adam(params, lr=0.1, weight_decay=0.5).step()
    # g = 0 + 0.5·2 = 1; m̂ = 1, v̂ = 1: p = 2 - 0.1·1/(1 + 1e-8)
    assert p.data == pytest.approx(2.0 - 0.1 / (1 + 1e-8), rel=1e-15)


def test_adamw_decays_the_weight_directly():
    (p,) = params = params_with_grads([2.0], [0.0])
    AdamW(params, lr=0.1, weight_decay=0.5).step()
    # p = 2 - 0.1·0.5·2 = 1.9 first; then Adam with g = 0 moves nothing (m = 0)
    assert p.data == pytest.approx(1.9, rel=1e-15)
    assert AdamW([Value(0.0)]).weight_decay == 0.01  # PyTorch's default


def test_lr_is_settable_between_steps():
    (p,) = params = params_with_grads([1.0], [1.0])
    opt = SGD(params, lr=0.5)
    opt.step()
    opt.lr = 0.25
    opt.step()
    assert p.data == 1.0 - 0.5 - 0.25


def test_zero_grad_and_params_list():
    params = params_with_grads([1.0, 2.0], [3.0, 4.0])
    for opt in (SGD(params, lr=0.1), Adam(params), AdamW(params)):
        assert opt.params == params and isinstance(opt.params, list)
        opt.params[0].grad = 7.0
        opt.zero_grad()
        assert [p.grad for p in params] == [0.0, 0.0]


def test_minimising_a_parabola():
    for make in (lambda ps: SGD(ps, lr=0.1, momentum=0.5), lambda ps: Adam(ps, lr=0.1),
                 lambda ps: AdamW(ps, lr=0.1, weight_decay=0.0)):
        x = Value(0.0)
        opt = make([x])
        for _ in range(300):
            loss = (x - 3) ** 2
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert x.data == pytest.approx(3.0, abs=1e-3)


# ---------------------------------------------------------------------------------------------
# Against PyTorch, on the same gradients
# ---------------------------------------------------------------------------------------------

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.5, weight_decay=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.1, betas=(0.5, 0.9), weight_decay=0.2)),
]
OURS = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}


@pytest.mark.parametrize("name, kwargs", CONFIGS)
@settings(max_examples=10, deadline=None)
@given(
    start=st.lists(st.floats(-3, 3), min_size=3, max_size=3),
    grads=st.lists(st.lists(st.floats(-5, 5), min_size=3, max_size=3), min_size=1, max_size=6),
)
def test_updates_match_pytorch(name, kwargs, start, grads):
    torch = pytest.importorskip("torch")
    ours = [Value(x) for x in start]
    opt = OURS[name](ours, **kwargs)
    theirs = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    reference = getattr(torch.optim, name)([theirs], **kwargs)
    for step, g in enumerate(grads):
        lr = kwargs["lr"] * (1 - 0.1 * step)  # a schedule, as the demo uses
        opt.lr = lr
        for group in reference.param_groups:
            group["lr"] = lr
        for p, gi in zip(ours, g):
            p.grad = gi
        theirs.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        reference.step()
        for i, p in enumerate(ours):
            assert p.data == pytest.approx(theirs[i].item(), rel=1e-12, abs=1e-14), (
                f"{name}{kwargs} step {step + 1}, parameter {i}"
            )


# ---------------------------------------------------------------------------------------------
# Settings and parameters: what is accepted, and what is refused whenever it is set (each mistake
# and its message is a row of tests/test_bad_input.py; here, what varies)
# ---------------------------------------------------------------------------------------------

BAD_LR = st.one_of(
    st.floats(max_value=-1e-300),
    st.sampled_from([math.nan, math.inf, -math.inf, True, False, None, "0.1", [0.1]]),
    st.builds(Value, st.floats(0, 1)),
)


@settings(max_examples=40, deadline=None)
@given(lr=BAD_LR, make=st.sampled_from([SGD, Adam, AdamW]))
def test_a_bad_lr_is_refused_when_made_and_when_set_later(lr, make):
    params = params_with_grads([1.0, -2.0], [0.5, 0.25])
    with pytest.raises((TypeError, ValueError), match=re.escape(f"{make.__name__}: lr=")):
        make(params, lr=lr)
    opt = make(params, lr=0.1)
    with pytest.raises((TypeError, ValueError), match="lr="):
        opt.lr = lr
    assert opt.lr == 0.1
    opt.step()  # still steps with the lr it had: as one that was never given the bad one
    untouched = params_with_grads([1.0, -2.0], [0.5, 0.25])
    make(untouched, lr=0.1).step()
    assert [p.data for p in params] == [p.data for p in untouched]


@settings(max_examples=25, deadline=None)
@given(lr=st.one_of(st.floats(0, 1e6), st.integers(0, 10**6)))
def test_any_finite_lr_from_0_up_is_taken_as_a_float(lr):
    opt = SGD([Value(1.0)], lr=lr)
    assert opt.lr == lr and type(opt.lr) is float
    opt.lr = lr / 2
    assert opt.lr == lr / 2


def test_params_may_be_any_iterable_of_leaves_and_are_kept_as_a_list():
    params = params_with_grads([1.0, 2.0], [1.0, 1.0])
    opt = SGD((p for p in params), lr=0.5)  # PyTorch's parameters() is a generator
    assert opt.params == params and isinstance(opt.params, list)
    opt.step()
    assert [p.data for p in params] == [0.5, 1.5]


def test_a_nan_gradient_makes_a_nan_update_as_in_pytorch():
    """nan in what flows through a step is not refused (only in settings): it propagates."""
    for make in (lambda ps: SGD(ps, lr=0.1), lambda ps: Adam(ps, lr=0.1)):
        p, q = params = params_with_grads([1.0, 2.0], [math.nan, 1.0])
        make(params).step()
        assert math.isnan(p.data) and not math.isnan(q.data)


def test_adam_takes_no_step_for_a_gradient_that_has_been_zero():
    """eps > 0 is what makes this 0 / (0 + eps) = 0 rather than 0 / 0."""
    p, q = params = params_with_grads([1.0, 2.0], [0.0, 1.0])
    opt = Adam(params, lr=0.1)
    for _ in range(3):
        opt.step()
    assert p.data == 1.0 and q.data < 2.0


def test_a_refused_step_of_a_numpy_graphs_parameters_changes_nothing():
    """The NumPy path (one array update for all parameters) refuses a changed list too, before
    it touches the arrays."""
    pytest.importorskip("numpy")
    from tapegrad import Graph

    w = [Value(0.5), Value(-1.5)]
    graph = Graph((w[0] * w[1] - 1.0) ** 2, backend="numpy")
    graph.forward()
    graph.backward()
    opt = Adam(w, lr=0.1)
    opt.step()
    before = ([p.data for p in w], [p.grad for p in w], opt.t)
    opt.params.append(Value(1.0))
    with pytest.raises(ValueError, match="opt.params has changed"):
        opt.step()
    with pytest.raises(ValueError, match="opt.params has changed"):
        opt.zero_grad()
    assert ([p.data for p in w], [p.grad for p in w], opt.t) == before


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: SGD(ps, lr=0.1, momentum=0.9),
        lambda ps: Adam(ps, lr=0.1),
        lambda ps: AdamW(ps, lr=0.1),
    ],
    ids=["sgd-momentum", "adam", "adamw"],
)
def test_state_carries_on_when_parameters_move_into_a_numpy_graph(make):
    """An optimizer that stepped eagerly, then has its parameters moved into a NumPy-backend
    Graph, updates them exactly as if they had stayed eager: its momentum and moments go on."""
    pytest.importorskip("numpy")
    from tapegrad import Graph

    def train(switch_at):
        w = [Value(0.5), Value(-1.5), Value(2.0)]
        opt = make(w)
        loss = None
        for k in range(5):
            if k == switch_at:
                graph = Graph(loss, backend="numpy")
            if switch_at is not None and k >= switch_at:
                graph.forward()
                opt.zero_grad()
                graph.backward()
            else:
                loss = (w[0] * w[1] - 1.0) ** 2 + (w[2] + w[0]) ** 2
                opt.zero_grad()
                loss.backward()
            opt.step()
        return [p.data for p in w]

    assert train(switch_at=2) == pytest.approx(train(switch_at=None), rel=1e-12)
