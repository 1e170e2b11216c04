"""Neural networks from Values: Neuron, Layer, MLP -- micrograd's classes, constructors and
behaviour, with each neuron recorded as one fused dot-product node.

    random.seed(1337)
    model = MLP(2, [16, 16, 1])   # the same initial weights as micrograd's
    score = model([Value(0.5), Value(-1.0)])

Beyond micrograd: a neuron's nonlinearity can be chosen (``act="tanh"``; the defaults are
micrograd's), and every Module can save and restore its parameters (``state_dict()``,
``load_state_dict()``; files via ``tapegrad.serialize``).
"""

from __future__ import annotations

import random

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
    if act not in ACTIVATIONS:
        raise ValueError(
            f"act={act!r} is not a nonlinearity tapegrad knows; choose one of "
            f"{', '.join(repr(name) for name in ACTIVATIONS)}"
        )
    return act


class Module:
    """Anything with parameters."""

    def zero_grad(self) -> None:
        """Set every parameter's grad to 0 (leaves accumulate gradients across backward calls)."""
        for p in self.parameters():
            p.grad = 0.0

    def parameters(self) -> list[Value]:
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

    ``act`` picks another nonlinearity: "relu", "tanh", "sigmoid" or "linear". Left out, it is
    micrograd's choice: "relu" if ``nonlin`` else "linear".
    """

    def __init__(self, nin: int, nonlin: bool = True, act: str | None = None):
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0)
        self.nonlin = nonlin
        self.act = _check_activation(act) if act is not None else None

    @property
    def activation(self) -> str:
        """The nonlinearity in use: ``act`` if given, else micrograd's reading of ``nonlin`` --
        read when the neuron runs, as micrograd does, so ``nonlin`` can be switched later."""
        if self.act is not None:
            return self.act
        return "relu" if self.nonlin else "linear"

    def __call__(self, x):
        if isinstance(x, (Value, int, float)):
            x = [x]  # one input given bare, as a width-1 layer returns it
        x = list(x)
        if len(x) != len(self.w):
            raise ValueError(
                f"{self!r} takes {len(self.w)} inputs but was given {len(x)}: {x!r}"
            )
        act = Value.dot(self.w, x, self.b)
        method = ACTIVATIONS[self.activation][0]
        return getattr(act, method)() if method else act

    def parameters(self) -> list[Value]:
        return self.w + [self.b]

    def __repr__(self) -> str:
        return f"{ACTIVATIONS[self.activation][1]}Neuron({len(self.w)})"


class Layer(Module):
    """``nout`` neurons reading the same inputs. One output is returned bare, as in micrograd."""

    def __init__(self, nin: int, nout: int, **kwargs):
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """Layers of sizes ``nouts`` on ``nin`` inputs; ReLU everywhere but the last, linear layer.

    Unlike micrograd, a hidden layer of width 1 works (``MLP(2, [16, 1, 1])``): a neuron takes
    a bare Value as a one-element input. ``act`` sets the hidden layers' nonlinearity ("relu",
    "tanh", "sigmoid"); the last layer stays linear.
    """

    def __init__(self, nin: int, nouts: list[int], act: str | None = None):
        if act is not None:
            _check_activation(act)
        sizes = [nin] + list(nouts)
        last = len(nouts) - 1
        # act=None everywhere is micrograd's construction (each neuron reads its nonlin); with
        # an act, the hidden layers take it and the last layer stays linear.
        last_act = None if act is None else "linear"
        self.layers = [
            Layer(sizes[i], sizes[i + 1], nonlin=i != last, act=act if i != last else last_act)
            for i in range(len(nouts))
        ]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"


__all__ = ["Module", "Neuron", "Layer", "MLP"]
