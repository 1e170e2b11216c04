"""tapegrad's whole design in one file, to read first: ``from tapegrad.plain import Value``.

A computation is a Graph: one array of nodes, each with its data, its grad, an Op tag saying how
it was made, and its arguments as positions in the array -- always earlier ones, so the array is
in topological order. Recording a node is appending it; reverse mode is one loop backwards over
the array; forward mode and replay are one loop forwards. What each op computes, and its local
derivatives, come from the engine's rule table (tapegrad.ops.RULES), so this file and the engine
compute the very same floats (tests/test_plain.py). A leaf (input, parameter) keeps its own data
and grad; a graph imports it as a node of op LEAF, and hands its gradient back after a sweep.

Left out, and where the engine does it: clear errors (value.py, ops.py); speed -- lists, not
objects, common shapes unrolled, a neuron as one node (record.py, value.py); bounded memory with
no backward (record.room); sharing nodes across graphs and threads (record.py); higher
derivatives (transforms.py); layers, losses, optimizers (nn.py, losses.py, optim.py).
"""

import random as _random
from operator import setitem

from .ops import FLOATS, FORWARD, PARTIALS, RULES, Op


class Graph:
    """The array of nodes: node i is data[i], grad[i], op[i], args[i] (and k[i], x ** k's k)."""

    def __init__(self):
        self.data, self.grad, self.op, self.args, self.k = [], [], [], [], []
        self.leaves, self.held = {}, {}  # node -> the leaf it imports; id(leaf) -> its node

    def inputs(self, i):  # what node i's formulas take: its arguments' data (and x ** k's k)
        return [self.data[a] for a in self.args[i]] + ([] if self.k[i] is None else [self.k[i]])

    def append(self, op, args=(), k=None, data=None):
        if data is None:  # the op's formula, from the rule table: raises before anything changes
            data = FORWARD[op](FLOATS, *[self.data[a] for a in args], *([] if k is None else [k]))
        for column, item in zip((self.data, self.grad, self.op, self.args, self.k),
                                (data, 0.0, op, tuple(args), k)):
            column.append(item)
        return len(self.data) - 1

    def position(self, v):
        """Where Value `v` is in this array: its own node, or the node that imports a leaf."""
        if v.graph is not None and v.graph is not self:
            raise ValueError("plain keeps one graph at a time: use the current one's Values")
        if v.graph is None and id(v) not in self.held:
            self.held[id(v)] = self.append(Op.LEAF, data=v.data)
            self.leaves[self.held[id(v)]] = v
        return v.i if v.graph is self else self.held[id(v)]

    def backward(self, out):
        """Reverse mode: one sweep from node `out` back to the first node. Interior nodes get
        this sweep's gradient, never an old one's; leaves add theirs up."""
        for i, leaf in self.leaves.items():  # a leaf's gradient adds up where it left off
            self.data[i], self.grad[i] = leaf.data, leaf.grad
        self.grad = [0.0 if args else g for g, args in zip(self.grad, self.args)]  # (interior)
        self.grad[out] += 1.0
        for i in range(out, -1, -1):
            g = self.grad[i]
            if g and self.args[i]:  # (a zero gradient adds nothing: 0 · inf is 0, as in the engine)
                partials = PARTIALS[self.op[i]](FLOATS, self.data[i], *self.inputs(i))
                for a, d in zip(self.args[i], partials):
                    self.grad[a] += g * d  # the chain rule: upstream × local
        for i, leaf in self.leaves.items():
            leaf.grad = self.grad[i]

    def tangents(self, seeds):
        """Forward mode, one sweep: node i's tangent is Σ ∂i/∂arg · tangent(arg), from `seeds`."""
        t = [None] * len(self.data)
        for i in range(len(self.data)):
            if i in seeds:
                t[i] = seeds[i]
            elif self.args[i]:
                partials = PARTIALS[self.op[i]](FLOATS, self.data[i], *self.inputs(i))
                for a, d in zip(self.args[i], partials):
                    if t[a] is not None:
                        t[i] = d * t[a] if t[i] is None else t[i] + d * t[a]
        return t

    def forward(self):
        """Replay: recompute every node from its arguments, the leaves' data as it is now."""
        for i in range(len(self.data)):
            if i in self.leaves:
                self.data[i] = self.leaves[i].data
            elif self.args[i]:
                self.data[i] = FORWARD[self.op[i]](FLOATS, *self.inputs(i))


CURRENT = [Graph()]  # the graph new nodes go on; backward() starts the next one


class Value:
    """A leaf, with data and grad of its own, or a node: position i of a graph. Each op is one
    line below, operands in micrograd's order; what it computes is in the rule table."""

    def __init__(self, data, graph=None, i=0):
        self.graph, self.i = graph, i
        self.own = {"data": [float(data)], "grad": [0.0]} if graph is None else None

    def column(self, name):  # where this Value's data or grad lives: its graph's, or its own
        return self.own[name] if self.graph is None else getattr(self.graph, name)

    data = property(lambda v: v.column("data")[v.i], lambda v, x: setitem(v.column("data"), v.i, x))
    grad = property(lambda v: v.column("grad")[v.i], lambda v, g: setitem(v.column("grad"), v.i, g))

    def node(self, op, *others, k=None):  # record op(self, *others): numbers become leaves
        graph = CURRENT[0]
        args = [graph.position(v if isinstance(v, Value) else Value(v)) for v in (self, *others)]
        return Value(None, graph, graph.append(op, args, k))

    __add__ = __radd__ = lambda self, other: self.node(Op.ADD, other)
    __mul__ = __rmul__ = lambda self, other: self.node(Op.MUL, other)
    __pow__ = lambda self, k: self.node(Op.POWV, k) if isinstance(k, Value) else (
        self.node(Op.POW, k=k))
    __neg__ = lambda self: self * -1
    __sub__, __rsub__ = (lambda self, other: self + (-other)), (lambda self, other: -self + other)
    __truediv__ = lambda self, other: self * other**-1
    __rtruediv__ = lambda self, other: self**-1 * other

    def backward(self):
        """Every gradient, by one reverse sweep of this Value's graph; then a fresh graph."""
        if self.graph is None:  # a bare leaf: d(self)/d(self) = 1
            self.grad += 1.0
        else:
            self.graph.backward(self.i)
            CURRENT[0] = Graph() if self.graph is CURRENT[0] else CURRENT[0]


for _op, _rule in RULES.items():  # x.exp(), x.tanh(), x.relu(), ...: the table's functions
    if _rule.method:
        setattr(Value, _rule.method, lambda self, op=_op: self.node(op))


class Neuron:
    """micrograd's: weights from random.uniform(-1, 1), bias 0, relu(b + Σ w_i x_i) or linear."""

    def __init__(self, nin, nonlin=True):
        self.w, self.b = [Value(_random.uniform(-1, 1)) for _ in range(nin)], Value(0.0)
        self.nonlin = nonlin

    def __call__(self, x):
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return act.relu() if self.nonlin else act

    parameters = lambda self: self.w + [self.b]


def sgd(parameters, lr):
    """One step of gradient descent: move every parameter against its gradient, and zero it."""
    for p in parameters:
        p.data, p.grad = p.data - lr * p.grad, 0.0
