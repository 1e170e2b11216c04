"""The arithmetic of NumPy arrays: the functions the rule table's formulas use (see ops.py),
working elementwise on float64 arrays, so that

    RULES[op].forward(NUMPY_MATH, *arrays)       computes a whole group of nodes at once
    RULES[op].partials(NUMPY_MATH, y, *arrays)   and their local derivatives.

The function ops (exp, log, tanh, ...) come from the rule table itself: each entry's ``numpy``
formula, checked against its float version -- wherever an element comes out inf or nan from
inputs that are not nan, the float version is run on that element, and if it raises (log of a
number <= 0, exp overflowing, sin of inf), its error is raised, the same message as the python
backend's, with an ``element`` attribute saying which element it was (for the caller to name the
node). The pieces the derivatives share (relu's step, abs's sign, powers) are written here, each
computing exactly what its FloatMath namesake computes for every element.
"""

import math as _math

import numpy as _np

from ..ops import FLOATS, RULES


def _raise_for_first(bad, float_fn, *operands) -> None:
    """Run `float_fn` on each element where `bad` holds, until one raises; raise that error."""
    if not bad.any():
        return
    for i in _np.flatnonzero(bad):
        scalars = [float(_np.broadcast_to(x, bad.shape).flat[i]) for x in operands]
        try:
            float_fn(*scalars)
        except (ArithmeticError, ValueError) as error:
            error.element = int(i)
            raise


def _checked(numpy_fn, float_fn):
    """An op's NumPy formula, raising where its float version does (module docstring)."""

    def apply(*xs):
        with _np.errstate(all="ignore"):
            y = numpy_fn(_np, *xs)
            if _math.isfinite(_np.add.reduce(y, axis=None)):
                return y  # NOTE: one sum says every element is finite: nothing to re-run
        bad = ~_np.isfinite(y)
        for x in xs:
            bad &= ~_np.isnan(x)
        _raise_for_first(bad, float_fn, *xs)
        return y

    return staticmethod(apply)


def _is_integer(k):
    return _np.isfinite(k) & (k == _np.floor(k))


class NumpyMath:
    """Elementwise versions of FloatMath's functions on arrays (k may be an array or a number)."""

    @staticmethod
    def step(x):
        return (x > 0).astype(_np.float64)

    @staticmethod
    def sign(x):
        return (x > 0).astype(_np.float64) - (x < 0)

    @staticmethod
    def pow(x, k):
        with _np.errstate(all="ignore"):
            y = _np.power(x, k)
        bad = ((x < 0) & ~_is_integer(k)) | ((x == 0) & (k < 0))
        bad |= _np.isinf(y) & _np.isfinite(x) & _np.isfinite(k)
        _raise_for_first(bad, FLOATS.pow, x, k)
        return y

    @staticmethod
    def slope_power(x, e):
        with _np.errstate(all="ignore"):
            return _np.where((x == 0) & (e < 0), _np.inf, _np.power(x, e))

    @staticmethod
    def pow_slope(x, k):
        with _np.errstate(all="ignore"):
            return _np.where(k == 0, 0.0, k * NumpyMath.slope_power(x, k - 1))

    @staticmethod
    def log_base(x):
        with _np.errstate(all="ignore"):
            return _np.where(x > 0, _np.log(_np.where(x > 0, x, 1.0)), _np.where(x == 0, 0.0, _np.nan))


# NOTE: the functions whose float version is defined for every float and never raises: their
# NumPy formula runs as it is, without the check for elements to re-run as floats (five array
# operations per call; tests check these never raise).
TOTAL = frozenset({"relu", "abs", "tanh", "sigmoid"})

for _rule in RULES.values():  # each function op's own NumPy formula, from the table
    if _rule.method:
        _numpy_fn = _rule.numpy or (lambda name: lambda np, x: getattr(np, name)(x))(_rule.method)
        if _rule.method in TOTAL:
            setattr(NumpyMath, _rule.method, staticmethod(
                (lambda fn: lambda x: fn(_np, x))(_numpy_fn)))
        else:
            setattr(NumpyMath, _rule.method, _checked(_numpy_fn, _rule.floats))

NUMPY_MATH = NumpyMath()

__all__ = ["NumpyMath", "NUMPY_MATH", "TOTAL"]
