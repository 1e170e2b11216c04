"""The NumPy backend: a recorded Graph compiled once into a few vectorised calls per sweep.

    g = Graph(loss)
    run = compile_graph(g)      # once
    run.forward()               # loss.data is current
    run.backward()              # every leaf's .grad has accumulated d(loss)/d(leaf)

Compiling does four things, so that a sweep does no Python work per node:

1. **Leaves move into arrays.** Every leaf (input, parameter) becomes a StoredLeaf whose
   ``data`` and ``grad`` are entries of this executor's arrays (see leaf_store.py): the user's
   ``x.data = 3.0`` lands where the next forward() reads it, and an optimizer updates all
   parameters in one array operation. A leaf already held by another compiled Graph stays there
   and is copied in (forward) and out (backward) with one fancy-indexing call per store. Numbers
   used as constants (the 2 of ``2 * x``) are copied in once.
2. **Chains of additions are fused.** An ADD used only by another ADD, as its left operand, is
   folded into it, so Python's ``sum(xs)`` (a chain ``((0 + x0) + x1) + ...``) becomes one node
   with many terms, computed with one ``np.bincount``, which adds left to right from 0.0: the
   chain's own floats (but for the sign of a zero: 0.0 + (-0.0) is 0.0). A right operand that is
   a sum, ``a + (b + c)``, is its own sum, so every addition happens in eager's order.
3. **Nodes are grouped by level and op.** A node's level is the longest path from the leaves
   to it; nodes of one level never depend on each other, so each (level, op) group is one call
   of the rule table's formula on arrays: ``RULES[op].forward(NUMPY_MATH, *columns)``, and its
   ``partials`` in backward. Each group's results are contiguous in the value array, ordered
   like their arguments, so the next group usually reads them as a view, not a copy.
4. **Neurons become matrix products.** A group of DOT nodes (``b + Σ w_i x_i``) that is a full
   grid of "the same J neurons applied to the same S input rows" -- a layer applied to a batch --
   runs as ``X @ W.T + b``; backward as ``dY @ W``, ``dY.T @ X`` and ``dY.sum(0)``. Any other
   DOT group runs through the rule table like every other op.

Backward walks the groups in reverse level order and scatter-adds each group's cotangents into
its arguments: in place through a view where their positions are evenly spaced, by fancy
indexing elsewhere, with ``np.add.at`` where a position repeats (a weight shared by many nodes).

Like the python backend, a node whose cotangent is 0 contributes nothing, even through an
infinite local derivative (0 · inf is 0, not nan: sqrt at 0 behind a dead relu). The vectorised
sweep multiplies anyway; when a nan reaches a leaf it sweeps again with those products masked.

Semantics are the python Graph's: after forward() every output's ``.data`` is current; after
backward() leaves have accumulated their gradient and outputs hold theirs. Interior Values are
*not* updated on each sweep (that would be a Python loop per node): call ``publish()`` to copy
every node's data and grad onto its Value, e.g. before printing the graph.

Deep narrow graphs (a chain) have one group per level; they replay faster on the python
backend. This backend is for wide graphs: batches, layers, sums.
"""

try:
    import numpy as _np
except ImportError:  # pragma: no cover - exercised only without numpy
    raise ImportError(
        "the NumPy backend (Graph(..., backend='numpy')) needs NumPy, which is not installed; "
        "install it with: pip install numpy   (or: pip install 'tapegrad[numpy]')"
    ) from None

import _weakref

from ..ops import FLOATS, FORWARD, RULES, Op
from ..record import end
from .leaf_store import LeafStore, home_of, move_into
from .numpy_math import NUMPY_MATH

# -------------------------------------------------------------------------------------------
# Reading and adding into parts of the value and cotangent arrays.
# -------------------------------------------------------------------------------------------


def _strides(idx: _np.ndarray):
    """(first position, step per axis) if `idx` is an evenly spaced grid of positions -- a
    run of consecutive positions, every (n+1)-th one, a block of rows -- else None. Such
    positions are a view of the array: read with no copy, added into in place."""
    if idx.size == 0:
        return None
    start = int(idx.flat[0])
    steps = [
        (
            int(idx[tuple(1 if a == axis else 0 for a in range(idx.ndim))]) - start
            if idx.shape[axis] > 1
            else 0
        )
        for axis in range(idx.ndim)
    ]
    if min(steps, default=0) < 0:
        return None
    grid = start + sum(i * step for i, step in zip(_np.indices(idx.shape), steps))
    return (start, steps) if _np.array_equal(grid, idx) else None


class _Part:
    """Some positions of the value/cotangent arrays, in a given shape.

    ``reader(buf)`` reads their values (through a view where the positions are evenly spaced),
    ``adder(buf)`` adds into them (correct even when a position repeats)."""

    __slots__ = ("idx", "strides", "unique")

    def __init__(self, idx):
        self.idx = _np.asarray(idx, dtype=_np.intp)
        self.strides = _strides(self.idx)
        self.unique = _np.unique(self.idx).size == self.idx.size

    def view(self, buf):
        """A view of `buf` at these positions (evenly spaced ones only), else None."""
        if self.strides is None:
            return None
        start, steps = self.strides
        last = start + sum((n - 1) * step for n, step in zip(self.idx.shape, steps))
        if start < 0 or last >= len(buf):  # never for a compiled graph; as_strided trusts us
            raise IndexError(f"positions {start}..{last} outside an array of {len(buf)}")
        return _np.lib.stride_tricks.as_strided(
            buf[start:], self.idx.shape, [step * buf.itemsize for step in steps]
        )

    def reader(self, buf):
        """A function of no arguments returning the current values at these positions."""
        view = self.view(buf)
        if view is not None:
            return lambda: view
        idx = self.idx
        return lambda: buf[idx]

    def adder(self, buf):
        """A function adding its argument into `buf` at these positions."""
        view = self.view(buf) if self.unique else None  # a repeated position: add.at below
        if view is not None:

            def add(x):
                view.__iadd__(x)

        elif self.unique:
            idx = self.idx

            def add(x):
                buf[idx] += x

        else:
            idx = self.idx

            def add(x):
                _np.add.at(buf, idx, x)

        return add


# -------------------------------------------------------------------------------------------
# The compiled groups. Each knows its nodes' positions and gives a forward and a backward step.
# -------------------------------------------------------------------------------------------


class _RuleGroup:
    """Nodes of one level and one op, computed with the op's rule on arrays, one per argument."""

    def __init__(self, op, out: slice, arg_positions: _np.ndarray, k, val, adj):
        rule = RULES[op]
        self.op = op
        self.out_val, self.out_adj = val[out], adj[out]
        columns = [_Part(arg_positions[:, c]) for c in range(arg_positions.shape[1])]
        self.read = [c.reader(val) for c in columns]
        self.add = [c.adder(adj) for c in columns]
        self.extra = () if k is None else (k,)
        self.forward_rule, self.partials_rule = rule.forward, rule.partials

    def forward(self):
        xs = [read() for read in self.read]
        self.out_val[...] = self.forward_rule(NUMPY_MATH, *xs, *self.extra)

    def backward(self, masked=False):
        xs = [read() for read in self.read]
        dy = self.out_adj
        partials = self.partials_rule(NUMPY_MATH, self.out_val, *xs, *self.extra)
        for add, partial in zip(self.add, partials):
            add(_np.where(dy != 0, dy * partial, 0.0) if masked else dy * partial)


class _SumGroup:
    """Fused addition chains: each node is the sum of its terms, added left to right."""

    op = Op.ADD

    def __init__(self, out: slice, term_positions: _np.ndarray, segment: _np.ndarray, val, adj):
        self.n = out.stop - out.start
        self.out_val, self.out_adj = val[out], adj[out]
        terms = _Part(term_positions)
        self.read, self.add = terms.reader(val), terms.adder(adj)
        self.segment = segment

    def forward(self):
        # bincount adds each segment's weights in order: ((0 + t0) + t1) + ..., the chain's floats
        self.out_val[...] = _np.bincount(self.segment, weights=self.read(), minlength=self.n)

    def backward(self, masked=False):
        self.add(self.out_adj[self.segment])  # ∂(t0 + t1 + ...)/∂t_i = 1


class _LayerGroup:
    """S×J DOT nodes where row r feeds input row X[r] to neuron c (weights W[c], bias b[c]):
    Y = X @ W.T + b in one matrix product; backward dX = dY @ W, dW = dY.T @ X, db = Σ_r dY."""

    op = Op.DOT

    def __init__(self, out: slice, x_pos, w_pos, b_pos, val, adj):
        rows, cols = x_pos.shape[0], w_pos.shape[0]
        self.out_val = val[out].reshape(rows, cols)
        self.out_adj = adj[out].reshape(rows, cols)
        x, w, b = _Part(x_pos), _Part(w_pos), _Part(b_pos)
        self.read_x, self.read_w, self.read_b = x.reader(val), w.reader(val), b.reader(val)
        self.add_x, self.add_w, self.add_b = x.adder(adj), w.adder(adj), b.adder(adj)

    def forward(self):
        _np.matmul(self.read_x(), self.read_w().T, out=self.out_val)
        self.out_val += self.read_b()

    def backward(self, masked=False):
        dy = self.out_adj
        if masked:  # the products summed one by one, so that 0 · inf counts as 0
            live = (dy != 0)[:, :, None]
            terms = dy[:, :, None] * self.read_w()[None, :, :]  # [row, neuron, input]
            self.add_x(_np.where(live, terms, 0.0).sum(axis=1))
            terms = dy[:, :, None] * self.read_x()[:, None, :]
            self.add_w(_np.where(live, terms, 0.0).sum(axis=0))
        else:
            self.add_x(dy @ self.read_w())
            self.add_w(dy.T @ self.read_x())
        self.add_b(dy.sum(axis=0))


# -------------------------------------------------------------------------------------------
# Compiling.
# -------------------------------------------------------------------------------------------


def _fused_sums(nodes, arg_indices, outputs: set):
    """For each ADD that survives fusion, its terms (node indices, left to right); and for each
    ADD folded into another, the surviving ADD it was folded into.

    An ADD is folded into its consumer when that consumer is an ADD and the only user of it
    (and it is not an output): its value is needed nowhere else."""
    uses = [0] * len(nodes)
    consumer = [-1] * len(nodes)
    for i, args in enumerate(arg_indices):
        for j in args:
            uses[j] += 1
            consumer[j] = i
    folded = [
        nodes[i].op is Op.ADD
        and uses[i] == 1
        and i not in outputs
        and nodes[consumer[i]].op is Op.ADD
        and arg_indices[consumer[i]][0] == i  # a left operand: ((t0 + t1) + t2), eager's order
        for i in range(len(nodes))
    ]
    terms, root_of = {}, {}
    for i, node in enumerate(nodes):
        if node.op is not Op.ADD or folded[i]:
            continue
        found, stack = [], list(reversed(arg_indices[i]))  # an explicit stack: no recursion
        while stack:
            j = stack.pop()
            if folded[j]:
                root_of[j] = i
                stack.extend(reversed(arg_indices[j]))
            else:
                found.append(j)
        terms[i] = found
    return terms, root_of


def _split_dot(args):
    n = (len(args) - 1) // 2
    return args[:n] + args[-1:], args[n : 2 * n]  # (weights and bias), inputs


def _as_layer(members, arg_indices, pos):
    """Rows and columns if the DOT nodes `members` form a full S×J grid (every input row with
    every neuron, once), ordered by position; else None."""
    rows, cols, cells = {}, {}, {}
    for i in members:
        neuron, inputs = _split_dot(arg_indices[i])
        cell = (rows.setdefault(inputs, len(rows)), cols.setdefault(neuron, len(cols)))
        if cell in cells:
            return None
        cells[cell] = i
    if len(cells) != len(rows) * len(cols):
        return None

    def by_position(keys):
        return sorted(keys, key=lambda key: [pos[j] for j in key])

    row_keys, col_keys = by_position(rows), by_position(cols)
    grid = [[cells[rows[r], cols[c]] for c in col_keys] for r in row_keys]
    return row_keys, col_keys, grid


# Python's floats give inf and nan silently (0 · inf, inf - inf); NumPy would warn. The domain
# errors the python backend raises are raised by NumpyMath itself, warnings or not.
def _quiet():
    return _np.errstate(all="ignore")


class NumpyExecutor:
    """A Graph compiled for NumPy: ``forward()``, ``backward()``, ``publish()``; see the module
    docstring. Built by `compile_graph`."""

    def __init__(self, graph):
        nodes, arg_indices = graph.nodes, graph.arg_indices
        self.graph = graph
        out_index = [graph.index[out] for out in graph.outputs]
        terms, self._root_of = _fused_sums(nodes, arg_indices, set(out_index))

        # The nodes that are computed: every node but the folded ADDs, each with its arguments.
        args_of = {}
        for i, node in enumerate(nodes):
            if node.op is Op.ADD:
                if i in terms:
                    args_of[i] = tuple(terms[i])
            elif arg_indices[i]:
                args_of[i] = arg_indices[i]

        # Levels: 0 for leaves, 1 + the highest argument's level otherwise (array order is
        # topological, so one pass suffices).
        level = [0] * len(nodes)
        groups: dict[tuple, list[int]] = {}
        for i, args in args_of.items():
            level[i] = 1 + max(level[j] for j in args)
            key = "sum" if nodes[i].op is Op.ADD else (nodes[i].op, len(args))
            groups.setdefault((level[i], key), []).append(i)

        # Positions: own leaves first (their part of the arrays *is* their LeafStore), then
        # leaves held elsewhere, then the groups in level order.
        leaves = [i for i, args in enumerate(arg_indices) if not args]
        own = [i for i in leaves if home_of(nodes[i]) is None]
        held = [i for i in leaves if home_of(nodes[i]) is not None]
        size = len(own) + len(held) + len(args_of)
        self.val, self.adj = _np.zeros(size), _np.zeros(size)
        pos = [-1] * len(nodes)
        for p, i in enumerate(own + held):
            pos[i] = p
        self.n_leaves = len(own) + len(held)
        self.store = LeafStore(self.val[: len(own)], self.adj[: len(own)])
        for i in own:
            if nodes[i]._rec is None:
                move_into(nodes[i], self.store, pos[i])
            else:  # a number used as a constant (a record's entry): copied in, never changed
                self.val[pos[i]] = nodes[i].data

        # Leaves held by other stores: one (store, their entries there, positions here) each.
        held_by: dict[int, tuple] = {}
        for i in held:
            store, entry = home_of(nodes[i])
            held_by.setdefault(id(store), (store, [], []))
            held_by[id(store)][1].append(entry)
            held_by[id(store)][2].append(pos[i])
        self._held = [
            (store, _np.array(entries, dtype=_np.intp), _np.array(here, dtype=_np.intp))
            for store, entries, here in held_by.values()
        ]

        self.groups = []
        self._members = []  # per group, its node indices in position order (to name errors)
        next_pos = self.n_leaves
        for (lev, key), members in sorted(groups.items(), key=lambda item: item[0][0]):
            group, members = self._compile_group(key, members, args_of, pos, next_pos)
            for offset, i in enumerate(members):
                pos[i] = next_pos + offset
            next_pos += len(members)
            self.groups.append(group)
            self._members.append(members)
        self.pos = pos
        self._published = {}  # constant's position -> its gradient as last published
        # The recorded data, so that backward() is right before any forward() (a fused sum's
        # members have no place of their own: their chain's root holds the total).
        for i in args_of:
            self.val[pos[i]] = nodes[i].data
        for store, entries, here in self._held:
            self.val[here] = store.data[entries]
        self._outputs = [(graph.outputs[k], pos[i]) for k, i in enumerate(out_index)]
        self._interior_outputs = [(out, p) for out, p in self._outputs if p >= self.n_leaves]
        # The graph's records now hold numbers that go stale as this executor runs: each ends (so
        # new nodes go elsewhere), and after each sweep names this executor as the one to ask
        # (record.sync) before a sweep reads them -- an eager backward(), a python replay.
        self._records = [rec for rec, *_ in graph._stretches]
        for rec in self._records:
            end(rec)
        self._me = _weakref.ref(self)

    def _compile_group(self, key, members, args_of, pos, start):
        """The group object for `members` (reordered by their arguments' positions)."""
        nodes, val, adj = self.graph.nodes, self.val, self.adj
        if key == "sum":
            members = sorted(members, key=lambda i: pos[args_of[i][0]])
            terms = [pos[j] for i in members for j in args_of[i]]
            segment = _np.repeat(_np.arange(len(members)), [len(args_of[i]) for i in members])
            out = slice(start, start + len(members))
            return _SumGroup(out, _np.array(terms, dtype=_np.intp), segment, val, adj), members
        op, arity = key
        if op is Op.DOT:
            layer = _as_layer(members, args_of, pos)
            if layer is not None:
                row_keys, col_keys, grid = layer
                members = [i for row in grid for i in row]
                out = slice(start, start + len(members))
                x_pos = _np.array([[pos[j] for j in key] for key in row_keys], dtype=_np.intp)
                w_pos = _np.array([[pos[j] for j in key[:-1]] for key in col_keys], dtype=_np.intp)
                b_pos = _np.array([pos[key[-1]] for key in col_keys], dtype=_np.intp)
                return _LayerGroup(out, x_pos, w_pos, b_pos, val, adj), members
        members = sorted(members, key=lambda i: [pos[j] for j in args_of[i]])
        arg_pos = _np.array([[pos[j] for j in args_of[i]] for i in members], dtype=_np.intp)
        arg_pos = arg_pos.reshape(len(members), arity)
        k = None
        if RULES[op].takes_constant:
            k = _np.array([nodes[i].k for i in members], dtype=_np.float64)
        out = slice(start, start + len(members))
        return _RuleGroup(op, out, arg_pos, k, val, adj), members

    # -- sweeps ---------------------------------------------------------------------------------

    def forward(self):
        """Recompute every node from the leaves' current data; returns the output's new data
        (a list of them for several outputs), as Graph.forward does."""
        val = self.val
        for store, entries, here in self._held:
            val[here] = store.data[entries]
        with _quiet():  # float arithmetic, as in the python backend: inf and nan, no warnings
            for g, group in enumerate(self.groups):
                try:
                    group.forward()
                except (ArithmeticError, ValueError) as error:
                    raise self._located(error, g) from error
        for out, p in self._interior_outputs:
            out.data = val.item(p)
        self._stale()
        datas = [val.item(p) for _, p in self._outputs]
        return datas[0] if len(datas) == 1 else datas

    def backward(self) -> None:
        """Reverse mode: afterwards every leaf's grad has accumulated d(sum of outputs)/d(leaf)
        (zero them between training steps) and every output's grad is d(sum of outputs)/d(it):
        1, plus what reaches it from the outputs that use it."""
        adj, own_grads = self.adj, self.store.grad
        before = own_grads.copy()
        self._sweep_backward(masked=False)
        if _np.isnan(adj[: self.n_leaves]).any():
            # NOTE: a nan reached a leaf. It may be 0 · inf (sqrt at 0 behind a dead relu): the
            # python backend skips nodes whose gradient is 0, so there that product is 0. Sweep
            # again, slower, with every product by a zero cotangent counted as 0.
            own_grads[...] = before
            self._sweep_backward(masked=True)
        for store, entries, here in self._held:
            store.grad[entries] += adj[here]
        for out, p in self._interior_outputs:
            out.grad = adj.item(p)
        self._stale()

    def _stale(self) -> None:
        """The records' interior numbers are now older than this executor's (see __init__)."""
        for rec in self._records:
            rec.publisher = self._me

    def _sweep_backward(self, masked: bool) -> None:
        adj = self.adj
        adj[len(self.store.grad) :] = 0.0  # interior nodes and leaves held elsewhere: this call
        for _, p in self._outputs:
            adj[p] += 1.0
        with _quiet():
            for group in reversed(self.groups):
                group.backward(masked)

    def _located(self, error, g: int):
        """`error` re-raised naming the node it happened at, in the python Graph's words."""
        members = self._members[g]
        element = getattr(error, "element", None)
        i = members[element] if element is not None and element < len(members) else members[0]
        return type(error)(
            f"Graph.forward() (numpy backend), node {i} ({self.graph._describe(i)}): {error}"
        )

    # -- reading everything back ----------------------------------------------------------------

    def publish(self) -> None:
        """Copy every node's current data and grad onto its Value (a Python loop over all
        nodes: for printing and inspecting, not for training loops). Leaves are always current
        and need no copy; a folded ADD gets its own partial sum and its chain's gradient."""
        for rec in self._records:  # (all of them, or syncing one would publish again)
            rec.publisher = None
        val, adj, pos, root_of = self.val, self.adj, self.pos, self._root_of
        for i, (node, args) in enumerate(zip(self.graph.nodes, self.graph.arg_indices)):
            if not args:
                if node._rec is not None:
                    # A constant lives on its record, where other Graphs may add to its gradient
                    # too: add what this executor accumulated since it last published.
                    total = adj.item(pos[i])
                    node.grad += total - self._published.get(i, 0.0)
                    self._published[i] = total
                continue
            if i in root_of:
                node.data = _evaluate(node)
                node.grad = adj.item(pos[root_of[i]])
            else:
                node.data, node.grad = val.item(pos[i]), adj.item(pos[i])

    def __repr__(self) -> str:
        kinds = {}
        for group in self.groups:
            name = type(group).__name__.strip("_").replace("Group", "").lower()
            kinds[name] = kinds.get(name, 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in kinds.items())
        return (
            f"<NumpyExecutor of {len(self.graph.nodes)} nodes: {self.n_leaves} leaves, "
            f"{len(self.groups)} groups ({summary})>"
        )


def _evaluate(node) -> float:
    """A node's data computed from its arguments' (for an addition folded into a sum)."""
    xs = [a.data for a in node.args]
    return FORWARD[node.op](FLOATS, *xs, *(() if node.k is None else (node.k,)))


def compile_graph(graph) -> NumpyExecutor:
    """Compile a recorded Graph for NumPy: see the module docstring."""
    return NumpyExecutor(graph)


__all__ = ["NumpyExecutor", "compile_graph"]
