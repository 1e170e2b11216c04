"""Neural networks from Values: Neuron, Layer, MLP -- micrograd's classes, constructors and
behaviour, with each neuron recorded as one fused dot-product node.

    random.seed(1337)
    model = MLP(2, [16, 16, 1])   # the same initial weights as micrograd's
    score = model([Value(0.5), Value(-1.0)])

Every parameter is labelled with where it sits, counting from 1 as the maths does: in an MLP
``L1.N3.w2`` is layer 1, neuron 3, weight 2 (the one that multiplies input 2) and ``L1.N3.b``
that neuron's bias; a Layer's own neurons are ``N3.w2``, a lone Neuron's ``w2``. Each call of a
neuron names its two interior nodes the same way: ``L1.N3.act`` = b + Σ w_i x_i and
``L1.N3.out``, the nonlinearity of it (a linear neuron's one node is its ``out``). Drawings,
``explain`` and the explorers print these labels, so a weight reads as a weight, not as a
constant.

Beyond micrograd: a neuron's nonlinearity can be chosen (``act="tanh"``; the defaults are
micrograd's), and every Module can save and restore its parameters (``state_dict()``,
``load_state_dict()``; files via ``tapegrad.serialize``).
"""

import _collections_abc as _abc
import numbers as _numbers
import random as _random

from .value import Value

# A neuron's nonlinearity: its name, the method of Value that applies it, and the word its repr
# uses (micrograd's two are "ReLU" and "Linear").
ACTIVATIONS = {
    "relu": ("relu", "ReLU"),
    "tanh": ("tanh", "Tanh"),
    "sigmoid": ("sigmoid", "Sigmoid"),
    "linear": (None, "Linear"),
}


def _check_activation(act) -> str:
    """`act`, if it names a nonlinearity of ACTIVATIONS; a ValueError listing them if not."""
    if not isinstance(act, str) or act not in ACTIVATIONS:
        raise ValueError(
            f"act={act!r} is not a nonlinearity tapegrad knows; choose one of "
            f"{', '.join(repr(name) for name in ACTIVATIONS)}"
        )
    return act


def _size(call: str, name: str, n, counts: str, needs: str, example: str) -> int:
    """A count of inputs or neurons, checked: a whole number >= 1. For the messages, `call`
    spells the constructor call, `counts` what the number counts and `needs` why it is >= 1."""
    if isinstance(n, bool) or not isinstance(n, _numbers.Integral):
        raise TypeError(f"{call}: {name}={n!r} ({type(n).__name__}) is not a whole number; it "
                        f"is how many {counts}, e.g. {example}")
    if n < 1:
        raise ValueError(f"{call}: {name}={n!r}, but {needs}; e.g. {example}")
    return int(n)


def _layer_sizes(nin, nouts) -> list[int]:
    """[nin, *nouts], each checked: MLP's constructor refuses a bad size before it draws any
    weight (drawing would move Python's random state on for nothing)."""
    call = f"MLP({nin!r}, {nouts!r})"
    example = "MLP(2, [16, 16, 1])"
    if isinstance(nouts, _numbers.Number):
        raise TypeError(f"{call}: nouts is the list of the layers' sizes, the last one the "
                        f"outputs, not one number: MLP({nin!r}, [{nouts!r}]) for one layer, or "
                        f"e.g. {example}")
    if isinstance(nouts, (str, bytes)) or not hasattr(nouts, "__iter__"):
        raise TypeError(f"{call}: nouts={nouts!r} ({type(nouts).__name__}) is not a list of "
                        f"layer sizes; e.g. {example}")
    sizes = list(nouts)
    call = f"MLP({nin!r}, {sizes!r})"
    if not sizes:
        raise ValueError(f"{call}: nouts lists no layer; give each layer's size, the last one "
                         f"being the outputs, e.g. {example} or MLP(2, [1])")
    first = _size(call, "nin", nin, "inputs the network reads", "a network reads at least 1 "
                  "input", example)
    return [first] + [_size(call, f"nouts[{i}]", n, f"neurons layer {i} has", "a layer has at "
                            "least 1 neuron", example) for i, n in enumerate(sizes)]


def _nin(module) -> int:
    """How many inputs a Neuron, Layer or MLP reads."""
    while not isinstance(module, Neuron):
        module = module.layers[0] if isinstance(module, MLP) else module.neurons[0]
    return len(module.w)


def _called(module) -> str:
    """A module as its constructor call, for messages (a layer's repr lists every neuron)."""
    if isinstance(module, Layer):
        return f"Layer({_nin(module)}, {len(module.neurons)})"
    if isinstance(module, MLP):
        return f"MLP({_nin(module)}, {[len(layer.neurons) for layer in module.layers]})"
    return repr(module)


def _example_inputs(n: int) -> str:
    return "[" + ", ".join(["0.5", "-1.0", "0.25"][: min(n, 3)]) + (", ...]" if n > 3 else "]")


def _inputs(x, module) -> list:
    """A module's inputs as a list of the right length: one number or Value given bare (as a
    width-1 layer returns it) is a list of one; a str, a dict or a set is refused (its items are
    not inputs in order), as is anything that is not a collection."""
    n = _nin(module)
    if type(x) not in (list, tuple):
        if isinstance(x, (Value, _numbers.Real)):
            x = [x]
        elif isinstance(x, (str, bytes, dict, set, frozenset)) or not hasattr(x, "__iter__"):
            raise TypeError(f"{_called(module)} takes its {n} inputs as a list of numbers or "
                            f"Values, e.g. {_example_inputs(n)}; got {x!r} ({type(x).__name__})")
        else:
            x = list(x)
    if len(x) != n:
        raise ValueError(f"{_called(module)} takes {n} input{'s' * (n != 1)} but was given "
                         f"{len(x)}: {x!r}")
    return x


def _bad_input(x: list, module) -> "TypeError | None":
    """The error for the first input that is neither a Value nor a number, if there is one."""
    for i, xi in enumerate(x):
        if not isinstance(xi, (Value, _numbers.Real)):
            return TypeError(f"{_called(module)}: input {i} is {xi!r} ({type(xi).__name__}); "
                             f"inputs are numbers or Values, e.g. {_example_inputs(len(x))}")
    return None


class Module:
    """Anything with parameters."""

    def zero_grad(self) -> None:
        """Set every parameter's grad to 0 (leaves accumulate gradients across backward calls)."""
        for p in self.parameters():
            p.grad = 0.0

    def parameters(self) -> list[Value]:
        """Every parameter (leaf Value) of this module, in a fixed order: [] for the base class."""
        return []

    def state_dict(self) -> dict:
        """The parameters' current values, by name: ``{"layers.0.neurons.3.w": [...], ...}``
        (a weight list per neuron, a bare float per bias). A plain dict of plain numbers,
        ready for ``json.dump``; see ``tapegrad.serialize.save`` for files."""
        from .serialize import state_dict

        return state_dict(self)

    def load_state_dict(self, state: dict) -> None:
        """Set the parameters from a ``state_dict()``. Every name and shape is checked first:
        on any mismatch a ValueError says which, and the model is left as it was."""
        from .serialize import load_state_dict

        load_state_dict(self, state)


class Neuron(Module):
    """act = b + Σ w_i x_i, then relu(act) if ``nonlin`` else act.

    Weights start at ``random.uniform(-1, 1)``, drawn in order, and the bias at 0, as in
    micrograd. The weighted sum is one ``Op.DOT`` node computing the same floats in the same
    order as micrograd's chain of 2n additions and products.

    ``nin`` is the number of inputs, at least 1. ``act`` picks another nonlinearity: "relu",
    "tanh", "sigmoid" or "linear". Left out, it is micrograd's choice: "relu" if ``nonlin`` else
    "linear".
    """

    def __init__(self, nin: int, nonlin: bool = True, act: str | None = None) -> None:
        nin = _size(f"Neuron({nin!r})", "nin", nin, "inputs it reads",
                    "a neuron reads at least 1 input", "Neuron(2)")
        self.act = act  # (checked before any weight is drawn)
        self.w = [Value(_random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0)
        self.nonlin = nonlin
        self.name("")

    def name(self, prefix: str) -> None:
        """Label the parameters ``{prefix}w1``.. and ``{prefix}b``, and the nodes each call makes
        ``{prefix}act`` and ``{prefix}out`` (a Layer passes ``N3.``, an MLP ``L1.N3.``)."""
        for i, w in enumerate(self.w, 1):
            w.label = f"{prefix}w{i}"
        self.b.label = f"{prefix}b"
        # made once here, so a call only stores them (one dict entry per node on its record)
        self._labels = (f"{prefix}act", f"{prefix}out")

    @property
    def act(self) -> "str | None":
        """The nonlinearity chosen by name, or None for micrograd's reading of ``nonlin``; checked
        whenever it is set, so a neuron never meets an unknown name when it runs."""
        return self._act

    @act.setter
    def act(self, act: "str | None") -> None:
        self._act = None if act is None else _check_activation(act)

    @property
    def activation(self) -> str:
        """The nonlinearity in use: ``act`` if given, else micrograd's reading of ``nonlin`` --
        read when the neuron runs, as micrograd does, so ``nonlin`` can be switched later."""
        if self._act is not None:
            return self._act
        return "relu" if self.nonlin else "linear"

    def __call__(self, x: "_abc.Iterable | Value | float") -> Value:
        """The neuron's output for the inputs ``x``: a list (or tuple, or iterable) of numbers or
        Values, one per weight; a single one may be given bare."""
        if type(x) not in (list, tuple) or len(x) != len(self.w):
            x = _inputs(x, self)
        try:
            act = Value.dot(self.w, x, self.b)
        except TypeError:  # (checked only on failure: the common case pays nothing)
            error = _bad_input(x, self)
            if error is None:
                raise
            raise error from None
        method = ACTIVATIONS[self.activation][0]
        if not method:
            act.label = self._labels[1]
            return act
        act.label = self._labels[0]
        out = getattr(act, method)()
        out.label = self._labels[1]
        return out

    def parameters(self) -> list[Value]:
        """The weights, then the bias."""
        return self.w + [self.b]

    def __repr__(self) -> str:
        return f"{ACTIVATIONS[self.activation][1]}Neuron({len(self.w)})"


class Layer(Module):
    """``nout`` neurons (at least 1) reading the same ``nin`` inputs. One output is returned
    bare, as in micrograd; ``kwargs`` go to each Neuron (``nonlin``, ``act``)."""

    def __init__(self, nin: int, nout: int, **kwargs: object) -> None:
        call = f"Layer({nin!r}, {nout!r})"
        _size(call, "nin", nin, "inputs it reads", "a neuron reads at least 1 input",
              "Layer(2, 16)")
        nout = _size(call, "nout", nout, "neurons it has", "a layer has at least 1 neuron",
                     "Layer(2, 16)")
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]
        self.name("")

    def name(self, prefix: str) -> None:
        """Label every neuron's parameters and nodes ``{prefix}N1.``, ``{prefix}N2.``, ..."""
        for j, neuron in enumerate(self.neurons, 1):
            neuron.name(f"{prefix}N{j}.")

    def __call__(self, x: "_abc.Iterable | Value | float") -> "Value | list[Value]":
        """Each neuron's output for the inputs ``x`` (a list of numbers or Values, read once)."""
        if type(x) not in (list, tuple) or len(x) != _nin(self):
            x = _inputs(x, self)  # (a generator read once, not once per neuron)
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self) -> list[Value]:
        """Every neuron's parameters, neuron by neuron."""
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """Layers of sizes ``nouts`` on ``nin`` inputs; ReLU everywhere but the last, linear layer.

    ``nouts`` lists at least one layer, each of at least one neuron: ``MLP(2, [16, 16, 1])`` is
    two hidden layers of 16 and one output. Unlike micrograd, a hidden layer of width 1 works
    (``MLP(2, [16, 1, 1])``): a neuron takes a bare Value as a one-element input. ``act`` sets
    the hidden layers' nonlinearity ("relu", "tanh", "sigmoid"); the last layer stays linear.
    """

    def __init__(self, nin: int, nouts: _abc.Iterable, act: str | None = None) -> None:
        sizes = _layer_sizes(nin, nouts)  # every size checked before the first weight is drawn
        if act is not None:
            _check_activation(act)
        last = len(sizes) - 2
        # act=None everywhere is micrograd's construction (each neuron reads its nonlin); with
        # an act, the hidden layers take it and the last layer stays linear.
        last_act = None if act is None else "linear"
        self.layers = [
            Layer(sizes[i], sizes[i + 1], nonlin=i != last, act=act if i != last else last_act)
            for i in range(len(sizes) - 1)
        ]
        for k, layer in enumerate(self.layers, 1):
            layer.name(f"L{k}.")

    def __call__(self, x: "_abc.Iterable | Value | float") -> "Value | list[Value]":
        """The network's output for the inputs ``x``: the last layer's (one Value when it has
        one neuron, else a list)."""
        x = _inputs(x, self)  # (errors name the network, not its first neuron)
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self) -> list[Value]:
        """Every layer's parameters, layer by layer."""
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"


__all__ = ["Module", "Neuron", "Layer", "MLP"]
