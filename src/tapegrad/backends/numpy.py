"""The NumPy backend: a recorded Graph compiled once into a few vectorised calls per sweep.

    g = Graph(loss)
    run = compile_graph(g)      # once
    run.forward()               # loss.data is current
    run.backward()              # every leaf's .grad has accumulated d(loss)/d(leaf)

Compiling reads the graph as flat arrays straight from its records (flat_graph.py) and asks
every question of all nodes at once, in NumPy -- how often each is used, which additions fold,
each node's level -- then does four things, so that a sweep does no Python work per node:

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
   runs as ``X @ W.T + b``; backward as ``dY @ W``, ``dY.T @ X`` and ``1 @ dY``, each product
   in the form this machine's BLAS runs fastest at its size (products.py). Any other DOT group
   runs through the rule table like every other op. A layer's ReLU, when nothing else reads the
   layer, is computed inside it, in its own place (max(Y, 0) in place, Y itself not stored, and
   the mask [H > 0] backward).

A training step's loss (a compiled step, compiled_step.py: ``wrt`` names the parameters) is
also searched for two more patterns of table ops, each run as one group with its derivation in
its docstring: sums of squares (``Σ p * p``, an L2 penalty: one dot product) and softmax
cross-entropy (cross_entropy.py); a sum of a few terms each runs a column at a time. These apply
only where constants need no gradient, as the python Graph otherwise gives them.

**A sweep is one list of calls.** Each group gives its forward and its backward as calls of no
arguments (``forward_calls``, ``backward_calls``): NumPy functions bound once, with
functools.partial, to the views they read and the places they write (``out=``), so the
executor's sweep is ``for call in plan: call()`` -- a C call per array operation, no Python
method per group. (A group whose positions are not evenly spaced, or whose partials are computed
anew each time, gives its own method as its one call.)

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
from .flat_graph import CODES, FlatGraph, levels
from .leaf_store import LeafStore, home_of, move_into
from .numpy_math import NUMPY_MATH
from .products import Affine, affine_calls, fastest_affine, fastest_form, product_calls

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
    if idx.size == 1:  # (a chain's groups are of one node: no grid to check)
        return start, [0] * idx.ndim
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
        self.unique = self.idx.size < 2 or _np.unique(self.idx).size == self.idx.size

    def view(self, buf):
        """A view of `buf` at these positions (evenly spaced ones only), else None."""
        if self.strides is None:
            return None
        start, steps = self.strides
        last = start + sum((n - 1) * step for n, step in zip(self.idx.shape, steps))
        if start < 0 or last >= len(buf):  # never for a compiled graph; as_strided trusts us
            raise IndexError(f"positions {start}..{last} outside an array of {len(buf)}")
        if len(steps) == 1 and (steps[0] > 0 or self.idx.size == 1):  # (as a slice: the same
            return buf[start:last + 1:steps[0] or 1]  # view, without as_strided's Python cost)
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


def _relu_call(x, out):
    """_relu_into(x, out) bound as a call of no arguments. NOTE: against an array of zeros, not
    the scalar 0.0: NumPy's maximum takes its vectorised loop only when neither operand is
    broadcast, 2.5× faster on a layer's outputs (the same numbers)."""
    return _partial(_np.maximum, x, _np.zeros(x.shape), out=out)


def _product_calls(a, b, out) -> list:
    """``a @ b`` into `out` as calls of no arguments: a product of matrices in the form
    products.py times fastest here."""
    if a.ndim == 2 and b.ndim == 2:
        return product_calls(a, b, out, fastest_form(a, b, out))
    return [_partial(_np.matmul, a, b, out=out)]


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
            return [_relu_call(self.views[0], self.out_val)]
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


# The most terms a sum may have to be computed a column at a time (_ColumnSumGroup), and the
# most for a single sum (where one bincount otherwise does it all).
COLUMNS_AT_MOST, FEW_TERMS = 16, 3


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

    def prime(self):
        """The softmax of the recorded logits, which backward reads: a backward before any
        forward is then right. The loss keeps its recorded number."""
        loss = self.out_val.copy()
        with _np.errstate(all="ignore"):
            self.forward()
        self.out_val[...] = loss

    def forward_calls(self) -> list:
        if self.views is None:
            return [self.forward]
        return self._forward_steps(self.views[0], self._targets() if len(self.views) < 2
                                   else self.views[1])

    def backward_calls(self) -> list:
        if self.views is None:
            return [self.backward]
        dy, z, calls = self.out_adj[:, None], self.views[0], []
        for put, into, (a, sub) in zip(self.puts, self.into,
                                       [(self.softmax, self._targets()), (z, None)]):
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
    the activation is part of the layer: H = max(Y, 0) forward, computed in H's place, and
    dY = dH · [H > 0] backward ([H > 0] is [Y > 0] for every float: _relu_partial). NOTE: this
    saves a group per layer, and Y is never stored (the sweeps touch one S×J array forward, not
    two: hand-written NumPy's in-place relu). Publishing computes it again (``y_into``)."""

    op = Op.DOT

    relu_val = relu_adj = None
    affine = Affine()  # how the forward computes Y (products.py); publishing's y_into too

    def __init__(self, out: slice, x_pos, w_pos, b_pos, val, adj):
        rows, cols = x_pos.shape[0], w_pos.shape[0]
        self.out_val = val[out].reshape(rows, cols)
        self.out_adj = adj[out].reshape(rows, cols)
        self.own_writes = out
        self.parts = [_Part(x_pos), _Part(w_pos), _Part(b_pos)]
        self.reads = [part.reader(val) for part in self.parts]
        self.views = _static_reads(self.parts, val)

    def fuse_relu(self, relu: slice, val, adj) -> None:
        """Compute relu of every output, in positions `relu` (row by row, as Y), instead of
        the outputs themselves."""
        self.relu_val = val[relu].reshape(self.out_val.shape)
        self.relu_adj = adj[relu].reshape(self.out_val.shape)

    @property
    def _result(self):
        """Where forward writes: H's place once relu is fused (Y then has none), else Y's."""
        return self.out_val if self.relu_val is None else self.relu_val

    def y_into(self, buf) -> None:
        """Y = X W^T + b from the numbers in `buf` at this layer's arguments' positions,
        written into `buf` at Y's own (for publish: a relu'd layer does not store Y)."""
        x, w, b = (buf[part.idx] for part in self.parts)
        y = _np.empty((x.shape[0], w.shape[0]))
        for call in affine_calls(x, w, b, y, self.affine):  # (as the sweeps compute it)
            call()
        buf[self.own_writes] = y.ravel()

    def forward(self):
        x, w, b = self.views or [read() for read in self.reads]
        y = self._result
        _np.matmul(x, w.T, out=y)
        y += b
        if self.relu_val is not None:
            _relu_into(y, y)

    def forward_calls(self) -> list:
        if self.views is None:
            return [self.forward]
        x, w, b = self.views
        y = self._result
        self.affine = fastest_affine(x, w, b, y)
        calls = affine_calls(x, w, b, y, self.affine)
        if self.relu_val is not None:
            calls.append(_relu_call(y, y))
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
            calls += [_partial(_np.greater, self.relu_val, 0.0, out=mask),
                      _partial(_np.multiply, self.relu_adj, mask, out=dy)]
        ones = _np.ones(dy.shape[0])
        for put, into, (a, b) in zip(self.puts, self.into, [(dy, w), (dy.T, x), (ones, dy)]):
            if put is None:
                continue
            if into is not None:
                calls += _product_calls(a, b, into)
            else:
                buf = _np.empty((a.shape[0], b.shape[1]) if a.ndim == 2 else b.shape[1:])
                calls += _product_calls(a, b, buf) + [_partial(put, buf)]
        return calls

    def backward(self, masked=False):
        dy = self.out_adj
        x, w, _ = self.views or [read() for read in self.reads]
        if self.relu_val is not None:  # the layer's outputs are used by its relus alone
            if masked:
                dh = self.relu_adj
                dy[...] = _np.where(dh != 0, dh * _relu_partial(self.relu_val), 0.0)
            else:
                _np.multiply(self.relu_adj, _relu_partial(self.relu_val), out=dy)
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


def _fused_sums(flat, is_add: _np.ndarray, is_output: _np.ndarray):
    """For each ADD that survives fusion, its terms (node indices, left to right); and for each
    ADD folded into another, the surviving ADD it was folded into.

    An ADD is folded into its consumer when that consumer is an ADD and the only user of it
    (and it is not an output), and it is that consumer's left operand (((t0 + t1) + t2), eager's
    order): its value is needed nowhere else. Which ADDs fold is found over all nodes at once;
    only the ADDs are then walked, each chain with an explicit stack (no recursion)."""
    folded = is_add & (flat.uses == 1) & ~is_output
    candidates = _np.flatnonzero(folded)
    users = flat.users(candidates)
    folded[candidates] = is_add[users] & (flat.first_args()[users] == candidates)
    folded_list, args = folded.tolist(), flat.args
    terms, root_of = {}, {}
    for i in _np.flatnonzero(is_add & ~folded).tolist():
        found, stack = [], list(reversed(args[i]))
        while stack:
            j = stack.pop()
            if folded_list[j]:
                root_of[j] = i
                stack.extend(reversed(args[j]))
            else:
                found.append(j)
        terms[i] = found
    return terms, root_of


def _split_dot(args):
    n = (len(args) - 1) // 2
    return args[:n] + args[-1:], args[n : 2 * n]  # (weights and bias), inputs


def _known_by_first(keys: _np.ndarray):
    """(each distinct row's first index, each row's distinct-row number) if the rows of `keys`
    that share their first column are equal throughout, else None."""
    _, first, which = _np.unique(keys[:, 0], return_index=True, return_inverse=True)
    return (first, which.ravel()) if _np.array_equal(keys[first][which.ravel()], keys) else None


def _ranks(order: _np.ndarray) -> _np.ndarray:
    rank = _np.empty_like(order)
    rank[order] = _np.arange(order.size)
    return rank


def _as_layer(flat, members: _np.ndarray, width: int, pos: _np.ndarray):
    """(the members in grid order, their input rows' positions X, the neurons' weights' W and
    biases' b) if the DOT nodes `members` (each of `width` arguments) form a full S×J grid --
    every input row with every neuron, once -- rows and neurons ordered by position; else None.

    NOTE: with NumPy over the members' argument columns: a row is known by its first input and
    a neuron by its first weight, checked against the whole row or neuron (one comparison of
    arrays); only where two share their first argument are the rows looked up whole, as tuples
    (_as_layer_exactly)."""
    n = (width - 1) // 2
    args = flat.columns(members, width)
    inputs, neurons = args[:, n : 2 * n], _np.concatenate([args[:, :n], args[:, 2 * n :]], 1)
    rows, cols = (_known_by_first(inputs), _known_by_first(neurons)) if n else (None, None)
    if rows is None or cols is None:
        return _as_layer_exactly(members.tolist(), [tuple(a) for a in args.tolist()], pos)
    (row_first, row_of), (col_first, col_of) = rows, cols
    n_rows, n_cols = len(row_first), len(col_first)
    if len(members) != n_rows * n_cols:
        return None
    row_order = _np.argsort(pos[inputs[row_first, 0]], kind="stable")
    col_order = _np.argsort(pos[neurons[col_first, 0]], kind="stable")
    cell = _ranks(row_order)[row_of] * n_cols + _ranks(col_order)[col_of]
    if _np.bincount(cell, minlength=len(members)).max() != 1:
        return None
    grid = _np.empty_like(members)
    grid[cell] = members
    w_and_b = pos[neurons[col_first[col_order]]]
    return grid, pos[inputs[row_first[row_order]]], w_and_b[:, :n], w_and_b[:, n]


def _as_layer_exactly(members: list, args: list, pos: _np.ndarray):
    """_as_layer, each node's input row and neuron looked up whole (`args`: each member's)."""
    rows, cols, cells = {}, {}, {}
    for i, a in zip(members, args):
        neuron, inputs = _split_dot(a)
        cell = (rows.setdefault(inputs, len(rows)), cols.setdefault(neuron, len(cols)))
        if cell in cells:
            return None
        cells[cell] = i
    if len(cells) != len(rows) * len(cols):
        return None

    def by_position(keys):
        return sorted(keys, key=lambda key: pos[list(key)].tolist())

    row_keys, col_keys = by_position(rows), by_position(cols)
    grid = _np.array([cells[rows[r], cols[c]] for r in row_keys for c in col_keys], _np.intp)
    x_pos = pos[_np.array(row_keys, dtype=_np.intp).reshape(len(row_keys), -1)]
    w_and_b = pos[_np.array(col_keys, dtype=_np.intp)]
    return grid, x_pos, w_and_b[:, :-1], w_and_b[:, -1]


# Python's floats give inf and nan silently (0 · inf, inf - inf); NumPy would warn. The domain
# errors the python backend raises are raised by NumpyMath itself, warnings or not.
def _quiet():
    return _np.errstate(all="ignore")


class _Layout:
    """Where a Value sits in the graph's array, and what compiling reads of a node that the
    flat arrays (flat_graph.py) do not hold: its constant operand k, the user's leaf."""

    def __init__(self, graph, n_leaves: int):
        self.homes, self.entries, self.at = graph._positions()
        self.leaf_at = {id(h): p for p, h in enumerate(self.homes[:n_leaves])}

    def k(self, i: int):
        return self.homes[i].k.get(self.entries[i])

    def leaf(self, i: int):
        """The user's leaf Value at position i, or None (a constant, or a computed node)."""
        return self.homes[i] if self.entries[i] < 0 else None

    def position(self, v) -> int:
        """Where Value v sits in the graph's array, or -1 if it is not in the graph."""
        if v._rec is None:
            return self.leaf_at.get(id(v), -1)
        here = self.at.get(v._rec)
        return here[v._i] if here is not None and v._i < len(here) else -1


def _square_sums(flat, terms: dict, is_output: _np.ndarray) -> dict:
    """The fused sums that are sums of squares: {sum node: the squared nodes, in order}.

    A sum qualifies when each term is a MUL of one node by itself (``p * p``) that nothing else
    uses, or the constant 0 Python's ``sum()`` starts from (adding 0.0 changes no sum)."""
    found, ops, args, uses = {}, flat.ops, flat.args, flat.uses
    for i, ts in terms.items():
        squared = []
        for j in ts:
            if ops[j] is Op.MUL and uses[j] == 1 and not is_output[j]:
                a, b = args[j]
                if a == b:
                    squared.append(a)
                    continue
            if flat.constant(j) != 0.0:
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
    batch is written with one assignment).

    Compiling reads the graph as flat arrays (flat_graph.py) and asks its questions of all
    nodes at once; Python loops run over the additions (their chains), the leaves (each moves
    into the arrays) and the groups, not over every node."""

    def __init__(self, graph, wrt=None, first=(), stop_if_narrow=False):
        self.graph = graph
        self.flat = flat = FlatGraph(graph)
        self.layout = layout = _Layout(graph, flat.n_leaves)
        n, code, lengths = flat.n, flat.code, flat.lengths
        out_index = [layout.position(out) for out in graph.outputs]
        is_output = _np.zeros(n, dtype=bool)
        is_output[out_index] = True
        add = CODES[Op.ADD]
        # Softmax cross-entropy, one group for all its samples, when its constants (the shift)
        # need no gradient: their nodes are hidden from the fusion of sums. (Its samples are
        # searched from the ADDs of a log-sum-exp (an ADD) and -Σ t z (a MUL).)
        losses = {}
        if wrt is not None:
            two = _np.flatnonzero((code == add) & (lengths == 2))
            left, right = flat.refs[flat.starts[two]], flat.refs[flat.starts[two] + 1]
            candidates = two[(code[left] == add) & (code[right] == CODES[Op.MUL])]
            losses = find_cross_entropies(flat.constant, flat.ops, flat.args, flat.uses.tolist(),
                                          set(out_index), candidates.tolist())
        self._absorbed = {j for sample in losses.values() for j in sample[3]}
        self._classes = {i: sample[2] for i, sample in losses.items()}
        hidden = _np.zeros(n, dtype=bool)
        hidden[[*losses, *self._absorbed]] = True
        terms, self._root_of = _fused_sums(flat, (code == add) & ~hidden, is_output)
        # Sums of squares (an L2 penalty) become one group, when the constant 0 that Python's
        # sum() starts from needs no gradient of its own (only the python Graph's semantics,
        # wrt=None, give constants gradients).
        squares = {} if wrt is None else _square_sums(flat, terms, is_output)
        if wrt is not None:  # and the 0 Python's sum() starts from: it adds nothing
            for i, ts in terms.items():
                kept = [j for j in ts if flat.constant(j) != 0.0]
                terms[i] = kept if kept else ts
        squared = [j for i in squares for j in terms[i] if lengths[j]]
        self._root_of.update((j, i) for i in squares for j in terms[i] if lengths[j])

        # The computed nodes: the sums, sums of squares and cross-entropies with the arguments
        # found above, and every other node with arguments (but an ADD, folded or fused, and
        # the nodes those groups absorb) with its own.
        made, kinds = {}, {}  # node -> its arguments, its kind: for the found groups
        for i, (zs, ts, _, _) in losses.items():
            made[i], kinds[i] = (*zs, *(ts or ())), ("ce", len(zs), ts is not None)
        for i, ts in terms.items():
            made[i], kinds[i] = ((*squares[i],), "squares") if i in squares else ((*ts,), "sum")
        regular = (lengths > 0) & (code != add) & ~hidden
        regular[squared] = False
        found = _np.array(sorted(made), dtype=_np.intp)
        made_counts = _np.fromiter((len(made[i]) for i in found.tolist()), _np.intp, found.size)
        by_ref = _np.repeat(regular, lengths)  # (the references of the regular nodes)
        reg = _np.flatnonzero(regular)
        with_args = _np.concatenate([reg, found])
        counts = _np.concatenate([lengths[reg], made_counts])
        src = _np.concatenate([flat.refs[by_ref], _np.fromiter(
            _chain.from_iterable(made[i] for i in found.tolist()), _np.intp, made_counts.sum())])

        # Which nodes need a gradient (the leaves asked for, and every node one of them
        # reaches), and each node's level: 0 for leaves, 1 + its highest argument's otherwise.
        need = lengths == 0
        if wrt is not None:
            need[:] = False
            need[[layout.position(v) for v in wrt]] = True
        level, need = levels(n, with_args, counts, src, need)

        # Groups: the computed nodes of one level and one kind (op and arity, or a found
        # group's), in level order; within a level, in order of their first node.
        computed = regular.copy()
        computed[found] = True
        width = int(lengths.max(initial=0)) + 1
        kind_list = sorted(set(kinds.values()), key=repr)
        kind_code = code.astype(_np.int64) * width + lengths
        base = (len(CODES) + 1) * width
        kind_code[found] = base + _np.array([kind_list.index(kinds[i]) for i in found.tolist()],
                                            dtype=_np.int64).reshape(-1)
        span = base + len(kind_list) + 1
        nodes = _np.flatnonzero(computed)
        self.computed, self.depth = int(nodes.size), int(level.max(initial=0))  # (see narrow)
        if stop_if_narrow and narrow(self.computed, self.depth):
            raise _TooNarrow(self.computed, self.depth)  # (before the groups: most of compiling)
        keys = level[nodes] * span + kind_code[nodes]
        unique, first_of, which = _np.unique(keys, return_index=True, return_inverse=True)
        group_order = _np.lexsort((nodes[first_of], unique // span))
        by_group = _np.argsort(which.ravel(), kind="stable")
        bounds = _np.zeros(unique.size + 1, dtype=_np.intp)
        _np.cumsum(_np.bincount(which.ravel(), minlength=unique.size), out=bounds[1:])

        # Positions: own leaves first (their part of the arrays *is* their LeafStore), `first`
        # leading, then leaves held elsewhere, then the groups in level order.
        homed = {}  # a user's leaf already held by another compiled Graph -> (store, entry)
        for i, leaf in enumerate(layout.homes[: flat.n_leaves]):
            home = home_of(leaf)
            if home is not None:
                homed[i] = home
        lead = [i for i in (layout.position(v) for v in first) if i not in homed]
        rest = lengths == 0
        rest[lead] = False
        rest[list(homed)] = False
        own = _np.concatenate([_np.array(lead, dtype=_np.intp), _np.flatnonzero(rest)])
        held = sorted(homed)
        size = own.size + len(held) + nodes.size
        self.val, self.adj = _np.zeros(size), _np.zeros(size)
        pos = _np.full(n, -1, dtype=_np.intp)
        pos[own] = _np.arange(own.size)
        pos[held] = own.size + _np.arange(len(held), dtype=_np.intp)
        self.n_leaves = own.size + len(held)
        # Own leaves accumulate their gradients in an array of their own, not in adj: a sweep
        # assigns their cotangents into adj like any node's, then adds them in with one call (so
        # a nan sweep can simply be run again, and the first write to a weight is out= into it).
        self.leaf_grad = _np.zeros(own.size)
        self.store = LeafStore(self.val[: own.size], self.leaf_grad)
        users = own[own < flat.n_leaves]
        for i, p in zip(users.tolist(), pos[users].tolist()):
            move_into(layout.homes[i], self.store, p)
        constants = own[own >= flat.n_leaves]  # numbers used as constants: copied in once
        self.val[pos[constants]] = flat.data[constants]

        # Leaves held by other stores: one (store, their entries there, positions here) each,
        # and the same for those of them backward gives a gradient.
        held_by: dict[int, tuple] = {}
        for i in held:
            store, entry = homed[i]
            held_by.setdefault(id(store), (store, [], [], []))[1].append(entry)
            held_by[id(store)][2].append(int(pos[i]))
            held_by[id(store)][3].append(bool(need[i]))
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
        layers = {}  # a layer group's DOT nodes (a frozenset) -> the group
        self._unkept = set()  # nodes whose data the sweeps do not store (a relu'd layer's Y)
        self._relud_layers = []
        kind_of = {base + k: kind for k, kind in enumerate(kind_list)}
        for g in group_order.tolist():
            members = nodes[by_group[bounds[g]:bounds[g + 1]]]
            c = int(kind_code[members[0]])
            key = kind_of.get(c) or (flat.ops[int(members[0])], c % width)
            layer = None
            if key == (Op.RELU, 1):
                dots = flat.refs[flat.starts[members]]
                layer = layers.get(frozenset(dots.tolist()))
                if layer is not None and ((flat.uses[dots] != 1).any() or is_output[dots].any()):
                    layer = None
            if layer is not None:  # relu(layer): the layer computes it too (see _LayerGroup)
                members = members[_np.argsort(pos[dots], kind="stable")]
                layer.fuse_relu(slice(next_pos, next_pos + len(members)), self.val, self.adj)
                self._unkept.update(dots.tolist())
                self._relud_layers.append(layer)
            else:
                group, members = self._compile_group(key, members, made, pos, next_pos)
            pos[members] = next_pos + _np.arange(len(members))
            next_pos += len(members)
            if layer is None:
                self.groups.append(group)
                self._members.append(members.tolist())
                if isinstance(group, _LayerGroup):
                    layers[frozenset(members.tolist())] = group
        self.pos = pos.tolist()
        del self.flat  # (the graph's arrays: not needed once compiled)
        self._published = {}  # constant's position -> its gradient as last published
        # The recorded data, so that backward() is right before any forward() (a fused sum's
        # members have no place of their own: their chain's root holds the total).
        self.val[pos[nodes]] = flat.data[nodes]
        for store, entries, here in self._held:
            self.val[here] = store.data[entries]
        self._outputs = [(graph.outputs[k], self.pos[i]) for k, i in enumerate(out_index)]
        self._interior_outputs = [(out, p) for out, p in self._outputs if p >= self.n_leaves]
        self._need_at = _np.zeros(size, dtype=bool)
        placed = pos >= 0
        self._need_at[pos[placed]] = need[placed]

        # A relu'd layer's Y, a folded addition's partial sum and a cross-entropy group's inner
        # nodes are not stored, so publish computes them -- from the leaves as the latest
        # forward read them (copied at each forward, one call: all of them for a relu'd layer,
        # else only those the other two read), not as they are now: an optimizer may have moved
        # them since, and the records must hold the forward's numbers, consistent with its
        # relus', as the python backend's do. Until a forward has run, Y's positions hold the
        # recorded Y (written above; no sweep writes there), and the records the other two's.
        self._seen_at = slice(0, self.n_leaves) if self._relud_layers else _leaves_read(
            flat, [*self._root_of, *self._absorbed], pos)
        self._leaves_seen = self.val[self._seen_at].copy() if self._seen_at is not None else None
        self._forwarded = False
        self._plan_backward(own.size)
        # The leaves backward gives a gradient (all, or the parameters laid out first): the
        # only ones its nan check reads; of them the own ones (and outputs that are own leaves)
        # are added into leaf_grad after each sweep.
        self._graded = _slice_if_run(_np.flatnonzero(self._need_at[: self.n_leaves]))
        adds = self._need_at[: own.size].copy()
        adds[[p for _, p in self._outputs if p < own.size]] = True
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
        # NOTE: a sum of squares of leaves (an L2 penalty) goes last: nothing after it in the
        # sweep reads what it writes (leaves' cotangents), and its output's cotangent is
        # complete before any group of its level or below runs (their arguments are lower).
        # Then a first layer's dW and db are the first writes to their places, as a product
        # into the place (out=), not into a buffer added after: 2 µs a step at 300 points.
        last = [g for g in self.groups if isinstance(g, _SquareSumGroup)
                and all((part.idx < self.n_leaves).all() for part in g.parts)]
        order = [g for g in reversed(self.groups) if g not in last] + last
        for group in order:
            if getattr(group, "relu_val", None) is not None:
                written[group.own_writes] = True  # dY = dH · [H > 0], assigned by the layer
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
        self._backward_groups = [group for group in order if group.needed]
        for group in self.groups:  # (so that a backward before any forward has its softmax)
            if isinstance(group, _CrossEntropyGroup):
                group.prime()
        at = _np.flatnonzero(zero)
        self._zero = _slice_if_run(at) if at.size else None
        # NOTE: each sweep as one flat list of calls of no arguments, mostly NumPy functions
        # bound to their arrays (functools.partial): no Python method per group (see _Group).
        self._forward_plan = [call for group in self.groups for call in group.forward_calls()]
        if isinstance(self._seen_at, slice):
            self._forward_plan.insert(0, _partial(_np.copyto, self._leaves_seen,
                                                  self.val[self._seen_at]))
        elif self._seen_at is not None:
            self._forward_plan.insert(0, _partial(_np.take, self.val, self._seen_at,
                                                  out=self._leaves_seen))
        self._backward_plan = [call for group in self._backward_groups
                               for call in group.backward_calls()]

    def _compile_group(self, key, members, made, pos, start):
        """The group object for `members` (an array of node indices), and the members
        reordered by their arguments' positions. `made`: the found groups' arguments."""
        val, adj, flat = self.val, self.adj, self.flat
        out = slice(start, start + len(members))
        if key in ("sum", "squares") or key[0] == "ce":
            rows = [made[i] for i in members.tolist()]
            members = members[_np.argsort(pos[[r[0] for r in rows]], kind="stable")]
            rows = [made[i] for i in members.tolist()]
        if key in ("sum", "squares"):
            counts = _np.fromiter(map(len, rows), dtype=_np.intp, count=len(rows))
            terms = pos[_np.fromiter(_chain.from_iterable(rows), _np.intp, int(counts.sum()))]
            length = int(counts[0])
            if key == "sum" and (counts == length).all() and 2 <= length <= COLUMNS_AT_MOST:
                if len(members) > 1 or length <= FEW_TERMS:
                    return _ColumnSumGroup(out, terms.reshape(len(members), length), val, adj), \
                        members
            kind = _SumGroup if key == "sum" else _SquareSumGroup
            return kind(out, terms, _np.repeat(_np.arange(len(members)), counts), val, adj), \
                members
        if key[0] == "ce":
            _, k, fed = key
            args = pos[_np.array(rows, dtype=_np.intp)]
            t_pos, onehot = (args[:, k:], None) if fed else (
                None, _np.eye(k)[[self._classes[i] for i in members.tolist()]])
            return _CrossEntropyGroup(out, args[:, :k], t_pos, onehot, val, adj), members
        op, arity = key
        if op is Op.DOT:
            layer = _as_layer(flat, members, arity, pos)
            if layer is not None:
                members, x_pos, w_pos, b_pos = layer
                return _LayerGroup(out, x_pos, w_pos, b_pos, val, adj), members
        arg_pos = pos[flat.columns(members, arity)]
        order = _np.lexsort(arg_pos.T[::-1])  # (by the first argument's position, then ...)
        members, arg_pos = members[order], arg_pos[order]
        k = None
        if RULES[op].takes_constant:
            k = _np.array([self.layout.k(i) for i in members.tolist()], dtype=_np.float64)
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
        self._forwarded = True  # (see _leaves_seen)
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
        and need no copy; a folded ADD gets its own partial sum and its chain's gradient; a
        relu'd layer's Y is computed again, from the leaves as the latest forward read them."""
        for rec in self._records:  # (all of them, or syncing one would publish again)
            rec.publisher = None
        val, adj, pos, root_of = self.val, self.adj, self.pos, self._root_of
        ys = val  # the values as the forward had them: its leaves, every relu'd layer's Y
        if self._leaves_seen is not None and self._forwarded:
            ys = val.copy()
            ys[self._seen_at] = self._leaves_seen
            for layer in self._relud_layers:
                layer.y_into(ys)
        computed = self._forwarded  # (else the records hold the recorded numbers: keep them)
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
                if computed:
                    node.data = self._evaluated(i, ys)
            elif i in self._unkept:
                node.data, node.grad = ys.item(pos[i]), adj.item(pos[i])
            elif i in root_of:
                if computed:
                    node.data = self._evaluated(i, ys)
                node.grad = adj.item(pos[root_of[i]])
            else:
                node.data, node.grad = val.item(pos[i]), adj.item(pos[i])

    def _evaluated(self, i: int, ys) -> float:
        """Node `i`'s data computed from its arguments' (for a node the sweeps keep no number
        for): a leaf's as the latest forward read it, in `ys`; any other's as just published
        (its place comes first, or it has one in `ys`)."""
        nodes, pos, node = self.graph.nodes, self.pos, self.graph.nodes[i]
        xs = [ys.item(pos[j]) if 0 <= pos[j] < self.n_leaves else nodes[j].data
              for j in self.graph.arg_indices[i]]
        return FORWARD[node.op](FLOATS, *xs, *(() if node.k is None else (node.k,)))

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


def _leaves_read(flat, nodes: list, pos):
    """The places (in val) of the leaves that `nodes` take as arguments, or None if none."""
    if not nodes:
        return None
    nodes = _np.array(nodes, dtype=_np.intp)
    starts, lengths = flat.starts[nodes], flat.lengths[nodes]
    firsts = _np.repeat(_np.cumsum(lengths) - lengths, lengths)  # (each one's first argument)
    refs = flat.refs[_np.repeat(starts, lengths) + _np.arange(int(lengths.sum())) - firsts]
    places = _np.unique(pos[refs[refs < flat.n_leaves]])
    return places if places.size else None


def compile_graph(graph) -> NumpyExecutor:
    """Compile a recorded Graph for NumPy: see the module docstring."""
    with collector_paused():
        return NumpyExecutor(graph)


class _TooNarrow(Exception):
    """Raised by NumpyExecutor(..., stop_if_narrow=True) for a deep, narrow graph (`narrow`),
    with its computed nodes and its depth."""


def compile_unless_narrow(graph) -> "NumpyExecutor | None":
    """compile_graph(graph), or None for a graph deep and narrow enough to run faster on the
    python interpreters (`narrow`, judged on the levels the compiler finds, its fused sums
    counted as one node each): what Graph(..., backend="numpy") runs on."""
    with collector_paused():
        try:
            return NumpyExecutor(graph, stop_if_narrow=True)
        except _TooNarrow:
            return None


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


def narrow(computed: int, depth: int) -> bool:
    """Whether a graph of `computed` computed nodes over `depth` levels (the longest path from a
    leaf) is deep and narrow enough to run faster on the python backend."""
    return computed >= LARGE and computed < NARROW * depth


def too_narrow(graph) -> bool:
    """Whether `graph` is deep and narrow enough to run faster on the python backend: whether
    compile_unless_narrow declines it (it compiles one that is not: keep that instead)."""
    return compile_unless_narrow(graph) is None


__all__ = ["NumpyExecutor", "collector_paused", "compile_graph", "compile_unless_narrow", "narrow",
           "too_narrow"]
