"""The cheapest tape engine microgpt's program can run on: a measuring stick, not a library.

benchmarks/microgpt.py times it beside microgpt's own engine and tapegrad, to show what a
Wengert list costs in Python when it pays for nothing else. Like tapegrad it keeps the graph as
parallel lists (data, op, arguments) and gives the program a small handle per node; unlike
tapegrad it leaves out everything a library must do:

- one tape for the whole process: no threads, and no record per stretch of recording, so a
  graph is not freed when its loss is dropped -- the benchmark cuts the tape back to the
  parameters after each step (`cut`);
- parameters are entries of the tape itself (made first, kept by `cut`), not leaves owning
  their numbers, imported once into each record;
- no checks: a wrong operand is a Python error deep inside, not a message;
- the ops microgpt uses only (+, ·, x**k, exp, log, relu), with their derivatives written
  into the backward loop: no rule table, so each op's math is in two places.

Measured under callgrind on microgpt's step, its forward pass costs about a quarter of what
tapegrad's does above the floor (benchmarks/microgpt.py's ``Number``): that gap is what
tapegrad's records, imports, thread-local and taint bits cost per node (docs/names.md).
"""

from __future__ import annotations

import math

DATA: list = []  # per entry: its number
OPS: list = []  # per entry: what made it (one of the names below)
ARGS: list = []  # per entry: its arguments' entries (a tuple), None for a leaf or constant
LEAF, ADD, MUL, POW, EXP, LOG, RELU = range(7)
KEPT = [0]  # entries `cut` keeps: the parameters, made before the first step
_new = object.__new__


def _entry(op: int, x: float, args) -> "Value":
    """A handle for a new entry."""
    v = _new(Value)
    v.i = len(DATA)
    DATA.append(x)
    OPS.append(op)
    ARGS.append(args)
    return v


class Value:
    """A node: entry ``i`` of the tape. Leaves keep their gradient in ``grad`` (a slot, as
    microgpt's own Value does); every number is in DATA."""

    __slots__ = ("i", "grad")

    def __init__(self, data) -> None:
        self.i, self.grad = len(DATA), 0.0
        DATA.append(float(data))
        OPS.append(LEAF)
        ARGS.append(None)

    @property
    def data(self) -> float:
        return DATA[self.i]

    @data.setter
    def data(self, x: float) -> None:
        DATA[self.i] = x

    def __add__(self, other) -> "Value":
        j = other.i if type(other) is Value else Value(other).i
        return _entry(ADD, DATA[self.i] + DATA[j], (self.i, j))

    def __mul__(self, other) -> "Value":
        j = other.i if type(other) is Value else Value(other).i
        return _entry(MUL, DATA[self.i] * DATA[j], (self.i, j))

    __radd__, __rmul__ = __add__, __mul__

    def __pow__(self, k: float) -> "Value":
        return _entry(POW, DATA[self.i] ** k, (self.i, Value(k).i))

    def exp(self) -> "Value":
        return _entry(EXP, math.exp(DATA[self.i]), (self.i,))

    def log(self) -> "Value":
        return _entry(LOG, math.log(DATA[self.i]), (self.i,))

    def relu(self) -> "Value":
        x = DATA[self.i]
        return _entry(RELU, x if x > 0 else 0.0, (self.i,))

    # microgpt's derived operations, spelled as micrograd spells them (the same floats)
    def __neg__(self) -> "Value":
        return self * -1

    def __sub__(self, other) -> "Value":
        return self + (-other)

    def __rsub__(self, other) -> "Value":
        return (-self) + other

    def __truediv__(self, other) -> "Value":
        return self * other**-1

    def __rtruediv__(self, other) -> "Value":
        return self**-1 * other

    def backward(self) -> None:
        """One reverse loop over the tape, from this node down; the leaves made before the first
        step (the parameters) add up their gradients."""
        g = [0.0] * (self.i + 1)
        g[self.i] = 1.0
        data, ops, args = DATA, OPS, ARGS
        for n in range(self.i, -1, -1):
            gn = g[n]
            op = ops[n]
            if not gn or op == LEAF:
                continue
            if op == ADD:
                a, b = args[n]
                g[a] += gn
                g[b] += gn
            elif op == MUL:
                a, b = args[n]
                g[a] += gn * data[b]
                g[b] += gn * data[a]
            elif op == POW:
                a, b = args[n]
                g[a] += gn * data[b] * data[a] ** (data[b] - 1)
            elif op == EXP:
                g[args[n][0]] += gn * data[n]
            elif op == LOG:
                a = args[n][0]
                g[a] += gn / data[a]
            elif data[n] > 0:  # RELU
                g[args[n][0]] += gn
        for p in PARAMETERS:
            p.grad += g[p.i]


PARAMETERS: list = []  # the leaves backward() hands gradients to (set by `keep`)


def keep(parameters: list) -> None:
    """Make `parameters` (made first, before any other entry) the leaves that get gradients and
    that `cut` keeps."""
    PARAMETERS[:] = parameters
    KEPT[0] = len(DATA)


def cut() -> None:
    """Drop every entry after the parameters: the graph of the step just taken."""
    del DATA[KEPT[0]:], OPS[KEPT[0]:], ARGS[KEPT[0]:]
