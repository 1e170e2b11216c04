"""Function transforms: derivatives of Python functions of Values, composable to any order.

    grad(f)(x)                      ∂f/∂x                         one reverse sweep
    value_and_grad(f)(x)            (f(x), ∂f/∂x)
    vjp(f, *primals)                (f(primals), ct ↦ ctᵀ·J)      reverse mode, reusable
    jvp(f, primals, tangents)       (f(primals), J·tangents)      one forward sweep
    hvp(f, primals, tangents)       (∇f, H·tangents)              forward over reverse
    jacobian(f)(x)                  J, row per output             n forward or m reverse sweeps
    hessian(f)(x)                   H, nested lists               reverse over reverse

Every transform works the same way: call ``f`` once on fresh input nodes, which records its
graph; then sweep that graph -- backwards with record.backprop, the very loop ``backward()`` runs,
or forwards with graph.sweep_forward -- with the local derivatives from the rule table in ops.py.

**Floats in, floats out; Values in, Values out.** When every argument is a number, the sweeps run
on plain floats (the fast path). When an argument is a Value -- the input of an enclosing
transform, or any Value you want to differentiate through -- or when ``f`` uses an input of an
enclosing transform (a closure), the sweeps run in the Value arithmetic: each derivative is
recorded as new nodes, so the result can be differentiated again. That is all higher order takes:
``grad(grad(f))`` is grad of a function whose result is a recorded graph.

**No perturbation confusion.** A transform never seeds a Value it was given: it seeds a fresh node
made for its own inputs (for a Value, ``primal + 0``, which depends on the primal with derivative
1). Sweeps are keyed by node, so an inner transform's seeds can never leak into an enclosing
transform's, and d/dx [x · d/dy (x + y)] is 1, as it should be, in every combination of modes.

Arguments are numbers, Values, or (nested) lists and tuples of them; derivatives have the same
shape as the arguments they belong to. ``argnums`` picks which positional arguments to
differentiate: an int gives that argument's derivative, a tuple gives a tuple of them. Keyword
arguments are passed through to ``f`` and never differentiated.

**Kinks.** relu and abs are not differentiable at 0. tapegrad uses the convention of micrograd and
PyTorch: relu'(0) = 0 and |x|'(0) = 0 (and every higher derivative of either is 0). gradcheck says
when a finite difference straddles such a kink.
"""

import _collections_abc as _abc
import numbers as _numbers

from .graph import sweep_forward
from .ops import FLOATS, RULES, Op
from .record import CURRENT, ZERO, backprop, found_at, fresh, imports, reach
from .value import NodesOf, Value, _data, _record

# ---------------------------------------------------------------------------------------------
# The arithmetic of Values: the rule table's formulas run on this to record derivatives as new
# nodes, which is what makes higher-order derivatives work (see ops.py).
# ---------------------------------------------------------------------------------------------


def _lift(name: str, float_fn):
    """A function of `m` that records a node for a Value and computes a float for a number."""

    def apply(x: "Value | float") -> "Value | float":
        return getattr(x, name)() if isinstance(x, Value) else float_fn(x)

    apply.__name__ = apply.__qualname__ = name
    apply.__doc__ = f"{name}(x): x.{name}() for a Value (a recorded node), the float for a number."
    return staticmethod(apply)


class ValueMath:
    """The functions the rules use, recording nodes. Piecewise-constant pieces (relu's step,
    abs's sign) are constants: their derivative is 0 wherever it exists."""

    @staticmethod
    def step(x: "Value | float") -> float:
        """relu's slope, 1.0 for x > 0 else 0.0: a constant, even for a Value."""
        return FLOATS.step(_data(x))

    @staticmethod
    def sign(x: "Value | float") -> float:
        """abs's slope, the sign of x (0.0 at 0): a constant, even for a Value."""
        return FLOATS.sign(_data(x))

    @staticmethod
    def pow(x: "Value | float", k: "Value | float") -> "Value | float":
        """x ** k: a recorded node when either is a Value, else the float."""
        if isinstance(x, Value):
            return x**k
        return Value(x) ** k if isinstance(k, Value) else FLOATS.pow(x, k)

    @staticmethod
    def pow_slope(x: "Value | float", k: "Value | float") -> "Value | float":
        """k · x ** (k - 1), recorded even at a pole (where it is ±inf, as in PyTorch), so that
        every higher derivative keeps its infinite limit."""
        if not isinstance(x, Value) and not isinstance(k, Value):
            return FLOATS.pow_slope(x, k)
        if not isinstance(k, Value):
            return 0.0 if k == 0 else _record(Op.SLOPE, (x,), k)
        e = k - 1
        return k * _record(Op.POWV, (x, e), None, FLOATS.slope_power(_data(x), e.data))

    @staticmethod
    def log_base(x: "Value | float") -> "Value | float":
        """The log(x) of d(x ** y)/dy: a recorded log for a Value > 0, else as FLOATS has it."""
        return x.log() if isinstance(x, Value) and x.data > 0 else FLOATS.log_base(_data(x))


for _rule in RULES.values():  # each function op records its node: VALUES.tanh(x) is x.tanh()
    if _rule.method:
        setattr(ValueMath, _rule.method, _lift(_rule.method, _rule.floats))

VALUES = ValueMath()


# The input nodes of the transforms currently calling their function. A transform whose function
# reaches one of them is running inside an enclosing transform's function, so its result must be a
# recorded graph (Values), not floats, or the enclosing transform would see a constant.
_enclosing_inputs: set = set()

# NOTE: a transform's sweep starts at its own nodes, but finding a record's imports copies its
# lists of them whole (record.imports), and a sweep's gradients are a list as long as the record
# up to its top: grad(f)(x) called in a loop, every call on one record, would pay for all the
# earlier calls' nodes (110 µs a call after 8,000 calls, against 38 at first). So an outermost
# transform whose function reached no Value of the caller's (its arithmetic is FLOATS) ends the
# record once it holds more than this many entries, and the next call starts on a fresh one --
# unless the record imports an older record's node (is tainted): then a Value is carried from
# record to record (an unrolled optimizer, w = w - lr * grad(loss)(w); an eager running total,
# acc = acc + grad(f)(x)), and records that short would each import it and hold a list of every
# older record it needs: memory quadratic in the calls. Such a record fills up as any does.
FRESH_AFTER = 1024

MODES = ("fwd", "rev")


# ---------------------------------------------------------------------------------------------
# Arguments and results as trees: numbers and Values at the leaves, lists and tuples above them.
# (The trees are the user's argument lists, a few levels deep at most, so recursion is fine here;
# graphs are never walked recursively.)
# ---------------------------------------------------------------------------------------------

_LEAF = None


def _is_scalar(x) -> bool:
    """A number or a Value: a leaf of an argument or result tree. Not a bool: True and False are
    ints to Python, but a bool where a number belongs is a mistake (a comparison, say)."""
    return isinstance(x, (Value, _numbers.Real)) and not isinstance(x, bool)


def _flatten(tree, path: str, what: str, if_none: str = ""):
    """(the leaves of `tree` in order, its shape, each leaf's path); `what` names it in errors,
    which add `if_none` when the whole tree is None."""
    leaves, paths = [], []

    def visit(node, node_path):
        if _is_scalar(node):
            leaves.append(node)
            paths.append(node_path)
            return _LEAF
        if isinstance(node, (list, tuple)):
            return (type(node), [visit(child, f"{node_path}[{i}]") for i, child in enumerate(node)])
        if node is None:
            hint = if_none if node_path == path else ""
            raise TypeError(f"{what} `{node_path}` is None{hint}")
        if isinstance(node, bool):
            raise TypeError(f"{what} `{node_path}` is {node!r}, a bool (what a comparison gives); "
                            "expected a number or a Value, e.g. 1.0")
        raise TypeError(
            f"{what} `{node_path}` is {node!r} ({type(node).__name__}); "
            "expected a number, a Value, or a list or tuple of them"
        )

    shape = visit(tree, path)
    return leaves, shape, paths


def _flatten_result(out, f, caller: str):
    """f's result `out` as (its leaves, its shape); errors name the part that is not a number."""
    hint = f" (did {_name(f)} forget to `return` its result?)"
    leaves, shape, _ = _flatten(out, "result", f"{caller}: {_name(f)}'s", if_none=hint)
    return leaves, shape


def _unflatten(shape, leaves):
    """The inverse of _flatten: `leaves` (an iterator) poured back into `shape`."""
    if shape is _LEAF:
        return next(leaves)
    kind, children = shape
    return kind(_unflatten(child, leaves) for child in children)


def _nest(outer_shape, inner_shape, rows):
    """A leaf of `outer_shape` for each row, each row poured into `inner_shape` (a Jacobian is
    the output's shape of the input's shape, as in JAX)."""
    return _unflatten(outer_shape, iter([_unflatten(inner_shape, iter(row)) for row in rows]))


# ---------------------------------------------------------------------------------------------
# Tracing: call f once on fresh input nodes, recording its graph.
# ---------------------------------------------------------------------------------------------


def _name(f) -> str:
    """How messages call f: its name, or `f` for a lambda."""
    name = getattr(f, "__name__", type(f).__name__)
    return "f" if name == "<lambda>" else name


# What follows f in the examples of the messages, for the transforms that take more than f.
_REST_OF_CALL = {"jvp": ", (1.0,), (1.0,)", "hvp": ", (1.0,), (1.0,)", "vjp": ", 1.0",
                 "gradcheck": ", 0.5"}


def _check_function(f, caller: str) -> None:
    """f must be a function: the one thing a transform transforms."""
    rest = _REST_OF_CALL.get(caller, "")
    if isinstance(f, Value):
        raise TypeError(f"{caller}: f is {f!r}, a Value (the result of calling a "
                        f"function); pass the function itself, e.g. {caller}(f{rest}) with "
                        "def f(x): return x ** 2")
    if not callable(f):
        raise TypeError(f"{caller}: f={f!r} ({type(f).__name__}) is not a function; "
                        f"pass the function to differentiate, e.g. "
                        f"{caller}(lambda x: x ** 2{rest})")


def _wrapper(transformed, f, name: str):
    """`transformed` named `name`, and pointing back at f (``__wrapped__``) so that tools that
    read signatures see f's parameters."""
    for attribute in ("__module__", "__doc__"):
        if hasattr(f, attribute):
            setattr(transformed, attribute, getattr(f, attribute))
    transformed.__wrapped__ = f
    transformed.__name__ = transformed.__qualname__ = name
    return transformed


def _argument_names(f, nargs: int) -> list[str]:
    """What the user calls each positional argument (`x`, `y`), or `argument i` when unknown."""
    names = [f"argument {i}" for i in range(nargs)]
    while hasattr(f, "__wrapped__"):
        f = f.__wrapped__
    code = getattr(f, "__code__", None)
    if code is not None:
        params = code.co_varnames[: code.co_argcount]
        if type(f).__name__ == "method":  # a bound method: self is given already
            params = params[1:]
        for i, name in enumerate(params[:nargs]):
            names[i] = name
    return names


def _check_argnums(argnums, caller: str) -> None:
    """argnums must be an int or a non-empty tuple of distinct ints (its range is checked when f is
    called, since only then is the number of arguments known)."""
    items = argnums if isinstance(argnums, tuple) else (argnums,)
    if not items or not all(isinstance(a, int) and not isinstance(a, bool) for a in items):
        raise TypeError(
            f"{caller}(f, argnums={argnums!r}): argnums must be an int (which argument to "
            "differentiate) or a non-empty tuple of ints, e.g. argnums=0 or argnums=(0, 1)"
        )
    if len(set(items)) != len(items):
        raise ValueError(f"{caller}(f, argnums={argnums!r}): argnums has a repeated entry")


def _resolve_argnums(argnums, nargs: int, f, caller: str) -> tuple[int, ...]:
    items = argnums if isinstance(argnums, tuple) else (argnums,)
    resolved = []
    for a in items:
        if not -nargs <= a < nargs:
            names = ", ".join(_argument_names(f, nargs))
            allowed = (
                f"0..{nargs - 1} (or -1..-{nargs} counting from the end)"
                if nargs
                else "nothing: pass the argument to differentiate"
            )
            raise IndexError(
                f"{caller}({_name(f)}, argnums={argnums!r}): argnum {a} is out of range; "
                f"{_name(f)} was called with {_count(nargs, 'positional argument')} ({names}), "
                f"so argnums can be {allowed}"
            )
        resolved.append(a % nargs)
    return tuple(resolved)


def _input_node(primal, label: str) -> Value:
    """A transform's own node for one input.

    For a number, a new leaf. For a Value, a new node equal to it that depends on it with
    derivative 1: the transform seeds this node, never the caller's Value (which an enclosing
    transform may be differentiating), so derivatives at different levels stay apart, while the
    result remains a function of the caller's Value.
    """
    node = primal + 0.0 if isinstance(primal, Value) else Value(primal)
    node.label = label
    return node


def records_of(values: _abc.Iterable, floor: "tuple | None" = None) -> list:
    """Every record the Values' nodes live on or depend on (through imports), newest first;
    given a floor, (record, entry), only what was recorded from there on."""
    todo, seen = [v._rec for v in values if v._rec is not None], set()
    while todo:
        rec = todo.pop()
        if rec is None or rec in seen or (floor is not None and rec.serial < floor[0].serial):
            continue
        seen.add(rec)
        first = floor[1] if floor is not None and rec is floor[0] else 0
        todo.extend(ref() for ref, _ in imports(rec, first)[3])
    return sorted(seen, key=lambda r: r.serial, reverse=True)


class _Trace:
    """f called once on fresh input nodes: what the sweeps need.

    ``inputs`` are the fresh input nodes (flattened over the differentiated arguments),
    ``outputs`` f's result flattened (Values and numbers), ``values`` those that are Values,
    ``m`` FLOATS or VALUES (when the derivatives must be recorded, see the module docstring),
    and ``floor`` (record, entry) where recording stood when f was called: nothing before it
    depends on the inputs, so no sweep needs to go below it."""

    def __init__(self, inputs, in_shape, outputs, out_shape, m, floor):
        self.inputs, self.in_shape, self.outputs, self.out_shape = inputs, in_shape, outputs, out_shape
        self.values = [o for o in outputs if isinstance(o, Value)]
        self.m, self.floor, self.stretches = m, floor, None

    def result(self, x):
        """A sweep's entry as this trace returns it: a float, or a Value when recording. (A float
        sweep gives Values only when given Value seeds; its result is then linear in them.)"""
        if isinstance(x, Value):
            return x
        return float(x) if self.m is FLOATS else Value(x)

    def reverse(self, cotangents: list) -> list:
        """One reverse sweep (record.backprop, writing nothing): the cotangent of every input."""
        seeds: dict = {}
        for out, ct in zip(self.outputs, cotangents):
            if isinstance(out, Value) and not _is_zero(ct):
                seeds[out] = ct if out not in seeds else seeds[out] + ct
        grads, totals = backprop(seeds.items(), self.m, False, NodesOf, self.floor)
        return [self.result(_found(x, grads, totals)) for x in self.inputs]

    def forward(self, tangents: list) -> list:
        """One forward sweep (graph.sweep_forward): the tangent of every output."""
        seeds = {x: t for x, t in zip(self.inputs, tangents) if not _is_zero(t)}
        if self.stretches is None:  # f's part of its records: what later sweeps record is not
            rec, first = self.floor
            self.stretches = [(r, None, first if r is rec else 0, len(r.data) - 1)
                              for r in reversed(records_of(self.values, self.floor))]
        found = sweep_forward(self.stretches, seeds, self.m)
        by_leaf = {id(x): t for x, t in seeds.items() if x._rec is None}
        return [
            self.result(_found(out, found, by_leaf)) if isinstance(out, Value) else self.result(0.0)
            for out in self.outputs
        ]

    def output_values(self) -> list:
        if self.m is FLOATS:
            return [float(out.data if isinstance(out, Value) else out) for out in self.outputs]
        return [self.result(out) for out in self.outputs]


def _is_zero(x) -> bool:
    return not isinstance(x, Value) and x == 0


def _found(node: Value, per_record: dict, per_leaf: dict):
    """A sweep's result for `node`: 0.0 where the sweep never reached it."""
    if node._rec is None:
        total = per_leaf.get(id(node))
    else:
        total = found_at(per_record.get(node._rec, ()), node._i)
    return 0.0 if total is None or total is ZERO else total


def _trace(f, args: tuple, argnums, caller: str, kwargs=None) -> _Trace:
    """Call f(*args, **kwargs) with the positional arguments in `argnums` replaced by fresh input
    nodes (keyword arguments are passed through, never differentiated)."""
    _check_function(f, caller)
    nargs = len(args)
    positions = _resolve_argnums(argnums, nargs, f, caller)
    names = _argument_names(f, nargs)
    call_args = list(args)
    inputs, shapes = [], []
    floor = (CURRENT.record, len(CURRENT.record.data))  # (see _Trace)
    for a in positions:
        leaves, shape, leaf_paths = _flatten(args[a], names[a], f"{caller}: argument")
        nodes = [_input_node(leaf, path) for leaf, path in zip(leaves, leaf_paths)]
        call_args[a] = _unflatten(shape, iter(nodes))
        inputs += nodes
        shapes.append(shape)
    in_shape = (tuple, shapes) if isinstance(argnums, tuple) else shapes[0]

    _enclosing_inputs.update(inputs)
    try:
        out = f(*call_args, **(kwargs or {}))
    finally:
        _enclosing_inputs.difference_update(inputs)

    outputs, out_shape = _flatten_result(out, f, caller)
    values = [o for o in outputs if isinstance(o, Value)]
    m = _arithmetic(args, kwargs, positions, values)
    rec = CURRENT.record
    if m is FLOATS and not _enclosing_inputs and rec.tainted is None and (
            len(rec.data) > FRESH_AFTER):
        fresh()  # (the next call's nodes go on a fresh record: see FRESH_AFTER)
    return _Trace(inputs, in_shape, outputs, out_shape, m, floor)


def _arithmetic(args: tuple, kwargs, positions: tuple, values: list):
    """VALUES (record the derivatives) when a differentiated argument is a Value, or when f's graph
    reaches a Value passed in another argument or an enclosing transform's input; else FLOATS."""
    anchors = set(_enclosing_inputs)
    for i, arg in enumerate([*args, *(kwargs or {}).values()]):
        if isinstance(arg, (Value, list, tuple)):
            try:
                leaves = _flatten(arg, "", "")[0]
            except TypeError:  # not an argument made of numbers: f's own business
                continue
            if i in positions and any(isinstance(x, Value) for x in leaves):
                return VALUES
            anchors.update(x for x in leaves if isinstance(x, Value))
    if values and anchors:
        found = reach(values)
        if any(_is_reached(found, a) for a in anchors):
            return VALUES
    return FLOATS


def _is_reached(found: dict, v: Value) -> bool:
    """Whether `v` is one of the nodes a `reach()` found (a leaf through a marked import)."""
    if v._rec is not None:
        marks = found.get(v._rec)
        return marks is not None and v._i < len(marks[0]) and bool(marks[0][v._i])
    for rec, (mask, _, _) in found.items():
        i = rec.held.get(id(v))
        if i is not None and rec.outside.get(i) is v and mask[i]:
            return True
    return False


def _scalar_output(trace: _Trace, f, caller: str) -> None:
    if trace.out_shape is not _LEAF:
        raise TypeError(
            f"{caller}({_name(f)}): {_name(f)} returned {_count(len(trace.outputs), 'value')} in a "
            f"{trace.out_shape[0].__name__}, but {caller} needs one scalar (a Value or a number). "
            f"Return the one number to differentiate (e.g. a loss, or sum(...) of the outputs), "
            f"or use jacobian({_name(f)}) for the derivative of every output"
        )


# ---------------------------------------------------------------------------------------------
# The transforms.
# ---------------------------------------------------------------------------------------------


def value_and_grad(f: _abc.Callable, argnums: "int | tuple[int, ...]" = 0) -> _abc.Callable:
    """A function computing ``(f(*args), ∂f/∂args[argnums])``, with one reverse sweep.

    ``f`` must return a scalar. The gradient has the shape of the argument(s) it belongs to.

    >>> value_and_grad(lambda x, y: x * y, argnums=(0, 1))(2.0, 3.0)
    (6.0, (3.0, 2.0))
    """
    value_and_grad_f = _value_and_grad(f, argnums, "value_and_grad")
    return _wrapper(value_and_grad_f, f, f"value_and_grad({_name(f)})")


def _value_and_grad(f, argnums, caller: str):
    """value_and_grad's function, its errors naming `caller` (grad or value_and_grad)."""
    _check_function(f, caller)
    _check_argnums(argnums, caller)

    def value_and_grad_f(*args, **kwargs):
        trace = _trace(f, args, argnums, caller, kwargs)
        _scalar_output(trace, f, caller)
        grads = trace.reverse([1.0])
        return trace.output_values()[0], _unflatten(trace.in_shape, iter(grads))

    return value_and_grad_f


def grad(f: _abc.Callable, argnums: "int | tuple[int, ...]" = 0) -> _abc.Callable:
    """A function computing ∂f/∂(argument ``argnums``) of a scalar function ``f``.

    One reverse sweep of f's recorded graph. Floats in give floats out; Values in give Values out,
    so grad composes with itself and every other transform:

    >>> f = lambda x: (2 * x + 3) ** 2
    >>> grad(f)(2.0), grad(grad(f))(2.0), grad(grad(grad(f)))(2.0)
    (28.0, 8.0, 0.0)

    At relu's kink (and abs's) the derivative is 0, as in micrograd and PyTorch.
    """
    value_and_grad_f = _value_and_grad(f, argnums, "grad")

    def grad_f(*args, **kwargs):
        return value_and_grad_f(*args, **kwargs)[1]

    return _wrapper(grad_f, f, f"grad({_name(f)})")


def vjp(f: _abc.Callable, *primals: object) -> tuple:
    """Reverse mode: ``(f(*primals), vjp_fn)``, where ``vjp_fn(cotangent)`` is ``cotangentᵀ · J``.

    ``f`` is recorded once; each call of ``vjp_fn`` is one reverse sweep of that record. The
    cotangent has the shape of f's result; ``vjp_fn`` returns a tuple with one cotangent per primal,
    each shaped like that primal.

    >>> out, vjp_fn = vjp(lambda x, y: [x * y, x + y], 2.0, 3.0)
    >>> out, vjp_fn([1.0, 0.0]), vjp_fn([0.0, 1.0])
    ([6.0, 5.0], (3.0, 2.0), (1.0, 1.0))
    """
    _check_function(f, "vjp")
    if not primals:
        raise TypeError(f"vjp({_name(f)}): give at least one primal, e.g. vjp(f, 2.0)")
    trace = _trace(f, primals, tuple(range(len(primals))), "vjp")

    def vjp_fn(cotangent):
        cts, shape, paths = _flatten(cotangent, "cotangent", "vjp_fn:")
        cts = _seeds(cts, paths, "vjp_fn")
        difference = _first_difference(trace.out_shape, shape, "result", "cotangent")
        if difference:
            raise ValueError(
                f"vjp_fn: the cotangent must have the shape of {_name(f)}'s result "
                f"({_count(len(trace.outputs), 'number')}): {difference}"
            )
        return _unflatten(trace.in_shape, iter(trace.reverse(cts)))

    return _unflatten(trace.out_shape, iter(trace.output_values())), vjp_fn


def jvp(f: _abc.Callable, primals: "tuple | list", tangents: "tuple | list") -> tuple:
    """Forward mode: ``(f(*primals), J · tangents)``, with one forward sweep.

    ``tangents`` has one entry per primal, shaped like it (the direction to differentiate along);
    the output tangent is shaped like f's result:

    >>> jvp(lambda x: (2.0 * x + 3.0) ** 2, (2.0,), (1.0,))
    (49.0, 28.0)
    """
    return _jvp(f, primals, tangents, "jvp")


def _jvp(f, primals, tangents, caller: str):
    """jvp, its errors naming `caller` (jvp or hvp)."""
    _check_function(f, caller)
    primals, tangents = _argument_tuples(f, primals, tangents, caller)
    if len(primals) != len(tangents):
        raise ValueError(
            f"{caller}: {len(primals)} primals but {len(tangents)} tangents; give one tangent per "
            "input"
        )
    if not primals:
        raise TypeError(
            f"{caller}({_name(f)}): give at least one primal, e.g. {caller}(f, (2.0,), (1.0,))"
        )
    trace = _trace(f, primals, tuple(range(len(primals))), caller)
    flat, shape, paths = _flatten(tangents, "tangents", f"{caller}:")
    flat = _seeds(flat, paths, caller)
    difference = _first_difference(trace.in_shape, shape, "primals", "tangents")
    if difference:
        raise ValueError(
            f"{caller}: each tangent must have the shape of its primal: {difference}"
        )
    out_tangents = trace.forward(flat)
    return (
        _unflatten(trace.out_shape, iter(trace.output_values())),
        _unflatten(trace.out_shape, iter(out_tangents)),
    )


def hvp(f: _abc.Callable, primals: "tuple | list", tangents: "tuple | list") -> tuple:
    """Hessian-vector product: ``(∇f, H · tangents)`` at ``primals``, forward over reverse.

    One reverse sweep records the gradient as a graph; one forward sweep of that graph pushes the
    tangents through it -- a small multiple of a gradient's cost (6 to 9 times, measured: the
    recording is what costs), without ever forming H. With one
    primal the gradient and the product are shaped like it; with several, they are tuples.

    >>> hvp(lambda x, y: x * x * y, (3.0, 2.0), (1.0, 0.0))
    ((12.0, 9.0), (4.0, 6.0))
    """
    _check_function(f, "hvp")
    primals, tangents = _argument_tuples(f, primals, tangents, "hvp")
    if not primals:
        raise TypeError(f"hvp({_name(f)}): give at least one primal, e.g. hvp(f, (2.0,), (1.0,))")
    argnums = 0 if len(primals) == 1 else tuple(range(len(primals)))
    return _jvp(grad(f, argnums), primals, tangents, "hvp")


def _seeds(leaves: list, paths: list, caller: str) -> list:
    """Tangents or cotangents for a sweep: Values as they are, numbers as floats (an int too
    large for a float would fail deep inside the sweep)."""
    seeds = []
    for x, path in zip(leaves, paths):
        if isinstance(x, Value) or type(x) is float:
            seeds.append(x)
            continue
        try:
            seeds.append(float(x))
        except OverflowError:
            raise OverflowError(f"{caller}: `{path}` is too large for a float (a number of "
                                f"{len(str(abs(int(x))))} digits); scale it down") from None
    return seeds


def _argument_tuples(f, primals, tangents, caller: str) -> tuple[tuple, tuple]:
    """jvp's and hvp's primals and tangents, each a tuple (or list) with an entry per argument of
    f; anything else is refused with the call written the right way."""
    if isinstance(primals, (tuple, list)) and isinstance(tangents, (tuple, list)):
        return tuple(primals), tuple(tangents)

    def as_tuple(xs) -> str:
        if isinstance(xs, (tuple, list)):
            return repr(tuple(xs))
        return f"({xs!r},)" if _is_scalar(xs) else "(...)"

    raise TypeError(
        f"{caller}({_name(f)}, {primals!r}, {tangents!r}): primals and tangents are tuples, one "
        f"entry per argument of {_name(f)}, e.g. {caller}({_name(f)}, {as_tuple(primals)}, "
        f"{as_tuple(tangents)})"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _first_difference(a, b, name_a: str, name_b: str, where: str = "") -> str:
    """Where two shapes first differ, said in the words of their trees' names ("primals[1] is a
    scalar, tangents[1] is a list of 2"), or "" if they match: a list and a tuple of the same
    length count as the same."""
    if a is _LEAF or b is _LEAF or len(a[1]) != len(b[1]):
        if a is _LEAF and b is _LEAF:
            return ""
        return f"{name_a}{where} is {_describe(a)}, {name_b}{where} is {_describe(b)}"
    for i, (x, y) in enumerate(zip(a[1], b[1])):
        found = _first_difference(x, y, name_a, name_b, f"{where}[{i}]")
        if found:
            return found
    return ""


def _describe(shape) -> str:
    if shape is _LEAF:
        return "a scalar"
    kind, children = shape
    return f"a {kind.__name__} of {len(children)}"


def _one_hot(n: int, j: int) -> list[float]:
    """The j-th unit vector of length n: the seed that picks out one input (or one output)."""
    return [1.0 if k == j else 0.0 for k in range(n)]


def _choose_mode(mode: str, n_inputs: int, n_outputs: int, caller: str) -> str:
    if mode == "auto":
        return "fwd" if n_inputs < n_outputs else "rev"
    if mode not in MODES:
        raise ValueError(
            f"{caller}(mode={mode!r}): mode is 'auto', 'fwd' (one forward sweep per input) "
            "or 'rev' (one reverse sweep per output)"
        )
    return mode


def jacobian(f: _abc.Callable, argnums: "int | tuple[int, ...]" = 0,
             mode: str = "auto") -> _abc.Callable:
    """A function computing the Jacobian of ``f``: ∂(each output)/∂(each input).

    ``f`` returns a Value or a list of them (m outputs); the inputs are the argument(s) picked by
    ``argnums`` (n numbers). f is recorded once, then swept:

    - ``mode="fwd"``: n forward sweeps, one per input (a column each);
    - ``mode="rev"``: m reverse sweeps, one per output (a row each);
    - ``mode="auto"`` (default): forward when n < m, else reverse -- whichever takes fewer sweeps.

    The mode a call used is left in the returned function's ``mode`` attribute. The result is
    f's result shape of the input's shape: ``J[i][j] = ∂out[i]/∂x[j]`` for a list in, a list out.

    >>> jac = jacobian(lambda xs: [xs[0] * xs[1], xs[0] + xs[1], xs[0]])
    >>> jac([2.0, 3.0]), jac.mode
    ([[3.0, 2.0], [1.0, 1.0], [1.0, 0.0]], 'fwd')
    """
    jacobian_f = _jacobian(f, argnums, mode, "jacobian")
    return _wrapper(jacobian_f, f, f"jacobian({_name(f)})")


def _jacobian(f, argnums, mode: str, caller: str):
    """jacobian's function, its errors naming `caller` (jacobian or hessian)."""
    _check_function(f, caller)
    _check_argnums(argnums, caller)
    _choose_mode(mode, 0, 0, caller)

    def jacobian_f(*args, **kwargs):
        trace = _trace(f, args, argnums, caller, kwargs)
        n, m = len(trace.inputs), len(trace.outputs)
        jacobian_f.mode = _choose_mode(mode, n, m, caller)
        if jacobian_f.mode == "fwd":
            columns = [trace.forward(_one_hot(n, j)) for j in range(n)]
            rows = [[columns[j][i] for j in range(n)] for i in range(m)]
        else:
            rows = [trace.reverse(_one_hot(m, i)) for i in range(m)]
        return _nest(trace.out_shape, trace.in_shape, rows)

    jacobian_f.mode = None
    return jacobian_f


HESSIAN_MODES = ("rev-over-rev", "fwd-over-rev", "fwd-over-fwd", "rev-over-fwd")


def hessian(f: _abc.Callable, argnums: "int | tuple[int, ...]" = 0,
            mode: str = "rev-over-rev") -> _abc.Callable:
    """A function computing the Hessian of a scalar ``f``: ∂²f/∂x_i∂x_j, as nested lists.

    The Jacobian of the gradient, which has as many outputs as inputs. ``mode`` says how to get it:
    ``"rev-over-rev"`` (default: one reverse sweep records the gradient as a graph, then n reverse
    sweeps of it, one per row), ``"fwd-over-rev"`` (n forward sweeps of the recorded gradient, one
    per column; JAX's choice), ``"fwd-over-fwd"`` or ``"rev-over-fwd"`` -- all give the same
    numbers. The default is the one measured fastest here: a reverse sweep skips the nodes it does
    not reach for almost nothing, and the recorded gradient's rows each reach only part of it.

    The result is the argument's shape of the argument's shape: a float for a scalar argument, an
    n×n list of lists for a list of n.

    >>> hessian(lambda xs: xs[0] ** 2 * xs[1])([3.0, 2.0])
    [[4.0, 6.0], [6.0, 0.0]]
    """
    _check_function(f, "hessian")
    if mode not in HESSIAN_MODES:
        raise ValueError(f"hessian(mode={mode!r}): mode is one of {', '.join(HESSIAN_MODES)}")
    outer, inner = mode.split("-over-")
    gradient = _wrapper(_jacobian(f, argnums, inner, "hessian"), f, f"jacobian({_name(f)})")
    jacobian_of_gradient = _jacobian(gradient, argnums, outer, "hessian")

    def hessian_f(*args, **kwargs):
        _resolve_argnums(argnums, len(args), f, "hessian")  # errors name f, not its gradient
        return jacobian_of_gradient(*args, **kwargs)

    return _wrapper(hessian_f, f, f"hessian({_name(f)})")


__all__ = ["grad", "value_and_grad", "vjp", "jvp", "hvp", "jacobian", "hessian"]
