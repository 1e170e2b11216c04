"""gradcheck: tapegrad's derivatives, in every mode and to any order, vs finite differences.

For a function f of some numbers, at one point x, with a random unit direction v for the inputs
and a random unit cotangent u for the outputs, order 1 compares

    fwd:  u · (J v)      from jvp (one forward sweep)
    rev:  (uᵀ J) · v     from vjp (one reverse sweep)

with the central difference  (u·f(x + εv) − u·f(x − εv)) / 2ε  computed in float64. Order k
treats each order-(k−1) derivative *as computed by tapegrad* (a function of x, in one mode) as a
new function, and checks it the same way in every mode; so order 2 checks fwd-over-fwd,
rev-over-fwd, fwd-over-rev and rev-over-rev, as HIPS autograd's check_grads does.

Tolerances: a derivative d passes when |d − numerical| ≤ atol + rtol·|numerical|, with
eps = 1e-6, rtol = 1e-5 and atol = 1e-6 by default. For smooth f of moderate size, the central
difference is off by about eps²·|f'''|/6 (truncation) plus 1e-16·|f|/eps (rounding), far below
that; raise them for f with large values or curvature, lower eps only with care.

On a disagreement, gradcheck raises GradcheckError (an AssertionError) naming the order, the mode
and every input whose own derivative disagrees, and it says when the finite difference straddles a
kink of relu or abs, where tapegrad's derivative is 0 by convention and a finite difference
measures an average slope instead.
"""

import _collections_abc as _abc
import math as _math
import numbers as _numbers

from .graph import Graph
from .ops import RULES
from .transforms import (
    MODES,
    _argument_names,
    _check_function,
    _flatten,
    _flatten_result,
    _name,
    _one_hot,
    _unflatten,
    jvp,
    vjp,
)
from .value import Value

EPS = 1e-6
RTOL = 1e-5
ATOL = 1e-6

# The ops whose derivative at 0 is a convention (0, as in micrograd and PyTorch), from the rule table.
_KINKS = {op: op.value for op, rule in RULES.items() if rule.kink_at_zero}


def _random(seed):
    import random  # here, not at the top: random costs `import tapegrad` a sixth of its time

    return random.Random(seed)


class GradcheckError(AssertionError):
    """A derivative tapegrad computed disagrees with central differences."""


def gradcheck(f: _abc.Callable, *primals: object, order: int = 2, modes: "str | tuple" = MODES,
              eps: float = EPS, rtol: float = RTOL, atol: float = ATOL,
              seed: "int | None" = 0) -> bool:
    """Check f's derivatives at ``primals`` up to ``order``, in each of ``modes``, against central
    differences along random directions (drawn with ``random.Random(seed)``).

    ``primals`` are numbers or lists of them, as f takes them; f returns a Value, a number, or a
    list of them. Returns True, or raises GradcheckError naming the input, order and mode that
    disagree (see the module docstring for the tolerances).

    >>> gradcheck(lambda x, y: (x * y).tanh(), 0.3, -1.2, order=3)
    True
    """
    _check_function(f, "gradcheck")
    if not isinstance(order, int) or isinstance(order, bool) or order < 1:
        raise ValueError(
            f"gradcheck(order={order!r}): order is an int >= 1 "
            "(1 checks first derivatives, 2 also second derivatives, ...)"
        )
    chosen = _modes(modes)
    eps = _tolerance("eps", eps, EPS, positive=True)
    rtol, atol = _tolerance("rtol", rtol, RTOL), _tolerance("atol", atol, ATOL)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, _numbers.Integral)):
        raise TypeError(f"gradcheck(seed={seed!r}): seed is an int (or None), the seed of the "
                        "random directions, e.g. seed=0")
    if not primals:
        raise TypeError(
            f"gradcheck({_name(f)}): give the point to check at, e.g. gradcheck(f, 0.5)"
        )
    xs, in_shape, paths = _flatten(primals, "primals", "gradcheck:")
    names = _input_names(f, in_shape, paths)
    point = [_coordinate(x, name) for x, name in zip(xs, names)]
    if not point:  # (no direction to draw, and no derivative to check)
        written = ", ".join(repr(p) for p in primals)
        raise ValueError(f"gradcheck({_name(f)}, {written}): the point has no numbers, so there "
                         "is no derivative to check; give at least one, e.g. "
                         "gradcheck(f, [0.5, -1.0])")

    def flat_f(*inputs):
        return _flatten_result(f(*_unflatten(in_shape, iter(inputs))), f, "gradcheck")[0]

    rng = _random(None if seed is None else int(seed))
    check = _Check(f, flat_f, point, names, chosen, eps, rtol, atol, rng)
    check.run(flat_f, order, path=[])
    return True


def _modes(modes) -> tuple:
    """The modes to check in, as a tuple: one mode's name, or a tuple or list of them."""
    chosen = (modes,) if isinstance(modes, str) else modes
    if not isinstance(chosen, (tuple, list)) or not chosen or any(
        mode not in MODES for mode in chosen
    ):
        raise ValueError(
            f"gradcheck(modes={modes!r}): modes are some of {MODES}, "
            f"e.g. modes='rev' or modes={MODES}"
        )
    return tuple(chosen)


def _tolerance(name: str, value, default: float, positive: bool = False) -> float:
    """eps (a finite number > 0: the central difference divides by 2·eps), rtol or atol (a
    finite number >= 0), as a float."""
    if isinstance(value, bool) or not isinstance(value, _numbers.Real):
        raise TypeError(f"gradcheck({name}={value!r}): {name} is a number, e.g. {name}={default:g} "
                        "(the default)")
    x = float(value)
    if not _math.isfinite(x) or x < 0 or (positive and x == 0):
        why = "> 0: the central difference divides by 2·eps" if positive else ">= 0"
        raise ValueError(f"gradcheck({name}={value!r}): {name} must be a finite number {why}; "
                         f"e.g. {name}={default:g} (the default)")
    return x


def _coordinate(x, name: str) -> float:
    """One input's number at the point, as a float: a finite number (not a Value)."""
    if isinstance(x, Value):
        raise TypeError(
            f"gradcheck: input {name} is a Value; gradcheck checks at a point given as "
            f"numbers, e.g. gradcheck(f, {x.data!r})"
        )
    try:
        x = float(x)
    except OverflowError:
        x = _math.inf
    if not _math.isfinite(x):
        raise ValueError(
            f"gradcheck: input {name} is {x!r}; gradcheck compares derivatives with finite "
            "differences, which need a finite point: check at finite numbers"
        )
    return x


def _input_names(f, in_shape, paths) -> list[str]:
    """`x` (argument 0), `xs[2]` (argument 1): each input in the words of f's signature, or
    argument 2[0] where the signature does not name it (``*args``)."""
    _, shapes = in_shape
    arg_names = _argument_names(f, len(shapes))
    names = []
    for path in paths:  # paths look like "primals[i]" or "primals[i][j]..."
        i = int(path[len("primals[") : path.index("]")])
        rest = path[path.index("]") + 1 :]
        if arg_names[i] == f"argument {i}":  # _argument_names found no parameter name
            names.append(f"argument {i}{rest}")
        else:
            names.append(f"`{arg_names[i]}{rest}` (argument {i})")
    return names


class _Check:
    """One gradcheck: the point, the directions, the tolerances, and the report on failure."""

    def __init__(self, f, base, xs, names, modes, eps, rtol, atol, rng):
        self.f, self.base, self.xs, self.names = f, base, xs, names
        self.modes, self.eps, self.rtol, self.atol, self.rng = modes, eps, rtol, atol, rng

    def run(self, fn, order: int, path: list) -> None:
        """Check fn's first derivative in every mode; then, while order remains, each of those
        derivatives (as tapegrad computes it) in turn. `path` is the modes below this level."""
        n = len(self.xs)
        outputs = self.evaluate(fn, self.xs)
        # one output needs no random mix (and none has nothing to mix)
        u = self.unit(len(outputs)) if len(outputs) > 1 else [1.0] * len(outputs)
        v = self.unit(n)
        for mode in self.modes:
            ad = _directional(fn, self.xs, u, v, mode)
            numerical = self.central(fn, u, v)
            if not self.close(ad, numerical):
                self.fail(fn, u, v, mode, path, ad, numerical)
        if order > 1:
            for mode in self.modes:
                derivative = _derivative_function(fn, u, v, mode)
                self.run(derivative, order - 1, path + [mode])

    # -- numbers ------------------------------------------------------------------------------

    def unit(self, n: int) -> list[float]:
        while True:
            v = [self.rng.gauss(0.0, 1.0) for _ in range(n)]
            norm = _math.sqrt(sum(c * c for c in v))
            if norm > 1e-3:
                return [c / norm for c in v]

    def evaluate(self, fn, xs) -> list[float]:
        return [o.data if isinstance(o, Value) else float(o) for o in fn(*[Value(x) for x in xs])]

    def central(self, fn, u, v) -> float:
        """(u·fn(x + εv) − u·fn(x − εv)) / 2ε, in float64."""
        sides = []
        for sign in (1.0, -1.0):
            point = [x + sign * self.eps * d for x, d in zip(self.xs, v)]
            try:
                outputs = self.evaluate(fn, point)
            except (ArithmeticError, ValueError) as error:
                raise type(error)(
                    f"gradcheck({_name(self.f)}): evaluating at x {'+' if sign > 0 else '-'} "
                    f"eps·v, within eps={self.eps:g} of the point, failed: {error}. The point is "
                    "too close to the edge of f's domain; check at a point further inside it"
                ) from error
            sides.append(sum(ui * o for ui, o in zip(u, outputs)))
        return (sides[0] - sides[1]) / (2.0 * self.eps)

    def allowed(self, numerical: float) -> float:
        return self.atol + self.rtol * abs(numerical)

    def close(self, ad: float, numerical: float) -> bool:
        return abs(ad - numerical) <= self.allowed(numerical)

    # -- the report ---------------------------------------------------------------------------

    def fail(self, fn, u, v, mode, path, ad, numerical):
        order = len(path) + 1
        label = "-over-".join(reversed(path + [mode]))
        lines = [
            f"gradcheck({_name(self.f)}): the order-{order} derivative in mode {label} disagrees "
            f"with central differences at {_point(self.xs)}:"
        ]
        basis = [_one_hot(len(self.xs), j) for j in range(len(self.xs))]
        culprits = []
        for j, name in enumerate(self.names):
            ad_j = _directional(fn, self.xs, u, basis[j], mode)
            num_j = self.central(fn, u, basis[j])
            if not self.close(ad_j, num_j):
                culprits.append(j)
                lines.append(f"  input {name}: {self._compare(ad_j, num_j)}")
        if not culprits:
            lines.append(
                f"  along a random direction of all inputs: {self._compare(ad, numerical)}"
            )
        if order > 1:
            lines.append(
                f"  (order {order}: the derivative with respect to that input of the order-"
                f"{order - 1} derivative along a random direction, as tapegrad computes it)"
            )
        directions = [basis[j] for j in culprits] or [v]
        kinks = sorted({k for d in directions for k in _kinks(self.base, self.xs, d, self.eps)})
        if kinks:
            lines.append(
                "  note: the finite difference straddles a kink: "
                + "; ".join(kinks)
                + ". There tapegrad's derivative follows the convention relu'(0) = 0, |x|'(0) = 0, "
                "while a finite difference across the kink measures an average slope; check at a "
                "point away from the kink"
            )
        lines.append(
            "  tolerance: |tapegrad - numerical| <= atol + rtol*|numerical| with "
            f"atol={self.atol:g}, rtol={self.rtol:g}, eps={self.eps:g}"
        )
        raise GradcheckError("\n".join(lines))

    def _compare(self, ad, numerical) -> str:
        return (
            f"tapegrad gives {ad:.10g}, central differences give {numerical:.10g} "
            f"(off by {abs(ad - numerical):.3g}; allowed {self.allowed(numerical):.3g})"
        )


def _point(xs) -> str:
    shown = ", ".join(f"{x:.6g}" for x in xs[:8])
    return f"x = ({shown}{', ...' if len(xs) > 8 else ''})"


def _dot(us, vs):
    """Σ u_i v_i, recording nodes if any term is a Value."""
    total = 0.0
    for u, v in zip(us, vs):
        total = total + u * v
    return total


def _directional(fn, xs, u, v, mode):
    """u · J_fn(xs) · v, in one sweep of the given mode."""
    if mode == "fwd":
        _, tangents = jvp(fn, tuple(xs), tuple(v))
        return _dot(u, tangents)
    _, vjp_fn = vjp(fn, *xs)
    return _dot(vjp_fn(list(u)), v)


def _derivative_function(fn, u, v, mode):
    """x ↦ [u · J_fn(x) · v], as tapegrad computes it in `mode`: the next order's function."""

    def derivative(*xs):
        return [_directional(fn, xs, u, v, mode)]

    derivative.__name__ = f"{mode}-derivative"
    return derivative


def _kinks(base, xs, direction, eps) -> list[str]:
    """The relu and abs nodes of base's graph at xs whose argument crosses or touches 0 within
    ±eps along `direction` (to first order), described for the report."""
    leaves = [Value(x) for x in xs]
    outputs = [o for o in base(*leaves) if isinstance(o, Value)]
    if not outputs:
        return []
    graph = Graph(*outputs)
    tangents = graph.jvp({leaf: d for leaf, d in zip(leaves, direction) if d})
    found = []
    for i, node in enumerate(graph.nodes):
        if node.op in _KINKS:
            arg = node.args[0]
            moved = tangents[graph.index[arg]] or 0.0
            if arg.data == 0 or abs(arg.data) <= eps * abs(moved):
                found.append(
                    f"{_KINKS[node.op]}'s argument (node #{i} of the graph) is {arg.data:.3g} "
                    f"at the point and moves by ±{eps * abs(moved):.3g} over the difference"
                )
    return found


__all__ = ["gradcheck", "GradcheckError", "EPS", "RTOL", "ATOL"]
