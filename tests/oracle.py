"""Independent oracles for testing derivatives: mpmath always, PyTorch float64 when installed.

Write a function once, against a small "math namespace" ``m``, and run it on every backend:

    def f(m, x, y):
        return m.log(x * x + 1) * m.tanh(y)

    f(TAPEGRAD, Value(0.5), Value(2.0))        # the engine under test: records nodes
    mp_gradient(lambda x, y: f(MP, x, y), (0.5, 2.0))
    torch_gradient(lambda x, y: f(torch_ops(), x, y), (0.5, 2.0))

The namespaces all offer ``exp log tanh sigmoid relu abs sin cos sqrt pow dot``.

- ``mp_gradient(f, point)``, ``mp_directional(f, point, direction)`` and ``mp_hessian(f, point)``
  differentiate numerically, in high precision (50 digits, a central difference with a step
  relative to each coordinate): they know nothing of tapegrad's rules, so they are a real check
  of them. They are
  only valid where f is smooth; at a kink (relu or abs at 0) or at the edge of a domain (sqrt at 0)
  state the expected derivative yourself and check it against PyTorch.
- ``torch_gradient`` and ``torch_directional`` are PyTorch's reverse and forward mode in float64;
  ``torch_ops()`` skips the calling test when torch is not installed.
- ``assert_close(actual, expected, what)`` compares floats, infinities and nans, and names the
  failing quantity.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import mpmath
import pytest

DIGITS = 50  # working precision of the mpmath oracle, in decimal digits
REL_TOL = 1e-9  # default tolerances of assert_close: float64 rounding across a few ops
ABS_TOL = 1e-12


# ---------------------------------------------------------------------------------------------
# Comparing floats
# ---------------------------------------------------------------------------------------------


def close(actual: float, expected: float, rel: float = REL_TOL, abs_: float = ABS_TOL) -> bool:
    """True when the two floats agree: both nan, the same infinity, or within rel or abs."""
    actual, expected = float(actual), float(expected)
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    if math.isinf(expected) or math.isinf(actual):
        return actual == expected
    return math.isclose(actual, expected, rel_tol=rel, abs_tol=abs_)


def assert_close(actual, expected, what: str = "", rel: float = REL_TOL, abs_: float = ABS_TOL):
    """Assert close(actual, expected) element by element (numbers or equal-length sequences)."""
    if isinstance(expected, (list, tuple)):
        assert len(actual) == len(
            expected
        ), f"{what}: {len(actual)} values, expected {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert close(a, e, rel, abs_), f"{what}[{i}]: got {a!r}, expected {e!r}"
    else:
        assert close(actual, expected, rel, abs_), f"{what}: got {actual!r}, expected {expected!r}"


# ---------------------------------------------------------------------------------------------
# The mpmath oracle
# ---------------------------------------------------------------------------------------------


def _mp_diff(g, x, scale, order=1):
    """d^order g/dt^order at t = x by a central difference with a step of scale · 2^-84.

    The step is relative to `scale` (the size of the coordinate that moves) so that points like
    1e-300 are not stepped over, nor 1e300 lost to rounding; the precision grows for tiny
    scales so that f's change over the step, f' · step, still shows above f's rounding.
    """
    scale = abs(scale) if scale != 0 else mpmath.mpf(1)
    extra_bits = max(0, -int(mpmath.mag(scale)))
    step = scale * mpmath.ldexp(1, -mpmath.mp.prec // 2)
    with mpmath.workprec(mpmath.mp.prec + extra_bits):
        return mpmath.diff(g, x, order, h=step)


def mp_value(f, point) -> float:
    """f(*point) computed in high precision, rounded to a float."""
    with mpmath.workdps(DIGITS):
        return _to_float(f(*[mpmath.mpf(p) for p in point]))


def mp_gradient(f, point) -> tuple[float, list[float]]:
    """(f(point), [∂f/∂x_i at point]) by high-precision numerical differentiation."""
    with mpmath.workdps(DIGITS):
        xs = [mpmath.mpf(p) for p in point]
        partials = []
        for i in range(len(xs)):

            def along_axis(t, i=i):
                return f(*xs[:i], t, *xs[i + 1 :])

            partials.append(_to_float(_mp_diff(along_axis, xs[i], scale=xs[i])))
        return _to_float(f(*xs)), partials


def mp_directional(f, point, direction) -> tuple[float, float]:
    """(f(point), d/dt f(point + t·direction) at t = 0): the forward-mode tangent, numerically."""
    with mpmath.workdps(DIGITS):
        xs = [mpmath.mpf(p) for p in point]
        vs = [mpmath.mpf(v) for v in direction]

        def along_line(t):
            return f(*[x + t * v for x, v in zip(xs, vs)])

        # Step relative to the smallest moving coordinate (1 for a coordinate at 0), in units of t.
        scales = [(abs(x) if x != 0 else 1) / abs(v) for x, v in zip(xs, vs) if v != 0]
        tangent = _mp_diff(along_line, mpmath.mpf(0), scale=min(scales, default=1))
        return _to_float(f(*xs)), _to_float(tangent)


def mp_hessian(f, point) -> list[list[float]]:
    """[[∂²f/∂x_i∂x_j]] at point by nested high-precision numerical differentiation."""
    with mpmath.workdps(DIGITS):
        xs = [mpmath.mpf(p) for p in point]

        def with_coordinate(args, i, t):
            return args[:i] + [t] + args[i + 1 :]

        def second(i, j):
            if i == j:
                return _mp_diff(lambda t: f(*with_coordinate(xs, i, t)), xs[i], xs[i], order=2)

            def first_in_j(s):  # ∂f/∂x_j with x_i = s
                moved = with_coordinate(xs, i, s)
                return _mp_diff(lambda t: f(*with_coordinate(moved, j, t)), xs[j], xs[j])

            return _mp_diff(first_in_j, xs[i], xs[i])

        n = len(xs)
        return [[_to_float(second(i, j)) for j in range(n)] for i in range(n)]


def _to_float(x) -> float:
    if isinstance(x, mpmath.mpc):
        raise ValueError(f"the mpmath oracle left the real numbers: {x}; choose another point")
    return float(x)


@dataclass(frozen=True)
class _MpOps:
    """The ops, written with mpmath's own functions (nothing from tapegrad)."""

    exp = staticmethod(mpmath.exp)
    log = staticmethod(mpmath.log)
    tanh = staticmethod(mpmath.tanh)
    sin = staticmethod(mpmath.sin)
    cos = staticmethod(mpmath.cos)
    sqrt = staticmethod(mpmath.sqrt)

    @staticmethod
    def sigmoid(x):
        return 1 / (1 + mpmath.exp(-x))

    @staticmethod
    def relu(x):
        return x if x > 0 else 0 * x

    @staticmethod
    def abs(x):
        return abs(x)

    @staticmethod
    def pow(x, k):
        return x**k

    @staticmethod
    def dot(weights, inputs, bias):
        return bias + mpmath.fsum(w * x for w, x in zip(weights, inputs))

    @staticmethod
    def slope(x, k):
        return k * x ** (k - 1)


MP = _MpOps()


# ---------------------------------------------------------------------------------------------
# The engine under test, behind the same namespace
# ---------------------------------------------------------------------------------------------


class _TapegradOps:
    """The ops as tapegrad's public API spells them: methods and operators on Values."""

    @staticmethod
    def exp(x):
        return x.exp()

    @staticmethod
    def log(x):
        return x.log()

    @staticmethod
    def tanh(x):
        return x.tanh()

    @staticmethod
    def sigmoid(x):
        return x.sigmoid()

    @staticmethod
    def relu(x):
        return x.relu()

    @staticmethod
    def abs(x):
        return abs(x)

    @staticmethod
    def sin(x):
        return x.sin()

    @staticmethod
    def cos(x):
        return x.cos()

    @staticmethod
    def sqrt(x):
        return x.sqrt()

    @staticmethod
    def pow(x, k):
        return x**k

    @staticmethod
    def dot(weights, inputs, bias):
        from tapegrad import Value

        return Value.dot(weights, inputs, bias)

    @staticmethod
    def slope(x, k):
        """d(x ** k)/dx as the Value arithmetic of derivatives records it: one Op.SLOPE node."""
        from tapegrad.transforms import VALUES

        return VALUES.pow_slope(x, k)


TAPEGRAD = _TapegradOps()


# ---------------------------------------------------------------------------------------------
# PyTorch float64, when installed
# ---------------------------------------------------------------------------------------------


def torch_ops():
    """The ops in PyTorch; skips the calling test when torch is not installed."""
    torch = pytest.importorskip("torch")

    class TorchOps:
        exp, log, tanh, sigmoid = torch.exp, torch.log, torch.tanh, torch.sigmoid
        relu, abs, sin, cos, sqrt = torch.relu, torch.abs, torch.sin, torch.cos, torch.sqrt

        @staticmethod
        def pow(x, k):
            return x**k

        @staticmethod
        def slope(x, k):
            return k * x ** (k - 1)

        @staticmethod
        def dot(weights, inputs, bias):
            total = bias
            for w, x in zip(weights, inputs):
                total = total + w * x
            return total

    return TorchOps()


def torch_gradient(f, point) -> tuple[float, list[float]]:
    """(f(point), [∂f/∂x_i]) by PyTorch's reverse mode in float64; skips without torch."""
    torch = pytest.importorskip("torch")
    xs = [torch.tensor(float(p), dtype=torch.float64, requires_grad=True) for p in point]
    out = f(*xs)
    if not out.requires_grad:  # f ignores its inputs
        return float(out), [0.0] * len(xs)
    grads = torch.autograd.grad(out, xs, allow_unused=True)
    return float(out.detach()), [0.0 if g is None else float(g) for g in grads]


def torch_directional(f, point, direction) -> tuple[float, float]:
    """(f(point), J·direction) by PyTorch's forward mode (torch.func.jvp) in float64."""
    torch = pytest.importorskip("torch")
    from torch.func import jvp

    def as_tensors(values):
        return tuple(torch.tensor(float(v), dtype=torch.float64) for v in values)

    with warnings.catch_warnings():  # torch.func warns about its own use of torch.jit
        warnings.simplefilter("ignore", DeprecationWarning)
        out, tangent = jvp(f, as_tensors(point), as_tensors(direction))
    return float(out), float(tangent)


__all__ = [
    "DIGITS",
    "MP",
    "TAPEGRAD",
    "assert_close",
    "close",
    "mp_directional",
    "mp_gradient",
    "mp_hessian",
    "mp_value",
    "torch_directional",
    "torch_gradient",
    "torch_ops",
]
