"""A correct micrograd-style engine: no bug. `tapegrad check` passes every program, with no notes.

Bug: none. Fix: none needed. The other engines in this folder are this one with one classic
mistake each; their docstrings name it.

Each node keeps its parents and, computed in the forward pass, its local derivatives
∂node/∂parent. backward() orders the graph topologically with an explicit stack (no recursion,
so any depth works), resets the interior nodes' gradients (so a second call after zeroing the
leaves gives the same numbers again), and then, from the output back, adds upstream × local to
each parent: df/dparent = Σ over the parent's uses of df/dnode × ∂node/∂parent.
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
    def _topological_order(self) -> list:
        """Every node self depends on, each after all of its parents: a depth-first walk with an
        explicit stack, where a node is written out once every parent pushed after it is."""
        order, seen = [], set()
        stack = [(self, False)]
        while stack:
            node, parents_done = stack.pop()
            if parents_done:
                order.append(node)
            elif node not in seen:
                seen.add(node)
                stack.append((node, True))
                stack.extend((parent, False) for parent in node._prev if parent not in seen)
        return order

    def _pass_back(self) -> None:
        """The chain rule, one node: each parent gets upstream × local, added to what its other
        uses gave it."""
        for parent, local in zip(self._prev, self._local):
            parent.grad += local * self.grad

    def backward(self) -> None:
        """d self / d node into every node's grad: leaves add to what they had, interior nodes
        hold this call's gradient."""
        order = self._topological_order()
        for node in order:
            if node._prev:
                node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):
            node._pass_back()
