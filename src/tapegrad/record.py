"""Recording: how an operation on Values becomes one tape entry (see tape.py).

Each function computes the node's data first, with the op's forward formula from the rule
table: if the formula raises, nothing is recorded. Then it appends the entry to the current
tape -- the data, the Op, and a reference per argument (an entry of the same tape, or an
outside one the tape holds: a leaf, an older tape's entry) -- and returns a Value, a handle to
it. Most operations take one of three shapes, each with its own unrolled function (a number
operand, one argument, two); `_record` takes any number (the fused dot product).
"""

from __future__ import annotations

import weakref

from .ops import FLOATS, RULES, WITH_CONSTANT, Op
from .tape import CURRENT, LIVE_TAPES, fresh_tape, merge_deps, with_tape
from .value import Value, _operand

# Each op's forward formula, looked up once per node on the hot path.
_FORWARD = {op: rule.forward for op, rule in RULES.items()}

_new = object.__new__


def _handle(tape, i: int, deps) -> Value:
    """The Value of entry `i` of `tape`."""
    v = _new(Value)
    v._tape = tape
    v._i = i
    v._deps = deps
    return v


def view(tape, i: int, deps) -> Value:
    """The Value of entry `i` of `tape` for code that walks the graph (``args``, ``_prev``,
    Graph): the same object each time while it is alive, so code that tells nodes apart by
    ``id()`` -- micrograd's ``draw_dot`` does -- sees one object per node. The tape keeps only
    a weak reference, so it makes no cycle."""
    ref = tape.views.get(i)
    v = ref() if ref is not None else None
    if v is None:
        v = _handle(tape, i, deps)
        tape.views[i] = weakref.ref(v)
    return v


def _resolve(tape, ref: int, deps) -> Value:
    """The Value a reference of an entry of `tape` names (see tape.py)."""
    if ref >= 0:
        return view(tape, ref, deps)
    item = tape.ext[~ref]
    if type(item) is tuple:
        serial, j = item
        return view(deps[serial], j, deps)
    return item


def _target():
    """The tape a new node goes on: the current one, or a fresh one once it is full."""
    tape = CURRENT.tape
    return tape if len(tape.data) < tape.limit else fresh_tape()


_NOWHERE = (-1, 0)  # a leaf no tape holds yet


def _hold(tape, leaf: Value) -> int:
    """The reference to `leaf` from entries of `tape`: the tape holds each leaf once, so
    backward adds its gradient into the leaf once (~(len(ext) - 1) == -len(ext)).

    The leaf remembers where the latest tape to use it holds it, (serial, reference): a pair of
    ints, which the garbage collector does not track. When another tape (another thread's,
    say) takes the leaf over, the tape it leaves notes it in its `held`, so it finds the leaf
    there if it uses it again."""
    serial, ref = leaf._ref
    ext = tape.ext
    if serial == tape.serial and ext[~ref] is leaf:
        return ref
    if serial >= 0:  # held by another tape before: note it there; maybe held here already
        other = LIVE_TAPES.get(serial)
        if other is not None:
            other.held[id(leaf)] = ref
        mine = tape.held.get(id(leaf))
        if mine is not None and ext[~mine] is leaf:
            leaf._ref = (tape.serial, mine)
            return mine
    ext.append(leaf)
    ref = -len(ext)
    leaf._ref = (tape.serial, ref)
    return ref


def _refer(tape, v: Value, deps):
    """A reference from a new entry of `tape` to the node of `v`, and the new node's deps."""
    t = v._tape
    if t is tape:
        return v._i, merge_deps(deps, v._deps)
    if t is None:
        return _hold(tape, v), deps
    ext = tape.ext
    # An older tape's entry, held once per tape like a leaf; the new handle keeps that tape.
    key = (t.serial, v._i)
    ref = tape.held.get(key)
    if ref is None:
        ext.append(key)
        ref = tape.held[key] = -len(ext)
    return ref, with_tape(merge_deps(deps, v._deps), t)


def _constant(x: float) -> Value:
    """A number used as an operand: a constant entry (Op.LEAF, no arguments) on the tape."""
    tape = _target()
    i = len(tape.data)
    tape.data.append(x)
    tape.op.append(Op.LEAF)
    tape.args.append(())
    return _handle(tape, i, None)


def _record(op: Op, args: tuple, verb: str = "") -> Value:
    """Append the node `op`(args) (any number of args; numbers among them become constants,
    `verb` naming the operation for an error) to the tape; return its Value."""
    tape = _target()
    data, ext = tape.data, tape.ext
    xs, refs = [], []
    x_append, ref_append = xs.append, refs.append
    tape_serial = tape.serial
    deps = None
    try:
        for a in args:
            t = a._tape
            if t is tape:
                i = a._i
                ref_append(i)
                x_append(data[i])
                if a._deps is not None:
                    deps = merge_deps(deps, a._deps)
            elif t is None:  # a leaf: the tape holds it once (see _hold)
                serial, r = a._ref
                if serial != tape_serial or ext[~r] is not a:
                    r = _hold(tape, a)
                ref_append(r)
                x_append(a._data if type(a) is Value else a.data)  # (a StoredLeaf's: elsewhere)
            else:
                x_append(a.data)
                r, deps = _refer(tape, a, deps)
                ref_append(r)
    except AttributeError:
        if all(isinstance(a, Value) for a in args):
            raise
        # Some arguments are plain numbers: make them constants, and record again.
        return _record(op, tuple(_operand(a, verb, None, op.value) for a in args), verb)
    y = _FORWARD[op](FLOATS, *xs)
    i = len(data)
    data.append(y)
    tape.op.append(op)
    tape.args.append(tuple(refs))
    return _handle(tape, i, deps)


def evaluate(op: Op, args: tuple, k=None) -> float:
    """The forward formula of `op` on the data of `args` (and the constant `k`), as a float."""
    if op in WITH_CONSTANT:
        return _FORWARD[op](FLOATS, *[a.data for a in args], k)
    return _FORWARD[op](FLOATS, *[a.data for a in args])


# Recording a node computes its data first: if the formula raises, nothing is recorded and the
# graph built so far is left intact. These two are the hot path, _record unrolled.


def _record1(op: Op, a: Value, k=None) -> Value:
    tape = a._tape
    x = a.data if tape is None else tape.data[a._i]  # (a leaf's data may live elsewhere)
    y = _FORWARD[op](FLOATS, x) if k is None else _FORWARD[op](FLOATS, x, k)
    tape = CURRENT.tape
    data = tape.data
    if len(data) >= tape.limit:
        tape = fresh_tape()
        data = tape.data
    if a._tape is tape:
        ref, deps = a._i, a._deps
    else:
        ref, deps = _refer(tape, a, None)
    i = len(data)
    data.append(y)
    tape.op.append(op)
    tape.args.append((ref,))
    if k is not None:
        tape.k[i] = k
    v = _new(Value)
    v._tape = tape
    v._i = i
    v._deps = deps
    return v


def _record_with_constant(op: Op, a: Value, c: float) -> Value:
    """`a` op `c` for a number `c`: the constant's entry and the node's, in one go (the same
    two entries _constant and _record2 would make, for the commonest shape, x * 0.5)."""
    ta = a._tape
    y = _FORWARD[op](FLOATS, a.data if ta is None else ta.data[a._i], c)
    tape = CURRENT.tape
    data = tape.data
    if len(data) >= tape.limit - 1:
        tape = fresh_tape()
        data = tape.data
    if ta is tape:
        ra, deps = a._i, a._deps
    else:
        ra, deps = _refer(tape, a, None)
    i = len(data)
    data.append(c)
    data.append(y)
    ops, args = tape.op, tape.args
    ops.append(Op.LEAF)
    ops.append(op)
    args.append(())
    args.append((ra, i))
    v = _new(Value)
    v._tape = tape
    v._i = i + 1
    v._deps = deps
    return v


def _record2(op: Op, a: Value, b: Value) -> Value:
    ta = a._tape
    tb = b._tape
    y = _FORWARD[op](
        FLOATS,
        a.data if ta is None else ta.data[a._i],  # (a leaf's data may live elsewhere)
        b.data if tb is None else tb.data[b._i],
    )
    tape = CURRENT.tape
    data = tape.data
    if len(data) >= tape.limit:
        tape = fresh_tape()
        data = tape.data
    if ta is tape:
        ra, deps = a._i, a._deps
    elif ta is None:
        ra, deps = _hold(tape, a), None
    else:
        ra, deps = _refer(tape, a, None)
    if tb is tape:
        rb = b._i
        if b._deps is not deps:
            deps = merge_deps(deps, b._deps)
    elif tb is None:
        rb = _hold(tape, b)
    else:
        rb, deps = _refer(tape, b, deps)
    i = len(data)
    data.append(y)
    tape.op.append(op)
    tape.args.append((ra, rb))
    v = _new(Value)
    v._tape = tape
    v._i = i
    v._deps = deps
    return v


__all__ = ["view", "evaluate"]
