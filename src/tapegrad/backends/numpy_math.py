"""The arithmetic of NumPy arrays: the functions the rule table's formulas use (see ops.py),
working elementwise on float64 arrays, so that

    RULES[op].forward(NUMPY_MATH, *arrays)       computes a whole group of nodes at once
    RULES[op].partials(NUMPY_MATH, y, *arrays)   and their local derivatives.

Each function computes exactly what its FloatMath namesake computes for every element, with the
same limits (relu's step is 0 at the kink, sign(0) = 0, ...). Where FloatMath raises (log of a
number <= 0, exp overflowing, a negative base to a fractional power), the NumPy version finds the
first offending element and lets FloatMath raise on it, so the message is the same; the
exception's ``element`` attribute says which element it was, for the caller to name the node.
"""

from __future__ import annotations

import numpy as np

from ..ops import FLOATS


def _raise_for_first(bad, float_fn, *operands) -> None:
    """Let `float_fn` raise its own error on the first element where `bad` holds."""
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    scalars = [float(np.broadcast_to(x, bad.shape)[i]) for x in operands]
    try:
        float_fn(*scalars)
    except (ArithmeticError, ValueError) as error:
        error.element = i
        raise
    raise ArithmeticError(f"{float_fn.__name__}{tuple(scalars)} failed")  # not reached


def _is_integer(k):
    return np.isfinite(k) & (k == np.floor(k))


class NumpyMath:
    """Elementwise versions of FloatMath's functions on arrays (k may be an array or a number)."""

    @staticmethod
    def exp(x):
        with np.errstate(over="ignore"):
            y = np.exp(x)
        _raise_for_first(np.isinf(y) & np.isfinite(x), FLOATS.exp, x)
        return y

    @staticmethod
    def log(x):
        _raise_for_first(x <= 0, FLOATS.log, x)  # nan passes through as nan
        return np.log(x)

    tanh = staticmethod(np.tanh)

    @staticmethod
    def sigmoid(x):
        # As FloatMath does it: exp only ever sees a number <= 0, so nothing overflows.
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

    @staticmethod
    def relu(x):
        return np.where(x <= 0, 0.0, x)  # nan stays nan

    @staticmethod
    def step(x):
        return (x > 0).astype(np.float64)

    @staticmethod
    def sign(x):
        return (x > 0).astype(np.float64) - (x < 0)

    abs = staticmethod(np.abs)

    @staticmethod
    def sin(x):
        _raise_for_first(np.isinf(x), FLOATS.sin, x)  # math.sin(inf) raises; np.sin gives nan
        return np.sin(x)

    @staticmethod
    def cos(x):
        _raise_for_first(np.isinf(x), FLOATS.cos, x)
        return np.cos(x)

    @staticmethod
    def pow(x, k):
        with np.errstate(all="ignore"):
            y = np.power(x, k)
        bad = ((x < 0) & ~_is_integer(k)) | ((x == 0) & (k < 0))
        bad |= np.isinf(y) & np.isfinite(x) & np.isfinite(k)
        _raise_for_first(bad, FLOATS.pow, x, k)
        return y

    @staticmethod
    def pow_slope(x, k):
        with np.errstate(all="ignore"):
            slope = k * np.power(x, k - 1)
        slope = np.where((x == 0) & (k < 1), np.inf, slope)
        return np.where(k == 0, 0.0, slope)

    @staticmethod
    def log_base(x):
        with np.errstate(all="ignore"):
            return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.where(x == 0, 0.0, np.nan))


NUMPY_MATH = NumpyMath()

__all__ = ["NumpyMath", "NUMPY_MATH"]
