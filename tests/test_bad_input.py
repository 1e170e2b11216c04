"""Bad input: the right exception, a message that names the argument (or the operation and the
offending value) and says what to pass instead, and nothing harmed.

One table. Each row gets a fresh `World`: a small graph (``x``, ``v = x * 2 + 1``, so dv/dx = 2),
a model and two optimizers that have already stepped (so their state is not zero), and Python's
random state. A row may first set up the mistake (``setup``), then does one bad thing (``act``),
which must raise. Afterwards everything in the world must be as it was -- every parameter's data
and grad, the model's neurons, every optimizer's settings and state, the random state (a model
that failed to build must not have drawn weights) -- and ``v`` must still back-propagate:
``x.grad == 2``.
"""

import math
import random
from dataclasses import dataclass
from typing import Callable

import pytest

from tapegrad import Graph, Value, grad, gradcheck, hessian, hvp, jacobian, jvp, value_and_grad, vjp
from tapegrad.datasets import circles, moons, spiral, train_test_split, xor
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
from tapegrad.optim import SGD, Adam, AdamW

NAN, INF = float("nan"), float("inf")


class World:
    """Everything a bad call could harm, made fresh for each row."""

    def __init__(self, v: float):
        self.x = Value((v - 1) / 2)
        self.v = self.x * 2 + 1
        random.seed(0)
        self.model = MLP(2, [3, 1])
        self.params = self.model.parameters()
        self.neuron = self.model.layers[0].neurons[0]  # a ReLUNeuron(2)
        self.sgd = SGD(self.params, lr=0.1, momentum=0.9)
        self.adam = Adam(self.params, lr=0.01)
        loss = (self.model([0.5, -1.0]) - 1.0) ** 2
        loss.backward()
        self.sgd.step()
        self.adam.step()
        random.seed(1234)  # the state the rows must leave as it is


def _module_state(model) -> list:
    return [(repr(n), n.act, n.nonlin) for layer in model.layers for n in layer.neurons]


def _optimizer_state(opt) -> dict:
    # (the parameter list itself is left out: a row may change it, to make step() fail)
    skip = {"params", "_checked", "_block"}
    return {k: list(a) if isinstance(a, list) else a for k, a in vars(opt).items() if k not in skip}


def snapshot(w: World) -> dict:
    return {
        "parameters": [(p.data, p.grad) for p in w.params],
        "model": _module_state(w.model),
        "sgd": _optimizer_state(w.sgd),
        "adam": _optimizer_state(w.adam),
        "random": random.getstate(),
        "graph": (w.x.data, w.v.data, len(Graph(w.v))),
    }


@dataclass(frozen=True)
class Bad:
    name: str
    act: Callable  # act(world) raises
    error: type
    says: tuple  # each entry must appear in the message; a tuple entry means any one of them
    v: float = 1.0  # the data of world.v
    setup: Callable = None  # setup(world): the mistake made before the failing call


def _poke_grad(p: Value, grad) -> None:
    """Give p a grad that is not a number, as a buggy extension might: the public setter may
    refuse it, so the slot is set directly."""
    p._grad = grad


def f(x):
    return x * x


# A reflected operator (`'a' - v`) must be quoted the way the user wrote it, not as `v - 'a'`.
TABLE = [
    # == Value ====================================================================================
    # -- not numbers ---------------------------------------------------------------------------
    Bad("Value('abc')", lambda w: Value("abc"), TypeError, ("Value", "'abc'"), v=0.0),
    Bad("Value(None)", lambda w: Value(None), TypeError, ("Value", "None"), v=0.0),
    Bad("Value([1.0])", lambda w: Value([1.0]), TypeError, ("Value", "[1.0]"), v=0.0),
    Bad("Value(1j)", lambda w: Value(1j), TypeError, ("Value", "1j"), v=0.0),
    Bad("v + 'a'", lambda w: w.v + "a", TypeError, (("add", "+"), "'a'")),
    Bad("'a' + v", lambda w: "a" + w.v, TypeError, ("'a' + Value(data=1.0",)),
    Bad("v - 'a'", lambda w: w.v - "a", TypeError, (("subtract", "-"), "'a'")),
    Bad("'a' - v", lambda w: "a" - w.v, TypeError, ("'a' - Value(data=1.0",)),
    Bad("v * 'a'", lambda w: w.v * "a", TypeError, (("multiply", "*"), "'a'")),
    Bad("'a' * v", lambda w: "a" * w.v, TypeError, ("'a' * Value(data=1.0",)),
    Bad("v / 'a'", lambda w: w.v / "a", TypeError, (("divide", "/"), "'a'")),
    Bad("'a' / v", lambda w: "a" / w.v, TypeError, ("'a' / Value(data=1.0",)),
    Bad("v ** 'a'", lambda w: w.v ** "a", TypeError, (("power", "**"), "'a'")),
    Bad("'a' ** v", lambda w: "a" ** w.v, TypeError, ("'a' ** Value(data=1.0",)),
    Bad("v + None", lambda w: w.v + None, TypeError, (("add", "+"), "None")),
    # -- outside a function's domain -----------------------------------------------------------
    Bad("log(0)", lambda w: w.v.log(), ValueError, ("log", "0.0"), v=0.0),
    Bad("log(-2.5)", lambda w: w.v.log(), ValueError, ("log", "-2.5"), v=-2.5),
    Bad("log(-inf)", lambda w: w.v.log(), ValueError, ("log", "-inf"), v=-math.inf),
    Bad("0 ** -1", lambda w: w.v**-1, ZeroDivisionError, ("**", "0.0", "-1"), v=0.0),
    Bad("0 ** -0.5", lambda w: w.v**-0.5, ZeroDivisionError, ("**", "0.0", "-0.5"), v=0.0),
    Bad("1 / v at 0", lambda w: 1 / w.v, ZeroDivisionError, (("division", "/"), "0"), v=0.0),
    Bad("v / v at 0", lambda w: w.v / w.v, ZeroDivisionError, (("division", "/"), "0"), v=0.0),
    Bad("3 / Value(0)", lambda w: w.v / Value(0.0), ZeroDivisionError, (("division", "/"), "0"),
        v=3.0),
    Bad("v / 0", lambda w: w.v / 0, ZeroDivisionError, (("division", "/"), "0"), v=3.0),
    Bad("(-8) ** (1/3)", lambda w: w.v ** (1 / 3), ValueError, ("**", "-8.0", "0.333"), v=-8.0),
    Bad("(-2) ** Value(0.5)", lambda w: w.v ** Value(0.5), ValueError, ("**", "-2.0", "0.5"),
        v=-2.0),
    Bad("(-2.0) ** v", lambda w: (-2.0) ** w.v, ValueError, ("**", "-2.0", "0.5"), v=0.5),
    Bad("sqrt(-1)", lambda w: w.v.sqrt(), ValueError, (("sqrt", "**"), "-1.0"), v=-1.0),
    # -- overflow ------------------------------------------------------------------------------
    Bad("exp(1000)", lambda w: w.v.exp(), OverflowError, ("exp", "1000"), v=1000.0),
    Bad("exp(710)", lambda w: w.v.exp(), OverflowError, ("exp", "710"), v=710.0),
    Bad("v ** 5000", lambda w: w.v**5000, OverflowError, ("**", "5000"), v=2.0),
    Bad("v ** Value(400)", lambda w: w.v ** Value(400.0), OverflowError, ("**", "400"), v=10.0),
    Bad("2 ** v at 5000", lambda w: 2**w.v, OverflowError, ("**", "5000"), v=5000.0),
    Bad("v * 10**400", lambda w: w.v * 10**400, OverflowError, ("*", "too large for a float")),
    # -- the wrong shape of input --------------------------------------------------------------
    Bad("Value.dot lengths", lambda w: Value.dot([w.v, w.v], [w.v], w.v), ValueError,
        ("dot", "2", "1")),
    Bad("Graph()", lambda w: Graph(), TypeError, ("Graph",)),
    Bad("Graph(3.0)", lambda w: Graph(3.0), TypeError, ("Graph", "3.0")),
    # == optimizers ===============================================================================
    # -- the parameters ------------------------------------------------------------------------
    Bad("Adam(model)", lambda w: Adam(w.model), TypeError,
        ("Adam", "the model itself", "pass model.parameters()")),
    Bad("SGD(model.parameters)", lambda w: SGD(w.model.parameters, lr=0.1), TypeError,
        ("SGD", "model.parameters, the method", "pass model.parameters()")),
    Bad("SGD(a function)", lambda w: SGD(lambda: w.params, lr=0.1), TypeError,
        ("SGD", "function", "model.parameters()")),
    Bad("SGD(one Value)", lambda w: SGD(w.params[0], lr=0.1), TypeError,
        ("single Value", "pass a list", "model.parameters()")),
    Bad("SGD(None)", lambda w: SGD(None, lr=0.1), TypeError, ("params=None", "model.parameters()")),
    Bad("SGD(a dict)", lambda w: SGD(w.model.state_dict(), lr=0.1), TypeError,
        ("(dict) is not a list of Values", "model.parameters()")),
    Bad("SGD([])", lambda w: SGD([], lr=0.1), ValueError,
        ("got no parameters", "model.parameters()")),
    Bad("SGD([1.0])", lambda w: SGD([1.0], lr=0.1), TypeError,
        ("parameter 0 is 1.0 (float), not a Value", "model.parameters()")),
    Bad("SGD(p.data for p ...)", lambda w: SGD([p.data for p in w.params], lr=0.1), TypeError,
        ("parameter 0", "not a Value", "model.parameters()")),
    Bad("a parameter listed twice", lambda w: SGD([w.params[0], w.params[1], w.params[0]], lr=0.1),
        ValueError, ("parameter 2 is parameter 0 again", "updated twice", "list each one once")),
    Bad("model.parameters() twice", lambda w: Adam(w.params + w.params), ValueError,
        ("parameter 13 is parameter 0 again", "list each one once")),
    Bad("a computed Value", lambda w: SGD([w.x, w.v], lr=0.1), TypeError,
        ("parameter 1", "computed by '+'", "leaves", "pass model.parameters()")),
    Bad("a constant of an expression", lambda w: SGD([(w.x * 2).args[1]], lr=0.1), TypeError,
        ("parameter 0 is the constant 2.0", "leaves", "pass model.parameters()")),
    Bad("a neuron's output", lambda w: Adam([w.neuron([1.0, 2.0])]), TypeError,
        ("parameter 0", "computed", "model.parameters()")),
    # -- lr, in the constructor and set later --------------------------------------------------
    Bad("lr=True", lambda w: SGD(w.params, lr=True), TypeError, ("lr=True is a bool", "lr=0.1")),
    Bad("lr=nan", lambda w: SGD(w.params, lr=NAN), ValueError,
        ("lr=nan must be a finite number >= 0", "lr=0.1")),
    Bad("lr=inf", lambda w: Adam(w.params, lr=INF), ValueError, ("lr=inf", "finite", "lr=0.1")),
    Bad("lr=10**400", lambda w: SGD(w.params, lr=10**400), ValueError,
        ("lr=100000000000... (401 characters) must be a finite number >= 0",)),
    Bad("lr=-1", lambda w: SGD(w.params, lr=-1), ValueError,
        ("lr=-1 must be a finite number >= 0", "lr=0.1")),
    Bad("lr='0.1'", lambda w: SGD(w.params, lr="0.1"), TypeError,
        ("lr='0.1' (str) is not a number", "lr=0.1")),
    Bad("lr=None", lambda w: AdamW(w.params, lr=None), TypeError, ("lr=None", "pass a number")),
    Bad("lr=Value", lambda w: SGD(w.params, lr=Value(0.1)), TypeError,
        ("lr=Value(data=0.1", "is a Value", ".data", "lr=0.1")),
    Bad("opt.lr = nan", lambda w: setattr(w.sgd, "lr", NAN), ValueError, ("SGD: lr=nan", "lr=0.1")),
    Bad("opt.lr = -0.5", lambda w: setattr(w.adam, "lr", -0.5), ValueError, ("Adam: lr=-0.5",)),
    Bad("opt.lr = False", lambda w: setattr(w.adam, "lr", False), TypeError,
        ("lr=False is a bool",)),
    Bad("opt.lr = a Value", lambda w: setattr(w.sgd, "lr", w.v), TypeError,
        ("is a Value", ".data")),
    # -- the other settings --------------------------------------------------------------------
    Bad("Adam eps=0", lambda w: Adam(w.params, eps=0), ValueError,
        ("eps=0 must be a finite number > 0", "divides by sqrt(v) + eps", "eps=1e-8")),
    Bad("Adam eps=-1e-8", lambda w: Adam(w.params, eps=-1e-8), ValueError, ("eps=-1e-08", "> 0")),
    Bad("AdamW eps=nan", lambda w: AdamW(w.params, eps=NAN), ValueError, ("AdamW: eps=nan",)),
    Bad("Adam eps=True", lambda w: Adam(w.params, eps=True), TypeError,
        ("eps=True is a bool", "eps=1e-8")),
    Bad("opt.eps = 0", lambda w: setattr(w.adam, "eps", 0.0), ValueError, ("eps=0.0", "> 0")),
    Bad("momentum=1.5", lambda w: SGD(w.params, lr=0.1, momentum=1.5), ValueError,
        ("momentum=1.5 must be in [0, 1)", "momentum=0.9")),
    Bad("momentum=nan", lambda w: SGD(w.params, lr=0.1, momentum=NAN), ValueError,
        ("momentum=nan", "[0, 1)")),
    Bad("momentum=True", lambda w: SGD(w.params, lr=0.1, momentum=True), TypeError,
        ("momentum=True is a bool", "momentum=0.9")),
    Bad("opt.momentum = 1", lambda w: setattr(w.sgd, "momentum", 1), ValueError,
        ("momentum=1", "[0, 1)")),
    Bad("betas=0.9", lambda w: Adam(w.params, betas=0.9), TypeError,
        ("betas=0.9 must be a pair", "betas=(0.9, 0.999)")),
    Bad("betas='ab'", lambda w: Adam(w.params, betas="ab"), TypeError, ("betas='ab'", "a pair")),
    Bad("betas of three", lambda w: Adam(w.params, betas=(0.9, 0.9, 0.9)), TypeError,
        ("must be a pair",)),
    Bad("betas[1]=1.0", lambda w: Adam(w.params, betas=(0.9, 1.0)), ValueError,
        ("betas[1]=1.0 must be in [0, 1)", "betas[1]=0.999")),
    Bad("betas[0]=nan", lambda w: Adam(w.params, betas=(NAN, 0.999)), ValueError,
        ("betas[0]=nan", "[0, 1)")),
    Bad("betas[0]=True", lambda w: Adam(w.params, betas=(True, 0.999)), TypeError,
        ("betas[0]=True is a bool", "betas[0]=0.9")),
    Bad("opt.betas = (0.9, -0.1)", lambda w: setattr(w.adam, "betas", (0.9, -0.1)), ValueError,
        ("betas[1]=-0.1",)),
    Bad("weight_decay=nan", lambda w: AdamW(w.params, weight_decay=NAN), ValueError,
        ("weight_decay=nan", "finite number >= 0", "weight_decay=1e-4")),
    Bad("weight_decay=-1", lambda w: SGD(w.params, lr=0.1, weight_decay=-1), ValueError,
        ("weight_decay=-1",)),
    Bad("weight_decay=True", lambda w: Adam(w.params, weight_decay=True), TypeError,
        ("weight_decay=True is a bool",)),
    Bad("opt.weight_decay = inf", lambda w: setattr(w.sgd, "weight_decay", INF), ValueError,
        ("weight_decay=inf",)),
    # -- a step that cannot be taken changes nothing -------------------------------------------
    Bad("step() after opt.params grew", lambda w: w.sgd.step(), ValueError,
        ("SGD.step()", "opt.params has changed", "13 Values then, 14 now", "make a new optimizer"),
        setup=lambda w: w.sgd.params.append(Value(1.0))),
    Bad("step() after opt.params[0] was replaced", lambda w: w.adam.step(), ValueError,
        ("Adam.step()", "opt.params has changed"),
        setup=lambda w: w.adam.params.__setitem__(0, Value(0.0))),
    Bad("zero_grad() after opt.params shrank", lambda w: w.sgd.zero_grad(), ValueError,
        ("SGD.zero_grad()", "opt.params has changed"), setup=lambda w: w.sgd.params.pop()),
    Bad("Adam step() with a grad that is not a number", lambda w: w.adam.step(), TypeError,
        ("Adam.step()", "parameter 12's grad is 'a'", "nothing was updated"),
        setup=lambda w: _poke_grad(w.params[12], "a")),
    Bad("SGD step() with a grad that is a Value", lambda w: w.sgd.step(), TypeError,
        ("SGD.step()", "parameter 5's grad is Value", "not a Value"),
        setup=lambda w: _poke_grad(w.params[5], Value(1.0))),
    # == nn =======================================================================================
    Bad("MLP(2, [])", lambda w: MLP(2, []), ValueError,
        ("MLP(2, [])", "nouts lists no layer", "MLP(2, [16, 16, 1])")),
    Bad("MLP(2, [0, 1])", lambda w: MLP(2, [0, 1]), ValueError,
        ("MLP(2, [0, 1])", "nouts[0]=0", "at least 1 neuron", "MLP(2, [16, 16, 1])")),
    Bad("MLP(2, [3, -1])", lambda w: MLP(2, [3, -1]), ValueError, ("nouts[1]=-1", "at least 1")),
    Bad("MLP(0, [1])", lambda w: MLP(0, [1]), ValueError, ("nin=0", "at least 1 input")),
    Bad("MLP(-2, [1])", lambda w: MLP(-2, [1]), ValueError, ("nin=-2",)),
    Bad("MLP(2, 3)", lambda w: MLP(2, 3), TypeError,
        ("MLP(2, 3)", "nouts is the list of the layers' sizes", "MLP(2, [3])")),
    Bad("MLP(2, None)", lambda w: MLP(2, None), TypeError, ("nouts=None", "MLP(2, [16, 16, 1])")),
    Bad("MLP(2, '12')", lambda w: MLP(2, "12"), TypeError, ("nouts='12'", "not a list")),
    Bad("MLP(2, [1.5])", lambda w: MLP(2, [1.5]), TypeError,
        ("nouts[0]=1.5 (float) is not a whole number", "neurons layer 0 has")),
    Bad("MLP(2.0, [1])", lambda w: MLP(2.0, [1]), TypeError, ("nin=2.0", "whole number")),
    Bad("MLP(True, [1])", lambda w: MLP(True, [1]), TypeError, ("nin=True (bool)",)),
    Bad("MLP(2, [16, True])", lambda w: MLP(2, [16, True]), TypeError, ("nouts[1]=True (bool)",)),
    Bad("MLP(2, [3, None])", lambda w: MLP(2, [3, None]), TypeError, ("nouts[1]=None",)),
    Bad("MLP(2, [16, 16, 0]) draws no weight", lambda w: MLP(2, [16, 16, 0]), ValueError,
        ("nouts[2]=0",)),
    Bad("MLP act='gelu' draws no weight", lambda w: MLP(2, [16, 1], act="gelu"), ValueError,
        ("act='gelu'", "'relu', 'tanh', 'sigmoid', 'linear'")),
    Bad("MLP act=['relu']", lambda w: MLP(2, [1], act=["relu"]), ValueError,
        ("act=['relu']", "choose one of")),
    Bad("Neuron(0)", lambda w: Neuron(0), ValueError, ("Neuron(0)", "nin=0", "Neuron(2)")),
    Bad("Neuron(-1)", lambda w: Neuron(-1), ValueError, ("nin=-1", "at least 1 input")),
    Bad("Neuron(2.5)", lambda w: Neuron(2.5), TypeError, ("nin=2.5 (float)", "Neuron(2)")),
    Bad("Neuron('2')", lambda w: Neuron("2"), TypeError, ("nin='2' (str)",)),
    Bad("Neuron act='gelu' draws no weight", lambda w: Neuron(2, act="gelu"), ValueError,
        ("act='gelu'", "choose one of")),
    Bad("neuron.act = 'gelu'", lambda w: setattr(w.neuron, "act", "gelu"), ValueError,
        ("act='gelu'", "choose one of")),
    Bad("Layer(2, 0)", lambda w: Layer(2, 0), ValueError,
        ("Layer(2, 0)", "nout=0", "Layer(2, 16)")),
    Bad("Layer(0, 2)", lambda w: Layer(0, 2), ValueError, ("nin=0",)),
    Bad("Layer(2, 1.5)", lambda w: Layer(2, 1.5), TypeError, ("nout=1.5",)),
    Bad("Layer act='gelu'", lambda w: Layer(2, 3, act="gelu"), ValueError, ("act='gelu'",)),
    Bad("neuron([v]) of 2 inputs", lambda w: w.neuron([w.v]), ValueError,
        ("ReLUNeuron(2) takes 2 inputs but was given 1",)),
    Bad("neuron(None)", lambda w: w.neuron(None), TypeError,
        ("ReLUNeuron(2) takes its 2 inputs as a list", "[0.5, -1.0]", "None")),
    Bad("neuron('ab')", lambda w: w.neuron("ab"), TypeError, ("as a list", "'ab' (str)")),
    Bad("neuron(['a', 1.0])", lambda w: w.neuron(["a", 1.0]), TypeError,
        ("ReLUNeuron(2): input 0 is 'a' (str)", "numbers or Values")),
    Bad("neuron([1.0, None])", lambda w: w.neuron([1.0, None]), TypeError, ("input 1 is None",)),
    Bad("model([1.0]) of 2 inputs", lambda w: w.model([1.0]), ValueError,
        ("MLP(2, [3, 1]) takes 2 inputs but was given 1",)),
    Bad("MLP(1, [1])([1.0, 2.0])", lambda w: w.tiny([1.0, 2.0]), ValueError,
        ("MLP(1, [1]) takes 1 input but was given 2",),
        setup=lambda w: setattr(w, "tiny", MLP(1, [1]))),
    Bad("model(a dict)", lambda w: w.model({"x": 1.0, "y": 2.0}), TypeError,
        ("MLP(2, [3, 1]) takes its 2 inputs as a list", "(dict)")),
    Bad("model(a set)", lambda w: w.model({1.0, 2.0}), TypeError, ("as a list", "(set)")),
    Bad("layer(None)", lambda w: w.model.layers[0](None), TypeError,
        ("Layer(2, 3) takes its 2 inputs as a list",)),
    # == transforms ===============================================================================
    Bad("jvp(f, 1.0, 1.0)", lambda w: jvp(f, 1.0, 1.0), TypeError,
        ("jvp(f, 1.0, 1.0)", "primals and tangents are tuples", "jvp(f, (1.0,), (1.0,))")),
    Bad("jvp(f, (1.0,), 1.0)", lambda w: jvp(f, (1.0,), 1.0), TypeError,
        ("primals and tangents are tuples", "jvp(f, (1.0,), (1.0,))")),
    Bad("jvp tangents None", lambda w: jvp(f, (1.0,), None), TypeError, ("are tuples",)),
    Bad("jvp of a generator", lambda w: jvp(f, (t for t in [1.0]), (1.0,)), TypeError,
        ("are tuples",)),
    Bad("jvp arity", lambda w: jvp(lambda a: a, (1.0, 2.0), (1.0,)), ValueError,
        ("jvp", "2 primals but 1 tangents", "one tangent per input")),
    Bad("jvp no primals", lambda w: jvp(lambda *a: 0.0, (), ()), TypeError,
        ("give at least one primal",)),
    Bad("jvp scalar vs list", lambda w: jvp(f, (1.0,), ([1.0],)), ValueError,
        ("jvp: each tangent must have the shape of its primal",
         "primals[0] is a scalar, tangents[0] is a list of 1")),
    Bad("jvp lists of 2 vs 1", lambda w: jvp(lambda a: a[0], ([1.0, 2.0],), ([1.0],)), ValueError,
        ("primals[0] is a list of 2, tangents[0] is a list of 1",)),
    Bad("jvp nested", lambda w: jvp(lambda a, b: b[1][0], (1.0, [2.0, [3.0]]), (0.0, [1.0, 2.0])),
        ValueError, ("primals[1][1] is a list of 1, tangents[1][1] is a scalar",)),
    Bad("jvp tangent 'a'", lambda w: jvp(f, (1.0,), ("a",)), TypeError,
        ("`tangents[0]` is 'a' (str)",)),
    Bad("jvp tangent True", lambda w: jvp(f, (1.0,), (True,)), TypeError,
        ("`tangents[0]` is True, a bool", "e.g. 1.0")),
    Bad("jvp tangent 10**400", lambda w: jvp(f, (1.0,), (10**400,)), OverflowError,
        ("jvp: `tangents[0]` is too large for a float", "401 digits")),
    Bad("vjp_fn(10**400)", lambda w: vjp(f, 1.0)[1](10**400), OverflowError,
        ("vjp_fn: `cotangent` is too large for a float",)),
    Bad("jvp(3, ...)", lambda w: jvp(3, (1.0,), (1.0,)), TypeError,
        ("jvp: f=3 (int) is not a function", "jvp(lambda x: x ** 2, (1.0,), (1.0,))")),
    Bad("hvp(f, 1.0, 1.0)", lambda w: hvp(f, 1.0, 1.0), TypeError,
        ("hvp(f, 1.0, 1.0)", "primals and tangents are tuples", "hvp(f, (1.0,), (1.0,))")),
    Bad("hvp shapes", lambda w: hvp(lambda a: a[0] * a[1], ([1.0, 2.0],), ([1.0],)), ValueError,
        ("hvp: each tangent", "primals[0] is a list of 2, tangents[0] is a list of 1")),
    Bad("grad(3)", lambda w: grad(3), TypeError, ("grad: f=3 (int) is not a function",)),
    Bad("grad(f(x))", lambda w: grad(w.v), TypeError,
        ("grad: f is Value(data=1.0", "pass the function itself")),
    Bad("value_and_grad(None)", lambda w: value_and_grad(None), TypeError, ("f=None",)),
    Bad("jacobian('f')", lambda w: jacobian("f"), TypeError, ("jacobian: f='f' (str)",)),
    Bad("hessian(1.0)", lambda w: hessian(1.0), TypeError, ("hessian: f=1.0",)),
    Bad("vjp(2.0, 1.0)", lambda w: vjp(2.0, 1.0), TypeError,
        ("vjp: f=2.0", "vjp(lambda x: x ** 2, 1.0)")),
    Bad("grad(f)(True)", lambda w: grad(f)(True), TypeError,
        ("grad: argument `x` is True, a bool", "e.g. 1.0")),
    Bad("grad of a bool", lambda w: grad(lambda x: True)(1.0), TypeError,
        ("grad: f's `result` is True, a bool",)),
    Bad("vjp_fn of the wrong shape", lambda w: vjp(lambda a: [a, a], 1.0)[1]([1.0]), ValueError,
        ("vjp_fn: the cotangent must have the shape of f's result (2 numbers)",
         "result is a list of 2, cotangent is a list of 1")),
    # == gradcheck ================================================================================
    Bad("gradcheck eps=0", lambda w: gradcheck(f, 1.0, eps=0), ValueError,
        ("gradcheck(eps=0)", "> 0", "divides by 2·eps", "eps=1e-06 (the default)")),
    Bad("gradcheck eps<0", lambda w: gradcheck(f, 1.0, eps=-1e-6), ValueError, ("eps=-1e-06",)),
    Bad("gradcheck eps=nan", lambda w: gradcheck(f, 1.0, eps=NAN), ValueError, ("eps=nan",)),
    Bad("gradcheck eps=True", lambda w: gradcheck(f, 1.0, eps=True), TypeError,
        ("eps=True", "eps is a number")),
    Bad("gradcheck rtol=-1", lambda w: gradcheck(f, 1.0, rtol=-1), ValueError,
        ("rtol=-1", ">= 0", "rtol=1e-05")),
    Bad("gradcheck atol=nan", lambda w: gradcheck(f, 1.0, atol=NAN), ValueError, ("atol=nan",)),
    Bad("gradcheck rtol='a'", lambda w: gradcheck(f, 1.0, rtol="a"), TypeError, ("rtol='a'",)),
    Bad("gradcheck seed=[1]", lambda w: gradcheck(f, 1.0, seed=[1]), TypeError,
        ("seed=[1]", "seed=0")),
    Bad("gradcheck order=0", lambda w: gradcheck(f, 1.0, order=0), ValueError,
        ("order is an int >= 1",)),
    Bad("gradcheck order=True", lambda w: gradcheck(f, 1.0, order=True), ValueError,
        ("order=True",)),
    Bad("gradcheck modes=None", lambda w: gradcheck(f, 1.0, modes=None), ValueError,
        ("modes=None", "modes='rev'")),
    Bad("gradcheck modes=('forward',)", lambda w: gradcheck(f, 1.0, modes=("forward",)), ValueError,
        ("modes are some of",)),
    Bad("gradcheck modes='forward'", lambda w: gradcheck(f, 1.0, modes="forward"), ValueError,
        ("gradcheck(modes='forward')", "e.g.")),
    Bad("gradcheck(3, 1.0)", lambda w: gradcheck(3, 1.0), TypeError,
        ("gradcheck: f=3", "gradcheck(lambda x: x ** 2, 0.5)")),
    Bad("gradcheck(f)", lambda w: gradcheck(f), TypeError, ("give the point",)),
    Bad("gradcheck at a Value", lambda w: gradcheck(f, w.v), TypeError,
        ("input `x` (argument 0) is a Value", "gradcheck(f, 1.0)")),
    Bad("gradcheck at nan", lambda w: gradcheck(f, NAN), ValueError,
        ("input `x` (argument 0) is nan", "finite")),
    Bad("gradcheck at inf", lambda w: gradcheck(lambda xs: xs[0], [1.0, INF]), ValueError,
        ("input `xs[1]` (argument 0) is inf",)),
    Bad("gradcheck at 10**400", lambda w: gradcheck(f, 10**400), ValueError, ("is inf",)),
    Bad("gradcheck at True", lambda w: gradcheck(f, True), TypeError, ("True, a bool",)),
    Bad("gradcheck at []", lambda w: gradcheck(lambda xs: 1.0, []), ValueError,  # (it hung)
        ("gradcheck(f, []): the point has no numbers", "gradcheck(f, [0.5, -1.0])")),
    # == losses ===================================================================================
    Bad("mse lengths", lambda w: mse([w.v], [1.0, 2.0]), ValueError,
        ("1 predictions but 2 targets", "one target per prediction")),
    Bad("mse([], [])", lambda w: mse([], []), ValueError, ("no samples",)),
    Bad("mse('abc', [1])", lambda w: mse("abc", [1]), TypeError, ("mse: predictions is 'abc'",)),
    Bad("mse(object())", lambda w: mse(object(), [1]), TypeError, ("expected a Value",)),
    Bad("mse(None, None)", lambda w: mse(None, None), TypeError, ("predictions is None",)),
    Bad("mse(a dict)", lambda w: mse({1: 2.0}, [1.0]), TypeError, ("predictions is {1: 2.0}",)),
    Bad("mse of bools", lambda w: mse([True], [1.0]), TypeError,
        ("mse: prediction 0 is True (bool)", "Values (a model's outputs) or numbers")),
    Bad("mse target 'a'", lambda w: mse([w.v], ["a"]), TypeError,
        ("mse: target 0 is 'a' (str)", "e.g. 1.0")),
    Bad("hinge label 0", lambda w: hinge([w.v], [0]), ValueError,
        ("labels -1 and +1", "y = 2 * label - 1")),
    Bad("hinge label True", lambda w: hinge([w.v], [True]), ValueError,
        ("label 0 is True", "-1 and +1")),
    Bad("hinge score 'a'", lambda w: hinge(["a"], [1]), TypeError, ("hinge: score 0 is 'a'",)),
    Bad("bce target 2.0", lambda w: binary_cross_entropy_with_logits([w.v], [2.0]), ValueError,
        ("between 0 and 1",)),
    Bad("bce target Value", lambda w: binary_cross_entropy_with_logits([w.v], [w.v]), ValueError,
        ("target 0 is Value(data=1.0, grad=0.0); targets are plain numbers between 0 and 1",)),
    Bad("bce target True", lambda w: binary_cross_entropy_with_logits([w.v], [True]), ValueError,
        ("target 0 is True",)),
    Bad("bce logit None", lambda w: binary_cross_entropy_with_logits([None], [1]), TypeError,
        ("logit 0 is None",)),
    Bad("softmax_cross_entropy class 2 of 2", lambda w: softmax_cross_entropy([[w.v, w.v]], [2]),
        ValueError, ("class indices 0..1",)),
    Bad("softmax_cross_entropy target 0.5", lambda w: softmax_cross_entropy([[w.v, w.v]], [0.5]),
        TypeError, ("target 0 is 0.5 (float)", "ints from 0 to 1")),
    Bad("softmax_cross_entropy target True", lambda w: softmax_cross_entropy([[1.0, 2.0]], [True]),
        TypeError, ("target 0 is True (bool)",)),
    Bad("softmax_cross_entropy ragged",
        lambda w: softmax_cross_entropy([[1.0, 2.0], [1.0]], [0, 0]), ValueError,
        ("sample 1 has 1 logits but sample 0 has 2", "one logit per class")),
    Bad("softmax_cross_entropy empty row", lambda w: softmax_cross_entropy([[]], [0]), ValueError,
        ("sample 0 has no logits",)),
    Bad("softmax_cross_entropy row iterator",
        lambda w: softmax_cross_entropy([iter([1.0, 2.0])], [0]), TypeError,
        ("sample 0's logits are <list_iterator",)),
    Bad("softmax_cross_entropy lengths", lambda w: softmax_cross_entropy([[1.0], [2.0]], [0]),
        ValueError, ("2 samples of logits but 1 targets",)),
    Bad("log_sum_exp([])", lambda w: log_sum_exp([]), ValueError, ("at least one",)),
    Bad("log_sum_exp(['a'])", lambda w: log_sum_exp(["a"]), TypeError,
        ("log_sum_exp: logit 0 is 'a'",)),
    Bad("softmax([])", lambda w: softmax([]), ValueError, ("at least one",)),
    Bad("softmax([10**400])", lambda w: softmax([1.0, 10**400]), OverflowError,
        ("softmax: a logit is an int too large for a float",)),
    Bad("softmax(['1.5'])", lambda w: softmax(["1.5"]), TypeError, ("softmax: logit 0 is '1.5'",)),
    Bad("l2 alpha 'a'", lambda w: l2(w.params, "a"), TypeError,
        ("l2: alpha='a' (str) is not a number", "alpha=1e-4")),
    Bad("l2 alpha nan", lambda w: l2(w.params, NAN), ValueError, ("alpha=nan", "finite")),
    Bad("l2 alpha -1", lambda w: l2(w.params, -1), ValueError, ("alpha=-1", ">= 0")),
    Bad("l2 alpha True", lambda w: l2(w.params, True), TypeError, ("alpha=True (bool)",)),
    Bad("l2 alpha Value", lambda w: l2(w.params, w.v), TypeError, ("(Value)", ".data")),
    Bad("l2(model)", lambda w: l2(w.model, 1e-4), TypeError,
        ("l2 was given the model itself", "model.parameters()")),
    Bad("l2(model.parameters)", lambda w: l2(w.model.parameters, 1e-4), TypeError,
        ("'parameters', a function", "call it", "model.parameters()")),
    Bad("l2 of numbers", lambda w: l2([p.data for p in w.params], 1e-4), TypeError,
        ("l2: parameter 0", "not a Value", "not their .data")),
    # == datasets =================================================================================
    Bad("moons(0)", lambda w: moons(0), ValueError, ("n=0 must be a whole number of points >= 2",)),
    Bad("moons(10.5)", lambda w: moons(10.5), TypeError, ("n=10.5 (float)", "n=100")),
    Bad("moons(True)", lambda w: moons(True), TypeError, ("n=True (bool)",)),
    Bad("moons noise=-1", lambda w: moons(10, noise=-1), ValueError,
        ("noise=-1 must be a number >= 0",)),
    Bad("moons noise=True", lambda w: moons(10, noise=True), TypeError,
        ("noise=True (bool) is not a number", "noise=0.1")),
    Bad("moons noise='a'", lambda w: moons(10, noise="a"), TypeError, ("noise='a'",)),
    Bad("xor noise=inf", lambda w: xor(10, noise=INF), ValueError, ("noise=inf",)),
    Bad("moons seed='a'", lambda w: moons(10, seed="a"), TypeError, ("seed='a'", "seed=0")),
    Bad("moons seed=1.5", lambda w: moons(10, seed=1.5), TypeError, ("seed=1.5",)),
    Bad("moons seed=[1]", lambda w: moons(10, seed=[1]), TypeError, ("seed=[1]",)),
    Bad("circles factor=1.5", lambda w: circles(10, factor=1.5), ValueError,
        ("factor=1.5 is the inner radius",)),
    Bad("circles factor=True", lambda w: circles(10, factor=True), TypeError, ("factor=True",)),
    Bad("circles factor=nan", lambda w: circles(10, factor=NAN), ValueError, ("factor=nan",)),
    Bad("spiral classes=1", lambda w: spiral(10, classes=1), ValueError,
        ("classes=1 must be a whole number >= 2",)),
    Bad("spiral classes=True", lambda w: spiral(10, classes=True), TypeError,
        ("classes=True (bool)", "classes=3")),
    Bad("spiral classes=2.0", lambda w: spiral(10, classes=2.0), TypeError, ("classes=2.0",)),
    Bad("spiral(2, classes=3)", lambda w: spiral(2, classes=3), ValueError, ("use n >= classes",)),
    Bad("xor(1)", lambda w: xor(1), ValueError, ("n=1", ">= 2")),
    Bad("train_test_split lengths", lambda w: train_test_split([[1.0]] * 3, [0, 1]), ValueError,
        ("3 samples in X but 2 labels",)),
    Bad("train_test_split 1.5", lambda w: train_test_split([[1.0]] * 3, [0] * 3, 1.5), ValueError,
        ("between 0 and 1",)),
    Bad("train_test_split True", lambda w: train_test_split([[1.0]] * 3, [0] * 3, True), TypeError,
        ("test_fraction=True",)),
    Bad("train_test_split nan", lambda w: train_test_split([[1.0]] * 3, [0] * 3, NAN), ValueError,
        ("test_fraction=nan",)),
    Bad("train_test_split of 1", lambda w: train_test_split([[1.0]], [0]), ValueError,
        ("at least 2 samples",)),
    Bad("train_test_split(None, None)", lambda w: train_test_split(None, None), TypeError,
        ("X=None", "train_test_split(X, y)")),
    Bad("train_test_split seed", lambda w: train_test_split([[1.0]] * 3, [0] * 3, 0.3, [1]),
        TypeError, ("seed=[1]",)),
]


def says(message: str, needed) -> bool:
    return any(n in message for n in needed) if isinstance(needed, tuple) else needed in message


def test_the_table_has_no_two_rows_of_one_name():
    names = [bad.name for bad in TABLE]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("bad", TABLE, ids=[bad.name for bad in TABLE])
def test_bad_input_raises_a_helpful_error_and_harms_nothing(bad):
    w = World(bad.v)
    assert w.v.data == bad.v
    if bad.setup is not None:
        bad.setup(w)
    before = snapshot(w)
    with pytest.raises(bad.error) as raised:
        bad.act(w)
    assert type(raised.value) is bad.error, f"{bad.name}: {raised.value!r}"
    message = str(raised.value)
    for needed in bad.says:
        assert says(message, needed), f"{bad.name}: the message {message!r} should name {needed!r}"
    # Nothing was changed: parameters, optimizer settings and state, random state, the graph.
    after = snapshot(w)
    for part in before:
        assert after[part] == before[part], f"{bad.name} changed the {part}"
    w.v.backward()
    assert (w.x.grad, w.v.grad) == (2.0, 1.0)


# (name, f, at, value, gradient): saturating functions saturate, tiny results underflow to 0,
# and no error is raised, forwards or backwards.
NO_OVERFLOW = [
    ("tanh(1000)", lambda v: v.tanh(), 1000.0, 1.0, 0.0),
    ("tanh(-1000)", lambda v: v.tanh(), -1000.0, -1.0, 0.0),
    ("sigmoid(1000)", lambda v: v.sigmoid(), 1000.0, 1.0, 0.0),
    ("sigmoid(-1000)", lambda v: v.sigmoid(), -1000.0, 0.0, 0.0),
    ("exp(-1000)", lambda v: v.exp(), -1000.0, 0.0, 0.0),
    ("exp(709)", lambda v: v.exp(), 709.0, math.exp(709.0), math.exp(709.0)),
    ("log(5e-324)", lambda v: v.log(), 5e-324, math.log(5e-324), math.inf),  # 1/5e-324 > max
    ("2 ** -5000", lambda v: 2**v, -5000.0, 0.0, 0.0),
]


@pytest.mark.parametrize(
    "f, at, value, gradient", [r[1:] for r in NO_OVERFLOW], ids=[r[0] for r in NO_OVERFLOW]
)
def test_no_error_where_the_math_has_none(f, at, value, gradient):
    x = Value(at)
    y = f(x)
    assert y.data == value
    y.backward()
    assert x.grad == gradient
