"""A Value in the hand is a number, as PyTorch's 0-d tensor is: conversions, formatting,
comparisons and truth read ``data``; equality and hashing stay micrograd's (the node).

Checked against PyTorch where it is installed, and against the float itself everywhere.
"""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad import Graph, Value
from tapegrad.record import CURRENT

try:
    import torch
except ImportError:  # the comparisons with PyTorch skip; the ones with floats still run
    torch = None

numbers = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**6, 10**6)
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)


def leaf_and_node(x: float):
    """The same number as a leaf and as a computed node (x * 1.0 + 0.0 is x, bit for bit,
    except that -0.0 becomes 0.0: use a node whose data is set directly)."""
    node = Value(0.0) * 1.0
    node.data = float(x)
    return Value(x), node


# -- conversions ---------------------------------------------------------------------------------

CONVERSIONS = [  # (what the user writes, on a Value; the same on a float)
    ("float(v)", lambda v: float(v), lambda x: float(x)),
    ("v.item()", lambda v: v.item(), lambda x: float(x)),
    ("math.tanh(v)", lambda v: math.tanh(v), lambda x: math.tanh(x)),
    ("math.floor(v)", lambda v: math.floor(v), lambda x: math.floor(x)),
    ('f"{v:.2f}"', lambda v: f"{v:.2f}", lambda x: f"{x:.2f}"),
    ('f"{v:>10.3e}"', lambda v: f"{v:>10.3e}", lambda x: f"{x:>10.3e}"),
    ("round(v, 2)", lambda v: round(v, 2), lambda x: round(x, 2)),
    ("round(v)", lambda v: round(v), lambda x: round(x)),
    ("bool(v)", lambda v: bool(v), lambda x: bool(x)),
    ("'yes' if v else 'no'", lambda v: "yes" if v else "no", lambda x: "yes" if x else "no"),
]


@pytest.mark.parametrize("name, on_value, on_float", CONVERSIONS, ids=[c[0] for c in CONVERSIONS])
@given(x=finite)
def test_a_conversion_gives_what_it_gives_on_the_number(name, on_value, on_float, x):
    for v in leaf_and_node(x):
        assert on_value(v) == on_float(x)
        assert type(on_value(v)) is type(on_float(x))


@pytest.mark.parametrize("x", [0.0, -0.0, 1.0, -2.5, math.inf, -math.inf, math.nan, 1e-300])
def test_truth_is_the_numbers_as_for_a_0d_tensor(x):
    for v in leaf_and_node(x):
        assert bool(v) is bool(x)
        if torch is not None:
            assert bool(v) is bool(torch.tensor(x, dtype=torch.float64))


def test_bool_of_zero_is_false_and_nan_is_true():
    assert not Value(0.0)
    assert Value(math.nan)
    assert not (Value(2.0) - 2)


def test_format_with_no_spec_stays_micrographs_repr():
    v = Value(2.5)
    assert f"{v}" == repr(v) == str(v) == "Value(data=2.5, grad=0.0)"


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
@given(x=finite)
def test_conversions_agree_with_pytorch(x):
    t = torch.tensor(x, dtype=torch.float64)
    for v in leaf_and_node(x):
        assert float(v) == float(t) and v.item() == t.item()
        assert f"{v:.3f}" == f"{t:.3f}"
        assert math.exp(min(v, 700)) == math.exp(min(float(t), 700))


def test_conversions_record_nothing():
    v = Value(1.5) * 2
    before = len(CURRENT.record.data)
    float(v), v.item(), bool(v), round(v, 1), f"{v:.1f}", v < 1, v >= 2, max(v, 1.0)
    assert len(CURRENT.record.data) == before


# -- comparisons ---------------------------------------------------------------------------------

COMPARISONS = [
    ("<", lambda a, b: a < b), ("<=", lambda a, b: a <= b),
    (">", lambda a, b: a > b), (">=", lambda a, b: a >= b),
]


@pytest.mark.parametrize("symbol, compare", COMPARISONS, ids=[c[0] for c in COMPARISONS])
@given(a=numbers, b=numbers)
def test_comparisons_compare_the_numbers_and_return_a_bool(symbol, compare, a, b):
    expected = compare(float(a), float(b))
    for va in leaf_and_node(a):
        for vb in leaf_and_node(b):
            for left, right in ((va, vb), (va, b), (a, vb)):  # Value, number on either side
                result = compare(left, right)
                assert result is expected, f"{left!r} {symbol} {right!r}"


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
@pytest.mark.parametrize("symbol, compare", COMPARISONS, ids=[c[0] for c in COMPARISONS])
@given(a=st.floats(), b=st.floats())
def test_comparisons_agree_with_pytorch(symbol, compare, a, b):
    ta, tb = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    assert compare(Value(a), Value(b)) is bool(compare(ta, tb))


@given(xs=st.lists(finite, min_size=1, max_size=20))
def test_max_min_and_sorted_order_values_by_their_numbers(xs):
    values = [Value(x) for x in xs]
    assert max(values).data == max(xs) and min(values).data == min(xs)
    assert [v.data for v in sorted(values)] == sorted(xs)
    assert all(any(s is v for v in values) for s in sorted(values))  # the nodes themselves


def test_if_v_greater_than_zero_branches_on_the_number():
    x = Value(-1.0)
    y = x * 3
    assert (y if y > 0 else -y).data == 3.0


def test_comparing_with_a_non_number_says_what_to_use():
    v = Value(1.0)
    for other in ("a", None, [1.0]):
        with pytest.raises(TypeError) as raised:
            v < other
        message = str(raised.value)
        assert "<" in message and type(other).__name__ in message
        assert "Values and numbers" in message


# -- equality and hashing stay micrograd's --------------------------------------------------------

def test_equality_is_the_node_not_the_number():
    a, b = Value(1.0), Value(1.0)
    assert a != b and a == a
    assert a <= b and a >= b  # (the numbers are equal: compare numbers with <=, >= or .data)
    assert len({a, b}) == 2
    y = a * 2
    graph = Graph(y)
    assert graph.nodes[-1] == y and hash(graph.nodes[-1]) == hash(y)  # two handles, one node
    assert (a == 1.0) is False  # a node is never a number: compare a.data == 1.0


# -- a Value stored where a number goes -----------------------------------------------------------

def test_setting_data_to_a_value_says_to_use_data_on_the_right_and_changes_nothing():
    p = Value(0.5)
    p.grad = 2.0
    with pytest.raises(TypeError) as raised:
        p.data = p - 0.1 * p.grad
    assert "p.data = p.data - lr * p.grad" in str(raised.value)
    assert p.data == 0.5


@pytest.mark.parametrize("field, bad", [("data", "2"), ("data", None), ("data", [1.0]),
                                        ("grad", "a"), ("grad", [0.0]), ("data", 1j)])
def test_data_and_grad_take_numbers_only(field, bad):
    for v in leaf_and_node(1.25):
        with pytest.raises(TypeError) as raised:
            setattr(v, field, bad)
        assert f".{field}" in str(raised.value) and repr(bad) in str(raised.value)
        assert v.data == 1.25


def test_data_and_grad_store_numbers_as_floats():
    for v in leaf_and_node(1.0):
        v.data, v.grad = 3, 4
        assert type(v.data) is float and v.data == 3.0
        assert type(v.grad) is float and v.grad == 4.0
    x = Value(1.0)
    x.grad = None  # PyTorch's "no gradient yet": reads as 0.0
    assert x.grad == 0.0
    (x * 3).backward()
    assert x.grad == 3.0


# -- numbers too large for a float ------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: Value(10**400), lambda: Value(-10**5000),
                                  lambda: Value(1.0) * 10**400, lambda: 10**400 + Value(1.0),
                                  lambda: Value(2.0) ** 10**400, lambda: Value(2.0) < 10**5000])
def test_an_integer_too_large_for_a_float_is_refused_in_a_short_message(make):
    before = len(CURRENT.record.data)
    with pytest.raises(OverflowError) as raised:
        make()
    message = str(raised.value)
    assert "too large for a float" in message and len(message) < 200
    assert len(CURRENT.record.data) == before


@pytest.mark.parametrize("method", ["sin", "cos"])
@pytest.mark.parametrize("x", [math.inf, -math.inf])
def test_sin_and_cos_of_infinity_name_the_function_and_the_number(method, x):
    with pytest.raises(ValueError) as raised:
        getattr(Value(x), method)()
    assert f"{method}({x!r})" in str(raised.value) and "finite" in str(raised.value)


# -- operands of every kind of number --------------------------------------------------------------


class Named(Value):
    """A user's subclass of Value (a Value with a name of its own, say)."""


def _numpy_float(x):
    np = pytest.importorskip("numpy")
    return np.float64(x)


OPERANDS = [  # (kind, the operand 3 as that kind): each must act as the float 3.0
    ("int", lambda: 3),
    ("bool (an int)", lambda: True),
    ("float", lambda: 3.0),
    ("fractions.Fraction", lambda: __import__("fractions").Fraction(3)),
    ("numpy.float64", lambda: _numpy_float(3.0)),
    ("a Value subclass", lambda: Named(3.0)),
]


@pytest.mark.parametrize("kind, make", OPERANDS, ids=[o[0] for o in OPERANDS])
@pytest.mark.parametrize("spelling", ["x + c", "c + x", "x * c", "c * x", "sum([x, c])"])
@given(x0=finite)
def test_an_operand_of_any_number_kind_records_as_its_float(kind, make, spelling, x0):
    c = make()
    expected = float(c) if not isinstance(c, Value) else c.data
    for x in leaf_and_node(x0):
        got = eval(spelling, {"x": x, "c": c})
        want = eval(spelling, {"x": x0, "c": expected})
        assert type(got) is Value and got.data == want
        got.backward()
        slope = 1.0 if "+" in spelling or "sum" in spelling else expected
        assert x.grad == slope
        x.grad = 0.0
        if isinstance(c, Value):
            assert c.grad == (1.0 if "+" in spelling or "sum" in spelling else x0)
            c.grad = 0.0
