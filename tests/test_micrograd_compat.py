"""micrograd's programs run on tapegrad unchanged but for the imports, and compute its numbers.

Each behaviour is checked against what micrograd is documented to do (always), and side by side
with the micrograd package when it is installed (``pytest.importorskip("micrograd")``). The last
test reruns micrograd's demo, as its notebook writes it, against the loss and accuracy it printed
(tests/data/micrograd-demo-moons.json).
"""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from oracle import MP, assert_close, mp_gradient
from tapegrad import Value
from tapegrad.nn import MLP, Layer, Module, Neuron

DEMO = Path(__file__).parent / "data" / "micrograd-demo-moons.json"


def micrograd():
    """micrograd's (Value, nn) modules; skips the calling test when it is not installed."""
    pytest.importorskip("micrograd")
    from micrograd import engine, nn

    return engine, nn


# ---------------------------------------------------------------------------------------------
# Value: fields, operators, _op strings, repr
# ---------------------------------------------------------------------------------------------

# (expression, its value by plain float arithmetic) at a = 3.0, b = -1.5; every operator,
# reflected ones included, as a micrograd program would write it.
OPERATORS = {
    "a + b": (lambda a, b: a + b, 1.5),
    "a + 2": (lambda a, b: a + 2, 5.0),
    "2 + a": (lambda a, b: 2 + a, 5.0),
    "a - b": (lambda a, b: a - b, 4.5),
    "a - 2": (lambda a, b: a - 2, 1.0),
    "2 - a": (lambda a, b: 2 - a, -1.0),
    "a * b": (lambda a, b: a * b, -4.5),
    "a * 2": (lambda a, b: a * 2, 6.0),
    "2 * a": (lambda a, b: 2 * a, 6.0),
    "a / b": (lambda a, b: a / b, -2.0),
    "a / 2": (lambda a, b: a / 2, 1.5),
    "2 / a": (lambda a, b: 2 / a, 2 / 3),
    "-a": (lambda a, b: -a, -3.0),
    "a ** 2": (lambda a, b: a**2, 9.0),
    "a ** -1": (lambda a, b: a**-1, 1 / 3),
    "a ** 0.5": (lambda a, b: a**0.5, math.sqrt(3.0)),
    "b.relu()": (lambda a, b: b.relu(), 0.0),
    "a.relu()": (lambda a, b: a.relu(), 3.0),
    "(a * b + b ** 3 - a / 4).relu() * a": (
        lambda a, b: (a * b + b**3 - a / 4).relu() * a,
        0.0,
    ),
    "a * a * a + b": (lambda a, b: a * a * a + b, 25.5),
}


@pytest.mark.parametrize("name", OPERATORS)
def test_every_operator_computes_the_float_value(name):
    f, expected = OPERATORS[name]
    assert f(Value(3.0), Value(-1.5)).data == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("name", OPERATORS)
def test_every_operator_matches_micrograd_side_by_side(name):
    engine, _ = micrograd()
    f, _ = OPERATORS[name]
    a, b = Value(3.0), Value(-1.5)
    ma, mb = engine.Value(3.0), engine.Value(-1.5)
    out, mout = f(a, b), f(ma, mb)
    assert out.data == mout.data
    assert out._op == mout._op
    out.backward()
    mout.backward()
    assert (a.grad, b.grad) == (ma.grad, mb.grad)


def test_two_to_the_x():
    """2 ** x (micrograd lacks it): d/dx 2^x = 2^x · ln 2."""
    x = Value(3.0)
    y = 2**x
    y.backward()
    assert y.data == 8.0
    assert x.grad == pytest.approx(8.0 * math.log(2.0), rel=1e-15)


def test_value_fields():
    a = Value(2.0)
    assert (a.data, a.grad, a._prev, a._op) == (2.0, 0, set(), "")
    b = Value(-3.0)
    c = a * b
    assert c._prev == {a, b}
    assert (a * a)._prev == {a}, "_prev is a set: a node used twice appears once"
    assert {v.data for v in (a + 1)._prev} == {2.0, 1.0}, "a number becomes a constant leaf"


def test_a_value_takes_new_attributes_as_micrograds_does():
    # EurekaLabs' micrograd keeps Adam's moments on its parameters, and its drawing code colours
    # the nodes it walks with setattr.
    model = MLP(2, [3, 1])
    for p in model.parameters():
        p.m, p.v = 0.0, 0.0
    loss = (model([Value(0.5), Value(-1.0)]) - 1.0) ** 2
    loss.backward()
    for p in model.parameters():
        p.m = 0.9 * p.m + 0.1 * p.grad
        p.v = 0.999 * p.v + 0.001 * p.grad**2
        p.data -= 0.01 * p.m / (p.v**0.5 + 1e-8)
    assert all(p.m == 0.1 * p.grad for p in model.parameters())
    walked, stack = set(), [loss]
    while stack:  # a micrograd-style walk over _prev, colouring every node
        v = stack.pop()
        if v not in walked:
            v.color = "lightblue"
            walked.add(v)
            stack.extend(v._prev)
    assert all(v.color == "lightblue" for v in walked)
    assert all(child.color == "lightblue" for v in walked for child in v._prev)


OP_STRINGS = [
    (lambda a: a, ""),
    (lambda a: a + a, "+"),
    (lambda a: a + 1, "+"),
    (lambda a: 1 + a, "+"),
    (lambda a: a * a, "*"),
    (lambda a: 2 * a, "*"),
    (lambda a: -a, "*"),
    (lambda a: a - 1, "+"),
    (lambda a: a / 2, "*"),
    (lambda a: a**2, "**2"),
    (lambda a: a**3, "**3"),
    (lambda a: a**-1, "**-1"),
    (lambda a: a**0.5, "**0.5"),
    (lambda a: a.relu(), "ReLU"),
]


@pytest.mark.parametrize("f, op", OP_STRINGS, ids=[op or "leaf" for _, op in OP_STRINGS])
def test_op_strings_are_micrographs(f, op):
    assert f(Value(2.0))._op == op


@pytest.mark.parametrize("f, op", OP_STRINGS, ids=[op or "leaf" for _, op in OP_STRINGS])
def test_op_strings_side_by_side(f, op):
    engine, _ = micrograd()
    assert f(Value(2.0))._op == f(engine.Value(2.0))._op


def test_relu_kink_gradient_is_zero():
    x = Value(0.0)
    y = x.relu()
    y.backward()
    assert (y.data, x.grad) == (0.0, 0.0)


def test_relu_passes_nan_through_as_micrograd_does():
    """micrograd's relu is ``0 if x < 0 else x``: a nan stays nan (PyTorch agrees), so a
    diverged training run shows up in its loss instead of hiding behind a relu."""
    x = Value(math.nan)
    assert math.isnan(x.relu().data)


def test_relu_nan_side_by_side():
    engine, _ = micrograd()
    assert math.isnan(engine.Value(math.nan).relu().data)


REPR = re.compile(r"Value\(data=(?P<data>[^,]+), grad=(?P<grad>[^)]+)\)")


def test_repr_format():
    x = Value(2.0)
    y = x * 3
    y.backward()
    for v, data, grad in ((x, 2.0, 3.0), (y, 6.0, 1.0), (Value(-0.5), -0.5, 0.0)):
        match = REPR.fullmatch(repr(v))
        assert match, f"repr {repr(v)!r} is not micrograd's Value(data=..., grad=...)"
        assert (float(match["data"]), float(match["grad"])) == (data, grad)


def test_repr_side_by_side():
    engine, _ = micrograd()
    x, mx = Value(2.0), engine.Value(2.0)
    y, my = x * 3 + 1, mx * 3 + 1
    y.backward()
    my.backward()
    for v, mv in ((x, mx), (y, my)):
        ours, theirs = REPR.fullmatch(repr(v)), REPR.fullmatch(repr(mv))
        assert float(ours["data"]) == float(theirs["data"])
        assert float(ours["grad"]) == float(theirs["grad"])


def test_a_second_backward_does_not_double_count():
    """Where tapegrad deliberately differs from micrograd: interior nodes are not doubled."""
    x = Value(1.0)
    y = x * 2
    z = y * 3
    z.backward()
    z.backward()
    assert (x.grad, y.grad, z.grad) == (12.0, 3.0, 1.0)


# ---------------------------------------------------------------------------------------------
# nn: constructors, reprs, behaviour, initialisation
# ---------------------------------------------------------------------------------------------

REPRS = [
    (lambda nn: nn.Neuron(2), "ReLUNeuron(2)"),
    (lambda nn: nn.Neuron(3, nonlin=False), "LinearNeuron(3)"),
    (lambda nn: nn.Layer(2, 3), "Layer of [ReLUNeuron(2), ReLUNeuron(2), ReLUNeuron(2)]"),
    (lambda nn: nn.Layer(4, 1, nonlin=False), "Layer of [LinearNeuron(4)]"),
    (
        lambda nn: nn.MLP(2, [3, 1]),
        "MLP of [Layer of [ReLUNeuron(2), ReLUNeuron(2), ReLUNeuron(2)], "
        "Layer of [LinearNeuron(3)]]",
    ),
]


@pytest.mark.parametrize("make, text", REPRS, ids=[text[:20] for _, text in REPRS])
def test_nn_reprs(make, text):
    import tapegrad.nn

    assert repr(make(tapegrad.nn)) == text


@pytest.mark.parametrize("make, text", REPRS, ids=[text[:20] for _, text in REPRS])
def test_nn_reprs_side_by_side(make, text):
    _, nn = micrograd()
    import tapegrad.nn

    assert repr(make(tapegrad.nn)) == repr(make(nn))


def test_the_last_layer_is_linear_and_the_others_relu():
    model = MLP(3, [4, 5, 2])
    assert [[n.nonlin for n in layer.neurons] for layer in model.layers] == [
        [True] * 4,
        [True] * 5,
        [False] * 2,
    ]
    # A linear output can go negative; a relu one cannot.
    for nonlin, expected in ((False, -2.0), (True, 0.0)):
        neuron = Neuron(1, nonlin=nonlin)
        neuron.w[0].data = -2.0
        assert neuron([Value(1.0)]).data == expected


def test_nonlin_is_read_when_the_neuron_runs_as_in_micrograd():
    """micrograd's Neuron reads ``self.nonlin`` in __call__ and __repr__, so a program may
    switch it after construction (e.g. to make a hand-built output neuron linear)."""
    neuron = Neuron(1)
    neuron.w[0].data = -2.0
    neuron.nonlin = False
    assert repr(neuron) == "LinearNeuron(1)"
    assert neuron([Value(1.0)]).data == -2.0


def test_a_one_output_layer_returns_a_bare_value():
    x = [Value(1.0), Value(-2.0)]
    assert isinstance(Layer(2, 1)(x), Value)
    out = Layer(2, 3)(x)
    assert isinstance(out, list) and len(out) == 3 and all(isinstance(v, Value) for v in out)
    assert isinstance(MLP(2, [4, 1])(x), Value)


def test_parameters_order_and_count():
    neuron = Neuron(3)
    assert neuron.parameters() == neuron.w + [neuron.b]
    model = MLP(2, [16, 16, 1])
    params = model.parameters()
    assert len(params) == (2 + 1) * 16 + (16 + 1) * 16 + (16 + 1) * 1 == 337
    expected = [p for layer in model.layers for n in layer.neurons for p in n.w + [n.b]]
    assert all(p is q for p, q in zip(params, expected)) and len(params) == len(expected)
    assert len({id(p) for p in params}) == 337, "parameters() lists each parameter once"
    assert Module().parameters() == []


def test_a_micrograd_style_module_subclass_works():
    class Affine(Module):
        def __init__(self):
            self.w, self.b = Value(2.0), Value(0.5)

        def __call__(self, x):
            return self.w * x + self.b

        def parameters(self):
            return [self.w, self.b]

    model = Affine()
    model(Value(3.0)).backward()
    assert (model.w.grad, model.b.grad) == (3.0, 1.0)
    model.zero_grad()
    assert (model.w.grad, model.b.grad) == (0.0, 0.0)


def test_zero_grad():
    model = MLP(2, [4, 1])
    model([Value(0.5), Value(-1.0)]).backward()
    assert any(p.grad != 0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0 for p in model.parameters())


def test_gradients_accumulate_until_zero_grad():
    model = MLP(2, [3, 1])
    x = [Value(0.5), Value(-1.0)]
    model(x).backward()
    once = [p.grad for p in model.parameters()]
    model(x).backward()
    assert [p.grad for p in model.parameters()] == [2 * g for g in once]


def micrograd_draws(nin: int, nouts: list) -> list:
    """MLP(nin, nouts)'s initial parameters as micrograd draws them: layer by layer, neuron by
    neuron, nin weights from random.uniform(-1, 1), then a bias of 0."""
    sizes = [nin] + nouts
    params = []
    for fan_in, width in zip(sizes, sizes[1:]):
        for _ in range(width):
            params += [random.uniform(-1, 1) for _ in range(fan_in)] + [0.0]
    return params


@pytest.mark.parametrize("nin, nouts", [(2, [16, 16, 1]), (3, [4, 4, 1]), (1, [1])])
def test_seed_1337_gives_micrographs_initial_weights(nin, nouts):
    random.seed(1337)
    model = MLP(nin, nouts)
    after_model = random.random()
    random.seed(1337)
    assert [p.data for p in model.parameters()] == micrograd_draws(nin, nouts)
    assert random.random() == after_model, "MLP() draws exactly micrograd's numbers, no more"


@pytest.mark.parametrize("nin, nouts", [(2, [16, 16, 1]), (3, [4, 4, 1])])
def test_seed_1337_weights_side_by_side(nin, nouts):
    _, nn = micrograd()
    random.seed(1337)
    ours = [p.data for p in MLP(nin, nouts).parameters()]
    random.seed(1337)
    theirs = [p.data for p in nn.MLP(nin, nouts).parameters()]
    assert ours == theirs


@pytest.mark.parametrize("nin, nouts", [(2, [16, 16, 1]), (3, [4, 3, 2]), (1, [5, 1])])
def test_mlps_match_micrograd_side_by_side(nin, nouts):
    """Same seed, same inputs: the same outputs to the bit, the same gradients to rounding
    (micrograd sums a node's contributions in the order of a set)."""
    engine, nn = micrograd()
    point = [0.75, -1.25, 0.5][:nin]
    results = []
    for Value_, MLP_ in ((Value, MLP), (engine.Value, nn.MLP)):
        random.seed(1337)
        model = MLP_(nin, nouts)
        out = model([Value_(x) for x in point])
        outs = out if isinstance(out, list) else [out]
        loss = sum((o * o for o in outs), Value_(0.0))
        loss.backward()
        results.append(([o.data for o in outs], [p.grad for p in model.parameters()]))
    (ours, our_grads), (theirs, their_grads) = results
    assert ours == theirs
    assert_close(our_grads, their_grads, "parameter grads", rel=1e-12, abs_=1e-15)


def test_a_width_one_hidden_layer_works():
    """micrograd's MLP(2, [16, 1, 1]) breaks (a one-output layer returns a bare Value, which the
    next layer cannot iterate); tapegrad's computes relu(w·x + b) through it."""
    random.seed(0)
    model = MLP(2, [16, 1, 1])
    layers = [[(list(n.w), n.b) for n in layer.neurons] for layer in model.layers]
    x0, x1 = Value(0.75), Value(-0.5)
    out = model([x0, x1])
    assert isinstance(out, Value)
    out.backward()

    def by_hand(m, x0, x1):
        h = [x0, x1]
        for depth, layer in enumerate(layers):
            outs = []
            for w, b in layer:
                act = b.data + sum(wi.data * hi for wi, hi in zip(w, h))
                outs.append(act if depth == len(layers) - 1 else m.relu(act))
            h = outs
        return h[0]

    value, partials = mp_gradient(lambda *xs: by_hand(MP, *xs), (0.75, -0.5))
    assert_close(out.data, value, "MLP(2, [16, 1, 1]) output")
    assert_close([x0.grad, x1.grad], partials, "MLP(2, [16, 1, 1]) input gradient")


def test_a_neuron_fed_one_value_matches_a_one_element_list():
    neuron = Neuron(1)
    neuron.w[0].data = 0.5
    assert neuron(Value(3.0)).data == neuron([Value(3.0)]).data == 1.5


# ---------------------------------------------------------------------------------------------
# Random micrograd programs, side by side
# ---------------------------------------------------------------------------------------------

# Steps micrograd supports, each kept in its domain (micrograd would make complex numbers).
MICROGRAD_STEPS = {
    "add": (2, lambda a, b: a + b),
    "sub": (2, lambda a, b: a - b),
    "mul": (2, lambda a, b: a * b),
    "div": (2, lambda a, b: a / (b * b + 1)),
    "radd": (1, lambda a: 1.5 + a),
    "rsub": (1, lambda a: 2 - a),
    "rmul": (1, lambda a: -0.5 * a),
    "rdiv": (1, lambda a: 3 / (a * a + 0.5)),
    "neg": (1, lambda a: -a),
    "square": (1, lambda a: a**2),
    "cube": (1, lambda a: a**3),
    "sqrt": (1, lambda a: (a * a + 1) ** 0.5),
    "relu": (1, lambda a: a.relu()),
    "sum": (3, lambda a, b, c: sum([a, b, c])),
}


@st.composite
def micrograd_programs(draw):
    n_inputs = draw(st.integers(1, 3))
    inputs = [draw(st.floats(-2, 2, allow_nan=False)) for _ in range(n_inputs)]
    steps = []
    for k in range(draw(st.integers(1, 10))):
        name = draw(st.sampled_from(sorted(MICROGRAD_STEPS)))
        arity = MICROGRAD_STEPS[name][0]
        steps.append((name, [draw(st.integers(0, n_inputs + k - 1)) for _ in range(arity)]))
    return inputs, steps


def run_program(value_class, inputs, steps):
    nodes = [value_class(x) for x in inputs]
    for name, args in steps:
        nodes.append(MICROGRAD_STEPS[name][1](*[nodes[i] for i in args]))
    nodes[-1].backward()
    return nodes


@settings(max_examples=60, deadline=None)
@given(micrograd_programs())
def test_random_programs_match_micrograd(program):
    engine, _ = micrograd()
    inputs, steps = program
    ours = run_program(Value, inputs, steps)
    assume(all(abs(v.data) < 1e12 for v in ours))
    theirs = run_program(engine.Value, inputs, steps)
    # The same floats in the same order: data is identical.
    assert [v.data for v in ours] == [v.data for v in theirs]
    # Gradients are sums whose order micrograd leaves to a set's iteration order: equal up to
    # rounding. Every node's, interior ones included: each holds d(output)/d(node).
    scale = max(1.0, *(abs(v.grad) for v in theirs))
    assert_close([v.grad for v in ours], [v.grad for v in theirs], "grads", 1e-12, 1e-12 * scale)


# ---------------------------------------------------------------------------------------------
# micrograd's demo, written as its notebook writes it, against the numbers it printed
# ---------------------------------------------------------------------------------------------


def test_micrographs_demo_reproduces_every_loss_and_accuracy():
    reference = json.loads(DEMO.read_text())
    X, y = reference["X"], reference["y"]

    random.seed(1337)  # the demo seeds, draws its data from numpy, then builds the model
    model = MLP(2, [16, 16, 1])  # 2-layer neural network

    def loss(batch_size=None):
        # inline DataLoader :)
        if batch_size is None:
            Xb, yb = X, y
        else:
            ri = random.sample(range(len(X)), batch_size)
            Xb, yb = [X[i] for i in ri], [y[i] for i in ri]
        inputs = [list(map(Value, xrow)) for xrow in Xb]

        # forward the model to get scores
        scores = list(map(model, inputs))

        # svm "max-margin" loss
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(yb, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        # L2 regularization
        alpha = 1e-4
        reg_loss = alpha * sum((p * p for p in model.parameters()))
        total_loss = data_loss + reg_loss

        # also get accuracy
        accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(yb, scores)]
        return total_loss, sum(accuracy) / len(accuracy)

    losses, accuracies = [], []
    for k in range(100):
        # forward
        total_loss, acc = loss()

        # backward
        model.zero_grad()
        total_loss.backward()

        # update (sgd)
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad

        losses.append(total_loss.data)
        accuracies.append(acc)

    for k, (ours, theirs) in enumerate(zip(losses, reference["loss"])):
        assert abs(ours - theirs) <= 1e-6 * abs(theirs), f"step {k}: loss {ours} vs {theirs}"
    assert accuracies == reference["acc"]
