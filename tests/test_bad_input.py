"""Bad input: the right exception, a message that names the operation and the offending value,
and nothing built before it harmed (the graph so far still back-propagates correctly).

Each row starts from a small graph, ``x = Value(start); v = x * 2 + 1`` (so dv/dx = 2), does
one bad thing with ``v``, and checks the exception; then ``v.backward()`` must still give
``x.grad == 2``, and ``v``'s graph must be the same four nodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import pytest

from tapegrad import Graph, Value, jvp
from tapegrad.nn import Neuron


@dataclass(frozen=True)
class Bad:
    name: str
    v: float  # the data of v, the Value the bad operation uses
    act: Callable  # act(v) raises
    error: type
    says: tuple  # each entry must appear in the message; a tuple entry means any one of them


def start(v: float):
    """x and v = x * 2 + 1 with v.data == `v`."""
    x = Value((v - 1) / 2)
    return x, x * 2 + 1


# A reflected operator (`'a' - v`) must be quoted the way the user wrote it, not as `v - 'a'`.
TABLE = [
    # -- not numbers ---------------------------------------------------------------------------
    Bad("Value('abc')", 0.0, lambda v: Value("abc"), TypeError, ("Value", "'abc'")),
    Bad("Value(None)", 0.0, lambda v: Value(None), TypeError, ("Value", "None")),
    Bad("Value([1.0])", 0.0, lambda v: Value([1.0]), TypeError, ("Value", "[1.0]")),
    Bad("Value(1j)", 0.0, lambda v: Value(1j), TypeError, ("Value", "1j")),
    Bad("v + 'a'", 1.0, lambda v: v + "a", TypeError, (("add", "+"), "'a'")),
    Bad("'a' + v", 1.0, lambda v: "a" + v, TypeError, ("'a' + Value(data=1.0",)),
    Bad("v - 'a'", 1.0, lambda v: v - "a", TypeError, (("subtract", "-"), "'a'")),
    Bad("'a' - v", 1.0, lambda v: "a" - v, TypeError, ("'a' - Value(data=1.0",)),
    Bad("v * 'a'", 1.0, lambda v: v * "a", TypeError, (("multiply", "*"), "'a'")),
    Bad("'a' * v", 1.0, lambda v: "a" * v, TypeError, ("'a' * Value(data=1.0",)),
    Bad("v / 'a'", 1.0, lambda v: v / "a", TypeError, (("divide", "/"), "'a'")),
    Bad("'a' / v", 1.0, lambda v: "a" / v, TypeError, ("'a' / Value(data=1.0",)),
    Bad("v ** 'a'", 1.0, lambda v: v ** "a", TypeError, (("power", "**"), "'a'")),
    Bad("'a' ** v", 1.0, lambda v: "a" ** v, TypeError, ("'a' ** Value(data=1.0",)),
    Bad("v + None", 1.0, lambda v: v + None, TypeError, (("add", "+"), "None")),
    # -- outside a function's domain -----------------------------------------------------------
    Bad("log(0)", 0.0, lambda v: v.log(), ValueError, ("log", "0.0")),
    Bad("log(-2.5)", -2.5, lambda v: v.log(), ValueError, ("log", "-2.5")),
    Bad("log(-inf)", -math.inf, lambda v: v.log(), ValueError, ("log", "-inf")),
    Bad("0 ** -1", 0.0, lambda v: v**-1, ZeroDivisionError, ("**", "0.0", "-1")),
    Bad("0 ** -0.5", 0.0, lambda v: v**-0.5, ZeroDivisionError, ("**", "0.0", "-0.5")),
    Bad("1 / v at 0", 0.0, lambda v: 1 / v, ZeroDivisionError, (("division", "/"), "0")),
    Bad("v / v at 0", 0.0, lambda v: v / v, ZeroDivisionError, (("division", "/"), "0")),
    Bad("3 / Value(0)", 3.0, lambda v: v / Value(0.0), ZeroDivisionError, (("division", "/"), "0")),
    Bad("v / 0", 3.0, lambda v: v / 0, ZeroDivisionError, (("division", "/"), "0")),
    Bad("(-8) ** (1/3)", -8.0, lambda v: v ** (1 / 3), ValueError, ("**", "-8.0", "0.333")),
    Bad("(-2) ** Value(0.5)", -2.0, lambda v: v ** Value(0.5), ValueError, ("**", "-2.0", "0.5")),
    Bad("(-2.0) ** v", 0.5, lambda v: (-2.0) ** v, ValueError, ("**", "-2.0", "0.5")),
    Bad("sqrt(-1)", -1.0, lambda v: v.sqrt(), ValueError, (("sqrt", "**"), "-1.0")),
    # -- overflow ------------------------------------------------------------------------------
    Bad("exp(1000)", 1000.0, lambda v: v.exp(), OverflowError, ("exp", "1000")),
    Bad("exp(710)", 710.0, lambda v: v.exp(), OverflowError, ("exp", "710")),
    Bad("v ** 5000", 2.0, lambda v: v**5000, OverflowError, ("**", "5000")),
    Bad("v ** Value(400)", 10.0, lambda v: v ** Value(400.0), OverflowError, ("**", "400")),
    Bad("2 ** v at 5000", 5000.0, lambda v: 2**v, OverflowError, ("**", "5000")),
    Bad("v * 10**400", 1.0, lambda v: v * 10**400, OverflowError, ("1000000000",)),
    # -- the wrong shape of input --------------------------------------------------------------
    Bad(
        "Value.dot lengths", 1.0, lambda v: Value.dot([v, v], [v], v), ValueError, ("dot", "2", "1")
    ),
    Bad("Neuron(3)([v])", 1.0, lambda v: Neuron(3)([v]), ValueError, ("Neuron(3)", "3", "1")),
    Bad("Graph()", 1.0, lambda v: Graph(), TypeError, ("Graph",)),
    Bad("Graph(3.0)", 1.0, lambda v: Graph(3.0), TypeError, ("Graph", "3.0")),
    Bad("jvp arity", 1.0, lambda v: jvp(lambda a: a, (1.0, 2.0), (1.0,)), ValueError, ("jvp",)),
]


def says(message: str, needed) -> bool:
    return any(n in message for n in needed) if isinstance(needed, tuple) else needed in message


@pytest.mark.parametrize("bad", TABLE, ids=[bad.name for bad in TABLE])
def test_bad_input_raises_a_helpful_error_and_harms_nothing(bad):
    x, v = start(bad.v)
    assert v.data == bad.v
    nodes_before = len(Graph(v))
    with pytest.raises(bad.error) as raised:
        bad.act(v)
    message = str(raised.value)
    for needed in bad.says:
        assert says(message, needed), f"{bad.name}: the message {message!r} should name {needed!r}"
    # The graph built before the error is untouched and still back-propagates.
    assert v.data == bad.v
    assert len(Graph(v)) == nodes_before
    v.backward()
    assert (x.grad, v.grad) == (2.0, 1.0)


# (name, f, at, value, gradient): saturating functions saturate, tiny results underflow to 0,
# and no error is raised, forwards or backwards.
NO_OVERFLOW = [
    ("tanh(1000)", lambda v: v.tanh(), 1000.0, 1.0, 0.0),
    ("tanh(-1000)", lambda v: v.tanh(), -1000.0, -1.0, 0.0),
    ("sigmoid(1000)", lambda v: v.sigmoid(), 1000.0, 1.0, 0.0),
    ("sigmoid(-1000)", lambda v: v.sigmoid(), -1000.0, 0.0, 0.0),
    ("exp(-1000)", lambda v: v.exp(), -1000.0, 0.0, 0.0),
    ("exp(709)", lambda v: v.exp(), 709.0, math.exp(709.0), math.exp(709.0)),
    ("log(5e-324)", lambda v: v.log(), 5e-324, math.log(5e-324), math.inf),  # 1/5e-324 > max
    ("2 ** -5000", lambda v: 2**v, -5000.0, 0.0, 0.0),
]


@pytest.mark.parametrize(
    "f, at, value, gradient", [r[1:] for r in NO_OVERFLOW], ids=[r[0] for r in NO_OVERFLOW]
)
def test_no_error_where_the_math_has_none(f, at, value, gradient):
    x = Value(at)
    y = f(x)
    assert y.data == value
    y.backward()
    assert x.grad == gradient
