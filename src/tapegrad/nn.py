"""Neural networks from Values: Neuron, Layer, MLP -- micrograd's classes, constructors and
behaviour, with each neuron recorded as one fused dot-product node.

    random.seed(1337)
    model = MLP(2, [16, 16, 1])   # the same initial weights as micrograd's
    score = model([Value(0.5), Value(-1.0)])
"""

from __future__ import annotations

import random

from .value import Value


class Module:
    """Anything with parameters."""

    def zero_grad(self) -> None:
        """Set every parameter's grad to 0 (leaves accumulate gradients across backward calls)."""
        for p in self.parameters():
            p.grad = 0.0

    def parameters(self) -> list[Value]:
        return []


class Neuron(Module):
    """act = b + Σ w_i x_i, then relu(act) if ``nonlin`` else act.

    Weights start at ``random.uniform(-1, 1)``, drawn in order, and the bias at 0, as in
    micrograd. The weighted sum is one ``Op.DOT`` node computing the same floats in the same
    order as micrograd's chain of 2n additions and products.
    """

    def __init__(self, nin: int, nonlin: bool = True):
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0)
        self.nonlin = nonlin

    def __call__(self, x):
        if isinstance(x, (Value, int, float)):
            x = [x]  # one input given bare, as a width-1 layer returns it
        x = list(x)
        if len(x) != len(self.w):
            raise ValueError(
                f"{self!r} takes {len(self.w)} inputs but was given {len(x)}: {x!r}"
            )
        act = Value.dot(self.w, x, self.b)
        return act.relu() if self.nonlin else act

    def parameters(self) -> list[Value]:
        return self.w + [self.b]

    def __repr__(self) -> str:
        return f"{'ReLU' if self.nonlin else 'Linear'}Neuron({len(self.w)})"


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
    a bare Value as a one-element input.
    """

    def __init__(self, nin: int, nouts: list[int]):
        sizes = [nin] + list(nouts)
        self.layers = [
            Layer(sizes[i], sizes[i + 1], nonlin=i != len(nouts) - 1) for i in range(len(nouts))
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
