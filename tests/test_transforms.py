"""grad, value_and_grad, vjp, jvp, hvp and jacobian: values, shapes, modes and errors.

Derivatives are checked against mpmath's high-precision numerical differentiation (always), PyTorch
float64 (where installed), numbers worked out by hand, and gradcheck in every mode to order 2.
"""

import math
import pathlib
import subprocess
import sys

import mpmath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad import Value, grad, gradcheck, hessian, hvp, jacobian, jvp, value_and_grad, vjp
from tapegrad.gradcheck import GradcheckError

SEED_F = lambda x: (2 * x + 3) ** 2  # noqa: E731  (the seed's sanity check)


# ---------------------------------------------------------------------------------------------
# The seed's example, to third order, and the float/Value contract
# ---------------------------------------------------------------------------------------------


def test_seed_derivatives_to_third_order():
    assert grad(SEED_F)(2.0) == 28.0
    assert grad(grad(SEED_F))(2.0) == 8.0
    third = grad(grad(grad(SEED_F)))(2.0)
    assert third == 0.0 and type(third) is float


def test_floats_in_give_floats_out():
    value, g = value_and_grad(SEED_F)(2.0)
    assert (value, g) == (49.0, 28.0) and type(value) is float and type(g) is float
    assert type(jvp(SEED_F, (2.0,), (1.0,))[1]) is float


def test_values_in_give_values_out_and_differentiate_again():
    x = Value(2.0)
    g = grad(SEED_F)(x)
    assert isinstance(g, Value) and g.data == 28.0
    g.backward()
    assert x.grad == 8.0  # d/dx of the recorded derivative 8x + 12


def test_a_value_passed_in_another_argument_keeps_the_result_a_value():
    w = Value(3.0)
    g = grad(lambda x, w: x * x * w)(2.0, w)  # ∂/∂x = 2xw
    assert isinstance(g, Value) and g.data == 12.0
    g.backward()
    assert w.grad == 4.0  # ∂/∂w (2xw) = 2x


def test_first_order_grad_agrees_with_backward_on_an_mlp():
    import random

    from tapegrad.nn import MLP

    random.seed(0)
    model = MLP(3, [4, 4, 1])
    point = [0.5, -1.0, 2.0]
    xs = [Value(v) for v in point]
    model(xs).backward()
    assert grad(lambda v: model(v))(point) == pytest.approx([x.grad for x in xs], rel=1e-12)


# ---------------------------------------------------------------------------------------------
# argnums, shapes, value_and_grad
# ---------------------------------------------------------------------------------------------


def f3(x, y, z):
    return x * y + z * z * z  # works whichever arguments are numbers rather than Values


@pytest.mark.parametrize(
    "argnums, want",
    [
        (0, 3.0),
        (1, 2.0),
        (2, 0.75),
        (-1, 0.75),
        ((0, 2), (3.0, 0.75)),
        ((2, 0), (0.75, 3.0)),
    ],
)
def test_argnums(argnums, want):
    assert grad(f3, argnums)(2.0, 3.0, 0.5) == pytest.approx(want)


@pytest.mark.parametrize(
    "arg, want",
    [
        ([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]),
        ((1.0, 2.0), (2.0, 4.0)),
        ([[1.0], [2.0, 3.0]], [[2.0], [4.0, 6.0]]),
    ],
)
def test_the_gradient_has_the_shape_of_its_argument(arg, want):
    def sum_of_squares(tree):
        leaves = (
            [tree]
            if isinstance(tree, Value)
            else [v for t in tree for v in (t if isinstance(t, list) else [t])]
        )
        return sum(v * v for v in leaves)

    assert grad(sum_of_squares)(arg) == want


def test_keyword_arguments_pass_through_undifferentiated():
    def loss(w, data, scale=1.0):
        return sum((w * x - y) ** 2 for x, y in data) * scale

    data = [(1.0, 2.0), (2.0, 3.0)]
    assert grad(loss)(1.0, data, scale=0.5) == 0.5 * (2 * (1 - 2) * 1 + 2 * (2 - 3) * 2)
    assert jacobian(lambda w, k: [w * k, w], argnums=0)(2.0, k=3.0) == [3.0, 1.0]


def test_value_and_grad_of_a_constant_function():
    assert value_and_grad(lambda x: 5.0)(1.0) == (5.0, 0.0)
    assert grad(lambda x, y: y * y)(1.0, 2.0) == 0.0  # x is unused


# ---------------------------------------------------------------------------------------------
# vjp, jvp, hvp, jacobian
# ---------------------------------------------------------------------------------------------


def two_outputs(x, y):
    return [x * y, (x + y).tanh()]


def test_vjp_sweeps_the_one_record_for_any_cotangent():
    out, vjp_fn = vjp(two_outputs, 0.5, -1.0)
    assert out == [-0.5, math.tanh(-0.5)]
    s = 1 - math.tanh(-0.5) ** 2
    assert vjp_fn([1.0, 0.0]) == (-1.0, 0.5)
    assert vjp_fn([0.0, 1.0]) == pytest.approx((s, s))
    assert vjp_fn([2.0, 3.0]) == pytest.approx((-2.0 + 3 * s, 1.0 + 3 * s))


def test_vjp_cotangent_must_have_the_result_shape():
    _, vjp_fn = vjp(two_outputs, 0.5, -1.0)
    with pytest.raises(ValueError, match="shape of two_outputs's result"):
        vjp_fn(1.0)


def test_jvp_keeps_its_float_signature():
    assert jvp(lambda x: (2.0 * x + 3.0) ** 2, (2.0,), (1.0,)) == (49.0, 28.0)
    assert jvp(lambda x: 7.0, (2.0,), (1.0,)) == (7.0, 0.0)


def test_jvp_of_several_outputs_and_list_primals():
    out, tangent = jvp(two_outputs, (0.5, -1.0), (1.0, 0.0))
    assert tangent == pytest.approx([-1.0, 1 - math.tanh(-0.5) ** 2])
    out, tangent = jvp(lambda v: v[0] * v[1], ([2.0, 3.0],), ([1.0, 1.0],))
    assert (out, tangent) == (6.0, 5.0)


def test_lists_and_tuples_of_one_length_are_the_same_shape():
    assert jvp(lambda v: v[0] * v[1], ([2.0, 3.0],), ((1.0, 0.0),)) == (6.0, 3.0)
    assert vjp(lambda x: (x, x * x), 3.0)[1]([1.0, 1.0]) == (7.0,)


def test_jvp_with_values_records_the_tangent():
    x = Value(0.3)
    _, t = jvp(lambda a: a.sin(), (x,), (1.0,))
    assert isinstance(t, Value) and t.data == math.cos(0.3)
    t.backward()
    assert x.grad == pytest.approx(-math.sin(0.3))


def test_jvp_and_hvp_take_lists_as_well_as_tuples():
    assert jvp(SEED_F, [2.0], [1.0]) == (49.0, 28.0)
    assert hvp(SEED_F, [2.0], [1.0]) == (28.0, 8.0)


# Argument trees: numbers, and lists of them, a few levels deep.
TREES = st.recursive(st.just(1.0), lambda children: st.lists(children, max_size=3), max_leaves=6)


@settings(max_examples=60, deadline=None)
@given(primal=TREES, tangent=TREES)
def test_a_tangent_of_another_shape_is_refused_naming_where_it_differs(primal, tangent):
    """(Each mistake's message is a row of tests/test_bad_input.py; here, the shapes vary.)"""

    def at(tree, path):
        for i in path:
            tree = tree[i]
        return tree

    def first_difference(a, b, path=()):
        """The path to where the trees' shapes first differ, or None."""
        if not isinstance(a, list) and not isinstance(b, list):
            return None
        if not (isinstance(a, list) and isinstance(b, list)) or len(a) != len(b):
            return path
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, path + (i,))
            if found is not None:
                return found
        return None

    where = first_difference(primal, tangent)
    if where is None:
        assert jvp(lambda x: 0.0, (primal,), (tangent,)) == (0.0, 0.0)
        return
    with pytest.raises(ValueError) as error:
        jvp(lambda x: 0.0, (primal,), (tangent,))
    path = "[0]" + "".join(f"[{i}]" for i in where)

    def described(x):
        return f"a list of {len(x)}" if isinstance(x, list) else "a scalar"

    assert str(error.value) == (
        "jvp: each tangent must have the shape of its primal: "
        f"primals{path} is {described(at(primal, where))}, "
        f"tangents{path} is {described(at(tangent, where))}"
    )


def test_hvp_is_forward_over_reverse():
    f = lambda x, y: x * x * y + y.exp()  # noqa: E731
    g, hv = hvp(f, (3.0, 0.5), (1.0, 2.0))
    assert g == pytest.approx((3.0, 9.0 + math.exp(0.5)))
    # H = [[2y, 2x], [2x, e^y]]
    assert hv == pytest.approx((2 * 0.5 + 2 * 6.0, 6.0 + 2 * math.exp(0.5)))
    assert hvp(SEED_F, (2.0,), (1.0,)) == (28.0, 8.0)


def test_hvp_without_primals_says_so_in_its_own_name():
    with pytest.raises(TypeError, match=r"^hvp\(f\): give at least one primal"):
        hvp(lambda x: x, (), ())


def assert_rows_close(got, want):
    assert len(got) == len(want)
    for row_got, row_want in zip(got, want):
        assert row_got == pytest.approx(row_want, rel=1e-12, abs=1e-14)
    return True


def wide(v):  # R² -> R³
    return [v[0] * v[1], v[0].sin(), v[1] ** 3]


def tall(v):  # R³ -> R²
    return [v[0] * v[1] * v[2], v[0] + v[2]]


@pytest.mark.parametrize(
    "f, point, auto_mode, want",
    [
        (wide, [2.0, 3.0], "fwd", [[3.0, 2.0], [math.cos(2.0), 0.0], [0.0, 27.0]]),
        (tall, [1.0, 2.0, 3.0], "rev", [[6.0, 3.0, 2.0], [1.0, 0.0, 1.0]]),
        (lambda v: [v[0] * v[1], v[1]], [2.0, 3.0], "rev", [[3.0, 2.0], [0.0, 1.0]]),
    ],
)
def test_jacobian_in_each_mode_and_the_auto_choice(f, point, auto_mode, want):
    jac = jacobian(f)
    assert_rows_close(jac(point), want) and jac.mode == auto_mode
    for mode in ("fwd", "rev"):
        forced = jacobian(f, mode=mode)
        assert_rows_close(forced(point), want) and forced.mode == mode


@pytest.mark.parametrize(
    "mode, sweeps", [("fwd", {"jvp": 2, "vjp": 0}), ("rev", {"jvp": 0, "vjp": 3})]
)
def test_jacobian_sweeps_once_per_input_or_once_per_output(monkeypatch, mode, sweeps):
    import tapegrad.transforms as transforms_module

    counted = {"jvp": 0, "vjp": 0}
    for name, sweep in [("jvp", "sweep_forward"), ("vjp", "backprop")]:
        original = getattr(transforms_module, sweep)

        def counting(*args, _sweep=original, _name=name, **kwargs):
            counted[_name] += 1
            return _sweep(*args, **kwargs)

        monkeypatch.setattr(transforms_module, sweep, counting)
    jacobian(wide, mode=mode)([2.0, 3.0])  # 2 inputs, 3 outputs
    assert counted == sweeps


def test_jacobian_shapes():
    assert jacobian(lambda x: [x, x * x])(3.0) == [1.0, 6.0]  # scalar in: one entry per output
    assert jacobian(lambda v: v[0] * v[1])([2.0, 5.0]) == [5.0, 2.0]  # scalar out: the gradient
    assert jacobian(lambda x, y: [x * y], argnums=(0, 1))(2.0, 5.0) == [(5.0, 2.0)]


def test_jacobian_matches_torch():
    torch = pytest.importorskip("torch")
    point = [0.3, -0.7, 1.1]
    want = torch.autograd.functional.jacobian(
        lambda t: torch.stack(
            [t[0] * t[1] * t[2], torch.tanh(t[0] + t[2]), torch.exp(t[1]) * t[0]]
        ),
        torch.tensor(point, dtype=torch.float64),
    ).tolist()
    f = lambda v: [v[0] * v[1] * v[2], (v[0] + v[2]).tanh(), v[1].exp() * v[0]]  # noqa: E731
    for mode in ("fwd", "rev"):
        got = jacobian(f, mode=mode)(point)
        for row_got, row_want in zip(got, want):
            assert row_got == pytest.approx(row_want, rel=1e-12, abs=1e-14)


# ---------------------------------------------------------------------------------------------
# Against an independent oracle (mpmath) and gradcheck, over a table of functions
# ---------------------------------------------------------------------------------------------

# name: (the function on Values, the same function on mpmath numbers)
TABLE = {
    "poly": (lambda x, y: x * x * y - 3 * y + 1, lambda x, y: x * x * y - 3 * y + 1),
    "quotient": (lambda x, y: x / (y * y + 1), lambda x, y: x / (y * y + 1)),
    "tanh": (lambda x, y: (x * y).tanh(), lambda x, y: mpmath.tanh(x * y)),
    "sigmoid": (lambda x, y: (x - y).sigmoid() * y, lambda x, y: y / (1 + mpmath.exp(y - x))),
    "exp-log": (
        lambda x, y: (x * x + 1).log() * y.exp(),
        lambda x, y: mpmath.log(x * x + 1) * mpmath.exp(y),
    ),
    "trig": (lambda x, y: x.sin() * y.cos(), lambda x, y: mpmath.sin(x) * mpmath.cos(y)),
    "sqrt": (lambda x, y: (x * x + y * y + 1).sqrt(), lambda x, y: mpmath.sqrt(x * x + y * y + 1)),
    "power": (lambda x, y: (x * x + 1) ** y, lambda x, y: (x * x + 1) ** y),
    "dot": (lambda x, y: Value.dot([x, y], [y, y], x), lambda x, y: x + x * y + y * y),
}

POINTS = st.tuples(st.floats(-2, 2, allow_nan=False), st.floats(-2, 2, allow_nan=False))


@pytest.mark.parametrize("name", sorted(TABLE))
@settings(max_examples=10, deadline=None)
@given(point=POINTS)
def test_gradient_matches_mpmath(name, point):
    f, f_mp = TABLE[name]
    with mpmath.workdps(30):
        want = [float(mpmath.diff(f_mp, point, order)) for order in ((1, 0), (0, 1))]
    got = grad(f, argnums=(0, 1))(*point)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-9)
    _, tangent = jvp(f, point, (1.0, -2.0))
    assert tangent == pytest.approx(want[0] - 2 * want[1], rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("name", sorted(TABLE))
@settings(max_examples=5, deadline=None)
@given(point=POINTS)
def test_table_passes_gradcheck_to_order_2(name, point):
    gradcheck(TABLE[name][0], *point, order=2, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("transform", ["jacobian", "hessian", "hvp"])
def test_the_transforms_themselves_pass_gradcheck(transform):
    """Their results are differentiable functions of the point: gradcheck them to order 2."""
    f = lambda v: (v[0] * v[1]).sin() + v[0] ** 3  # noqa: E731
    wrapped = {
        "jacobian": lambda a, b: jacobian(lambda x, y: [x * y, (x - y).exp()], argnums=(0, 1))(
            a, b
        )[1],
        "hessian": lambda a, b: [h for row in hessian(f)([a, b]) for h in row],
        "hvp": lambda a, b: list(hvp(lambda v: f(v), ([a, b],), ([1.0, -0.5],))[1]),
    }[transform]
    gradcheck(wrapped, 0.4, -0.3, order=2)


# ---------------------------------------------------------------------------------------------
# Errors that say what to do, and the relu kink convention
# ---------------------------------------------------------------------------------------------


def returns_a_list(x):
    return [x, x * x]


def test_grad_of_a_non_scalar_result_says_to_use_jacobian():
    with pytest.raises(TypeError) as error:
        grad(returns_a_list)(1.0)
    message = str(error.value)
    assert "returns_a_list returned 2 values in a list" in message
    assert "needs one scalar" in message and "jacobian(returns_a_list)" in message


def test_value_and_grad_errors_name_value_and_grad():
    with pytest.raises(TypeError, match=r"^value_and_grad\(returns_a_list\): .* needs one scalar"):
        value_and_grad(returns_a_list)(1.0)
    with pytest.raises(IndexError, match=r"^value_and_grad\(f, argnums=1\): argnum 1"):
        value_and_grad(lambda x: x, argnums=1)(1.0)


def test_hessian_errors_name_hessian():
    with pytest.raises(TypeError, match=r"^hessian: f's `result` is None"):
        hessian(lambda x: None)(1.0)
    with pytest.raises(TypeError, match=r"^hessian: argument `x` is 'a'"):
        hessian(lambda x: x, mode="fwd-over-fwd")("a")


def test_argnum_out_of_range_names_the_arguments():
    with pytest.raises(IndexError) as error:
        grad(lambda x, y: x * y, argnums=2)(1.0, 2.0)
    message = str(error.value)
    assert "argnum 2 is out of range" in message
    assert "2 positional arguments (x, y)" in message and "0..1" in message


def test_argnum_errors_of_nested_transforms_use_the_users_names():
    def loss(w, b):
        return w * b

    with pytest.raises(
        IndexError, match=r"grad\(grad\(loss\), argnums=\(0, 5\)\): argnum 5 .*\(w, b\)"
    ):
        grad(grad(loss), argnums=(0, 5))(1.0, 2.0)
    with pytest.raises(IndexError, match=r"^hessian\(loss, argnums=2\)"):
        hessian(loss, argnums=2)(1.0, 2.0)


@pytest.mark.parametrize(
    "argnums, kind",
    [("0", TypeError), (1.0, TypeError), ((), TypeError), ((0, 0), ValueError), (True, TypeError)],
)
def test_bad_argnums_are_refused_when_the_transform_is_made(argnums, kind):
    with pytest.raises(kind, match="argnums"):
        grad(SEED_F, argnums)


@pytest.mark.parametrize(
    "f, message",
    [
        (lambda x: None, "is None \\(did f forget to `return` its result\\?\\)"),
        (lambda x: "a", "is 'a' \\(str\\)"),
        (lambda x: None, "^grad: f's `result` is None"),
        (lambda x: [x, None], "^grad: f's `result\\[1\\]` is None$"),  # no hint: f did return
    ],
)
def test_results_that_are_not_numbers(f, message):
    with pytest.raises(TypeError, match=message):
        grad(f)(1.0)


def test_arguments_that_are_not_numbers():
    with pytest.raises(TypeError, match="argument `x` is 'a' \\(str\\)"):
        grad(lambda x: x)("a")


def test_bad_modes():
    with pytest.raises(ValueError, match="'auto', 'fwd'"):
        jacobian(SEED_F, mode="forward")
    with pytest.raises(ValueError, match="fwd-over-rev"):
        hessian(SEED_F, mode="fwd")


@pytest.mark.parametrize(
    "f, want",
    [
        (lambda x: x.relu(), 0.0),
        (lambda x: x.abs(), 0.0),
        (lambda x: (x * 3).relu() + x, 1.0),
    ],
)
def test_the_kink_convention_derivative_zero_at_zero(f, want):
    assert grad(f)(0.0) == want
    assert jvp(f, (0.0,), (1.0,))[1] == want
    assert grad(grad(f))(0.0) == 0.0


def test_relu_agrees_with_torch_at_the_kink():
    torch = pytest.importorskip("torch")
    t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    torch.relu(t).backward()
    assert grad(lambda x: x.relu())(0.0) == t.grad.item()


def test_gradcheck_at_the_kink_says_so():
    with pytest.raises(GradcheckError, match="straddles a kink"):
        gradcheck(lambda x: x.relu(), 0.0)


# ---------------------------------------------------------------------------------------------
# The docs page's counting script
# ---------------------------------------------------------------------------------------------


def expected_forward_visits(n):
    """Worked out by hand for sum(x[i] * x[(i+1) % n]): the sweep seeded at x_i visits the (one or)
    two products that use x_i, and every add of sum's running total from the first of them on."""
    if n == 1:
        return 2
    return sum(2 + (n if i == 0 else n - i + 1) for i in range(n))


def test_count_sweeps_script():
    script = pathlib.Path(__file__).parent.parent / "benchmarks" / "count_sweeps.py"
    ns = [1, 2, 3, 10, 40]
    run = subprocess.run(
        [sys.executable, str(script), "--n", *map(str, ns)],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line.split() for line in run.stdout.splitlines()[2:-1]]
    assert [int(row[0]) for row in rows] == ns
    for n, (_, nodes, rev_sweeps, rev_visits, fwd_sweeps, fwd_visits, _ratio) in zip(ns, rows):
        assert int(nodes) == 3 * n + 1  # n inputs, n products, a 0 and n adds
        assert (int(rev_sweeps), int(rev_visits)) == (1, 2 * n)  # one sweep, every interior node
        assert (int(fwd_sweeps), int(fwd_visits)) == (n, expected_forward_visits(n))
    assert "both modes gave the same n partials" in run.stdout


def test_grad_in_a_loop_keeps_the_record_it_sweeps_short():
    """grad(f)(x) on numbers, called thousands of times: each call's sweep would cost as much as
    the whole record so far, so a call that leaves nothing behind ends a record past
    FRESH_AFTER entries (transforms.FRESH_AFTER): the record stays short, the numbers are
    those of a lone call."""
    from tapegrad import record as record_module
    from tapegrad.transforms import FRESH_AFTER

    f = lambda x: (x * x * 3.0 + x).tanh()  # noqa: E731
    df = grad(f)
    x, longest = 0.3, 0
    for _ in range(3000):
        x = x - 0.01 * df(x)
        longest = max(longest, len(record_module.CURRENT.record.data))
    assert longest <= FRESH_AFTER + 20
    assert df(x) == grad(f)(x)


def test_a_value_carried_through_grad_calls_stays_on_one_record():
    """An unrolled optimizer, w = w - lr * grad(loss)(w) with w a Value, records each call's
    derivative on the record w is on: no fresh record (every call would import the last's
    nodes), and the same numbers as on floats."""
    from tapegrad.transforms import FRESH_AFTER

    loss = lambda w: (w * w - 2.0) * (w * w - 2.0)  # noqa: E731
    w, records = Value(1.0), set()
    for _ in range(FRESH_AFTER // 4):
        w = w - 0.05 * grad(loss)(w)
        records.add(w._rec)
    v = 1.0
    for _ in range(FRESH_AFTER // 4):
        v = v - 0.05 * grad(loss)(v)
    assert len(records) == 1 and w.data == pytest.approx(v, rel=1e-12)


def test_a_running_total_of_grad_calls_stays_on_few_records():
    """acc = acc + grad(f)(x) carries a Value from call to call outside f: once a record
    imports it (is tainted), calls no longer end records early -- short records would each
    import it and keep a list of every older one (found in review: memory quadratic in calls)."""
    def f(x):
        for _ in range(40):
            x = x * 0.999 + 0.001
        return x

    df, acc, records = grad(f), Value(0.0), set()
    for _ in range(300):  # about 24,000 entries: 23 records' worth at FRESH_AFTER
        acc = acc + df(0.3)
        records.add(acc._rec)
    assert len(records) <= 2
    assert acc.data == pytest.approx(300 * grad(f)(0.3), rel=1e-12)
