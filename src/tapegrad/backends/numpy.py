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
   DOT group runs through the rule table like every other op. A layer's ReLU, when nothing else
   reads the layer, is computed inside it (max(Y, 0), and the mask [Y > 0] backward).

A training step's loss (a compiled step, compiled_step.py: ``wrt`` names the parameters) is
also searched for two more patterns of table ops, each run as one group with its derivation in
its docstring: sums of squares (``Σ p * p``, an L2 penalty: one dot product) and softmax
cross-entropy (cross_entropy.py); a sum of a few terms each runs a column at a time. These apply
only where constants need no gradient, as the python Graph otherwise gives them.

Backward walks the groups in reverse level order and writes each group's cotangents into its
arguments: in place through a view where their positions are evenly spaced, by fancy indexing
elsewhere, with ``np.add.at`` where a position repeats (a weight shared by many nodes). The
first group to write a position assigns (``out=`` where it can), later ones add; so only the
positions first reached by an addition are zeroed when a sweep starts. Given ``wrt``, groups
and arguments that lead to none of those leaves are skipped.

Like the python backend, a node whose cotangent is 0 contributes nothing, even through an
infinite local derivative (0 · inf is 0, not nan: sqrt at 0 behind a dead relu). The vectorised
sweep multiplies anyway; when a nan reaches a leaf it sweeps again with those products masked.

Semantics are the python Graph's: after forward() every output's ``.data`` is current; after
backward() leaves have accumulated their gradient and outputs hold theirs. Interior Values are
*not* updated on each sweep (that would be a Python loop per node): call ``publish()`` to copy
every node's data and grad onto its Value, e.g. before printing the graph.

Deep narrow graphs (a chain) have one group per level; they replay faster on the python
backend, and ``Graph(..., backend="numpy")`` runs them there (see `too_narrow`). This backend is
for wide graphs: batches, layers, sums.
"""

try:
    import numpy as _np
except ImportError:  # pragma: no cover - exercised only without numpy
    raise ImportError(
        "the NumPy backend (Graph(..., backend='numpy')) needs NumPy, which is not installed; "
        "install it with: pip install numpy   (or: pip install 'tapegrad[numpy]')"
    ) from None

from contextlib import contextmanager as _contextmanager
import gc as _gc
import _weakref
from functools import partial as _partial
from itertools import chain as _chain
import math as _math

from ..ops import FLOATS, FORWARD, RULES, Op
from ..record import end
from .cross_entropy import find_cross_entropies
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
        """A function adding its argument into `buf` at these positions (bound methods and
        partials where they can be: no Python frame per call)."""
        view = self.view(buf) if self.unique else None  # a repeated position: add.at below
        if view is not None:
            return view.__iadd__
        if not self.unique:
            return _partial(_np.add.at, buf, self.idx)
        idx = self.idx

        def add(x):
            buf[idx] += x

        return add

    def writer(self, buf, mode: str):
        """A function putting its argument into `buf` at these positions: adding it ("add"), or
        assigning it ("assign": the sweep's first write there, so no zeroing and no addition);
        None for "skip" (no gradient is needed there)."""
        if mode == "skip":
            return None
        if mode == "add":
            return self.adder(buf)
        view = self.view(buf)
        if view is not None:
            return _partial(view.__setitem__, Ellipsis)
        return _partial(buf.__setitem__, self.idx)


# -------------------------------------------------------------------------------------------
# The compiled groups. Each knows its nodes' positions and gives a forward and a backward step.
# -------------------------------------------------------------------------------------------


class _Group:
    """What every group shares: ``parts``, the positions its backward writes cotangents into
    (one per argument column), and ``bind(val, adj, modes)``, which makes the writers once the
    executor knows, per part, whether the sweep adds there, assigns there or skips it (see
    NumpyExecutor._plan_backward). ``needed``: whether backward has anything to do at all."""

    needed = True

    def bind(self, val, adj, modes) -> None:
        self.puts = [part.writer(adj, mode) for part, mode in zip(self.parts, modes)]
        # NOTE: where a part is assigned through a view, the arithmetic writes into it (out=),
        # one array operation instead of two (compute, then copy).
        self.into = [part.view(adj) if mode == "assign" else None
                     for part, mode in zip(self.parts, modes)]
        self.needed = any(put is not None for put in self.puts)

    def forward_calls(self) -> list:
        """The forward step as calls of no arguments, in order (the executor runs every
        group's as one list). A group that can binds NumPy functions to its arrays here."""
        return [self.forward]

    def backward_calls(self) -> list:
        """The backward step (unmasked) as calls of no arguments, after bind()."""
        return [self.backward]


def _static_reads(parts, val):
    """The views of `val` at each part's positions, if every part is evenly spaced (then the
    list never changes: a sweep reads no positions), else None."""
    views = [part.view(val) for part in parts]
    return None if any(view is None for view in views) else views


# NOTE: ADD and MUL are the rule table's a + b and a · b (ops.py) written into their place with
# out=, which saves a temporary and a copy per group.
_INTO = {Op.ADD: _np.add, Op.MUL: _np.multiply}


# NOTE: relu's rule (ops.py) is y = where(x <= 0, 0, x), ∂y/∂x = step(x) = [x > 0]. As one
# ufunc each -- max(x, 0) into its place, and the boolean mask -- they are the same numbers for
# every float, nan and -0.0 included (tests check it), in two array operations fewer.
def _relu_into(x, out) -> None:
    _np.maximum(x, 0.0, out=out)


def _relu_partial(x):
    return x > 0


class _RuleGroup(_Group):
    """Nodes of one level and one op, computed with the op's rule on arrays, one per argument."""

    def __init__(self, op, out: slice, arg_positions: _np.ndarray, k, val, adj):
        rule = RULES[op]
        self.op = op
        self.out_val, self.out_adj = val[out], adj[out]
        self.parts = [_Part(arg_positions[:, c]) for c in range(arg_positions.shape[1])]
        self.read = [c.reader(val) for c in self.parts]
        self.views = _static_reads(self.parts, val)
        self.extra = () if k is None else (k,)
        self.forward_rule, self.partials_rule = rule.forward, rule.partials
        self.into_out = _INTO.get(op) if len(self.parts) == 2 else None

    def forward(self):
        xs = self.views or [read() for read in self.read]
        if self.into_out is not None:
            self.into_out(xs[0], xs[1], out=self.out_val)
        elif self.op is Op.RELU:
            _relu_into(xs[0], self.out_val)
        else:
            self.out_val[...] = self.forward_rule(NUMPY_MATH, *xs, *self.extra)

    def backward(self, masked=False):
        xs = self.views or [read() for read in self.read]
        dy = self.out_adj
        if self.op is Op.RELU:
            partials = (_relu_partial(xs[0]),)
        else:
            partials = self.partials_rule(NUMPY_MATH, self.out_val, *xs, *self.extra)
        for put, into, partial in zip(self.puts, self.into, partials):
            if put is None:
                continue
            if masked:
                put(_np.where(dy != 0, dy * partial, 0.0))
            elif partial.__class__ is float and partial == 1.0:
                put(dy)  # NOTE: a partial of 1 (an addition's): no multiplication by ones
            elif into is not None:
                _np.multiply(dy, partial, out=into)
            else:
                put(dy * partial)

    def forward_calls(self) -> list:
        if self.views is not None and self.into_out is not None:
            return [_partial(self.into_out, *self.views, out=self.out_val)]
        if self.views is not None and self.op is Op.RELU:
            return [_partial(_relu_into, self.views[0], self.out_val)]
        return [self.forward]

    def backward_calls(self) -> list:
        """backward() unmasked, bound, where every partial is the same array at every sweep:
        relu's mask (a buffer this group fills), or what the rule table's formula returns when
        it is 1 or an argument itself (ADD's (1, 1), MUL's (b, a)): computed once, here."""
        if self.views is None:
            return [self.backward]
        dy, calls = self.out_adj, []
        if self.op is Op.RELU:
            mask = _np.empty(dy.shape, dtype=bool)
            calls.append(_partial(_np.greater, self.views[0], 0.0, out=mask))
            partials = (mask,)
        else:
            partials = self.partials_rule(NUMPY_MATH, self.out_val, *self.views, *self.extra)
            if not all((p.__class__ is float and p == 1.0) or any(p is v for v in self.views)
                       for p in partials):
                return [self.backward]  # partials computed anew at each sweep
        for put, into, partial in zip(self.puts, self.into, partials):
            if put is None:
                continue
            if partial.__class__ is float:
                calls.append(_partial(put, dy))
                continue
            buf = into if into is not None else _np.empty(dy.shape)
            calls.append(_partial(_np.multiply, dy, partial, out=buf))
            if into is None:
                calls.append(_partial(put, buf))
        return calls


class _SumGroup(_Group):
    """Fused addition chains: each node is the sum of its terms, added left to right."""

    op = Op.ADD

    def __init__(self, out: slice, term_positions: _np.ndarray, segment: _np.ndarray, val, adj):
        self.n = out.stop - out.start
        self.out_val, self.out_adj = val[out], adj[out]
        self.parts = [_Part(term_positions)]
        self.read = self.parts[0].reader(val)
        self.views = self.parts[0].view(val)  # (one array here, or None)
        self.segment = segment

    def forward(self):
        # bincount adds each segment's weights in order: ((0 + t0) + t1) + ..., the chain's floats
        self.out_val[...] = _np.bincount(self.segment, weights=self.read(), minlength=self.n)

    def backward(self, masked=False):
        # ∂(t0 + t1 + ...)/∂t_i = 1; NOTE: one sum (a loss's mean): its cotangent broadcast
        self.puts[0](self.out_adj[0] if self.n == 1 else self.out_adj[self.segment])

    def backward_calls(self) -> list:
        if self.n == 1 and self.puts[0] is not None:  # (a view of the one cotangent, broadcast)
            return [_partial(self.puts[0], self.out_adj[:1])]
        return [self.backward]


class _ColumnSumGroup(_Group):
    """Sums that all have the same few terms (``z + c``, a row's Σ_j exp(z_j)): term j of every
    sum is column j, and the sums are ((t0 + t1) + t2) + ..., a column at a time -- the chain's
    own floats, in its order. Backward each column gets the sums' cotangent (∂/∂t_j = 1), so a
    column that needs no gradient (a constant) is skipped and a column of evenly spaced
    positions is read and written through a view. NOTE: for a few terms per sum this is a few
    whole-array additions, where bincount and its scatter gather every term one by one."""

    op = Op.ADD

    def __init__(self, out: slice, term_positions: _np.ndarray, val, adj):
        self.out_val, self.out_adj = val[out], adj[out]
        self.parts = [_Part(term_positions[:, c]) for c in range(term_positions.shape[1])]
        self.read = [part.reader(val) for part in self.parts]
        self.views = _static_reads(self.parts, val)

    def forward(self):
        xs = self.views or [read() for read in self.read]
        _np.add(xs[0], xs[1], out=self.out_val)
        for x in xs[2:]:
            self.out_val += x

    def forward_calls(self) -> list:
        if self.views is None:
            return [self.forward]
        y, (first, second, *rest) = self.out_val, self.views
        return [_partial(_np.add, first, second, out=y)] + [_partial(_np.add, y, x, out=y)
                                                            for x in rest]

    def backward(self, masked=False):
        dy = self.out_adj
        for put in self.puts:
            if put is not None:
                put(dy)

    def backward_calls(self) -> list:
        return [_partial(put, self.out_adj) for put in self.puts if put is not None]


# The most terms a sum may have to be computed a column at a time (_ColumnSumGroup).
COLUMNS_AT_MOST = 16


class _CrossEntropyGroup(_Group):
    """Softmax cross-entropy, one sample per row: ℓ = log Σ_j exp(z_j - m) + m - Σ_j t_j z_j
    with m the row's maximum, and ∂ℓ/∂z = softmax(z) - t, ∂ℓ/∂t = -z (the pattern and its
    derivation from the rule table: cross_entropy.py). ``t`` is read from nodes (a row of
    targets) or is a fixed one-hot array (class indices). NOTE: about ten array operations
    forward and four backward, where the samples' eight groups of nodes took thirty, each into
    a buffer of the group's (out=); and the sums along a row are products with a vector of
    ones (BLAS), the maximum taken over the rows of zᵀ: a reduction along a short row is
    several times slower in NumPy."""

    op = Op.ADD

    def __init__(self, out: slice, z_pos, t_pos, onehot, val, adj):
        self.out_val, self.out_adj = val[out], adj[out]
        self.parts = [_Part(z_pos)] + ([] if t_pos is None else [_Part(t_pos)])
        self.read = [part.reader(val) for part in self.parts]
        self.views = _static_reads(self.parts, val)
        self.onehot = onehot
        rows, k = z_pos.shape
        self.zt, self.softmax, self.zt_buf = _np.empty((k, rows)), _np.empty((rows, k)), None
        self.m, self.total, self.lse, self.dot = (_np.empty(rows) for _ in range(4))
        self.ones = _np.ones(k)
        if onehot is not None:  # Σ_j t_j z_j is z_c: read straight from its place
            self.val, self.class_pos = val, z_pos[onehot.astype(bool)]
        else:
            self.zt_buf = _np.empty((rows, k))

    def _targets(self):
        return self.onehot if self.onehot is not None else self.read[1]()

    def _forward_steps(self, z, t) -> list:
        """Forward on logits z and targets t (arrays, or views read at every call)."""
        e, m, total, lse = self.softmax, self.m, self.total, self.lse
        steps = [_partial(_np.copyto, self.zt, z.T),
                 _partial(_np.maximum.reduce, self.zt, axis=0, out=m),
                 _partial(_np.subtract, z, m[:, None], out=e),
                 _partial(_np.exp, e, out=e),
                 _partial(_np.matmul, e, self.ones, out=total),
                 _partial(_np.divide, e, total[:, None], out=e),  # softmax(z), for backward
                 _partial(_np.log, total, out=lse),
                 _partial(_np.add, lse, m, out=lse)]
        if self.onehot is not None:
            steps.append(_partial(_np.take, self.val, self.class_pos, out=self.dot))
        else:
            steps += [_partial(_np.multiply, z, t, out=self.zt_buf),
                      _partial(_np.matmul, self.zt_buf, self.ones, out=self.dot)]
        return steps + [_partial(_np.subtract, lse, self.dot, out=self.out_val)]

    def forward(self):
        for step in self._forward_steps(self.read[0](), self._targets()):
            step()

    def forward_calls(self) -> list:
        if self.views is None:
            return [self.forward]
        return self._forward_steps(self.views[0], self._targets() if len(self.views) < 2
                                   else self.views[1])

    def backward_calls(self) -> list:
        if self.views is None:
            return [self.backward]
        dy, (z, *fed) = self.out_adj[:, None], self.views
        calls = []
        for put, into, (a, sub, sign) in zip(self.puts, self.into,
                                             [(self.softmax, self._targets(), 1.0),
                                              (z, None, -1.0)]):
            if put is None:
                continue
            buf = into if into is not None else _np.empty(a.shape)
            if sub is not None:  # ∂ℓ/∂z = (softmax(z) - t) · dy
                calls += [_partial(_np.subtract, a, sub, out=buf),
                          _partial(_np.multiply, buf, dy, out=buf)]
            else:  # ∂ℓ/∂t = -z · dy
                calls += [_partial(_np.multiply, a, dy, out=buf),
                          _partial(_np.negative, buf, out=buf)]
            if into is None:
                calls.append(_partial(put, buf))
        return calls

    def backward(self, masked=False):
        dy = self.out_adj[:, None]
        t = self._targets()
        dz = (self.softmax - t) * dy
        if masked:
            dz = _np.where(dy != 0, dz, 0.0)
        self.puts[0](dz)
        if len(self.puts) > 1 and self.puts[1] is not None:
            dt = -self.read[0]() * dy
            self.puts[1](_np.where(dy != 0, dt, 0.0) if masked else dt)


class _SquareSumGroup(_SumGroup):
    """Sums of squares, Σ_i x_i · x_i (an L2 penalty: ``sum(p * p for p in params)``), each a
    fused chain of additions over MUL nodes whose two arguments are the same x_i.

    From the rule table: MUL's partials are (b, a) = (x_i, x_i) and the sum's are 1, so the
    cotangent dy reaches x_i twice: x_i.grad += dy·x_i + dy·x_i = 2·dy·x_i. Forward, one sum is
    one dot product (x · x, pairwise rather than left to right: the same number to a few ulps);
    several are added per segment. NOTE: this saves a MUL group, a sum of n terms and their
    backward scatters: two array operations per sweep instead of about ten."""

    def forward(self):  # (the terms' positions are the x_i's, each segment one sum)
        x = self.read()
        if self.n == 1:
            self.out_val[0] = _np.dot(x, x)
        else:
            self.out_val[...] = _np.bincount(self.segment, weights=x * x, minlength=self.n)

    def backward(self, masked=False):
        dy = self.out_adj[0] if self.n == 1 else self.out_adj[self.segment]
        if masked:  # (a zero dy times an infinite x counts as 0)
            self.puts[0](_np.where(dy != 0, (2.0 * dy) * self.read(), 0.0))
        else:
            self.puts[0]((2.0 * dy) * self.read())

    def backward_calls(self) -> list:
        if self.n != 1 or self.views is None:
            return [self.backward]
        twice, into = _np.empty(1), self.into[0]
        buf = into if into is not None else _np.empty(self.views.shape)
        calls = [_partial(_np.multiply, self.out_adj[:1], 2.0, out=twice),
                 _partial(_np.multiply, twice, self.views, out=buf)]
        return calls if into is not None else calls + [_partial(self.puts[0], buf)]


class _LayerGroup(_Group):
    """S×J DOT nodes where row r feeds input row X[r] to neuron c (weights W[c], bias b[c]):
    Y = X @ W.T + b in one matrix product; backward dX = dY @ W, dW = dY.T @ X, db = Σ_r dY.

    After ``fuse_relu`` (the RELU nodes, one per DOT node, that alone use the layer's outputs)
    the activation is part of the layer: H = max(Y, 0) forward and dY = dH · [Y > 0] backward
    (_relu_into, _relu_partial). NOTE: this saves a group per layer."""

    op = Op.DOT

    relu_val = relu_adj = None

    def __init__(self, out: slice, x_pos, w_pos, b_pos, val, adj):
        rows, cols = x_pos.shape[0], w_pos.shape[0]
        self.out_val = val[out].reshape(rows, cols)
        self.out_adj = adj[out].reshape(rows, cols)
        self.own_writes = out
        self.parts = [_Part(x_pos), _Part(w_pos), _Part(b_pos)]
        self.reads = [part.reader(val) for part in self.parts]
        self.views = _static_reads(self.parts, val)

    def fuse_relu(self, relu: slice, val, adj) -> None:
        """Compute relu of every output too, into positions `relu` (row by row, as Y)."""
        self.relu_val = val[relu].reshape(self.out_val.shape)
        self.relu_adj = adj[relu].reshape(self.out_val.shape)

    def forward(self):
        x, w, b = self.views or [read() for read in self.reads]
        _np.matmul(x, w.T, out=self.out_val)
        self.out_val += b
        if self.relu_val is not None:
            _relu_into(self.out_val, self.relu_val)

    def forward_calls(self) -> list:
        if self.views is None:
            return [self.forward]
        x, w, b = self.views
        y = self.out_val
        calls = [_partial(_np.matmul, x, w.T, out=y), _partial(_np.add, y, b, out=y)]
        if self.relu_val is not None:
            calls.append(_partial(_relu_into, y, self.relu_val))
        return calls

    def backward_calls(self) -> list:
        """backward() unmasked, bound: each product written into its place (out=) where that
        is a view assigned first, else into a buffer of this group's and then put. NOTE: the
        bias's gradient Σ_r dY[r] is ones @ dY, a matrix-vector product (BLAS), several times
        faster than a reduction along the rows."""
        if self.views is None:
            return [self.backward]
        x, w, _ = self.views
        dy, calls = self.out_adj, []
        if self.relu_val is not None:
            mask = _np.empty(dy.shape, dtype=bool)
            calls += [_partial(_np.greater, self.out_val, 0.0, out=mask),
                      _partial(_np.multiply, self.relu_adj, mask, out=dy)]
        ones = _np.ones(dy.shape[0])
        for put, into, (a, b) in zip(self.puts, self.into, [(dy, w), (dy.T, x), (ones, dy)]):
            if put is None:
                continue
            if into is not None:
                calls.append(_partial(_np.matmul, a, b, out=into))
            else:
                buf = _np.empty((a.shape[0], b.shape[1]) if a.ndim == 2 else b.shape[1:])
                calls += [_partial(_np.matmul, a, b, out=buf), _partial(put, buf)]
        return calls

    def backward(self, masked=False):
        dy = self.out_adj
        x, w, _ = self.views or [read() for read in self.reads]
        if self.relu_val is not None:  # the layer's outputs are used by its relus alone
            if masked:
                dh = self.relu_adj
                dy[...] = _np.where(dh != 0, dh * _relu_partial(self.out_val), 0.0)
            else:
                _np.multiply(self.relu_adj, _relu_partial(self.out_val), out=dy)
        put_x, put_w, put_b = self.puts
        if masked:  # the products summed one by one, so that 0 · inf counts as 0
            live = (dy != 0)[:, :, None]
            if put_x is not None:
                terms = dy[:, :, None] * w[None, :, :]  # [row, neuron, input]
                put_x(_np.where(live, terms, 0.0).sum(axis=1))
            if put_w is not None:
                terms = dy[:, :, None] * x[:, None, :]
                put_w(_np.where(live, terms, 0.0).sum(axis=0))
        else:
            into_x = self.into[0]
            if into_x is not None:
                _np.matmul(dy, w, out=into_x)
            elif put_x is not None:
                put_x(dy @ w)
            if put_w is not None:
                put_w(dy.T @ x)
        if put_b is not None:
            put_b(_np.ones(dy.shape[0]) @ dy)  # Σ_r dY[r] (as backward_calls computes it)


# -------------------------------------------------------------------------------------------
# Compiling.
# -------------------------------------------------------------------------------------------


def _uses(arg_indices):
    """How many times each node is used as an argument, and by which node (where it is used
    once, its only user). Counted with NumPy over all the references at once: compiling costs a
    few C-level operations per reference, not a Python loop."""
    n = len(arg_indices)
    lengths = _np.fromiter(map(len, arg_indices), dtype=_np.intp, count=n)
    flat = _np.fromiter(_chain.from_iterable(arg_indices), dtype=_np.intp,
                        count=int(lengths.sum()))
    consumer = _np.full(n, -1, dtype=_np.intp)
    consumer[flat] = _np.repeat(_np.arange(n, dtype=_np.intp), lengths)
    return _np.bincount(flat, minlength=n).tolist(), consumer.tolist()


def _fused_sums(ops, arg_indices, outputs: set, uses, consumer):
    """For each ADD that survives fusion, its terms (node indices, left to right); and for each
    ADD folded into another, the surviving ADD it was folded into.

    An ADD is folded into its consumer when that consumer is an ADD and the only user of it
    (and it is not an output): its value is needed nowhere else."""
    folded = [
        ops[i] is Op.ADD
        and uses[i] == 1
        and i not in outputs
        and ops[consumer[i]] is Op.ADD
        and arg_indices[consumer[i]][0] == i  # a left operand: ((t0 + t1) + t2), eager's order
        for i in range(len(ops))
    ]
    terms, root_of = {}, {}
    for i, op in enumerate(ops):
        if op is not Op.ADD or folded[i]:
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
    """Rows and columns if the DOT nodes `members` (all of one length) form a full S×J grid
    (every input row with every neuron, once), ordered by position; else None.

    NOTE: a row is known by its first input and a neuron by its first weight, each checked
    against the whole of its row or neuron with one tuple comparison per node: no tuple is
    built or hashed per node. Only where two rows (or neurons) share their first argument is
    every node's split looked up whole (_as_layer_exactly)."""
    n = (len(arg_indices[members[0]]) - 1) // 2
    if n == 0:
        return None
    rows, cols, cells = {}, {}, {}
    for i in members:
        args = arg_indices[i]
        row, col = rows.setdefault(args[n], args), cols.setdefault(args[0], args)
        if (row is not args and row[n:-1] != args[n:-1]) or (
                col is not args and (col[:n] != args[:n] or col[-1] != args[-1])):
            return _as_layer_exactly(members, arg_indices, pos)
        cells[args[n], args[0]] = i
    if len(cells) != len(members) or len(cells) != len(rows) * len(cols):
        return None
    row_firsts = sorted(rows, key=pos.__getitem__)  # (distinct first arguments: their order
    col_firsts = sorted(cols, key=pos.__getitem__)  # is the order by whole positions)
    grid = [[cells[r, c] for c in col_firsts] for r in row_firsts]
    row_keys = [rows[r][n:-1] for r in row_firsts]
    col_keys = [cols[c][:n] + cols[c][-1:] for c in col_firsts]
    return row_keys, col_keys, grid


def _as_layer_exactly(members, arg_indices, pos):
    """_as_layer, each node's rows and neuron looked up whole."""
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


class _Layout:
    """What compiling reads of each node, straight from the records' lists (no Value per node):
    its op, data and constant operand k, the number a constant holds, where a Value sits."""

    def __init__(self, graph):
        self.homes, self.entries, self.at = graph._positions()
        pairs = zip(self.homes, self.entries)
        self.ops = [Op.LEAF if e < 0 else home.op[e] for home, e in pairs]
        self.leaf_at = {id(h): p for p, (h, e) in enumerate(zip(self.homes, self.entries))
                        if e < 0}

    def data(self, i: int) -> float:
        e = self.entries[i]
        return self.homes[i].data if e < 0 else self.homes[i].data[e]

    def k(self, i: int):
        return self.homes[i].k.get(self.entries[i])

    def constant(self, i: int) -> "float | None":
        """The number node i holds if it is a constant (a record's entry made from a number,
        not a leaf the user can change), else None."""
        e = self.entries[i]
        return self.homes[i].data[e] if e >= 0 and self.ops[i] is Op.LEAF else None

    def leaf(self, i: int):
        """The user's leaf Value at position i, or None (a constant, or a computed node)."""
        return self.homes[i] if self.entries[i] < 0 else None

    def position(self, v) -> int:
        """Where Value v sits in the graph's array, or -1 if it is not in the graph."""
        if v._rec is None:
            return self.leaf_at.get(id(v), -1)
        here = self.at.get(v._rec)
        return here[v._i] if here is not None and v._i < len(here) else -1


def _square_sums(layout, arg_indices, terms: dict, outputs: set, uses) -> dict:
    """The fused sums that are sums of squares: {sum node: the squared nodes, in order}.

    A sum qualifies when each term is a MUL of one node by itself (``p * p``) that nothing else
    uses, or the constant 0 Python's ``sum()`` starts from (adding 0.0 changes no sum)."""
    found = {}
    for i, ts in terms.items():
        squared = []
        for j in ts:
            args = arg_indices[j]
            if (layout.ops[j] is Op.MUL and args[0] == args[1] and uses[j] == 1
                    and j not in outputs):
                squared.append(args[0])
            elif layout.constant(j) != 0.0:
                break
        else:
            if squared:
                found[i] = squared
    return found


def _slice_if_run(at: _np.ndarray):
    """Positions `at` (ascending) as a slice when they are a run of consecutive ones: a view,
    no gather."""
    if at.size and at[-1] - at[0] + 1 == at.size:
        return slice(int(at[0]), int(at[-1]) + 1)
    return at


class NumpyExecutor:
    """A Graph compiled for NumPy: ``forward()``, ``backward()``, ``publish()``; see the module
    docstring. Built by `compile_graph`.

    ``wrt``: the leaves whose gradients backward() computes (None: every leaf, as the python
    Graph does); the sweep then skips every node no such leaf reaches. ``first``: leaves laid
    out first, in this order, at the start of the value array (a compiled step puts its
    parameters there, so an optimizer updates them as one slice, then its placeholders, so a
    batch is written with one assignment)."""

    def __init__(self, graph, wrt=None, first=()):
        arg_indices = graph.arg_indices
        self.graph = graph
        self.layout = layout = _Layout(graph)
        out_index = [layout.position(out) for out in graph.outputs]
        outputs = set(out_index)
        ops = layout.ops
        uses, consumer = _uses(arg_indices)
        # Softmax cross-entropy, one group for all its samples, when its constants (the shift)
        # need no gradient: their nodes are hidden from the fusion of sums.
        losses = {} if wrt is None else find_cross_entropies(layout.constant, ops, arg_indices,
                                                             uses, outputs)
        self._absorbed = {j for sample in losses.values() for j in sample[3]}
        self._classes = {i: sample[2] for i, sample in losses.items()}
        seen = list(ops)
        for j in (*losses, *self._absorbed):
            seen[j] = None
        terms, self._root_of = _fused_sums(seen, arg_indices, outputs, uses, consumer)
        # Sums of squares (an L2 penalty) become one group, when the constant 0 that Python's
        # sum() starts from needs no gradient of its own (only the python Graph's semantics,
        # wrt=None, give constants gradients).
        squares = ({} if wrt is None else
                   _square_sums(layout, arg_indices, terms, outputs, uses))
        if wrt is not None:  # and the 0 Python's sum() starts from: it adds nothing
            for i, ts in terms.items():
                kept = [j for j in ts if layout.constant(j) != 0.0]
                terms[i] = kept if kept else ts
        squared = {j: i for i in squares for j in terms[i] if arg_indices[j]}

        # The nodes that are computed: every node but the folded ADDs and the squares of a sum
        # of squares, each with its arguments.
        args_of, kind = {}, {}
        for i, op in enumerate(ops):
            if i in losses:
                zs, ts, _, _ = losses[i]
                args_of[i], kind[i] = tuple(zs + (ts or [])), ("ce", len(zs), ts is not None)
            elif i in self._absorbed:
                continue
            elif i in squares:
                args_of[i], kind[i] = tuple(squares[i]), "squares"
            elif op is Op.ADD:
                if i in terms:
                    args_of[i], kind[i] = tuple(terms[i]), "sum"
            elif arg_indices[i] and i not in squared:
                args_of[i], kind[i] = arg_indices[i], (op, len(arg_indices[i]))
        self._root_of.update(squared)

        # Which nodes need a gradient: the leaves asked for, and every node one of them reaches.
        wanted = None if wrt is None else {layout.position(v) for v in wrt}
        need = [not args and (wanted is None or i in wanted) for i, args in enumerate(arg_indices)]
        for i, args in args_of.items():
            need[i] = any(map(need.__getitem__, args))

        # Levels: 0 for leaves, 1 + the highest argument's level otherwise (array order is
        # topological, so one pass suffices).
        level = [0] * len(ops)
        groups: dict[tuple, list[int]] = {}
        for i, args in args_of.items():
            level[i] = 1 + max(map(level.__getitem__, args))
            groups.setdefault((level[i], kind[i]), []).append(i)

        # Positions: own leaves first (their part of the arrays *is* their LeafStore), `first`
        # leading, then leaves held elsewhere, then the groups in level order.
        leaves = [i for i, args in enumerate(arg_indices) if not args]
        lead = [layout.position(v) for v in first]
        leading = set(lead)
        homed = {i: home_of(layout.leaf(i)) if layout.leaf(i) is not None else None
                 for i in leaves}
        own = [i for i in lead if homed[i] is None]
        own += [i for i in leaves if homed[i] is None and i not in leading]
        held = [i for i in leaves if homed[i] is not None]
        size = len(own) + len(held) + len(args_of)
        self.val, self.adj = _np.zeros(size), _np.zeros(size)
        pos = [-1] * len(ops)
        for p, i in enumerate(own + held):
            pos[i] = p
        self.n_leaves = len(own) + len(held)
        # Own leaves accumulate their gradients in an array of their own, not in adj: a sweep
        # assigns their cotangents into adj like any node's, then adds them in with one call (so
        # a nan sweep can simply be run again, and the first write to a weight is out= into it).
        self.leaf_grad = _np.zeros(len(own))
        self.store = LeafStore(self.val[: len(own)], self.leaf_grad)
        for i in own:
            if layout.leaf(i) is not None:
                move_into(layout.leaf(i), self.store, pos[i])
            else:  # a number used as a constant (a record's entry): copied in, never changed
                self.val[pos[i]] = layout.data(i)

        # Leaves held by other stores: one (store, their entries there, positions here) each,
        # and the same for those of them backward gives a gradient.
        held_by: dict[int, tuple] = {}
        for i in held:
            store, entry = homed[i]
            held_by.setdefault(id(store), (store, [], [], []))[1].append(entry)
            held_by[id(store)][2].append(pos[i])
            held_by[id(store)][3].append(need[i])
        self._held, self._held_grads = [], []
        for store, entries, here, needs in held_by.values():
            entries, here = _np.array(entries, dtype=_np.intp), _np.array(here, dtype=_np.intp)
            needs = _np.array(needs, dtype=bool)
            self._held.append((store, entries, here))
            if needs.any():
                self._held_grads.append((store, entries[needs], here[needs]))

        self.groups = []
        self._members = []  # per group, its node indices in position order (to name errors)
        next_pos = self.n_leaves
        layers = {}  # a layer group's DOT nodes (a frozenset) -> (the group, its members)
        for (lev, key), members in sorted(groups.items(), key=lambda item: item[0][0]):
            layer = None
            if key == (Op.RELU, 1):
                dots = [args_of[i][0] for i in members]
                layer = layers.get(frozenset(dots))
                if layer is not None and any(uses[j] != 1 or j in outputs for j in dots):
                    layer = None
            if layer is not None:  # relu(layer): the layer computes it too (see _LayerGroup)
                group, layer_members = layer
                order = {j: n for n, j in enumerate(layer_members)}
                members = sorted(members, key=lambda i: order[args_of[i][0]])
                group.fuse_relu(slice(next_pos, next_pos + len(members)), self.val, self.adj)
            else:
                group, members = self._compile_group(key, members, args_of, pos, next_pos)
            for offset, i in enumerate(members):
                pos[i] = next_pos + offset
            next_pos += len(members)
            if layer is None:
                self.groups.append(group)
                self._members.append(members)
                if isinstance(group, _LayerGroup):
                    layers[frozenset(members)] = (group, members)
        self.pos = pos
        self._published = {}  # constant's position -> its gradient as last published
        # The recorded data, so that backward() is right before any forward() (a fused sum's
        # members have no place of their own: their chain's root holds the total).
        computed = list(args_of)
        self.val[[pos[i] for i in computed]] = [layout.data(i) for i in computed]
        for store, entries, here in self._held:
            self.val[here] = store.data[entries]
        self._outputs = [(graph.outputs[k], pos[i]) for k, i in enumerate(out_index)]
        self._interior_outputs = [(out, p) for out, p in self._outputs if p >= self.n_leaves]
        self._need_at = _np.zeros(size, dtype=bool)
        for i, p in enumerate(pos):
            if p >= 0:
                self._need_at[p] = need[i]
        self._plan_backward(len(own))
        # The leaves backward gives a gradient (all, or the parameters laid out first): the
        # only ones its nan check reads; of them the own ones (and outputs that are own leaves)
        # are added into leaf_grad after each sweep.
        self._graded = _slice_if_run(_np.flatnonzero(self._need_at[: self.n_leaves]))
        adds = self._need_at[: len(own)].copy()
        adds[[p for _, p in self._outputs if p < len(own)]] = True
        self._own_graded = _slice_if_run(_np.flatnonzero(adds))
        # The graph's records now hold numbers that go stale as this executor runs: each ends (so
        # new nodes go elsewhere), and after each sweep names this executor as the one to ask
        # (record.sync) before a sweep reads them -- an eager backward(), a python replay.
        self._records = [rec for rec, *_ in graph._stretches]
        for rec in self._records:
            end(rec)
        self._me = _weakref.ref(self)

    def _plan_backward(self, n_own: int) -> None:
        """Decide, for each part a group's backward writes, how: skip it (no gradient needed
        there), assign (the sweep's first write to those positions, groups taken in reverse
        order) or add (another group wrote there first). Only positions first reached by an
        addition are zeroed when a sweep starts (own leaves too: the sweep's cotangents are
        added into their gradients afterwards, see __init__)."""
        size, need_at = len(self.adj), self._need_at
        written, zero = _np.zeros(size, dtype=bool), _np.zeros(size, dtype=bool)
        for _, p in self._outputs:
            zero[p] = written[p] = True
        for group in reversed(self.groups):
            if getattr(group, "relu_val", None) is not None:
                written[group.own_writes] = True  # dY = dH · [Y > 0], assigned by the layer
            modes = []
            for part in group.parts:
                idx = part.idx.ravel()
                if not need_at[idx].any():
                    modes.append("skip")
                    continue
                fresh = ~written[idx]
                if part.unique and fresh.all():
                    modes.append("assign")
                else:
                    modes.append("add")
                    zero[idx[fresh]] = True
                written[idx] = True
            group.bind(self.val, self.adj, modes)
        self._backward_groups = [group for group in reversed(self.groups) if group.needed]
        at = _np.flatnonzero(zero)
        self._zero = _slice_if_run(at) if at.size else None
        # NOTE: each sweep as one flat list of calls of no arguments, mostly NumPy functions
        # bound to their arrays (functools.partial): no Python method per group (see _Group).
        self._forward_plan = [call for group in self.groups for call in group.forward_calls()]
        self._backward_plan = [call for group in self._backward_groups
                               for call in group.backward_calls()]

    def _compile_group(self, key, members, args_of, pos, start):
        """The group object for `members` (reordered by their arguments' positions)."""
        val, adj = self.val, self.adj
        if key in ("sum", "squares"):
            members = sorted(members, key=lambda i: pos[args_of[i][0]])
            terms = [pos[j] for i in members for j in args_of[i]]
            segment = _np.repeat(_np.arange(len(members)), [len(args_of[i]) for i in members])
            out = slice(start, start + len(members))
            lengths = {len(args_of[i]) for i in members}
            if key == "sum" and len(members) > 1 and len(lengths) == 1:
                (length,) = lengths
                if 2 <= length <= COLUMNS_AT_MOST:
                    grid = _np.array(terms, dtype=_np.intp).reshape(len(members), length)
                    return _ColumnSumGroup(out, grid, val, adj), members
            kind = _SumGroup if key == "sum" else _SquareSumGroup
            return kind(out, _np.array(terms, dtype=_np.intp), segment, val, adj), members
        if key[0] == "ce":
            _, k, fed = key
            members = sorted(members, key=lambda i: pos[args_of[i][0]])
            z_pos = _np.array([[pos[j] for j in args_of[i][:k]] for i in members], _np.intp)
            t_pos = onehot = None
            if fed:
                t_pos = _np.array([[pos[j] for j in args_of[i][k:]] for i in members], _np.intp)
            else:
                onehot = _np.eye(k)[[self._classes[i] for i in members]]
            out = slice(start, start + len(members))
            return _CrossEntropyGroup(out, z_pos, t_pos, onehot, val, adj), members
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
            k = _np.array([self.layout.k(i) for i in members], dtype=_np.float64)
        out = slice(start, start + len(members))
        return _RuleGroup(op, out, arg_pos, k, val, adj), members

    # -- sweeps ---------------------------------------------------------------------------------

    def forward(self):
        """Recompute every node from the leaves' current data; returns the output's new data
        (a list of them for several outputs), as Graph.forward does."""
        with _quiet():  # float arithmetic, as in the python backend: inf and nan, no warnings
            return self.forward_quietly()

    def backward(self) -> None:
        """Reverse mode: afterwards every leaf's grad has accumulated d(sum of outputs)/d(leaf)
        (zero them between training steps) and every output's grad is d(sum of outputs)/d(it):
        1, plus what reaches it from the outputs that use it. Only the leaves of ``wrt`` get a
        gradient, when the executor was given one."""
        with _quiet():
            self.backward_quietly()

    def forward_quietly(self):
        """forward(), inside a caller's ``np.errstate(all="ignore")`` (a compiled step enters
        it once for both sweeps: entering costs more than a small group's arithmetic)."""
        val = self.val
        for store, entries, here in self._held:
            val[here] = store.data[entries]
        try:
            for call in self._forward_plan:
                call()
        except (ArithmeticError, ValueError):
            for g, group in enumerate(self.groups):  # again, a group at a time, to name the node
                try:
                    group.forward()
                except (ArithmeticError, ValueError) as error:
                    raise self._located(error, g) from error
            raise
        for out, p in self._interior_outputs:
            out.data = val.item(p)
        self._stale()
        if len(self._outputs) == 1:
            return val.item(self._outputs[0][1])
        return [val.item(p) for _, p in self._outputs]

    def backward_quietly(self) -> None:
        """backward(), inside a caller's ``np.errstate(all="ignore")``."""
        adj = self.adj
        self._sweep_backward(masked=False)
        if _math.isnan(_np.add.reduce(adj[self._graded])):
            # NOTE: a nan reached a leaf (one sum finds it). It may be 0 · inf (sqrt at 0 behind
            # a dead relu): the python backend skips nodes whose gradient is 0, so there that
            # product is 0. Sweep again, slower, with every product by a zero cotangent as 0
            # (a sweep assigns or zeroes every position it writes: nothing to restore).
            self._sweep_backward(masked=True)
        self.leaf_grad[self._own_graded] += adj[self._own_graded]
        for store, entries, here in self._held_grads:
            store.grad[entries] += adj[here]
        for out, p in self._interior_outputs:
            out.grad = adj.item(p)
        self._stale()

    def _stale(self) -> None:
        """The records' interior numbers are now older than this executor's (see __init__)."""
        for rec in self._records:
            rec.publisher = self._me

    def _sweep_backward(self, masked: bool) -> None:
        """One reverse sweep over the groups that lead to a leaf needing a gradient; positions
        this sweep adds into before anything assigns them start from 0 (see _plan_backward)."""
        adj = self.adj
        if self._zero is not None:
            adj[self._zero] = 0.0
        for _, p in self._outputs:
            adj[p] += 1.0
        if not masked:
            for call in self._backward_plan:
                call()
            return
        for group in self._backward_groups:
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
                    total = self.leaf_grad.item(pos[i])
                    node.grad += total - self._published.get(i, 0.0)
                    self._published[i] = total
                continue
            if i in self._absorbed:  # inside a cross-entropy group: its value, not its grad
                node.data = _evaluate(node)
            elif i in root_of:
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
    with collector_paused():
        return NumpyExecutor(graph)


@_contextmanager
def collector_paused():
    """Compile with CPython's garbage collector paused. NOTE: compiling makes a few objects
    per node (tuples, lists) and keeps them until it returns, so the collector would run pass
    after pass meanwhile, each walking every live object, the graph's own included: pausing it
    saves 10-20% of compiling, more in a process that holds other large graphs."""
    enabled = _gc.isenabled()
    _gc.disable()
    try:
        yield
    finally:
        if enabled:
            _gc.enable()


# NOTE: a deep, narrow graph (a chain) has a group of one or two nodes per level, and every
# group costs NumPy's few microseconds per call, where the python backend spends about one per
# node: 10-15 times slower. Graph(..., backend="numpy") runs such a graph on the python
# interpreters instead: one with fewer than NARROW computed nodes per level, on average, once it
# has LARGE computed nodes (a small graph is compiled whatever its shape: it costs little).
NARROW, LARGE = 8, 2_000


def too_narrow(graph) -> bool:
    """Whether `graph` is deep and narrow enough to run faster on the python backend: its
    computed nodes per level (the longest path from a leaf, counted over the raw arguments)."""
    arg_indices = graph.arg_indices
    level = [0] * len(arg_indices)
    computed = 0
    for i, args in enumerate(arg_indices):
        if args:
            level[i] = 1 + max(map(level.__getitem__, args))
            computed += 1
    return computed >= LARGE and computed < NARROW * max(level, default=0)


__all__ = ["NumpyExecutor", "collector_paused", "compile_graph", "too_narrow"]
