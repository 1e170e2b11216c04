"""A scalar autograd engine in the style of Karpathy's microgpt: one object per number.

Every arithmetic operation on Values makes a new Value that remembers two things besides its
number: which Values it was computed from (its children) and, for each child, the local
derivative d(this)/d(child) at the current numbers. That is all backpropagation needs:

    child.grad += local_grad * node.grad        (the chain rule, summed over every use)

applied to every node, from the output back to the inputs, in reverse topological order.

No closures, no op names: the local derivatives are numbers computed during the forward pass.
It depends on nothing but Python's `math` module.
"""

import math


class Value:
    """A number that remembers how it was computed, so that gradients can flow back to it."""

    # __slots__: every Value has exactly these four fields. A training step makes hundreds of
    # thousands of Values, and slots make each one smaller and faster than a __dict__ would.
    __slots__ = ("data", "grad", "_children", "_local_grads")

    def __init__(self, data, children=(), local_grads=()):
        """A Value holding `data`; `children` are the Values it was made from and
        `local_grads` the derivative of this Value with respect to each of them."""
        self.data = data  # the number, computed in the forward pass
        self.grad = 0  # d(loss)/d(this Value), filled in by backward()
        self._children = children
        self._local_grads = local_grads

    def __repr__(self):
        """Show the number and its gradient, e.g. Value(data=2.0, grad=0)."""
        return f"Value(data={self.data}, grad={self.grad})"

    # -- the primitive operations: each one knows its local derivatives ---------------------

    def __add__(self, other):
        """self + other: d/dself = 1, d/dother = 1."""
        other = other if isinstance(other, Value) else Value(other)  # a plain number: a constant
        return Value(self.data + other.data, (self, other), (1, 1))

    def __mul__(self, other):
        """self * other: d/dself = other, d/dother = self."""
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, exponent):
        """self ** exponent, for a plain number `exponent`:
        d/dself = exponent * self ** (exponent - 1)."""
        return Value(self.data**exponent, (self,), (exponent * self.data ** (exponent - 1),))

    def log(self):
        """The natural logarithm: d/dself = 1 / self."""
        return Value(math.log(self.data), (self,), (1 / self.data,))

    def exp(self):
        """e ** self: its own derivative, so the local gradient is the result itself."""
        result = math.exp(self.data)
        return Value(result, (self,), (result,))

    def relu(self):
        """max(0, self): d/dself is 1 where self > 0, else 0."""
        return Value(max(0, self.data), (self,), (float(self.data > 0),))

    # -- everything else is written with the primitives, so it needs no derivative of its own --

    def __neg__(self):
        """-self, as self * -1."""
        return self * -1

    def __radd__(self, other):
        """other + self for a plain number `other` (sum() starts from 0 + the first Value)."""
        return self + other

    def __sub__(self, other):
        """self - other, as self + (-other)."""
        return self + (-other)

    def __rsub__(self, other):
        """other - self for a plain number `other`, as other + (-self)."""
        return other + (-self)

    def __rmul__(self, other):
        """other * self for a plain number `other`, as self * other."""
        return self * other

    def __truediv__(self, other):
        """self / other, as self * other ** -1."""
        return self * other**-1

    def __rtruediv__(self, other):
        """other / self for a plain number `other`, as other * self ** -1."""
        return other * self**-1

    # -- reverse mode ---------------------------------------------------------------------------

    def backward(self):
        """Fill in .grad of every Value this one depends on: d(self)/d(that Value).

        First put the nodes in topological order (each after all of its children), so that when
        a node passes its gradient on, every use of it has already been added into its .grad.
        Then walk that order backwards, from self to the leaves, applying the chain rule.
        """
        order = []
        visited = set()  # a Value used many times (a weight, say) is still visited once

        # visit() calls itself, so it recurses as deep as the graph is: past Python's limit
        # (about 1,000 nested calls) it raises RecursionError. A GPT step on a name is a few
        # hundred nodes deep. And because visit() refers to itself, the function, `visited`
        # and `order` form a reference cycle: the whole graph stays alive after backward()
        # until Python's garbage collector finds that cycle. microgpt's engine, which this one
        # follows, does the same: about 40% of its training step goes to those collections.
        def visit(node):
            """Append `node` to `order` after everything it was computed from."""
            if node not in visited:
                visited.add(node)
                for child in node._children:
                    visit(child)
                order.append(node)

        visit(self)
        self.grad = 1  # d(self)/d(self)
        for node in reversed(order):
            for child, local_grad in zip(node._children, node._local_grads):
                child.grad += local_grad * node.grad
