"""Value: one node of the computation graph, as the user's code sees it.

A Value shows four things (the seed's data structure, plus its arguments):

- ``data``: the number computed in the forward pass;
- ``grad``: d(output)/d(this node), filled in by the backward pass;
- ``op``: the `Op` that made it (``Op.LEAF`` for inputs, parameters and constants);
- ``args``: the Values it was made from.

There are no closures: a node only says *what* it is. What to do with it -- evaluate it,
differentiate it, draw it -- is decided by the interpreters (tape.py, graph.py), which read the
rule table in ops.py. Python's operators on Values record new nodes, eagerly: ``x * 2`` computes
its data at once and remembers that it was a product of ``x`` and the constant 2.

Where the numbers live: a leaf made with ``Value(2.0)`` keeps its data and grad itself. Every
other node is an entry of a `Tape` (parallel arrays, see tape.py), and its Value is a handle,
(tape, index): the graph does not need the handle, so a handle the user's code drops is freed at
once. Two handles of the same node are equal (``==``, and as dict keys and set members).
"""

from __future__ import annotations

import itertools
import numbers

from .ops import FLOATS, RULES, WITH_CONSTANT, Op
from .tape import CURRENT

# A leaf is stamped with where recording stood when it was made: (tape serial, position - ½,
# count). Sorted together with the tape entries' (serial, position, 0) that is creation order,
# a topological order, found without recursion or graph search.
_leaf_count = itertools.count()


def _as_float(x, context: str) -> float:
    """The float a Value stores; a TypeError that names `context` for anything else."""
    if type(x) is float:  # the common case, checked first: numbers.Real is a slow ABC check
        return x
    if isinstance(x, numbers.Real) and not isinstance(x, Value):
        try:
            return float(x)
        except OverflowError:
            raise OverflowError(f"{context}: {x!r} is too large for a float") from None
    hint = " (it is already a Value: use it directly, or its .data)" if isinstance(x, Value) else ""
    raise TypeError(
        f"{context}: expected a number (int or float), got {x!r} of type {type(x).__name__}{hint}"
    )


class Value:
    """A scalar node: ``data``, ``grad``, the ``op`` that made it and its ``args``.

    >>> x = Value(2.0, label="x")
    >>> f = (2 * x + 3) ** 2
    >>> f.backward()
    >>> f.data, x.grad
    (49.0, 28.0)
    """

    # A leaf: _tape is None and _data, _grad, _label, _key hold its fields; _ref is where the
    # latest tape that uses it holds it, so each tape holds it once (see record._hold).
    # A tape node: entry _i of _tape; _deps maps serial -> Tape for the older tapes it needs.
    __slots__ = (
        "_tape", "_i", "_deps", "_data", "_grad", "_label", "_key", "_ref", "__weakref__"
    )

    def __init__(self, data, _children=(), _op="", label=""):
        # `_children` and `_op` are micrograd's constructor arguments, accepted so its
        # signature works; a node with children must come from an operation, which knows
        # its derivative.
        if _children:
            raise TypeError(
                "Value(data, _children) cannot make an interior node by hand: tapegrad would "
                "not know its derivative. Compute it with operations on Values instead "
                "(a + b, a * b, a.tanh(), ...)."
            )
        self._tape = None
        self._i = -1
        self._deps = None
        self._data = _as_float(data, "Value(data)")
        self._grad = 0.0
        self._label = label
        now = CURRENT.tape
        self._key = (now.serial, len(now.data) - 0.5, next(_leaf_count))
        self._ref = _NOWHERE

    # -- the fields ---------------------------------------------------------------------------

    @property
    def data(self) -> float:
        tape = self._tape
        return self._data if tape is None else tape.data[self._i]

    @data.setter
    def data(self, value) -> None:
        tape = self._tape
        if tape is None:
            self._data = value
        else:
            tape.data[self._i] = value

    @property
    def grad(self) -> float:
        tape = self._tape
        if tape is None:
            return self._grad
        grads = tape.grad
        return grads[self._i] if grads is not None and self._i < len(grads) else 0.0

    @grad.setter
    def grad(self, value) -> None:
        tape = self._tape
        if tape is None:
            self._grad = value
            return
        if tape.grad is None:
            tape.retire()  # a tape with gradients takes no more entries
            tape.grad = [0.0] * len(tape.data)
        if self._i >= len(tape.grad):  # (an entry another thread added as it was retired)
            tape.grad += [0.0] * (len(tape.data) - len(tape.grad))
        tape.grad[self._i] = value

    @property
    def label(self) -> str:
        tape = self._tape
        return self._label if tape is None else tape.labels.get(self._i, "")

    @label.setter
    def label(self, value) -> None:
        if self._tape is None:
            self._label = value
        else:
            self._tape.labels[self._i] = value

    @property
    def op(self) -> Op:
        tape = self._tape
        return Op.LEAF if tape is None else tape.op[self._i]

    @property
    def args(self) -> tuple:
        """The argument nodes, as Values (handles made on the spot for tape nodes)."""
        tape = self._tape
        if tape is None:
            return ()
        return tuple(_resolve(tape, r, self._deps) for r in tape.args[self._i])

    @property
    def k(self):
        """The constant operand of ops that have one (the exponent of x ** k), else None."""
        tape = self._tape
        return None if tape is None else tape.k.get(self._i)

    # Two handles of one tape node are the same Value; a leaf is only ever itself.
    def __eq__(self, other):
        if self is other:
            return True
        tape = self._tape
        return (
            tape is not None
            and isinstance(other, Value)
            and other._tape is tape
            and other._i == self._i
        )

    def __hash__(self):
        tape = self._tape
        return object.__hash__(self) if tape is None else hash((id(tape), self._i))

    def __reduce__(self):
        # copy.deepcopy and pickle: a leaf comes back as a new leaf with the same data, grad and
        # label (made now, held by no tape yet). A computed Value has no copy of its own: its
        # history is shared tape, which belongs to the process that recorded it.
        if self._tape is not None:
            raise TypeError(
                f"cannot copy or pickle the computed {self!r} ({self._op or 'constant'}): only "
                "leaves (inputs, parameters) can be copied; copy those and compute again, or "
                "keep the number: Value(v.data)"
            )
        return (_copied_leaf, (self._data, self._grad, self._label))

    def __setstate__(self, state):
        # Only pickles of tapegrad before tapes come here: then a Value pickled its slots,
        # data, grad, op, args, k, label. Their leaves still load.
        slots = state[1] if isinstance(state, tuple) else state
        if not isinstance(slots, dict) or "data" not in slots or slots.get("args"):
            raise TypeError(
                "this pickle holds a computed Value from an older tapegrad, which kept one "
                "object per node; only its leaves (inputs, parameters) can be loaded now"
            )
        fresh = _copied_leaf(slots["data"], slots.get("grad", 0.0), slots.get("label", ""))
        for name in Value.__slots__[:-1]:
            object.__setattr__(self, name, getattr(fresh, name))

    # -- micrograd's names for the same fields ------------------------------------------------

    @property
    def _prev(self) -> set:
        """The argument nodes, as a set (micrograd's field)."""
        return set(self.args)

    @property
    def _op(self) -> str:
        """The op as micrograd prints it: '+', '*', '**2', 'ReLU', or '' for a leaf."""
        op = self.op
        symbol = RULES[op].symbol
        return f"{symbol}{self.k}" if op in WITH_CONSTANT else symbol

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    def _repr_svg_(self) -> str:
        """Jupyter shows a Value as a drawing of its graph; repr stays micrograd's."""
        from .viz import to_svg

        return to_svg(self)

    # -- arithmetic: each records one node ----------------------------------------------------

    def __add__(self, other):
        if type(other) is float:
            return _record_with_constant(Op.ADD, self, other)
        if not isinstance(other, Value):
            other = _operand(other, "add", self, "+")
        return _record2(Op.ADD, self, other)

    def __radd__(self, other):
        if type(other) is float:
            return _record_with_constant(Op.ADD, self, other)
        if not isinstance(other, Value):
            other = _operand(other, "add", self, "+", reflected=True)
        return _record2(Op.ADD, self, other)  # micrograd's order: self + other

    def __mul__(self, other):
        if type(other) is float:
            return _record_with_constant(Op.MUL, self, other)
        if not isinstance(other, Value):
            other = _operand(other, "multiply", self, "*")
        return _record2(Op.MUL, self, other)

    def __rmul__(self, other):
        if type(other) is float:
            return _record_with_constant(Op.MUL, self, other)
        if not isinstance(other, Value):
            other = _operand(other, "multiply", self, "*", reflected=True)
        return _record2(Op.MUL, self, other)  # micrograd's order: self * other

    def __pow__(self, other):
        if isinstance(other, Value):
            return _record2(Op.POWV, self, other)
        if isinstance(other, numbers.Real):
            return _record1(Op.POW, self, other)
        raise TypeError(
            f"cannot raise {self!r} to the power {other!r} ({type(other).__name__}): "
            "the exponent must be a number or a Value"
        )

    def __rpow__(self, other):
        return _record2(Op.POWV, _operand(other, "raise", self, "**", reflected=True), self)

    # Derived operations, written with the primitive ones exactly as micrograd writes them, so
    # that programs written for micrograd compute the very same floats.

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-_operand(other, "subtract", self, "-"))

    def __rsub__(self, other):
        return _operand(other, "subtract", self, "-", reflected=True) + (-self)

    def __truediv__(self, other):
        other = _operand(other, "divide", self, "/")
        _check_divisor(self, other)
        return self * other**-1

    def __rtruediv__(self, other):
        other = _operand(other, "divide", self, "/", reflected=True)
        _check_divisor(other, self)
        return other * self**-1

    # -- functions ----------------------------------------------------------------------------

    def exp(self):
        return _record1(Op.EXP, self)

    def log(self):
        return _record1(Op.LOG, self)

    def tanh(self):
        return _record1(Op.TANH, self)

    def sigmoid(self):
        return _record1(Op.SIGMOID, self)

    def relu(self):
        return _record1(Op.RELU, self)

    def abs(self):
        return _record1(Op.ABS, self)

    __abs__ = abs

    def sin(self):
        return _record1(Op.SIN, self)

    def cos(self):
        return _record1(Op.COS, self)

    def sqrt(self):
        return self**0.5

    @staticmethod
    def dot(weights, inputs, bias):
        """One neuron as one node: ``bias + Σ weights[i] * inputs[i]``.

        The same number as micrograd's ``sum((w*x for w, x in zip(weights, inputs)), bias)``,
        but one node instead of 2n + 1, which makes a network's graph about 8× smaller.
        """
        if not isinstance(weights, (list, tuple)):
            weights = tuple(weights)
        args = (*weights, *inputs, bias)
        if len(args) != 2 * len(weights) + 1:
            raise ValueError(
                f"Value.dot: {len(weights)} weights but {len(args) - len(weights) - 1} inputs; "
                "they must pair up"
            )
        return _record(Op.DOT, args, verb="take the dot product of")

    # -- reverse mode -------------------------------------------------------------------------

    def backward(self):
        """Fill ``.grad`` of every node this Value depends on with d(self)/d(node).

        One reverse sweep over the tapes this Value's graph is on. Leaves accumulate across
        calls (call ``zero_grad()`` between training steps); interior nodes hold the gradient of
        the latest call, so calling ``backward()`` twice never double-counts.
        """
        backprop((self,))


def _copied_leaf(data: float, grad: float, label: str) -> Value:
    leaf = Value(data, label=label)
    leaf._grad = grad
    return leaf


_EXACT_INT = 2**53  # ints up to this size convert to floats exactly and never overflow


def _operand(other, verb: str, this, symbol: str, reflected: bool = False) -> Value:
    """`other` as a Value: Values pass through, numbers become constant leaves. For an error,
    `this` and `symbol` spell the user's expression, `other` on the left when `reflected`."""
    if isinstance(other, Value):
        return other
    if type(other) is float:  # the common cases first: numbers.Real is a slow ABC check
        return _constant(other)
    if type(other) is int and -_EXACT_INT <= other <= _EXACT_INT:
        return _constant(float(other))
    if isinstance(other, numbers.Real):
        return Value(other)
    if this is None:
        where = ""
    elif reflected:
        where = f" in `{other!r} {symbol} {this!r}`"
    else:
        where = f" in `{this!r} {symbol} {other!r}`"
    raise TypeError(
        f"cannot {verb} {other!r} ({type(other).__name__}){where}: "
        "Value arithmetic takes Values and numbers (int or float) only"
    )


def _check_divisor(numerator, divisor) -> None:
    """Raise for a zero divisor, naming the division by its numbers (Values' reprs would bury
    them: `1 / x` at x = 0 reads "1.0 / 0.0", not "Value(data=1.0, ...) / Value(...)")."""
    if _data(divisor) == 0:
        raise ZeroDivisionError(
            f"division by zero: {_data(numerator)!r} / {_data(divisor)!r}; the divisor is 0 "
            "(if it can reach 0, add a small epsilon or guard the division)"
        )


# ---------------------------------------------------------------------------------------------
# The arithmetic of Values: the rule table's formulas run on this to record derivatives as new
# nodes, which is what makes higher-order derivatives work (see ops.py).
# ---------------------------------------------------------------------------------------------


def _data(x):
    return x.data if isinstance(x, Value) else x


def _lift(method_name: str, float_fn):
    """A function of `m` that records a node for a Value and computes a float for a number."""

    def apply(x):
        return getattr(x, method_name)() if isinstance(x, Value) else float_fn(x)

    apply.__name__ = method_name
    return staticmethod(apply)


class ValueMath:
    """The functions the rules use, recording nodes. Piecewise-constant pieces (relu's step,
    abs's sign) are constants: their derivative is 0 wherever it exists."""

    exp = _lift("exp", FLOATS.exp)
    log = _lift("log", FLOATS.log)
    tanh = _lift("tanh", FLOATS.tanh)
    sigmoid = _lift("sigmoid", FLOATS.sigmoid)
    relu = _lift("relu", FLOATS.relu)
    abs = _lift("abs", FLOATS.abs)
    sin = _lift("sin", FLOATS.sin)
    cos = _lift("cos", FLOATS.cos)

    @staticmethod
    def step(x):
        return FLOATS.step(_data(x))

    @staticmethod
    def sign(x):
        return FLOATS.sign(_data(x))

    @staticmethod
    def pow(x, k):
        if isinstance(x, Value):
            return x**k
        if isinstance(k, Value):
            return Value(x) ** k
        return FLOATS.pow(x, k)

    @staticmethod
    def pow_slope(x, k):
        # The same limits as FloatMath.pow_slope, decided on the data; elsewhere k · x^(k-1).
        kd = _data(k)
        if kd == 0 and not isinstance(k, Value):
            return 0.0
        if _data(x) == 0 and kd < 1:
            return FLOATS.pow_slope(0.0, kd)
        return k * ValueMath.pow(x, k - 1)

    @staticmethod
    def log_base(x):
        return x.log() if isinstance(x, Value) and x.data > 0 else FLOATS.log_base(_data(x))


VALUES = ValueMath()

from .record import (  # noqa: E402  (record.py makes Values: it imports this module)
    _NOWHERE,
    _constant,
    _record,
    _record1,
    _record2,
    _record_with_constant,
    _resolve,
)
from .tape import backprop  # noqa: E402

__all__ = ["Value", "VALUES"]
