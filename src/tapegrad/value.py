"""Value: one node of the computation graph, as the user's code sees it.

A Value shows four things (the seed's data structure, plus its arguments):

- ``data``: the number computed in the forward pass;
- ``grad``: d(output)/d(this node), filled in by the backward pass;
- ``op``: the `Op` that made it (``Op.LEAF`` for inputs, parameters and constants);
- ``args``: the Values it was made from.

There are no closures: a node only says *what* it is. What to do with it -- evaluate it,
differentiate it, draw it -- is decided by the interpreters (record.py, graph.py), which read the
rule table in ops.py. Python's operators on Values record new nodes, eagerly: ``x * 2`` computes
its data at once and appends an entry to the current record (record.py) saying that it was a
product of ``x`` and the constant 2.

Where the numbers live: a leaf made with ``Value(2.0)`` keeps its data and grad itself. Every
other node is an entry of a record, and its Value is a handle, (record, entry): the graph does not
need the handle, so a handle the user's code drops is freed at once.

Equality and hashing are micrograd's, by node: ``a == b`` says whether they are the same node
(two handles of one entry are), never compares numbers. Like micrograd's, a Value takes any
attribute you give it (``p.m = 0.0``).
"""

import _weakref
import numbers as _numbers

from .ops import FLOATS, FORWARD, RULES, WITH_CONSTANT, Op
from .record import (CURRENT, SERIALS, backprop, end, found_at, fresh, home_of, import_leaf,
                     import_node, needed, new_leaf_entry, room, sync)

_new = object.__new__


def _as_float(x, context: str, hint: str = "use it directly, or its .data") -> float:
    """The float a Value stores; for anything else an error that names `context` (and, for a
    Value, gives `hint`)."""
    if type(x) is float:  # the common case, checked first: numbers.Real is a slow ABC check
        return x
    if type(x) is int or (isinstance(x, _numbers.Real) and not isinstance(x, Value)):
        try:
            return float(x)
        except OverflowError:  # (not the number itself: an int's repr can run to pages)
            raise OverflowError(f"{context}: the number is too large for a float (more than "
                                "1.8e308 in size); scale it down") from None
    raise TypeError(f"{context}: expected a number (int or float), got {x!r} of type "
                    f"{type(x).__name__}" + f" (it is a Value: {hint})" * isinstance(x, Value))


class Value:
    """A scalar node: ``data``, ``grad``, the ``op`` that made it and its ``args``.

    >>> x = Value(2.0, label="x")
    >>> f = (2 * x + 3) ** 2
    >>> f.backward()
    >>> f.data, x.grad
    (49.0, 28.0)
    """

    # A leaf: _rec is None, and _data, _grad, _label hold its fields; _made numbers it; entry _i
    # of the record of serial _seen stands for it (record.import_leaf; _seen and _i -1: of none
    # yet).
    # A computed node: entry _i of record _rec, and _needs the older records it may depend on
    # (record.needed), if any.
    __slots__ = ("_rec", "_i", "_data", "_grad", "_label", "_made", "_seen", "_needs",
                 "__weakref__", "__dict__")

    def __init__(self, data: float, _children=(), _op="", label: str = "") -> None:
        # `_children` and `_op` are micrograd's constructor arguments, accepted so its signature
        # works; a node with children must come from an operation, which knows its derivative.
        if _children:
            raise TypeError("Value(data, _children) cannot make an interior node by hand (its "
                            "derivative is unknown): compute it with a + b, a * b, a.tanh(), ...")
        self._data, self._rec, self._grad = _as_float(data, "Value(data)"), None, 0.0
        self._label, self._made, self._seen, self._i = label, next(SERIALS), -1, -1

    # -- the fields ---------------------------------------------------------------------------

    @property
    def data(self) -> float:
        """The number this node holds (computed in the forward pass, or set for a leaf)."""
        return self._data if self._rec is None else self._rec.data[self._i]

    @data.setter
    def data(self, value) -> None:
        value = value if type(value) is float else _as_float(value, "setting .data", _DATA_HINT)
        if self._rec is None:
            self._data = value
        else:
            self._rec.data[self._i] = value

    @property
    def grad(self) -> float:
        """d(output)/d(this node) after ``output.backward()``: leaves accumulate, interior nodes
        hold the latest sweep's."""
        grad = self._grad if self._rec is None else found_at(self._rec.grad or (), self._i)
        return 0.0 if grad is None else grad

    @grad.setter
    def grad(self, value) -> None:  # (None, PyTorch's "no gradient", reads as 0.0)
        value = value if type(value) is float or value is None else _as_float(value, "setting .grad")
        if self._rec is None:
            self._grad = value
        else:  # a record with gradients takes no more entries: they must stay aligned
            end(rec := self._rec)
            rec.grad = rec.grad or []
            rec.grad += [0.0] * (len(rec.data) - len(rec.grad))  # (in place: a publish sets many)
            rec.grad[self._i] = value

    @property
    def label(self) -> str:
        """A name for drawings and printouts ('' if none)."""
        return self._label if self._rec is None else self._rec.labels.get(self._i, "")

    @label.setter
    def label(self, value) -> None:
        if self._rec is None:
            self._label = value
        else:
            self._rec.labels[self._i] = value

    @property
    def op(self) -> Op:
        """The Op that made this node (Op.LEAF for inputs, parameters and constants)."""
        return Op.LEAF if self._rec is None else self._rec.op[self._i]

    @property
    def args(self) -> tuple:
        """The argument nodes, as Values."""
        rec = self._rec
        return () if rec is None else tuple(node_at(rec, r) for r in rec.args[self._i])

    @property
    def k(self) -> "float | None":
        """The constant operand of ops that have one (the exponent of x ** k), else None."""
        return None if self._rec is None else self._rec.k.get(self._i)

    def __eq__(self, other: object) -> bool:
        """Whether `other` is the same node (micrograd's equality: identity, never numbers)."""
        return self is other or (self._rec is not None and isinstance(other, Value)
                                 and other._rec is self._rec and other._i == self._i)

    def __hash__(self) -> int:
        return id(self) if self._rec is None else hash((id(self._rec), self._i))

    def __reduce__(self):
        # copy, deepcopy and pickle: a leaf comes back as a new leaf with the same data, grad and
        # label. A computed node has no copy of its own: its history belongs to its record.
        if self._rec is not None:
            raise TypeError(f"cannot copy or pickle the computed {self!r}: only leaves (inputs, "
                            "parameters) can be copied; copy those and recompute, or Value(v.data)")
        return Value, (self.data, (), "", self.label), (self.__dict__ or None, {"_grad": self.grad})

    # -- micrograd's names for the same fields ------------------------------------------------

    @property
    def _prev(self) -> set:
        """The argument nodes, as a set (micrograd's field)."""
        return set(self.args)

    @property
    def _op(self) -> str:
        """The op as micrograd prints it: '+', '*', '**2', 'ReLU', or '' for a leaf."""
        return RULES[self.op].symbol + (str(self.k) if self.op in WITH_CONSTANT else "")

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    # -- a Value as a number, as PyTorch's 0-d tensor: each reads ``data`` -------------------
    # (Comparisons are attached below. == stays micrograd's: the same node, not the same number.)

    def __float__(self) -> float:
        """``float(v)`` is ``v.data``; so ``math.exp(v)`` works too (on the number: no node)."""
        return self.data

    def item(self) -> float:
        """The number, ``v.data``, by PyTorch's name for it (``tensor.item()``)."""
        return self.data

    def __bool__(self) -> bool:
        """``if v:`` tests the number, as for a 0-d tensor: False for 0.0, True otherwise."""
        return bool(self.data)

    def __round__(self, ndigits: "int | None" = None) -> float:
        """``round(v, n)`` is ``round(v.data, n)``: a number, not a node (it has no slope)."""
        return round(self.data, ndigits)

    def __format__(self, spec: str) -> str:
        """``f"{v:.2f}"`` formats ``v.data``; ``f"{v}"`` with no spec is ``repr(v)``, as in
        micrograd."""
        return format(self.data, spec) if spec else repr(self)

    # -- arithmetic: each records one node ----------------------------------------------------

    # self + other and self * other (and, reflected, micrograd's order for 2 + x: x + 2) are
    # recorders made from one template, _binary, below the class.

    def __pow__(self, other: "Value | float") -> "Value":
        if isinstance(other, Value):
            return _POWV(self, other)
        if type(other) is not float:  # (numbers.Real is a slow ABC check)
            _operand(other, self, "**")  # (a TypeError unless it is a number that fits a float)
        return _record1(Op.POW, self, other)

    def __rpow__(self, other: float) -> "Value":
        return _POWV(_constant(_operand(other, self, "**", True)), self)

    # Derived operations, written with the primitive ones exactly as micrograd writes them, so
    # that programs written for micrograd compute the very same floats.

    def __neg__(self) -> "Value":
        return self * -1

    def __sub__(self, other: "Value | float") -> "Value":
        return self + (-_operand(other, self, "-"))

    def __rsub__(self, other: float) -> "Value":
        return _operand(other, self, "-", reflected=True) + (-self)

    def __truediv__(self, other: "Value | float") -> "Value":
        return self * _divisor(self, _operand(other, self, "/"))**-1

    def __rtruediv__(self, other: float) -> "Value":
        numerator = _operand(other, self, "/", reflected=True)
        return numerator * _divisor(numerator, self)**-1

    def sqrt(self) -> "Value":
        """x ** 0.5, for x >= 0; d/dx = 0.5 / sqrt(x) (+inf at 0, as in PyTorch)."""
        return self**0.5

    # exp, log, tanh, sigmoid, relu, abs, sin and cos: one method per function op of the rule
    # table, attached below.

    @staticmethod
    def dot(weights: "list[Value]", inputs: "list[Value | float]", bias: "Value") -> "Value":
        """One neuron as one node: ``bias + Σ weights[i] * inputs[i]``.

        The same number as micrograd's ``sum((w*x for w, x in zip(weights, inputs)), bias)``, but
        one node instead of 2n + 1, which makes a network's graph about 8× smaller.
        """
        weights = weights if type(weights) in (list, tuple) else tuple(weights)
        args = (*weights, *inputs, bias)
        if len(args) != 2 * len(weights) + 1:
            raise ValueError(f"Value.dot: {len(weights)} weights but "
                             f"{len(args) - len(weights) - 1} inputs; they must pair up")
        return _record(Op.DOT, args)

    # -- reverse mode -------------------------------------------------------------------------

    def backward(self) -> None:
        """Fill ``.grad`` of every node this Value depends on with d(self)/d(node).

        One reverse sweep per record this Value's graph is on. Leaves accumulate across calls
        (call ``zero_grad()`` between training steps); interior nodes hold the gradient of the
        latest call, so calling ``backward()`` twice never double-counts.
        """
        backprop([(self, 1.0)])


def _attach(name: str, doc: str, method) -> None:
    """Give Value `method` as ``Value.<name>``, named and documented as if written in the class."""
    method.__name__, method.__qualname__, method.__doc__ = name, f"Value.{name}", doc
    setattr(Value, name, method)


def _comparison(name: str, symbol: str):
    return lambda self, other: getattr(float, name)(self.data, _data(_operand(other, self, symbol)))


for _op, _rule in RULES.items():  # one method per function op: x.exp(), x.tanh(), ...
    if _rule.method:
        _attach(_rule.method, _rule.doc, (lambda op: lambda self: _record1(op, self))(_op))
for _name, _symbol in (("__lt__", "<"), ("__le__", "<="), ("__gt__", ">"), ("__ge__", ">=")):
    _attach(_name, f"``v {_symbol} w`` compares the numbers, v.data {_symbol} w.data: a bool.",
            _comparison(_name, _symbol))
Value.__abs__ = Value.abs


# ---------------------------------------------------------------------------------------------
# Handles: the Value of a record's entry.
# ---------------------------------------------------------------------------------------------


def node_at(rec, i: int) -> Value:
    """The Value entry `i` of `rec` stands for: an import's own Value (a leaf, or an older
    record's node), else a handle -- the same object each time while it is alive, so code that
    tells nodes apart by ``id()`` (micrograd's ``draw_dot``) sees one object per node. The record
    keeps a weak reference: no cycle."""
    home, j = home_of(rec, i)
    if home is not None:
        return node_at(home, j)
    v = rec.outside.get(i)
    if v is None:
        view = rec.views.get(i)
        v = view and view()  # (None once that handle has died)
        if v is None:
            v = _new(Value)
            v._rec, v._i, v._needs = rec, i, needed(rec, i)
            rec.views[i] = _weakref.ref(v)
    return v


class NodesOf:
    """A record's entries as Values, made when a recorded sweep reads them."""

    __slots__ = ("rec",)

    def __init__(self, rec):
        self.rec = rec

    def __getitem__(self, i: int) -> Value:
        return node_at(self.rec, i)


# ---------------------------------------------------------------------------------------------
# Recording: an operation on Values becomes one entry of the current record (see record.py).
# Each recorder computes the node's data first, with the op's forward formula from the rule
# table: if the formula raises, no node is recorded.
# ---------------------------------------------------------------------------------------------


def _record(op: Op, args, k=None, data=None) -> Value:
    """Record `op`(args): any number of arguments, numbers among them becoming constants."""
    rec = room()
    values, serial, refs, xs = rec.data, rec.serial, [], []
    try:
        for a in args:
            home = a._rec
            if home is rec:
                refs.append(a._i)
                xs.append(values[a._i])
            elif home is None:
                refs.append(a._i if a._seen == serial else import_leaf(rec, a))
                xs.append(a._data)
            elif home.serial > serial:  # another thread's newer record: keep records ordered
                fresh()
                return _record(op, args, k, data)
            else:
                sync(home)
                refs.append(import_node(rec, home, a._i))
                xs.append(home.data[a._i])
    except AttributeError:  # a number among the args, which becomes a constant (else, a bug)
        if all(isinstance(a, Value) for a in args):
            raise
        return _record(op, tuple(a if isinstance(a, Value) else _constant(_operand(a, None, "use"))
                                 for a in args), k, data)
    data = FORWARD[op](FLOATS, *xs, *(() if k is None else (k,))) if data is None else data
    return _append(rec, op, tuple(refs), data, k)


def _append(rec, op: Op, refs: tuple, data: float, k=None) -> Value:
    i = len(rec.data)
    rec.data.append(data)
    rec.op.append(op)
    rec.args.append(refs)
    if k is not None:
        rec.k[i] = k
    v = _new(Value)
    v._rec, v._i = rec, i
    tainted = rec.tainted
    if tainted is not None:  # does it depend on an older record's node? (record.needed)
        tainted.append(any(map(tainted.__getitem__, refs)))
        if tainted[i]:
            v._needs = needed(rec, i)
    return v


def _constant(x: float) -> Value:
    """A number used as an operand: a constant entry (Op.LEAF, no arguments)."""
    return _append(room(), Op.LEAF, (), x)


# NOTE: the recorders below are _record unrolled for the shapes nearly every node has -- one
# argument on the current record; two arguments that are leaves or on the current record, each
# binary operator its own function (no second call, the op's formula at hand) -- which more
# than halves the cost of recording. Anything else goes to _record. The binary recorder keeps
# the new node's entry number from its first look at the record's length, moved on only by an
# import or a constant, rather than take the length again (each time a new int object):
# 5.5% of the instructions of microgpt's forward pass.


def _record1(op: Op, a: Value, k=None) -> Value:
    rec = CURRENT.record
    if a._rec is not rec or len(rec.data) >= rec.capacity:
        return _record(op, (a,), k)
    x = rec.data[a._i]  # (a function op's float function, math.tanh say, called directly)
    y = RULES[op].floats(x) if k is None else FORWARD[op](FLOATS, x, k)
    return _append(rec, op, (a._i,), y, k)


def _binary(op: Op, symbol: str, reflected: bool = False):
    """The recorder of op(self, other): ``Value.__add__`` and the like; other is a Value or a
    number (a constant entry), and a reflected operator's error spells `other symbol self`."""
    forward = FORWARD[op]  # (an operator op's own function, operator.add, is C: no Python frame)
    binary = RULES[op].binary or (lambda x, z: forward(FLOATS, x, z))

    def record(self: Value, other) -> Value:
        # (Type tests, not try/except: an int operand -- sum()'s 0, -x's -1 -- raising an
        # AttributeError cost 1.3 µs a node.)
        kind = type(other)
        if kind is not Value and kind is not float and not isinstance(other, Value):
            return record(self, _operand(other, self, symbol, reflected))  # (a float, or why not)
        rec = CURRENT.record
        data = rec.data
        i = len(data)  # (the new node's entry, unless an import or a constant comes first)
        tainted = None
        if i >= rec.fast_until:  # (nearly full, or tainted: Record.fast_until)
            if i + 2 >= rec.capacity:  # (room for the node and two imports)
                return _record(op, (self, other))
            tainted = rec.tainted
        home = self._rec
        if home is rec:
            x = data[ra := self._i]
        elif home is None:
            ra, x = self._i, self._data
            if self._seen != rec.serial:  # (its first use on this record: import it)
                ra, i = import_leaf(rec, self), len(data)
        else:
            return _record(op, (self, other))
        home = other if kind is float else other._rec  # (a float becomes a constant entry)
        if home is rec:
            z = data[rb := other._i]
        elif home is None:
            rb, z = other._i, other._data
            if other._seen != rec.serial:
                rb, i = import_leaf(rec, other), len(data)
        elif home is other:  # its constant's entry, then the node's
            rb = new_leaf_entry(rec, other)
            z, i = other, rb + 1
        else:
            return _record(op, (self, other))
        data.append(binary(x, z))  # (_append, inlined)
        rec.op.append(op)
        rec.args.append((ra, rb))
        v = _new(Value)
        v._rec, v._i = rec, i
        if tainted is not None:  # (does it depend on an older record's node? record.needed)
            tainted.append(tainted[ra] | tainted[rb])
            if tainted[i]:
                v._needs = needed(rec, i)
        return v

    return record


for _name, _op, _symbol in (("add", Op.ADD, "+"), ("mul", Op.MUL, "*")):
    _attach(f"__{_name}__", f"``self {_symbol} other``: one node.", _binary(_op, _symbol))
    _attach(f"__r{_name}__", f"``other {_symbol} self`` for a number other, recorded as "
            f"micrograd does, self {_symbol} other.", _binary(_op, _symbol, reflected=True))
_POWV = _binary(Op.POWV, "**")


_DATA_HINT = "write .data on the right too, e.g. p.data = p.data - lr * p.grad"


def _operand(other, this, symbol: str, reflected: bool = False):
    """`other` as an operand: a Value as it is, a number as a float (it becomes a constant). For
    an error, `this` and `symbol` spell the user's expression, `other` on the left when
    `reflected`."""
    if isinstance(other, Value):
        return other
    if type(other) in (float, int) or isinstance(other, _numbers.Real):  # (ABC check last: slow)
        return _as_float(other, symbol)  # (the error names the operator; nothing built here)
    where = "" if this is None else f" in `{other!r} {symbol} {this!r}`" if reflected else (
        f" in `{this!r} {symbol} {other!r}`")
    raise TypeError(f"cannot use {other!r} ({type(other).__name__}) with {symbol}{where}: Value "
                    "arithmetic and comparisons take Values and numbers (int or float) only")


def _data(x):
    return x.data if isinstance(x, Value) else x


def _divisor(numerator, divisor):
    """The divisor, checked: a zero one raises, naming the division by its numbers (Values'
    reprs would bury them: `1 / x` at x = 0 reads "1.0 / 0.0", not "Value(data=1.0...) / ...")."""
    if _data(divisor) == 0:
        raise ZeroDivisionError(f"division by zero: {_data(numerator)!r} / {_data(divisor)!r}; "
                                "if the divisor can reach 0, add a small epsilon or guard it")
    return divisor


__all__ = ["Value"]
