"""A matrix product bound as calls of no arguments, in the form this machine's BLAS runs fastest.

    form = fastest_form(a, b, out)      # once, when compiling (it may time a few forms)
    calls = product_calls(a, b, out, form)
    for call in calls: call()           # out = a @ b, every sweep

and a layer's outputs, ``Y = X W^T + b``, the same way (``fastest_affine``, ``affine_calls``):
the product, then the bias added, or the bias as one more column of the product.

There is more than one way to have NumPy compute ``out = a @ b`` (a of shape M×K, b K×N), and
which is fastest depends on the BLAS NumPy was built with and on the CPU, not on anything the
graph says. The forms here:

- **whole**: one ``np.matmul(a, b, out=out)``;
- **b copied first**: b is a transposed view (a layer's ``W.T``, its rows strided in the
  parameters' place) copied into a contiguous K×N buffer, then multiplied;
- **in blocks**: ``out`` cut into blocks of at most 100³ multiply-adds each, one matmul per
  block (with b copied first, or not).

NOTE: why blocks. OpenBLAS (the BLAS of NumPy's wheels) multiplies a product of up to 100³
multiply-adds with a kernel that reads the operands where they lie; a larger one it first copies
into packed panels, which at a layer's sizes (an inner dimension of 64) costs more than it saves.
Measured on this project's 2-core Xeon (OpenBLAS 0.3.31, one thread): a 1000×64 by 64×64 product
129 µs whole, 102 µs in blocks; 64×1000 by 1000×64 (a layer's dW) 165 µs against 119; digits'
256×64 by ``W.T`` (64×32) 18.5 µs against 12.5 with W copied first. Larger products lose in
blocks (1000×256 by 256×256: 1.3× slower), and other BLAS libraries and CPUs differ: so each form
is timed on the operands themselves, once per shape and layout in a process, and one other than
the whole product is taken only when it is at least 10% faster.

Every form computes each entry of ``out`` as the dot product of a row of a and a column of b,
but a BLAS kernel may add up the K products in another order than another kernel does: the
forms agree to rounding (about 1e-16 relative for each entry, more where a sum cancels), not
bit for bit. That is why a choice, once made, is kept for the process (`_CHOSEN`), and why a
layer computes its outputs again for publishing with the same form as its sweeps.
"""

import time as _time
from functools import partial as _partial
from typing import NamedTuple

import numpy as _np

BLOCK_LIMIT = 100 ** 3  # multiply-adds in one block (see the module's NOTE)
TIMED_FROM = 2 ** 16  # multiply-adds: a smaller product is whole (a few µs, nothing to gain)
MAX_BLOCKS = 64  # a product that needs more blocks than this is left whole
MARGIN = 0.9  # another form is taken only when it takes at most 90% of the whole's time


class Form(NamedTuple):
    """How to compute one product: copy b into a contiguous buffer first or not, and the
    (rows, columns) of out's blocks (None: out whole)."""

    copy_b: bool = False
    block: "tuple[int, int] | None" = None


WHOLE = Form()
_CHOSEN: dict = {}  # (shapes and strides of a, b, out) -> the Form timed fastest for them


def blocks_for(m: int, n: int, k: int) -> "tuple[int, int] | None":
    """The block of an m×n product with inner dimension k: out's longer side halved (the
    columns on a tie: measured faster for a layer's dW) until a block has at most BLOCK_LIMIT
    multiply-adds; None if the product is that small already, if no block is that small, or
    if it needs over MAX_BLOCKS."""
    rows, cols = m, n
    while rows * cols * k > BLOCK_LIMIT and rows * cols > 1:
        if cols >= rows:
            cols = -(-cols // 2)
        else:
            rows = -(-rows // 2)
    count = -(-m // rows) * -(-n // cols)
    if (rows, cols) == (m, n) or rows * cols * k > BLOCK_LIMIT or count > MAX_BLOCKS:
        return None
    return rows, cols


def candidate_forms(a, b) -> list:
    """The forms worth timing for ``a @ b``, the whole product first."""
    (m, k), n = a.shape, b.shape[1]
    block = blocks_for(m, n, k)
    shapes = [None] if block is None else [None, block]
    copies = [False, True] if b.strides[0] < b.strides[1] else [False]  # (b is transposed)
    return [Form(copy, shape) for copy in copies for shape in shapes]


def product_calls(a, b, out, form: Form = WHOLE) -> list:
    """``out = a @ b`` in `form`, as a list of calls of no arguments (NumPy functions bound to
    the arrays, and to views of them: nothing is looked up when they run).

    `out` must not overlap a or b (the blocks would read what earlier blocks wrote); the
    backend's never do.

    NOTE: a product whose inner dimension is 1 (a column times a row: a layer of one output,
    or of one input) is one multiplication per entry, and as einsum's sum of one product per
    entry it is matmul's numbers, the sign of a zero included (each product is added to 0.0,
    so -0.0 comes out as 0.0). For a layer's outputs it is faster than both others here: for
    1000×1 by 1×64, 28 µs against 51 for a broadcast multiply (both of whose operands are
    broadcast: NumPy's slow loop) and 80 for matmul; 300×1 by 1×32 1.2× faster than the
    multiply. Not for a single column out (1000×1 by 1×1: 1.9 µs against the multiply's 0.7),
    a layer of one input and one output, which we leave slower for matmul's numbers."""
    if a.shape[1] == 1:
        return [_partial(_np.einsum, "ik,kj->ij", a, b, out=out)]
    calls = []
    if form.copy_b:
        contiguous = _np.empty(b.shape)
        calls.append(_partial(_np.copyto, contiguous, b))
        b = contiguous
    if form.block is None:
        return calls + [_partial(_np.matmul, a, b, out=out)]
    (m, n), (rows, cols) = out.shape, form.block
    for i in range(0, m, rows):
        for j in range(0, n, cols):
            calls.append(_partial(_np.matmul, a[i:i + rows], b[:, j:j + cols],
                                  out=out[i:i + rows, j:j + cols]))
    return calls


def _fastest(candidates: list, time_calls, reps: int):
    """The first of `candidates` unless another's calls (``time_calls(candidate)``) take at most
    MARGIN of its time, timed `reps` times each; then the fastest."""
    timed = []
    with _np.errstate(all="ignore"):  # (the operands may hold a graph's inf: as the sweeps)
        for candidate in candidates:
            calls = time_calls(candidate)
            for call in calls:  # (once untimed: the buffers' first touch)
                call()
            timed.append((_seconds(calls, reps), candidate))
    seconds, fastest = min(timed, key=lambda pair: pair[0])
    return fastest if seconds <= MARGIN * timed[0][0] else candidates[0]


def _seconds(calls: list, reps: int) -> float:
    """The fastest of three runs of `calls` `reps` times, per run of them."""
    best = float("inf")
    for _ in range(3):
        start = _time.perf_counter()
        for _ in range(reps):
            for call in calls:
                call()
        best = min(best, _time.perf_counter() - start)
    return best / reps


def _like(out):
    """A scratch array with out's shape and strides, for timing without writing into `out`
    (which holds a graph's recorded numbers until its first sweep); a contiguous one where a
    stride is not positive (never for the backend's views)."""
    if min(out.strides) <= 0:
        return _np.empty(out.shape)
    span = 1 + sum((size - 1) * step for size, step in zip(out.shape, out.strides)) // 8
    return _np.lib.stride_tricks.as_strided(_np.empty(span), out.shape, out.strides)


def fastest_form(a, b, out) -> Form:
    """The form to compute ``out = a @ b`` in (2-D float64 arrays): WHOLE for a small product,
    else the fastest of `candidate_forms` timed on these operands (see the module's NOTE)."""
    (m, k), n = a.shape, b.shape[1]
    if m * k * n < TIMED_FROM or k == 1:
        return WHOLE
    key = (a.shape, a.strides, b.shape, b.strides, out.shape, out.strides)
    if key not in _CHOSEN:
        scratch = _like(out)
        reps = max(3, 2_000_000 // (m * k * n))  # (about a millisecond a run)
        _CHOSEN[key] = _fastest(candidate_forms(a, b),
                                lambda form: product_calls(a, b, scratch, form), reps)
    return _CHOSEN[key]


# -------------------------------------------------------------------------------------------
# A layer's outputs: Y = X W^T + b.
# -------------------------------------------------------------------------------------------

COLUMN_FROM = 4096  # outputs (S·J): a smaller layer adds its bias (a microsecond or two)


class Affine(NamedTuple):
    """How to compute a layer's outputs Y = X W^T + b: the product's Form, and whether the bias
    rides in it as one more column, ``[X 1] [W b]^T``, instead of being added afterwards."""

    form: Form = WHOLE
    bias_column: bool = False


def affine_calls(x, w, b, y, affine: Affine = Affine()) -> list:
    """Y = X W^T + b into `y` (x S×K, w J×K, b of J) as calls of no arguments, as `affine`
    says. NOTE: why a bias column. NumPy adds b to every row of Y by broadcasting it, which
    takes its slow loop (about twice the time of adding two arrays of Y's shape: 24 µs for
    1000×64 here). Where X has few columns (a first layer's 2 inputs), copying X and W into
    ``[X 1]`` and ``[W b]`` costs less than that, and the product with one more column about
    the same: MLP(2, [64, ...])'s first layer on 1,000 points 48 µs as product and addition,
    33 µs with the bias column."""
    if not affine.bias_column:
        return product_calls(x, w.T, y, affine.form) + [_partial(_np.add, y, b, out=y)]
    (s, k), j = x.shape, w.shape[0]
    xa, wa = _np.ones((s, k + 1)), _np.empty((j, k + 1))  # (xa's last column stays 1)
    return [_partial(_np.copyto, xa[:, :k], x), _partial(_np.copyto, wa[:, :k], w),
            _partial(_np.copyto, wa[:, k], b)] + product_calls(xa, wa.T, y, affine.form)


def fastest_affine(x, w, b, y) -> Affine:
    """How to compute Y = X W^T + b into `y`: with the product's fastest form and the bias
    added, or -- a layer of at least COLUMN_FROM outputs with at most a quarter as many inputs
    as outputs -- with a bias column, where that is at least 10% faster (timed as
    fastest_form times, once per shape and layout in a process)."""
    plain = Affine(fastest_form(x, w.T, y))
    (s, k), j = x.shape, w.shape[0]
    if s * j < COLUMN_FROM or 4 * k > j:
        return plain
    key = ("affine", x.shape, x.strides, w.shape, w.strides, b.strides, y.shape, y.strides)
    if key not in _CHOSEN:
        scratch = _like(y)
        column = Affine(fastest_form(_np.ones((s, k + 1)), _np.ones((j, k + 1)).T, scratch),
                        bias_column=True)
        reps = max(3, 2_000_000 // (s * j * (k + 1)))
        _CHOSEN[key] = _fastest([plain, column],
                                lambda affine: affine_calls(x, w, b, scratch, affine), reps)
    return _CHOSEN[key]
