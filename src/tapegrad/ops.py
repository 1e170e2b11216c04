"""Op, the closed set of operations, and RULES, the one table that says what each one means.

Every node of a graph carries an Op tag saying how it was made. This file is the only place that
knows the math of an op. For each Op, one `Rule` declares:

- ``symbol``: how the op is printed and drawn;
- ``arity``: how many Value arguments it takes (``VARIADIC`` for the fused dot product);
- ``forward(m, *xs)``: the op's value y = f(x1, ..., xn);
- ``partials(m, y, *xs)``: its local derivatives (∂y/∂x1, ..., ∂y/∂xn) at that point.

Ops that take a constant besides their Values (``x ** 2``) receive it as one more trailing
argument, after the Values' data: ``forward(m, x, k)``, ``partials(m, y, x, k)``.

The local derivatives are all an interpreter needs, in either direction:

    reverse mode:  x_i.grad  +=  y.grad · ∂y/∂x_i        (a vector-Jacobian product)
    forward mode:  ẏ  =  Σ_i  ∂y/∂x_i · ẋ_i              (a Jacobian-vector product)

The first argument, ``m``, is the arithmetic the formula runs on. With ``FLOATS`` (below) the
formulas compute plain numbers: the fast path used for training. With the Value arithmetic of
``tapegrad.value.VALUES`` the very same formulas *record new nodes*, so a derivative is itself a
graph that can be differentiated again (grad of grad, Hessians) -- the trick JAX and HIPS autograd
use. Formulas therefore only use ``+ - * /``, numbers, and the functions of ``m``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Callable

VARIADIC = -1


class Op(enum.Enum):
    """How a node was made. A closed set: adding an op means adding one entry to RULES."""

    LEAF = "leaf"  # an input or a parameter: made by the user, not computed
    ADD = "add"
    MUL = "mul"
    POW = "pow"  # x ** k with k a constant number
    POWV = "powv"  # x ** y with both Values
    EXP = "exp"
    LOG = "log"
    TANH = "tanh"
    SIGMOID = "sigmoid"
    RELU = "relu"
    ABS = "abs"
    SIN = "sin"
    COS = "cos"
    DOT = "dot"  # a neuron fused into one node: b + Σ w_i x_i, args (w_1..w_n, x_1..x_n, b)

    # NOTE: Enum's own __hash__ runs Python code; the interpreters look ops up in dicts once per
    # node, so identity hashing (members are singletons) saves real time.
    __hash__ = object.__hash__


@dataclass(frozen=True)
class Rule:
    """What one Op means: its symbol, its value, and its local derivatives."""

    symbol: str
    arity: int
    forward: Callable
    partials: Callable
    takes_constant: bool = False  # True when the op has a constant operand (the exponent of POW)
    kink_at_zero: bool = False  # not differentiable at x = 0; its partials there are a convention


# ---------------------------------------------------------------------------------------------
# The arithmetic of plain floats. Errors are raised here, before any node exists, so a bad
# operation never leaves a half-built node in the user's graph.
# ---------------------------------------------------------------------------------------------


class FloatMath:
    """Plain-float versions of the functions the rules use. Each checks its domain and says so."""

    @staticmethod
    def exp(x):
        try:
            return math.exp(x)
        except OverflowError:
            raise OverflowError(
                f"exp({x!r}) overflows a float (the largest is about 1.8e308, reached near "
                f"exp(709.78)); scale the input down, or use tanh/sigmoid, which never overflow"
            ) from None

    @staticmethod
    def log(x):
        if x <= 0:  # (nan passes through as nan, as in PyTorch)
            raise ValueError(
                f"log({x!r}) is undefined: log needs a number > 0; "
                f"if the input can reach 0, add a small epsilon, e.g. (x + 1e-12).log()"
            )
        return math.log(x)

    tanh = staticmethod(math.tanh)  # saturates to ±1, never overflows

    @staticmethod
    def sigmoid(x):
        # Two branches so that exp only ever sees a number <= 0: sigmoid(±1000) is 1 or 0,
        # never an OverflowError.
        if x >= 0:
            return 1.0 / (1.0 + math.exp(-x))
        e = math.exp(x)
        return e / (1.0 + e)

    @staticmethod
    def relu(x):
        return 0.0 if x <= 0 else x  # nan stays nan, as in micrograd and PyTorch

    @staticmethod
    def step(x):
        """d relu(x)/dx: 1 for x > 0, else 0 (0 at the kink, as in micrograd and PyTorch)."""
        return 1.0 if x > 0 else 0.0

    @staticmethod
    def sign(x):
        """d |x|/dx: the sign of x, 0 at x = 0 (as in PyTorch)."""
        return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)

    abs = staticmethod(abs)

    sin = staticmethod(math.sin)

    cos = staticmethod(math.cos)

    @staticmethod
    def pow(x, k):
        """x ** k for real numbers: never a complex number, never a silent inf."""
        x, k = float(x), float(k)  # plain floats: no numpy scalar semantics, no complex results
        written = f"({x!r}) ** {k!r}" if x < 0 else f"{x!r} ** {k!r}"
        if k == 0.5:
            written += " (sqrt)"
        if x < 0 and not k.is_integer():
            raise ValueError(
                f"{written} is not a real number: a negative base needs an integer "
                f"exponent; use abs(x) ** k if you meant the magnitude"
            )
        if x == 0 and k < 0:
            raise ZeroDivisionError(
                f"{written} divides by zero: 0 to a negative power is undefined"
            )
        try:
            return x**k
        except OverflowError:
            raise OverflowError(f"{written} overflows a float") from None

    @staticmethod
    def pow_slope(x, k):
        """d(x ** k)/dx = k · x ** (k - 1), with the limits where that formula breaks down:
        0 when k == 0 (x ** 0 is flat), +inf at x == 0 for 0 < k < 1, and ±inf where the slope
        overflows a float (as in PyTorch)."""
        if k == 0:
            return 0.0
        if x == 0 and k < 1:
            return math.inf
        try:
            return k * float(x) ** (k - 1)
        except OverflowError:  # a finite x ** k can have a slope beyond the float range
            negative = (k < 0) != (x < 0 and (k - 1) % 2 == 1)
            return -math.inf if negative else math.inf

    @staticmethod
    def log_base(x):
        """The log(x) in d(x ** y)/dy = x ** y · log(x), extended where log is not: 0 at x == 0
        (0 ** y is flat in y for y > 0) and nan for x < 0 (no real derivative; PyTorch agrees)."""
        if x > 0:
            return math.log(x)
        return 0.0 if x == 0 else math.nan


FLOATS = FloatMath()


# ---------------------------------------------------------------------------------------------
# The rule table. One entry per Op; each line is the math, in the arithmetic `m`.
# ---------------------------------------------------------------------------------------------


def _dot_forward(m, *operands):
    """b + Σ w_i x_i, summed left to right from b: the same floats, in the same order, as
    micrograd's ``sum((wi*xi for wi, xi in zip(w, x)), b)``."""
    n = len(operands) // 2
    weights, inputs, bias = operands[:n], operands[n:-1], operands[-1]
    total = bias
    for w, x in zip(weights, inputs):
        total = total + w * x
    return total


def _dot_partials(m, y, *operands):
    """∂/∂w_i = x_i, ∂/∂x_i = w_i, ∂/∂b = 1."""
    n = len(operands) // 2
    return operands[n : 2 * n] + operands[:n] + (1.0,)


RULES: dict[Op, Rule] = {
    Op.LEAF: Rule("", 0, forward=lambda m: None, partials=lambda m, y: ()),
    Op.ADD: Rule("+", 2, forward=lambda m, a, b: a + b, partials=lambda m, y, a, b: (1.0, 1.0)),
    Op.MUL: Rule("*", 2, forward=lambda m, a, b: a * b, partials=lambda m, y, a, b: (b, a)),
    Op.POW: Rule(
        "**",
        1,
        forward=lambda m, a, k: m.pow(a, k),
        partials=lambda m, y, a, k: (m.pow_slope(a, k),),
        takes_constant=True,
    ),
    Op.POWV: Rule(
        "**",
        2,
        forward=lambda m, a, b: m.pow(a, b),
        partials=lambda m, y, a, b: (m.pow_slope(a, b), y * m.log_base(a)),
    ),
    Op.EXP: Rule("exp", 1, forward=lambda m, a: m.exp(a), partials=lambda m, y, a: (y,)),
    Op.LOG: Rule("log", 1, forward=lambda m, a: m.log(a), partials=lambda m, y, a: (1.0 / a,)),
    Op.TANH: Rule("tanh", 1, forward=lambda m, a: m.tanh(a), partials=lambda m, y, a: (1.0 - y * y,)),
    Op.SIGMOID: Rule(
        "sigmoid", 1, forward=lambda m, a: m.sigmoid(a), partials=lambda m, y, a: (y * (1.0 - y),)
    ),
    Op.RELU: Rule(
        "ReLU",
        1,
        forward=lambda m, a: m.relu(a),
        partials=lambda m, y, a: (m.step(a),),
        kink_at_zero=True,
    ),
    Op.ABS: Rule(
        "abs",
        1,
        forward=lambda m, a: m.abs(a),
        partials=lambda m, y, a: (m.sign(a),),
        kink_at_zero=True,
    ),
    Op.SIN: Rule("sin", 1, forward=lambda m, a: m.sin(a), partials=lambda m, y, a: (m.cos(a),)),
    Op.COS: Rule("cos", 1, forward=lambda m, a: m.cos(a), partials=lambda m, y, a: (-m.sin(a),)),
    Op.DOT: Rule("dot", VARIADIC, forward=_dot_forward, partials=_dot_partials),
}

# The ops whose nodes carry a constant operand in `node.k`; interpreters pass it last.
WITH_CONSTANT = frozenset(op for op, rule in RULES.items() if rule.takes_constant)
