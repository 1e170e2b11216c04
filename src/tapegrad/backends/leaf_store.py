"""Leaves whose ``data`` and ``grad`` live in arrays: how a NumPy-backend Graph shares its
leaves (inputs, parameters, constants) with the user's code and with optimizers.

Compiling a Graph for NumPy moves each leaf into a `LeafStore` (two float arrays, ``data`` and
``grad``, one entry per leaf) and turns the leaf into a `StoredLeaf`: still a Value (every
operator, ``isinstance`` and ``repr`` work as before) whose ``data`` and ``grad`` are properties
that read and write its entry. So

    p.data            reads the array: always current, whoever updated it
    p.data -= 0.1     writes the array: the next g.forward() sees it

and an optimizer can update every parameter with one array operation per store (`ParamBlock`)
instead of a Python loop over Values. A leaf stays in the store it was first moved to; a later
Graph that uses it reads it from there.

This file imports no NumPy itself: it only indexes the arrays it is given.
"""

import math as _math

from ..value import Value

# A StoredLeaf does not use the `_data` slot a leaf Value keeps its number in, so that slot
# keeps the leaf's home: (store, i), i.e. where its data and grad now live.
_HOME = Value.__dict__["_data"]


class LeafStore:
    """Two float arrays of equal length: the ``data`` and the ``grad`` of some leaves."""

    __slots__ = ("data", "grad")

    def __init__(self, data, grad):
        self.data = data
        self.grad = grad


def _check_float(field: str, value) -> float:
    """`value`, if it can be stored in a float array; a TypeError saying what to assign if not."""
    if value is None or isinstance(value, (Value, str, bytes)):
        raise TypeError(
            f"{field} = {value!r}: this Value lives in a NumPy-backend Graph, which stores "
            f"plain numbers; assign a number, e.g. p.{field} = 0.5"
        )
    return value


class StoredLeaf(Value):
    """A leaf Value whose ``data`` and ``grad`` are entries of a LeafStore's arrays."""

    __slots__ = ()

    @property
    def data(self) -> float:
        store, i = _HOME.__get__(self)
        return store.data.item(i)

    @data.setter
    def data(self, value) -> None:
        store, i = _HOME.__get__(self)
        store.data[i] = _check_float("data", value)

    @property
    def grad(self) -> float:
        store, i = _HOME.__get__(self)
        return store.grad.item(i)

    @grad.setter
    def grad(self, value) -> None:
        store, i = _HOME.__get__(self)
        store.grad[i] = _check_float("grad", value)

    # What the engine reads and writes of a leaf, _data and _grad, are these too (the _data slot
    # holds the leaf's home; the _grad slot is unused).
    _data, _grad = data, grad

    def __reduce__(self):
        # copy, deepcopy and pickle give a plain leaf with the same data, grad and label: the
        # arrays belong to the compiled Graph, not to the copy.
        return _detached, (self.data, self.grad, self.label), self.__dict__ or None


def _detached(data: float, grad: float, label: str) -> Value:
    leaf = Value(data, label=label)
    leaf.grad = grad
    return leaf


def move_into(leaf: Value, store: LeafStore, i: int) -> None:
    """Make `leaf` a StoredLeaf living at entry `i` of `store`, carrying its data and grad."""
    store.data[i] = leaf.data
    store.grad[i] = leaf.grad
    _HOME.__set__(leaf, (store, i))  # the raw slot, before the class swap makes it a property
    leaf.__class__ = StoredLeaf


def home_of(leaf: Value):
    """(store, i) for a StoredLeaf, None for any other Value."""
    return _HOME.__get__(leaf) if type(leaf) is StoredLeaf else None


class ParamBlock:
    """Parameters that all live in LeafStores, updated with one array operation per store.

    Built by `param_block`; an optimizer keeps one and delegates ``zero_grad()`` and its update
    to it, so a step costs a few array operations however many parameters there are.
    """

    def __init__(self, params):
        import numpy as np  # only reached when a NumPy-backend Graph made the stores

        slots: dict[int, tuple[LeafStore, list[int]]] = {}
        for p in params:
            store, i = _HOME.__get__(p)
            slots.setdefault(id(store), (store, []))[1].append(i)
        # Per store, the parameters' entries: a slice when they are contiguous (a view: the
        # update then runs in place with no gather), else an index array.
        self.parts = []
        for store, entries in slots.values():
            first = entries[0]
            if entries == list(range(first, first + len(entries))):
                index = slice(first, first + len(entries))
            else:
                index = np.array(entries, dtype=np.intp)
            self.parts.append((store, index))
        self.velocity = [None] * len(self.parts)  # SGD's momentum buffers, one per store
        self.moments = None  # Adam's running means (m, v), one pair per store

    def zero_grad(self) -> None:
        """Every parameter's gradient back to 0, in each store the block spans."""
        for store, index in self.parts:
            store.grad[index] = 0.0

    def sgd_step(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        """PyTorch's SGD on every parameter at once:

        g = grad + weight_decay · data;   b = g, then b = momentum · b + g;   data -= lr · b
        """
        for k, (store, index) in enumerate(self.parts):
            g = store.grad[index]
            if weight_decay:
                g = g + weight_decay * store.data[index]
            if momentum:
                if self.velocity[k] is None:
                    self.velocity[k] = g.copy()
                else:
                    self.velocity[k] *= momentum
                    self.velocity[k] += g
                g = self.velocity[k]
            if isinstance(index, slice):
                store.data[index] -= lr * g
            else:
                store.data[index] = store.data[index] - lr * g

    def adam_step(self, lr, betas, eps, weight_decay, decoupled, t) -> None:
        """Adam's step t (counted from 1) on every parameter at once, as tapegrad.optim.Adam
        computes it for one (AdamW's decoupled decay when `decoupled`):

            g = grad (+ weight_decay · data unless decoupled; else data -= lr · decay · data)
            m = β1 · m + (1 - β1) · g          v = β2 · v + (1 - β2) · g²
            data -= lr / (1 - β1^t) · m / (sqrt(v) / sqrt(1 - β2^t) + eps)
        """
        beta1, beta2 = betas
        step_size = lr / (1.0 - beta1**t)
        bias2_sqrt = _math.sqrt(1.0 - beta2**t)
        if self.moments is None:
            self.moments = [
                (_zeros_like(store.data[index]), _zeros_like(store.data[index]))
                for store, index in self.parts
            ]
        for (store, index), (m, v) in zip(self.parts, self.moments):
            data, g = store.data[index], store.grad[index]
            if weight_decay:
                if decoupled:
                    data = data - lr * weight_decay * data
                else:
                    g = g + weight_decay * data
            m *= beta1
            m += (1.0 - beta1) * g
            v *= beta2
            v += (1.0 - beta2) * g * g
            store.data[index] = data - step_size * m / ((v**0.5) / bias2_sqrt + eps)


def _zeros_like(array):
    zeros = array.copy()
    zeros.fill(0.0)
    return zeros


def param_block(params) -> "ParamBlock | None":
    """A ParamBlock for `params` when every one lives in a LeafStore (and none is listed
    twice), else None: then the optimizer updates the Values one by one, as usual."""
    if not params or type(params[0]) is not StoredLeaf:
        return None  # the common eager case, decided in O(1)
    if not all(type(p) is StoredLeaf for p in params) or len(set(map(id, params))) != len(params):
        return None
    return ParamBlock(params)


# An optimizer asks its parameters' class how to update them together (tapegrad.optim imports no
# backend): leaves that live in arrays answer with a ParamBlock.
StoredLeaf.update_together = staticmethod(param_block)

__all__ = ["LeafStore", "StoredLeaf", "ParamBlock", "move_into", "home_of", "param_block"]
