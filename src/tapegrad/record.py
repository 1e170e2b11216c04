"""The record: where the nodes of a computation live, and the reverse sweep over them.

A record is one stretch of recording, kept as parallel lists (a Wengert list):

    rec.data[i]   the number node i computed         rec.op[i]   the Op that made it
    rec.args[i]   its arguments, as entry numbers    rec.k[i]    the constant of x ** k
    rec.grad[i]   d(output)/d(node i), once a backward sweep has run

**Every argument is an entry of the same record.** A Value from outside the record -- a leaf
(an input or a parameter, which keeps its own data and grad), or a node of an older record -- is
*imported* once, as an entry of op LEAF that stands for it. A sweep reads an import's data from
what it stands for first, and hands the gradient that reached it back at the end. Numbers used as
operands (the 2 of ``2 * x``) are entries of op LEAF too, standing for nothing: constants.

Why lists and not one object per node: CPython's garbage collector walks every live object that
can hold references, again and again while a program allocates. A graph of a million node
objects costs about 0.65 µs a node in collector passes alone. Lists of numbers cost it nothing;
the `Value` a user holds is a small handle (record, entry) that dies when the user drops it.

**Order.** Records are numbered as they are made, and an entry only ever refers to its own record
or an older one (recording starts a fresh record rather than refer to a newer one). So records in
order of their numbers, each in entry order, are a topological order of every node there is, and
one backward sweep over several records is: newest first, each one loop, carrying the running
totals down to older records' entries.

**Lifetime.** A handle keeps its record alive. A record ends -- new nodes go on a fresh one --
when a backward sweep has run on it, and when it is full (`CAPACITY`): a training step's graph
owns a record of its own, freed by reference counting once its loss is dropped. An import of an
older record's node holds that record only weakly: the entries that depend on such imports are
marked (``tainted``), and the handle of a marked entry holds the older records it may need (an
import passes on its home's needs only when the imported node is itself marked). So a record is
not kept alive by a newer one for nodes nobody uses any more, and a loop that never calls
backward() keeps only what its live Values need.

**Threads.** Each thread records on a record of its own; sweeps (backward, replay, the sweeps of
grad and jvp) take one lock, so concurrent backward calls into a shared parameter add up exactly.
"""

import _thread
import itertools as _itertools
import _weakref
from bisect import bisect_left

from .ops import FLOATS, PARTIALS, Op

CAPACITY = 1 << 17  # entries a record takes before new nodes go on a fresh one

LOCK = _thread.RLock()  # held by every sweep
SERIALS = _itertools.count()  # numbers records, and leaves (value.py), in the order made
AFTER_BACKWARD = []  # called with the records each backward() swept (tapegrad.memory's watch)


class Record:
    """The entries of one stretch of recording (see the module docstring). Besides the lists:

    ``k`` and ``labels``: per entry, x ** k's constant, and a label, where there is one;
    ``outside``: per import of a leaf, the leaf; ``older``: per import of an older record's node,
    (weak reference to that record, entry) -- both in entry order, as dicts keep it; ``held``:
    the import of each outside thing, by id(leaf) or (serial, entry); ``tainted``: per entry,
    whether it depends on an import of an older record's node (None until there is one),
    ``needs``: weak references to the records those may need, and ``keep``, the list of those
    records the marked entries' handles hold: the record holds it while it is being written,
    and then only weakly (``kept``; see needed);
    ``views``: weak references to the handles code walking the graph was given (value.node_at);
    ``capacity``: the entries it takes (-1 once it has ended); ``fast_until``: the length below
    which the recorders need check neither room nor taint -- capacity - 2 (room for a node and
    two imports) until an entry is tainted, then -1; ``publisher``: a weak reference to
    a replay elsewhere (the NumPy backend) holding newer numbers than these (see sync)."""

    grad = publisher = tainted = keep = kept = None

    def __init__(self):
        self.serial, self.capacity, self.fast_until = next(SERIALS), CAPACITY, CAPACITY - 2
        self.data, self.op, self.args = [], [], []
        self.k, self.labels, self.outside, self.older, self.held, self.needs, self.views = (
            {}, {}, {}, {}, {}, {}, {})


class _Current(_thread._local):
    """The record new nodes go on, one per thread: threads never write to one record at once."""

    def __init__(self):
        self.record = Record()


CURRENT = _Current()


def fresh() -> Record:
    """Start a new record for this thread's next nodes; the old one ends (it lives on while
    needed)."""
    end(CURRENT.record)
    rec = CURRENT.record = Record()
    return rec


def room() -> Record:
    """The record a new node goes on: this thread's current one while it has room (and has not
    ended), else a fresh one."""
    rec = CURRENT.record
    return rec if len(rec.data) < rec.capacity else fresh()


def end(rec: Record) -> None:
    """The record takes no more entries (it holds gradients, which must stay aligned; or it is
    full; or its thread has moved on), and from now on holds its handles' list of older records
    only weakly."""
    rec.capacity = rec.fast_until = -1
    if rec.keep is not None:
        rec.kept, rec.keep = _weakref.ref(rec.keep), None


def new_leaf_entry(rec: Record, data, older=0) -> int:
    """A new entry of op LEAF, a constant or an import (its caller holds it): its index."""
    i = len(rec.data)
    rec.data.append(data)
    rec.op.append(Op.LEAF)
    rec.args.append(())
    if older and rec.tainted is None:
        rec.tainted, rec.fast_until = bytearray(i), -1
    if rec.tainted is not None:
        rec.tainted.append(older)
    return i


def import_leaf(rec: Record, leaf) -> int:
    """The entry of `rec` that stands for `leaf`, importing it the first time.

    NOTE: a leaf remembers where the latest record to import it holds it, the record's serial
    in ``leaf._seen`` and the entry in ``leaf._i`` (unused otherwise by a leaf), and recording
    checks that first: it saves a dict lookup per leaf argument (parameters are used by every
    sample of a batch), a sixth of the demo's training step. Two numbers, not a tuple: nothing
    for the garbage collector to walk. Serials are never reused, so a stamp is never stale."""
    i = rec.held.get(id(leaf)) if leaf._seen >= 0 else None  # (-1: in no record yet)
    if i is None:
        i = rec.held[id(leaf)] = new_leaf_entry(rec, leaf._data)
        rec.outside[i] = leaf
    leaf._seen, leaf._i = rec.serial, i
    return i


def import_node(rec: Record, home: Record, j: int) -> int:
    """The entry of `rec` that stands for entry `j` of the older record `home`, held weakly (see
    the module docstring)."""
    i = rec.held.get((home.serial, j))
    if i is None:  # (the caller has synced home: its data is current)
        i = rec.held[home.serial, j] = new_leaf_entry(rec, home.data[j], older=1)
        rec.older[i] = (_weakref.ref(home), j)
        rec.needs[home.serial] = _weakref.ref(home)
        if home.tainted is not None and home.tainted[j]:
            rec.needs.update(home.needs)
        rec.keep = _Keep(r() for r in tuple(rec.needs.values()))
    return i


class _Keep(list):
    """Strong references to the older records a record's later entries may need: their handles
    hold it, the record only weakly (so it goes with the last of them)."""

    __slots__ = ("__weakref__",)


def needed(rec: Record, i: int):
    """What the handle of entry `i` must keep alive: the older records it may depend on."""
    if rec.tainted is None or not rec.tainted[i]:
        return None
    keep = rec.keep or (rec.kept and rec.kept())
    if keep is None:  # (made again once the last handle holding it has gone)
        keep = _Keep(r() for r in tuple(rec.needs.values()))
        rec.kept = _weakref.ref(keep)
    return keep


def home_of(rec: Record, i: int):
    """For an import of an older record's node, (that record, its entry); else (None, 0)."""
    ref = rec.older.get(i)
    return (ref[0](), ref[1]) if ref is not None else (None, 0)


def imports(rec: Record, first: int = 0, last=None) -> list:
    """The record's imports from entry `first` to `last` (None: to the end), as two pairs of
    parallel lists: the entries that stand for leaves, and those leaves; the entries that stand
    for older records' nodes, and for each (a weak reference to that record, the entry there).

    NOTE: slices of snapshots, found by bisection (dicts keep the entries' order), and not a
    tuple per import: a sweep pays only for its own stretch's imports, and makes nothing the
    garbage collector must walk (a tuple per import made it re-walk every live Value, more
    than doubling the sweep of a sum of products). Another thread may record meanwhile."""
    pairs = []
    for found in (rec.outside, rec.older):
        entries = list(found)
        high = len(entries) if last is None else bisect_left(entries, last + 1)
        low = bisect_left(entries, first)
        pairs += [entries[low:high], list(found.values())[low:high]]
    return pairs


def refreshed(rec: Record, first: int = 0, last=None) -> list:
    """imports(), each one's data read again from what it stands for (an older record's node
    nobody needs any more keeps its own)."""
    leaf_at, leaves, older_at, olders = found = imports(rec, first, last)
    for i, leaf in zip(leaf_at, leaves):
        rec.data[i] = leaf._data
    for i, (ref, j) in zip(older_at, olders):
        if (home := ref()) is not None:
            sync(home)
            rec.data[i] = home.data[j]
    return found


def sync(rec: Record) -> None:
    """Bring `rec`'s numbers up to date if a replay elsewhere (the NumPy backend) has newer ones."""
    if rec.publisher is not None:
        owner, rec.publisher = rec.publisher(), None
        if owner is not None:
            owner.publish()


# ---------------------------------------------------------------------------------------------
# Reverse mode: one sweep per record, newest first.
# ---------------------------------------------------------------------------------------------


class _Zero:
    """The symbolic zero of a recorded sweep: nothing has arrived. Adding it records no node."""

    __slots__ = ()
    __add__ = __radd__ = lambda self, other: other


ZERO = _Zero()


def backprop(seeds, m=FLOATS, store=True, nodes_of=None, floor=None):
    """Reverse mode from `seeds`, (Value, cotangent) pairs: one sweep per record, newest first.

    With ``store`` (backward), leaves accumulate their gradient in ``.grad`` and every swept
    record keeps its entries' gradients (an older record that only zeros reach is swept too, so
    no gradient of an earlier sweep lingers there); without, nothing is written and the result
    says what reached every node: (a dict of each swept record's gradients by entry, a dict of
    each leaf's total by id).

    ``m`` is the arithmetic. A recorded sweep (``m`` the Value arithmetic, or any Value among
    the seeds) reads its nodes as Values through ``nodes_of(rec)`` and starts from ZERO.
    ``floor``, (record, entry), is where the sweep may stop: nothing below it is wanted.
    """
    seeds = list(seeds)
    zero = ZERO if m is not FLOATS or any(not isinstance(c, (int, float)) for _, c in seeds) else 0.0
    with LOCK:
        pending, totals, swept = {}, {}, {}  # record -> {entry: running total}; id(leaf) -> its
        for v, ct in seeds:
            if v._rec is None:
                totals[id(v)] = totals.get(id(v), v.grad if store else zero) + ct
                if store:
                    v.grad = totals[id(v)]
            else:
                seed = pending.setdefault(v._rec, {})
                seed[v._i] = seed[v._i] + ct if v._i in seed else ct
        while pending:
            seed = pending.pop(rec := max(pending, key=lambda r: r.serial))
            if floor is None or rec.serial >= floor[0].serial:  # (older ones are not wanted)
                bottom = floor[1] if floor is not None and rec is floor[0] else 0
                swept[rec] = _sweep(rec, seed, pending, totals, m, store, zero, nodes_of, bottom)
        for rec, grad in swept.items() if store else ():  # each swept record holds this sweep's (0 where
            end(rec)  # it reached nothing), and takes no more entries: they must stay aligned
            rec.grad = grad
        for watch in AFTER_BACKWARD if store else ():
            watch(swept)
        if CURRENT.record.capacity < 0:  # (so the swept record goes with its loss)
            fresh()
        return swept, totals


def _sweep(rec, seed, pending, totals, m, store, zero, nodes_of, bottom):
    """The reverse sweep of one record, from its seeded entries down to `bottom` at most: its
    gradients. Imports start from the running total of what they stand for, and hand it on."""
    sync(rec)
    top = max(seed)
    grad = [zero] * (top + 1)
    for i, g in seed.items():
        grad[i] = grad[i] + g
    leaf_at, leaves, older_at, olders = refreshed(rec, bottom, top)
    # An import starts from its leaf's running total: backward() keeps it in the leaf's own
    # field, _grad (None, which a user may set, counts as 0); a sweep that stores nothing, in
    # totals.
    for i, leaf in zip(leaf_at, leaves):
        grad[i] = (leaf._grad or 0.0) if store else totals.get(id(leaf), zero)
    for i, (ref, j) in zip(older_at, olders):
        grad[i] = pending.get(ref(), {}).get(j, zero)
    values = rec.data if m is FLOATS else nodes_of(rec)
    ADD, MUL, floats = Op.ADD, Op.MUL, zero is not ZERO  # (floats: a sweep of numbers)
    ops, args = rec.op, rec.args
    low = min(seed)  # no entry below the lowest one a gradient was sent to gets one
    for n in range(top, bottom - 1, -1):
        g = grad[n]
        refs = args[n]
        # NOTE: an entry whose gradient is 0 (behind a dead ReLU, say) contributes nothing,
        # so it is skipped: about a third of the demo's sweep. Like JAX's symbolic zeros, this
        # also means 0 · inf (sqrt at 0 behind a zero gradient) gives 0, not nan. A recorded
        # sweep skips only ZERO: a Value that is 0 now may have a derivative that is not.
        if not refs or (g is ZERO if zero is ZERO else not g):
            if n < low:  # (below low nothing was sent: every entry there is skipped)
                break
            continue
        # NOTE: + and * -- most nodes -- unrolled, with their partials, (1, 1) and (b, a),
        # written in: no call, a sixth of the sweep (+ on numbers only: g, not g · 1, would hand
        # one cotangent object to two entries; tests/test_record.py checks both against the
        # rule table's). Every other op's partials come from the table.
        op = ops[n]
        if op is ADD and floats:
            a, b = refs
            grad[a] += g
            grad[b] += g
        elif op is MUL:
            a, b = refs
            grad[a] += g * values[b]
            grad[b] += g * values[a]
        else:
            for r, d in zip(refs, partials_at(rec, n, values, m)):
                grad[r] += g * d
            low = min(low, *refs)
            continue
        low = a if a < low else low
        low = b if b < low else low
    for i, leaf in zip(leaf_at, leaves):  # hand the imports' running totals on
        if i >= low and store:
            leaf._grad = grad[i]
        elif i >= low:
            totals[id(leaf)] = grad[i]
    for i, (ref, j) in zip(older_at, olders):
        home, g = ref(), grad[i]
        if i >= low and home is not None and (
                store or (g is not ZERO if zero is ZERO else g or j in pending.get(home, ()))):
            pending.setdefault(home, {})[j] = g
    return grad


def operands(rec: Record, n: int, values) -> list:
    """What entry `n`'s rule takes, read from `values` (the record's data, or its nodes as
    Values): its arguments, and last the op's constant where it has one (x ** k's k)."""
    xs = [values[r] for r in rec.args[n]]
    if n in rec.k:
        xs.append(rec.k[n])
    return xs


def partials_at(rec: Record, n: int, values, m=FLOATS) -> tuple:
    """Entry `n`'s local derivatives ∂y/∂x_i from the rule table, at `values`."""
    return PARTIALS[rec.op[n]](m, values[n], *operands(rec, n, values))


def found_at(values, i: int):
    """Entry `i` of a sweep's results for one record: None where nothing reached it."""
    x = values[i] if i < len(values) else None
    return None if x is ZERO else x


# ---------------------------------------------------------------------------------------------
# What some outputs depend on: a backward marking pass per record, newest first (no recursion).
# ---------------------------------------------------------------------------------------------


def reach(outputs) -> dict:
    """For each record the outputs depend on: (a mask of the entries they reach, the lowest
    and the highest such entry). Leaves are reached through the imports that stand for them."""
    pending, found = {}, {}  # record -> [mask, lowest mark, highest mark]

    def mark(rec, i):
        marks = pending.setdefault(rec, [bytearray(len(rec.data)), i, i])
        marks[0][i] = 1
        marks[1], marks[2] = min(marks[1], i), max(marks[2], i)

    for out in outputs:
        if out._rec is not None:
            mark(out._rec, out._i)
    while pending:  # newest first: only newer records mark older ones
        mask, low, n = marks = pending.pop(rec := max(pending, key=lambda r: r.serial))
        while n >= low:  # down from the highest mark, to the lowest one found so far
            if mask[n]:
                for r in rec.args[n]:
                    mask[r] = 1
                    if r < low:
                        low = r
                if n in rec.older:
                    mark(*home_of(rec, n))
            n -= 1
        found[rec] = (mask, low, marks[2])
    return found


__all__ = ["Record", "CURRENT", "CAPACITY", "LOCK", "ZERO", "backprop", "reach", "fresh"]
