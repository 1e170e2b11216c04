"""gradcheck: it passes correct derivatives, and catches wrong ones, naming input, order and mode.

Wrong derivatives are made the way users make them: by reading ``.data`` (a number, invisible to
the engine) where a Value was needed. ``x * x.data`` has a wrong first derivative;
``(x - x.data) ** 2`` is 0 at every point but its recorded first derivative 2(x - c) has slope 2,
so only the second derivative is wrong.
"""

import importlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad import gradcheck, jvp
from tapegrad.gradcheck import GradcheckError

gradcheck_module = importlib.import_module(
    "tapegrad.gradcheck"
)  # the name tapegrad.gradcheck is the function

SMOOTH = [
    (lambda x: x.tanh() * x, (0.3,)),
    (lambda x, y: (x * y).sin() + y.exp(), (0.3, -0.8)),
    (lambda x, y: (x * x + 1).log() / (y * y + 2), (1.5, 0.2)),
    (lambda xs: [xs[0] * xs[1], xs[1].sigmoid(), xs[0] ** 3], ([0.4, -1.1],)),
    (lambda x, ys: x * ys[0] + (ys[1] * x).cos(), (0.7, [0.1, 2.0])),
    (lambda x: 2**x + x**0.5, (1.3,)),
    (lambda x: 4.0, (1.0,)),  # a constant: every derivative is 0
    (lambda x: [], (1.0,)),  # no outputs: nothing to disagree with
]


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("f, point", SMOOTH)
def test_correct_derivatives_pass(f, point, order):
    assert gradcheck(f, *point, order=order) is True


def test_gradcheck_error_is_an_assertion_error():
    assert issubclass(GradcheckError, AssertionError)


def test_a_wrong_first_derivative_names_the_input_order_and_mode():
    with pytest.raises(GradcheckError) as error:
        gradcheck(lambda x, y: x * x.data + y, 0.3, 0.7)
    message = str(error.value)
    assert "order-1 derivative in mode fwd disagrees" in message
    assert "input `x` (argument 0)" in message and "`y`" not in message
    assert "tapegrad gives 0.3" in message and "central differences give 0.6" in message


def test_the_mode_named_is_the_one_checked():
    with pytest.raises(GradcheckError, match="order-1 derivative in mode rev disagrees"):
        gradcheck(lambda x: x * x.data, 0.3, modes=("rev",))


def test_a_wrong_second_derivative_passes_order_1_and_fails_order_2():
    f = lambda x, y: x * y + (y - y.data) ** 2  # noqa: E731
    assert gradcheck(f, 0.3, 0.7, order=1)
    with pytest.raises(GradcheckError) as error:
        gradcheck(f, 0.3, 0.7, order=2)
    message = str(error.value)
    assert "order-2 derivative in mode fwd-over-fwd disagrees" in message
    assert "input `y` (argument 1)" in message and "`x`" not in message.split("\n", 1)[1]
    with pytest.raises(GradcheckError, match="order-2 derivative in mode rev-over-rev"):
        gradcheck(f, 0.3, 0.7, order=2, modes=("rev",))


def test_a_bug_in_one_mode_only(monkeypatch):
    """A forward mode that is 1% off: fwd fails, rev alone passes."""

    def skewed_jvp(f, primals, tangents):
        out, tangent = jvp(f, primals, tangents)
        return out, [t * 1.01 for t in tangent]

    monkeypatch.setattr(gradcheck_module, "jvp", skewed_jvp)
    f = lambda x: x.sin()  # noqa: E731
    assert gradcheck(f, 0.5, modes=("rev",), order=1)
    with pytest.raises(GradcheckError, match="order-1 derivative in mode fwd disagrees"):
        gradcheck(f, 0.5, order=1)
    assert gradcheck(f, 0.5, modes=("rev",), order=3)  # rev-over-rev-over-rev never calls jvp


def test_an_element_of_a_list_input_is_named():
    with pytest.raises(GradcheckError, match=r"input `xs\[1\]` \(argument 0\)"):
        gradcheck(lambda xs: [xs[0] * 2, xs[1] * xs[1].data], [0.5, 0.5])


def test_an_input_without_a_parameter_name_is_named_once():
    with pytest.raises(GradcheckError, match=r"\n  input argument 1\[0\]: tapegrad gives"):
        gradcheck(lambda *xs: xs[0] * xs[1][0].data, 1.0, [2.0], order=1)


def test_one_wrong_output_among_several_is_caught():
    with pytest.raises(GradcheckError, match="input `x`"):
        gradcheck(lambda x: [x.sin(), x * x.data, x * 2], 0.9, order=1)


@pytest.mark.parametrize(
    "f, point",
    [
        (lambda x: x.relu(), 0.0),
        (lambda x: x.relu(), 3e-7),
        (lambda x: (x - 1).abs(), 1.0),
        (lambda x, y: (x * y).relu() * 2, (1e-8, 1.0)),
    ],
)
def test_a_kink_inside_the_finite_difference_is_reported(f, point):
    point = point if isinstance(point, tuple) else (point,)
    with pytest.raises(GradcheckError) as error:
        gradcheck(f, *point)
    assert "straddles a kink" in str(error.value)
    assert "relu'(0) = 0" in str(error.value)


def test_away_from_the_kink_relu_and_abs_pass():
    assert gradcheck(lambda x: x.relu() + (x * 3).abs(), 0.5, order=3)
    assert gradcheck(lambda x: x.relu() + x.abs(), -0.5, order=3)


def test_tolerances_are_respected():
    """A derivative off by 1e-6 relative passes the default tolerances and fails tight ones."""
    f = lambda x: x * x + 1e-6 * x * x.data  # noqa: E731  (true derivative 2x + 2e-6 x)
    assert gradcheck(f, 1.0, order=1)
    with pytest.raises(GradcheckError, match=r"atol=1e-09, rtol=0"):
        gradcheck(f, 1.0, order=1, rtol=0.0, atol=1e-9)


def test_the_seed_makes_the_check_reproducible():
    f = lambda x, y: x * x.data + y * y.data  # noqa: E731
    messages = []
    for _ in range(2):
        with pytest.raises(GradcheckError) as error:
            gradcheck(f, 0.3, 0.4, seed=7)
        messages.append(str(error.value))
    assert messages[0] == messages[1]


def test_the_edge_of_a_domain_is_reported():
    with pytest.raises(ValueError, match="too close to the edge of f's domain"):
        gradcheck(lambda x: x.log(), 1e-7)


# (Each bad call and its message is a row of tests/test_bad_input.py.)


@settings(max_examples=30, deadline=None)
@given(
    eps=st.floats(1e-7, 1e-4),
    rtol=st.one_of(st.just(0), st.floats(1e-5, 1.0)),
    seed=st.one_of(st.none(), st.integers(-(2**40), 2**40)),
)
def test_any_positive_eps_tolerances_from_0_and_any_int_seed_are_taken(eps, rtol, seed):
    assert gradcheck(lambda x, y: x * y + y, 0.5, -1.5, order=1, eps=eps, rtol=rtol, atol=1e-4,
                     seed=seed)


def test_second_derivative_of_the_seed_function_is_checked_by_numbers():
    """Independent of tapegrad's own modes: the central difference of f' = 8x + 12 is 8."""
    h = 1e-4
    numerical = ((2 * (2 + h) + 3) ** 2 - 2 * 49 + (2 * (2 - h) + 3) ** 2) / h**2
    assert math.isclose(numerical, 8.0, rel_tol=1e-6)
    assert gradcheck(lambda x: (2 * x + 3) ** 2, 2.0, order=3)
