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
use. The NumPy backend runs them on whole arrays. Formulas therefore only use ``+ - * /``,
numbers, and the functions of ``m``.

The table is keyed by name, and the `Op` members are made from it: ``"tanh"`` is ``Op.TANH``. A
*function* op (exp, tanh, ...) is written `Rule.function(floats, numpy, partials, doc)`: its
forward formula is ``m.<name>(x)``, and each arithmetic gets its ``<name>`` from this entry --
``floats`` for FLOATS, ``numpy(np, x)`` for the NumPy backend, a recorded node for VALUES -- and
Value gets the method ``x.<name>()``. So a new op is one entry here, plus its rows in the tests.
"""

import math as _math
import operator as _operator

VARIADIC = -1


class Rule:
    """What one op means: its symbol, its value, and its local derivatives (module docstring).

    ``takes_constant``: the op has a constant operand (POW's exponent); ``kink_at_zero``: it is
    not differentiable at 0, where its partials are a convention. A function op (see
    `function`) also has ``floats``, ``numpy``, ``doc``, and ``method``, its name. An op that
    is a Python operator has ``binary``, that operator (``operator.add`` for a + b): its forward
    is y = binary(a, b) in every arithmetic, and on floats the recorders call it directly, a
    function written in C, so that recording a + b runs no Python frame of the table's."""

    __slots__ = ("symbol", "arity", "forward", "partials", "takes_constant", "kink_at_zero",
                 "floats", "numpy", "doc", "method", "binary")

    def __init__(self, symbol, arity, forward, partials, takes_constant=False, kink_at_zero=False,
                 floats=None, numpy=None, doc="", binary=None):
        self.symbol, self.arity, self.partials, self.binary = symbol, arity, partials, binary
        self.forward = forward if binary is None else lambda m, a, b: binary(a, b)
        self.takes_constant, self.kink_at_zero = takes_constant, kink_at_zero
        self.floats, self.numpy, self.doc, self.method = floats, numpy, doc, None

    @classmethod
    def function(cls, floats, partials, doc, numpy=None, symbol="", kink_at_zero=False):
        """A one-argument function op: y = m.<name>(x) in every arithmetic, ``x.<name>()`` on a
        Value, <name> being its key in the table. `floats` computes it on a float, `numpy(np, x)`
        on an array (by default NumPy's function of the same name)."""
        return cls(symbol, 1, None, partials, False, kink_at_zero, floats, numpy, doc)


# ---------------------------------------------------------------------------------------------
# The float versions of the functions. Errors are raised here, before any node exists, so a bad
# operation never leaves a half-built node in the user's graph.
# ---------------------------------------------------------------------------------------------


def _exp(x):
    try:
        return _math.exp(x)
    except OverflowError:
        error = f"exp({x!r}) overflows a float (exp(709.78) is the largest, 1.8e308)"
        raise OverflowError(error + ": scale the input down, or use tanh or sigmoid") from None


def _log(x):
    if x <= 0:  # (nan passes through as nan, as in PyTorch)
        raise ValueError(f"log({x!r}) is undefined: log needs a number > 0; if the input can "
                         "reach 0, add a small epsilon, e.g. log(x + 1e-12)")
    return _math.log(x)


def _sigmoid(x):
    # Two branches so that exp only ever sees a number <= 0: sigmoid(±1000) is 1 or 0, never an
    # OverflowError.
    return 1.0 / (1.0 + _math.exp(-x)) if x >= 0 else (e := _math.exp(x)) / (1.0 + e)


def _finite(fn):
    """`fn` (sin, cos), raising for ±inf, where it has no value, in the op's own words."""

    def periodic(x):
        if _math.isinf(x):
            raise ValueError(f"{fn.__name__}({x!r}) is undefined: it needs a finite number")
        return fn(x)

    return periodic


class FloatMath:
    """The arithmetic of plain floats: the functions the rules use, each checking its domain.

    The function ops' own functions (exp, log, ...) are attached from RULES below; these are
    the pieces their derivatives share."""

    # d relu(x)/dx, 1 for x > 0, else 0 (0 at the kink, as in micrograd and PyTorch); and
    # d |x|/dx, the sign of x, 0 at x = 0 (as in PyTorch).
    step = staticmethod(lambda x: 1.0 if x > 0 else 0.0)
    sign = staticmethod(lambda x: 1.0 if x > 0 else (-1.0 if x < 0 else 0.0))

    @staticmethod
    def pow(x, k):
        """x ** k for real numbers: never a complex number, never a silent inf."""
        x, k = float(x), float(k)  # plain floats: no numpy scalar semantics, no complex results
        if (x < 0 and not k.is_integer()) or (x == 0 and k < 0):
            raise _pow_error(x, k)
        try:
            return x**k
        except OverflowError:
            raise _pow_error(x, k) from None

    @staticmethod
    def slope_power(x, e):
        """x ** e where it only feeds a derivative: at a pole it is +inf instead of an error
        (0 ** -0.5), and ±inf where it overflows -- the limits PyTorch's derivatives take."""
        x, e = float(x), float(e)
        if x == 0 and e < 0:
            return _math.inf
        try:
            return x**e
        except OverflowError:
            return -_math.inf if x < 0 and e % 2 == 1 else _math.inf

    @staticmethod
    def pow_slope(x, k):
        """d(x ** k)/dx = k · x ** (k - 1); 0 when k == 0 (x ** 0 is flat), +inf at x = 0 for
        0 < k < 1, ±inf where the slope overflows a float (as in PyTorch)."""
        return 0.0 if k == 0 else k * FloatMath.slope_power(x, k - 1)

    @staticmethod
    def log_base(x):
        """The log(x) in d(x ** y)/dy = x ** y · log(x), extended where log is not: 0 at x == 0
        (0 ** y is flat in y for y > 0) and nan for x < 0 (no real derivative; PyTorch agrees)."""
        return _math.log(x) if x > 0 else 0.0 if x == 0 else _math.nan


def _pow_error(x: float, k: float) -> ArithmeticError:
    """The error for x ** k, spelled as the user wrote it (made only once there is an error)."""
    written = f"({x!r}) ** {k!r}" if x < 0 else f"{x!r} ** {k!r}"
    written += " (sqrt)" * (k == 0.5)
    if x < 0:
        return ValueError(f"{written} is not a real number: a negative base needs an integer "
                          "exponent; use abs(x) ** k if you meant the magnitude")
    if x == 0:
        return ZeroDivisionError(f"{written} divides by zero: 0 to a negative power is undefined")
    return OverflowError(f"{written} overflows a float")


# ---------------------------------------------------------------------------------------------
# The rule table. One entry per op; each line is the math, in the arithmetic `m`.
# ---------------------------------------------------------------------------------------------


def _dot_forward(m, *operands):
    """b + Σ w_i x_i, summed left to right from b: the same floats, in the same order, as
    micrograd's ``sum((wi*xi for wi, xi in zip(w, x)), b)``."""
    n = len(operands) // 2
    total = operands[-1]
    for w, x in zip(operands[:n], operands[n:-1]):
        total = total + w * x
    return total


def _dot_partials(m, y, *operands):
    """∂/∂w_i = x_i, ∂/∂x_i = w_i, ∂/∂b = 1."""
    n = len(operands) // 2
    return operands[n : 2 * n] + operands[:n] + (1.0,)


def _sigmoid_numpy(np, x):
    e = np.exp(-np.abs(x))  # as _sigmoid does it: exp only ever sees a number <= 0
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


_TABLE = {  # by name; Op and RULES are made from it below
    # an input, a parameter or a constant: made by the user, not computed
    "leaf": Rule("", 0, forward=lambda m: None, partials=lambda m, y: ()),
    "add": Rule("+", 2, None, partials=lambda m, y, a, b: (1.0, 1.0), binary=_operator.add),
    "mul": Rule("*", 2, None, partials=lambda m, y, a, b: (b, a), binary=_operator.mul),
    "pow": Rule("**", 1, forward=lambda m, a, k: m.pow(a, k),  # x ** k, k a constant number
                partials=lambda m, y, a, k: (m.pow_slope(a, k),), takes_constant=True),
    "powv": Rule("**", 2, forward=lambda m, a, b: m.pow(a, b),  # x ** y, both Values
                 partials=lambda m, y, a, b: (m.pow_slope(a, b), y * m.log_base(a))),
    "exp": Rule.function(_exp, lambda m, y, a: (y,), "e to the power x; d/dx = exp(x)."),
    "log": Rule.function(_log, lambda m, y, a: (1.0 / a,), "The natural logarithm; d/dx = 1/x."),
    # (1 - y)(1 + y), not 1 - y²: near saturation y² rounds away the digits that matter.
    "tanh": Rule.function(_math.tanh, lambda m, y, a: ((1.0 - y) * (1.0 + y),),
                          "The hyperbolic tangent; d/dx = (1 - y)(1 + y) with y = tanh(x)."),
    "sigmoid": Rule.function(_sigmoid, lambda m, y, a: (y * (1.0 - y),),
                             "1 / (1 + e^-x); d/dx = y (1 - y), y = sigmoid(x).", _sigmoid_numpy),
    "relu": Rule.function(lambda x: 0.0 if x <= 0 else x, lambda m, y, a: (m.step(a),),
                          "max(0, x), micrograd's ReLU; d/dx = 1 for x > 0, else 0.",  # (nan: nan)
                          lambda np, a: np.where(a <= 0, 0.0, a), "ReLU", kink_at_zero=True),
    "abs": Rule.function(abs, lambda m, y, a: (m.sign(a),),
                         "|x|; d/dx = the sign of x (0 at 0, as in PyTorch).", kink_at_zero=True),
    "sin": Rule.function(_finite(_math.sin), lambda m, y, a: (m.cos(a),), "The sine; d/dx = cos x."),
    "cos": Rule.function(_finite(_math.cos), lambda m, y, a: (-m.sin(a),), "Cosine; d/dx = -sin x."),
    # k · x ** (k - 1), the slope of x ** k, as a derivative records it: at a pole (0 ** -0.5)
    # its value is ±inf, not an error, so a recorded derivative replays there too
    "slope": Rule("slope", 1, forward=lambda m, a, k: m.pow_slope(a, k),
                  partials=lambda m, y, a, k: (k * m.pow_slope(a, k - 1),), takes_constant=True),
    # a neuron fused into one node: b + Σ w_i x_i, its args (w_1..w_n, x_1..x_n, b)
    "dot": Rule("dot", VARIADIC, forward=_dot_forward, partials=_dot_partials),
}

for _name, _rule in _TABLE.items():  # a function op: y = m.<name>(x), and FLOATS.<name> is its own
    if _rule.floats is not None:
        _rule.method, _rule.symbol = _name, _rule.symbol or _name
        _rule.forward = (lambda name: lambda m, a: getattr(m, name)(a))(_name)
        setattr(FloatMath, _name, staticmethod(_rule.floats))



class Op:
    """How a node was made: one member per entry of the rule table (Op.ADD, Op.TANH, ...), each
    with its ``name`` ("ADD") and ``value`` ("add"). Members are compared and hashed by
    identity. (Not an enum.Enum: importing enum would double the time ``import tapegrad``
    takes.)"""

    __slots__ = ("name", "value")

    def __init__(self, value: str):
        self.name, self.value = value.upper(), value

    def __repr__(self) -> str:
        return f"Op.{self.name}"

    def __reduce__(self):
        return getattr, (Op, self.name)  # pickles as the member itself


for _name in _TABLE:
    setattr(Op, _name.upper(), Op(_name))
RULES = {getattr(Op, name.upper()): rule for name, rule in _TABLE.items()}

FLOATS = FloatMath()

# Looked up once per node by the interpreters.
FORWARD = {op: rule.forward for op, rule in RULES.items()}
PARTIALS = {op: rule.partials for op, rule in RULES.items()}
# The ops whose nodes carry a constant operand in `node.k`; interpreters pass it last.
WITH_CONSTANT = frozenset(op for op, rule in RULES.items() if rule.takes_constant)

__all__ = ["Op", "Rule", "RULES", "FLOATS", "FloatMath", "VARIADIC", "WITH_CONSTANT"]
