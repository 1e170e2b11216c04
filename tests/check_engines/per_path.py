"""A micrograd-style engine with one bug: a recursive backward, once per path (no topological sort).

Bug: backward() passes a node's gradient to its parents and then recurses into each parent, once
for every use. A shared node is visited once per path to it, and each visit passes on the whole
gradient it has gathered so far, partial totals included: b = a + a; c = b + b gives a.grad = 8,
not 4. Trees (every node used once) are right. The recursion also means a graph deeper than
Python's recursion limit raises RecursionError, and without a list of the graph's nodes the
interior gradients are never reset between calls.

Fix: order the nodes topologically first (each after all its parents, with an explicit stack),
then visit each node once, from the output back, as correct.py does.
"""

import math as _math


def _as_value(x: "Value | float") -> "Value":
    """`x` as a node: a number becomes a leaf (a constant)."""
    return x if isinstance(x, Value) else Value(x)


class Value:
    """A scalar in a computation graph: its data, its gradient, and how it was made."""

    def __init__(self, data: float, parents: tuple = (), local: tuple = ()) -> None:
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(parents)  # a node used twice (x * x) is listed twice
        self._local = tuple(local)  # ∂self/∂parent, one per entry of _prev

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    # The ops: each gives its value and its local derivatives.
    def __add__(self, other: "Value | float") -> "Value":
        """a + b; ∂/∂a = 1, ∂/∂b = 1."""
        other = _as_value(other)
        return Value(self.data + other.data, (self, other), (1.0, 1.0))

    def __mul__(self, other: "Value | float") -> "Value":
        """a · b; ∂/∂a = b, ∂/∂b = a."""
        other = _as_value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, n: float) -> "Value":
        """x ** n for a number n; d/dx = n · x ** (n - 1)."""
        return Value(self.data ** n, (self,), (n * self.data ** (n - 1),))

    def relu(self) -> "Value":
        """max(0, x); d/dx = 1 for x > 0, else 0."""
        return Value(max(0.0, self.data), (self,), (1.0 if self.data > 0 else 0.0,))

    def tanh(self) -> "Value":
        """tanh x; d/dx = 1 - tanh(x)²."""
        t = _math.tanh(self.data)
        return Value(t, (self,), (1.0 - t * t,))

    def exp(self) -> "Value":
        """e ** x; d/dx = e ** x."""
        e = _math.exp(self.data)
        return Value(e, (self,), (e,))

    def log(self) -> "Value":
        """ln x; d/dx = 1 / x."""
        return Value(_math.log(self.data), (self,), (1.0 / self.data,))

    # The rest, from those.
    def __neg__(self) -> "Value":
        return self * -1.0

    def __sub__(self, other: "Value | float") -> "Value":
        return self + (-other)

    def __truediv__(self, other: "Value | float") -> "Value":
        return self * other ** -1

    def __radd__(self, other: float) -> "Value":  # other + self
        return self + other

    def __rsub__(self, other: float) -> "Value":  # other - self
        return (-self) + other

    def __rmul__(self, other: float) -> "Value":  # other * self
        return self * other

    def __rtruediv__(self, other: float) -> "Value":  # other / self
        return self ** -1 * other

    # Reverse mode.
    def _pass_back(self) -> None:
        """The chain rule, one node: each parent gets upstream × local, added to what its other
        uses gave it."""
        for parent, local in zip(self._prev, self._local):
            parent.grad += local * self.grad

    def _pass_back_and_recurse(self) -> None:
        """This node's chain-rule step, then each parent's, recursively."""
        self._pass_back()
        for parent in self._prev:  # BUG: once per use, before the parent has all its gradient
            parent._pass_back_and_recurse()

    def backward(self) -> None:
        """d self / d node into every node's grad (wrong for shared nodes: see the docstring)."""
        self.grad = 1.0
        self._pass_back_and_recurse()
