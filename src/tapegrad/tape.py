"""Tape: where the nodes of a graph live, as parallel arrays (a Wengert list).

Every interior node (and every number used as a constant) is one entry of a tape:

    tape.data[i]   the number the node computed
    tape.op[i]     the Op that made it (Op.LEAF for a constant)
    tape.args[i]   its arguments, as references (below); () for a constant
    tape.k[i]      the constant operand of ops that take one (x ** k), kept only for those
    tape.grad[i]   d(output)/d(node), once a backward sweep has run

A reference ``r`` to an argument is an int: ``r >= 0`` is entry ``r`` of the same tape, and
``r < 0`` is ``tape.ext[~r]``, something outside it: a leaf Value (an input or a parameter,
which keeps its own data and grad), or ``(serial, j)``, entry ``j`` of an older tape. A tape
holds each outside thing once, however many of its entries use it.

Why arrays and not one object per node: CPython's garbage collector tracks every object that
can hold references and walks all the live ones again and again while a program allocates. A
million-node graph of node objects costs about 0.65 µs a node in collector passes alone, though
the graph has no cycles. A tape is a handful of lists of numbers and tuples of ints, which the
collector skips; the `Value` objects users hold are small handles (tape, i) that die as soon as
the user's code drops them.

**Lifetime.** A handle keeps its tape alive, and also every older tape its node depends on
(``Value._deps``), so a tape is freed as soon as nothing that needs it is held. New nodes go on
the *current* tape; it is replaced by a fresh one when it fills up (`CAPACITY` entries) and when
a backward sweep has run on it (a training step's graph then gets a tape of its own, freed with
the step's loss). References only ever point to the same tape or an older one: so tapes in order
of their serial numbers, each in array order, are a topological order of every node there is.
"""

from __future__ import annotations

import itertools
import math
import threading
import weakref

from .ops import FLOATS, RULES, WITH_CONSTANT, Op

CAPACITY = 1 << 16  # entries a tape takes before new nodes go on a fresh one

_serials = itertools.count()


class Tape:
    """The entries of one stretch of recording; see the module docstring."""

    __slots__ = (
        "serial", "limit", "data", "op", "args", "ext", "held", "k", "labels", "grad", "views",
        "__weakref__",
    )

    def __init__(self):
        self.serial = next(_serials)
        self.limit = CAPACITY  # entries it takes; 0 once it is retired (see retire)
        self.data: list[float] = []
        self.op: list[Op] = []
        self.args: list[tuple[int, ...]] = []
        self.ext: list = []  # leaf Values and (serial, j) of older tapes' entries
        self.held: dict = {}  # (serial, j), or a leaf's id -> its reference: each held once
        self.k: dict[int, object] = {}
        self.labels: dict[int, str] = {}
        self.grad: list[float] | None = None
        self.views: dict = {}  # entry -> weak reference to the Value handed out for it
        LIVE_TAPES[self.serial] = self

    def __len__(self) -> int:
        return len(self.data)

    def retire(self) -> None:
        """Take no more entries: recording, on any thread, moves on to a fresh tape. A tape is
        retired once it holds gradients, which must stay aligned with its entries."""
        self.limit = 0

    def __repr__(self) -> str:
        return f"<Tape #{self.serial}: {len(self.data)} entries, {len(self.ext)} outside refs>"


LIVE_TAPES: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # serial -> Tape


class _Current(threading.local):
    """The tape new nodes go on (``CURRENT.tape``), one per thread: two threads recording at
    once must not interleave their entries on one tape."""

    def __init__(self):
        self.tape = Tape()


CURRENT = _Current()


def fresh_tape() -> Tape:
    """Retire the current tape (it stays alive while anything holds its nodes) and start one."""
    tape = CURRENT.tape = Tape()
    return tape


def with_tape(deps: dict | None, tape: Tape) -> dict:
    """`deps` (serial -> Tape, or None) plus `tape`, sharing `deps` when it already has it."""
    if deps is None:
        return {tape.serial: tape}
    if tape.serial in deps:
        return deps
    merged = dict(deps)
    merged[tape.serial] = tape
    return merged


def merge_deps(a: dict | None, b: dict | None) -> dict | None:
    """The union of two handles' dependency maps, sharing one of them whenever it covers both."""
    if b is None or b is a:
        return a
    if a is None or a.keys() <= b.keys():
        return b
    if b.keys() <= a.keys():
        return a
    return {**a, **b}


def tapes_of(values) -> dict:
    """serial -> Tape for every tape the given Values' nodes live on or depend on."""
    tapes: dict[int, Tape] = {}
    for v in values:
        t = v._tape
        if t is not None:
            tapes[t.serial] = t
            if v._deps:
                tapes.update(v._deps)
    return tapes


# ---------------------------------------------------------------------------------------------
# Reverse mode over tapes
# ---------------------------------------------------------------------------------------------

_PARTIALS = {op: rule.partials for op, rule in RULES.items()}


def backprop(outputs, found: Reach | None = None) -> None:
    """Add 1 to each output's gradient and back-propagate: one reverse sweep per tape involved.

    Interior nodes reached from the outputs hold this call's gradient afterwards (they are
    reset, so a second call never double-counts); leaves, and constants, accumulate, as in
    micrograd and PyTorch. `found`, the outputs' `reach()` when the caller has it (a Graph
    does), says which entries of each tape the outputs depend on.
    """
    outputs = tuple(outputs)
    tapes = tapes_of(outputs)
    if found is None and any(tape.grad is not None for tape in tapes.values()):
        # Some tape holds an earlier sweep's gradients: which of its entries this graph
        # reaches decides which of them to reset.
        found = reach(outputs, tapes)
    seeds: dict[int, dict[int, float]] = {}
    for out in outputs:
        if out._tape is None:
            out.grad += 1.0
        else:
            seed = seeds.setdefault(out._tape.serial, {})
            seed[out._i] = seed.get(out._i, 0.0) + 1.0
    # Newest tape first: entries only refer to their own tape or older ones, so by the time a
    # tape is swept, every contribution to it has arrived.
    for serial in sorted(tapes, reverse=True):
        tape = tapes[serial]
        if serial in seeds:
            _sweep(tape, seeds.pop(serial), seeds, tapes, found)
        elif found is not None and serial in found.spans and tape.grad is not None:
            _store_grad(tape, [], 0, found)  # reached, but only by zeros: reset


def _sweep(tape: Tape, seed: dict, pending: dict, tapes: dict, found=None) -> None:
    """Back-propagate through one tape from the seeded entries (index -> gradient). Gradients
    that leave the tape go to leaves, and to older tapes' entries through `pending`; `found`
    says which entries the outputs depend on (needed when the tape holds older gradients)."""
    from .value import Value  # (value.py imports this module)

    ext = tape.ext
    # A leaf's slot starts from the leaf's own gradient and is written back at the end, so its
    # terms add up one by one in the order the sweep meets them, across tapes: micrograd's sums.
    starts = [
        item._grad if type(item) is Value else _running_total(item, pending) for item in ext
    ]
    grad, low = _reverse(tape, seed, tapes, starts)
    for k, item in enumerate(ext):
        g = grad[~k]
        if type(item) is Value:
            item._grad = g  # a plain leaf: its slot, skipping the property
        elif type(item) is tuple:
            _send(pending, item, g)
        elif g != item.grad:
            item.grad = g  # a leaf keeping its grad elsewhere (a NumPy Graph's StoredLeaf)
    del grad[max(seed) + 1 :]
    _store_grad(tape, grad, low, found)


def _reverse(tape: Tape, seed: dict, tapes: dict, starts: list) -> tuple[list, int]:
    """The reverse sweep of one tape, with no side effects: (grad, low), where grad holds the
    gradients of the entries up to the highest seed, then one slot per outside reference,
    started at `starts` (grad[~k] is ext[k]'s); no entry below `low` got a gradient.

    The work is the graph's stretch of the tape, not the tape: it starts at the highest seed
    and stops below the lowest entry a gradient reached."""
    from .value import Value  # (value.py imports this module)

    ops, args = tape.op, tape.args
    top = max(seed)
    # The entries' data up to the top seed, then the outside references' data in reverse: then
    # Python's negative indexing makes values[r] and grad[r] ext[~r]'s for every r < 0. (A copy,
    # so the tape is only read: another thread may be recording on it.)
    values = tape.data[: top + 1]
    values += [
        item._data if type(item) is Value else outside_data(item, tapes) for item in tape.ext[::-1]
    ]
    grad = [0.0] * (top + 1)
    grad += starts[::-1]
    for i, g in seed.items():
        grad[i] += g
    partials_of, floats, with_constant = _PARTIALS, FLOATS, WITH_CONSTANT

    low = min(seed)  # no entry below the lowest one a gradient was sent to gets one
    for n in range(top, -1, -1):
        if n < low:
            break
        g = grad[n]
        refs = args[n]
        # NOTE: an entry whose gradient is 0 (behind a dead ReLU, say) contributes nothing,
        # so it is skipped: about a third of the demo's sweep. Like JAX's symbolic zeros,
        # this also means 0 · inf (sqrt at 0 behind a zero gradient) gives 0, not nan.
        if not g or not refs:
            continue
        op = ops[n]
        # NOTE: the two-argument shape most nodes have, unrolled; the math still comes from
        # the rule table.
        if len(refs) == 2:
            a, b = refs
            da, db = partials_of[op](floats, values[n], values[a], values[b])
            grad[a] += g * da
            grad[b] += g * db
            if 0 <= a < low:
                low = a
            if 0 <= b < low:
                low = b
            continue
        xs = [values[r] for r in refs]
        if op in with_constant:
            xs.append(tape.k[n])
        for r, d in zip(refs, partials_of[op](floats, values[n], *xs)):
            grad[r] += g * d
            if 0 <= r < low:
                low = r
    return grad, low


def _send(pending: dict, item: tuple, g: float) -> None:
    """Pass an older tape's entry its running total (see _running_total)."""
    serial, j = item
    into = pending.get(serial)
    if g or (into is not None and j in into):
        pending.setdefault(serial, {})[j] = g


def cotangents(seeds: dict, wanted) -> list[float]:
    """Reverse mode on floats without side effects: for each Value in `wanted`, the gradient of
    Σ seed · output over the `seeds` (output Value -> float). No ``.grad`` is touched, on any
    tape or leaf: this is what ``grad()`` of a function of numbers needs. The sums run in the
    same order as backward()'s, so the floats are the same."""
    outputs = tuple(seeds)
    tapes = tapes_of(outputs)
    totals: dict[int, float] = {}  # id(leaf) -> its running total
    pending: dict[int, dict[int, float]] = {}
    for out, ct in seeds.items():
        if out._tape is None:
            totals[id(out)] = totals.get(id(out), 0.0) + ct
        else:
            seed = pending.setdefault(out._tape.serial, {})
            seed[out._i] = seed.get(out._i, 0.0) + ct
    swept: dict[int, tuple[list, int]] = {}
    for serial in sorted(tapes, reverse=True):
        seed = pending.pop(serial, None)
        if not seed:
            continue
        tape = tapes[serial]
        ext = tape.ext
        starts = [
            _running_total(item, pending) if type(item) is tuple else totals.get(id(item), 0.0)
            for item in ext
        ]
        grad, low = _reverse(tape, seed, tapes, starts)
        for k, item in enumerate(ext):
            if type(item) is tuple:
                _send(pending, item, grad[~k])
            else:
                totals[id(item)] = grad[~k]
        swept[serial] = (grad, low, max(seed))
    result = []
    for v in wanted:
        tape = v._tape
        if tape is None:
            result.append(totals.get(id(v), 0.0))
            continue
        grad, low, top = swept.get(tape.serial, (None, 0, -1))
        result.append(grad[v._i] if grad is not None and low <= v._i <= top else 0.0)
    return result


def _running_total(item, pending: dict) -> float:
    """Where an outside reference's gradient slot starts: a leaf's gradient, or what newer
    tapes have sent an older tape's entry so far. The slot is written back after the sweep."""
    if type(item) is tuple:
        serial, j = item
        return pending.get(serial, {}).get(j, 0.0)
    return item.grad


def outside_data(item, tapes: dict) -> float:
    """The data of an outside reference (an item of some tape's ext): a leaf's, or an older
    tape's entry's, found in `tapes` (serial -> Tape)."""
    if type(item) is tuple:
        # An entry that no output depends on may refer to a tape already freed; its data is
        # never read, since no gradient reaches it.
        tape = tapes.get(item[0])
        return tape.data[item[1]] if tape is not None else math.nan
    return item.data


def _store_grad(tape: Tape, grad: list, low: int, found) -> None:
    """Keep a sweep's gradients (`grad`: entries up to its top; zero below `low`) on the tape:
    the first sweep's as they are; a later one's only for the entries the outputs depend on
    (others keep theirs), with constants accumulating."""
    tape.retire()  # a swept tape is a finished step's: new nodes go on a tape of their own
    old = tape.grad
    if old is None:
        grad += [0.0] * (len(tape.data) - len(grad))
        tape.grad = grad
        return
    reached = found.marks[tape.serial]
    first, last = found.spans.get(tape.serial, (0, -1))
    args = tape.args
    # Only the graph's stretch: (a Graph's masks end where the tape did when it was built)
    for n in range(first, min(last + 1, len(old), len(reached))):
        if reached[n]:
            new = grad[n] if low <= n < len(grad) else 0.0
            old[n] = new if args[n] else old[n] + new


class Reach:
    """What some outputs depend on: per tape (by serial) a mask of its entries, and the span
    of entries marked; and the leaves, by id, with the first entry that uses each,
    (serial, index)."""

    __slots__ = ("marks", "spans", "leaves", "first_use")

    def __init__(self, marks: dict, spans: dict, leaves: dict, first_use: dict):
        self.marks, self.spans, self.leaves, self.first_use = marks, spans, leaves, first_use


def reach(outputs, tapes: dict | None = None) -> Reach:
    """Mark every node the outputs depend on: one backward pass per tape, newest first (never
    recursion). A pass stops once nothing marked is left below it, so a graph at the end of a
    long tape (shared with earlier, unrelated work) costs its own size, not the tape's."""
    if tapes is None:
        tapes = tapes_of(outputs)
    marks = {serial: bytearray(len(tape.data)) for serial, tape in tapes.items()}
    todo = dict.fromkeys(tapes, 0)  # per tape, marked entries not yet visited
    spans: dict[int, tuple[int, int]] = {}
    leaves: dict[int, object] = {}
    first_use: dict[int, tuple[int, int]] = {}

    def mark(serial: int, n: int) -> None:
        if not marks[serial][n]:
            marks[serial][n] = 1
            todo[serial] += 1
            low, high = spans.get(serial, (n, n))
            spans[serial] = (min(low, n), max(high, n))

    for out in outputs:
        if out._tape is None:
            leaves[id(out)] = out
        else:
            mark(out._tape.serial, out._i)
    for serial in sorted(tapes, reverse=True):
        if serial not in spans:
            continue
        marked, args, ext = marks[serial], tapes[serial].args, tapes[serial].ext
        n = spans[serial][1]
        while todo[serial]:
            if marked[n]:
                todo[serial] -= 1
                for r in args[n]:
                    if r >= 0:
                        if not marked[r]:
                            marked[r] = 1
                            todo[serial] += 1
                        continue
                    item = ext[~r]
                    if type(item) is tuple:
                        mark(*item)
                    else:
                        leaves[id(item)] = item
                        first_use[id(item)] = (serial, n)  # the sweep goes down: earliest last
                spans[serial] = (n, spans[serial][1])
            n -= 1
    return Reach(marks, spans, leaves, first_use)


__all__ = [
    "Tape", "CURRENT", "CAPACITY", "backprop", "cotangents", "fresh_tape", "tapes_of", "reach"
]
