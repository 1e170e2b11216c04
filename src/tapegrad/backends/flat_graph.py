"""A recorded Graph as flat NumPy arrays, read straight from its records, for compiling it
(numpy.py): what compiling asks of every node -- its op, its arguments, how often it is used,
its level, whether it leads to a leaf that needs a gradient -- answered over all nodes at once.

    flat = FlatGraph(graph)        # nodes in the Graph's order (graph.nodes)
    flat.ops[i], flat.code[i]      node i's Op (a list), and the same as a small int (an array)
    flat.args[i]                   its arguments, a tuple of node indices (made when asked)
    flat.refs, flat.starts, flat.lengths    every node's arguments, one after another
    flat.data[i]                   the number it holds: a leaf's data, or its record's
    flat.uses[j]                   how often node j is an argument (flat.users: by which node)

Why not Graph.arg_indices: it makes a tuple per node, and compiling would then walk those one
node at a time. Here each record's lists are read with a few C-level calls (itemgetter picks
the entries, fromiter flattens their arguments, one NumPy gather maps entries to positions).

`levels` then gives every node its level and whether it needs a gradient, a wave of nodes at a
time, in NumPy; a deep, narrow graph, whose waves are tiny, is finished by a plain loop over
its nodes instead (one pass, linear in its size).
"""

from itertools import chain as _chain
from operator import itemgetter as _itemgetter

import numpy as _np

from ..ops import RULES, Op

CODES = {op: k for k, op in enumerate([Op.LEAF, *RULES])}


def _pick(entries: list, items: list) -> tuple:
    """items[e] for every e of entries, as a tuple (itemgetter, which gives one item bare)."""
    if not entries:
        return ()
    picked = _itemgetter(*entries)(items)
    return picked if len(entries) > 1 else (picked,)


class _Args:
    """``args[i]``: node i's arguments as a tuple, sliced from the flat array when asked (only
    the few nodes walked one by one are: additions, cross-entropies)."""

    def __init__(self, refs: _np.ndarray, starts: _np.ndarray):
        self.refs, self.starts = refs, starts.tolist()

    def __getitem__(self, i: int) -> tuple:
        return tuple(self.refs[self.starts[i]:self.starts[i + 1]].tolist())


class FlatGraph:
    """The nodes of `graph` (its positions: leaves first, then each record's entries) as arrays;
    see the module docstring."""

    def __init__(self, graph):
        homes, entries, at = graph._positions()
        n_leaves = next((p for p, e in enumerate(entries) if e >= 0), len(entries))
        self.n_leaves, self.n = n_leaves, len(entries)
        self.ops = [Op.LEAF] * n_leaves
        data = [leaf.data for leaf in homes[:n_leaves]]
        stretches, p = [], n_leaves
        self.lengths = _np.zeros(self.n, dtype=_np.intp)
        for rec, _mask, _first, _last in graph._stretches:
            here = _np.array(at[rec], dtype=_np.intp)
            own = _np.flatnonzero(here >= p).tolist()  # (an import stands at an older place)
            args = _pick(own, rec.args)
            self.lengths[p:p + len(own)] = _np.fromiter(map(len, args), _np.intp, len(own))
            stretches.append((here, args, p, p + len(own)))
            self.ops += _pick(own, rec.op)
            data += _pick(own, rec.data)
            p += len(own)
        self.starts = _np.zeros(self.n + 1, dtype=_np.intp)
        _np.cumsum(self.lengths, out=self.starts[1:])
        self.refs = _np.empty(int(self.starts[-1]), dtype=_np.intp)
        for here, args, low, high in stretches:  # each record's references, mapped to positions
            a, b = int(self.starts[low]), int(self.starts[high])
            _np.take(here, _np.fromiter(_chain.from_iterable(args), _np.intp, b - a),
                     out=self.refs[a:b])
        self.code = _np.fromiter(map(CODES.__getitem__, self.ops), dtype=_np.int16, count=self.n)
        self.data = _np.array(data, dtype=_np.float64)
        self.args = _Args(self.refs, self.starts)
        self.uses = _np.bincount(self.refs, minlength=self.n)

    def users(self, nodes: _np.ndarray) -> _np.ndarray:
        """For each node of `nodes` (each used once), the node that uses it."""
        asked = _np.zeros(self.n, dtype=bool)
        asked[nodes] = True
        at = _np.flatnonzero(asked[self.refs])
        user = _np.full(self.n, -1, dtype=_np.intp)
        user[self.refs[at]] = _np.searchsorted(self.starts, at, side="right") - 1
        return user[nodes]

    def first_args(self) -> _np.ndarray:
        """Each node's first argument (-1 for a node without arguments)."""
        first = _np.full(self.n, -1, dtype=_np.intp)
        has = self.lengths > 0
        first[has] = self.refs[self.starts[:-1][has]]
        return first

    def columns(self, members: _np.ndarray, width: int) -> _np.ndarray:
        """The arguments of `members` (each with `width` of them) as a (members, width) array."""
        return self.refs[self.starts[members][:, None] + _np.arange(width)]

    def constant(self, i: int) -> "float | None":
        """The number node i holds if it is a constant (a record's entry made from a number,
        not a leaf the user can change), else None."""
        return self.data.item(i) if i >= self.n_leaves and self.ops[i] is Op.LEAF else None


# After this many waves, a wave that finishes less than this fraction of the nodes still waiting
# says the graph is deep and narrow: `levels` goes on with a loop over the nodes (each wave
# reads every waiting node's references, so many small waves would cost more than a loop).
NARROW_AFTER = 16


def levels(n: int, nodes: _np.ndarray, counts: _np.ndarray, src: _np.ndarray,
           need: _np.ndarray):
    """Each node's level -- 0 without arguments, else 1 + its arguments' highest -- and whether
    it needs a gradient: `need` as given for nodes without arguments, else whether any of its
    arguments needs one. The nodes with arguments are `nodes` (each once, in any order), node
    nodes[k] having counts[k] of them, the next counts[k] of `src`. Returns (level, need).

    A wave at a time: the waiting nodes whose arguments all have their level are the next
    wave, one level higher. Each wave reads the references of the nodes still waiting, with
    NumPy: a few passes over each reference for a graph of a few levels, such as a network's."""
    level, need, done = _np.zeros(n, dtype=_np.intp), need.copy(), _np.ones(n, dtype=bool)
    done[nodes] = False
    wave = 0
    while nodes.size:
        wave += 1
        starts = _np.zeros(nodes.size, dtype=_np.intp)
        _np.cumsum(counts[:-1], out=starts[1:])
        ready = _np.logical_and.reduceat(done[src], starts)
        now = nodes[ready]
        need[now] = _np.logical_or.reduceat(need[src], starts)[ready]
        level[now] = wave
        done[now] = True
        waiting = ~ready
        nodes, src, counts = nodes[waiting], src[_np.repeat(waiting, counts)], counts[waiting]
        if wave >= NARROW_AFTER and now.size * NARROW_AFTER < nodes.size:
            return _levels_one_by_one(nodes, counts, src, level, need)
    return level, need


def _levels_one_by_one(nodes, counts, src, level, need):
    """`levels` finished node by node, in order, for the nodes still waiting."""
    starts = _np.zeros(nodes.size + 1, dtype=_np.intp)
    _np.cumsum(counts, out=starts[1:])
    src_list, starts_list = src.tolist(), starts.tolist()
    level_list, need_list = level.tolist(), need.tolist()
    for k in _np.argsort(nodes, kind="stable").tolist():
        i, args = int(nodes[k]), src_list[starts_list[k]:starts_list[k + 1]]
        level_list[i] = 1 + max(map(level_list.__getitem__, args))
        need_list[i] = any(map(need_list.__getitem__, args))
    return _np.array(level_list, dtype=_np.intp), _np.array(need_list, dtype=bool)


__all__ = ["FlatGraph", "CODES", "levels"]
