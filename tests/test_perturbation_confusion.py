"""No perturbation confusion: nested derivatives of closures that capture an outer variable.

The classic (Siskind and Pearlmutter): d/dx [x · d/dy (x + y)] = 1 at every x. An engine that
lets the inner derivative also "see" the outer perturbation of x gets 2. Each case runs in every
combination of forward and reverse mode.
"""

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad import grad, gradcheck, hessian, jacobian, jvp


def derivative(mode, f):
    """x ↦ f'(x), by one reverse sweep ("rev") or one forward sweep ("fwd")."""
    if mode == "rev":
        return grad(f)
    return lambda x: jvp(f, (x,), (1.0,))[1]


D_CASES = {
    # name: (outer function of x, built with an inner derivative D; the exact d/dx of it)
    "classic x·d/dy(x+y)": (lambda D: lambda x: x * D(lambda y: x + y)(3.0), lambda x: 1.0),
    "x·d/dy(x·y)": (lambda D: lambda x: x * D(lambda y: x * y)(3.0), lambda x: 2 * x),
    "d/dy(x·y) at y=x": (lambda D: lambda x: D(lambda y: x * y)(x), lambda x: 1.0),
    "d/dy(x·y²) at y=x": (lambda D: lambda x: D(lambda y: x * y * y)(x), lambda x: 4 * x),
    "x·d/dy sin(x·y) at y=2": (
        lambda D: lambda x: x * D(lambda y: (x * y).sin())(2.0),
        lambda x: 2 * x * math.cos(2 * x) - 2 * x * x * math.sin(2 * x),  # of x² cos 2x
    ),
}

MODE_PAIRS = list(itertools.product(("fwd", "rev"), repeat=2))


@pytest.mark.parametrize("outer, inner", MODE_PAIRS, ids=[f"{o}-over-{i}" for o, i in MODE_PAIRS])
@pytest.mark.parametrize("name", sorted(D_CASES))
@settings(max_examples=15, deadline=None)
@given(x=st.floats(-3, 3, allow_nan=False))
def test_nested_derivatives_of_closures(name, outer, inner, x):
    build, exact = D_CASES[name]
    inner_f = build(lambda f: derivative(inner, f))
    got = derivative(outer, inner_f)(x)
    assert isinstance(got, float)
    assert got == pytest.approx(exact(x), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("modes", list(itertools.product(("fwd", "rev"), repeat=3)))
def test_three_levels_of_nesting(modes):
    """d/dx [x · d/dy [y · d/dz (x + y + z)]] = d/dx [x · d/dy y] = 1."""
    dx, dy, dz = (lambda f, m=m: derivative(m, f) for m in modes)
    f = lambda x: x * dy(lambda y: y * dz(lambda z: x + y + z)(0.5))(0.25)  # noqa: E731
    assert dx(f)(1.5) == 1.0


def test_the_classic_holds_for_gradcheck_too():
    """The nested function itself checks out against central differences in every mode pair."""
    for inner in ("fwd", "rev"):
        f = lambda x, inner=inner: x * derivative(inner, lambda y: x * y)(3.0)  # noqa: E731
        gradcheck(f, 0.7, order=2)


def test_jacobian_and_hessian_of_closures():
    # d/dx of H[0][0] of v ↦ x·v0²: d/dx (2x) = 2
    assert grad(lambda x: hessian(lambda v: x * v[0] ** 2)([1.0])[0][0])(5.0) == 2.0
    # d/dx of the Jacobian of v ↦ [x·v0, v0 + v1] (forward and reverse): only ∂(x·v0)/∂v0 = x moves
    for mode in ("fwd", "rev"):
        jac = jacobian(lambda x: jacobian(lambda v: [x * v[0], v[0] + v[1]], mode=mode)([1.0, 2.0]))
        assert jac(4.0) == [[1.0, 0.0], [0.0, 0.0]]


def test_a_captured_plain_value_is_a_constant_at_top_level():
    """Not a transform's input: grad of y ↦ w·y at top level is w's number, a float."""
    from tapegrad import Value

    w = Value(3.0)
    assert grad(lambda y: w * y)(2.0) == 3.0
    assert isinstance(grad(lambda y: w * y)(2.0), float)
