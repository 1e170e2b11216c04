"""``tapegrad explain``: the chain rule made visible, for one expression typed by a person.

    out, inputs = build("(2*x + 3)**2", {"x": 2.0})
    print(explain("(2*x + 3)**2", {"x": 2.0}))

The expression is parsed with Python's ``ast`` and checked against an allowlist before anything
is evaluated: numbers, the names given values, ``+ - * / **``, unary ``-`` and ``+``, and calls to
the engine's functions (``exp log tanh sigmoid relu abs sin cos sqrt``). Nothing else -- no
attribute, no other call, no lambda -- ever runs, and every problem is an ``ExplainError`` whose
message quotes the part of the expression at fault.

Evaluating the checked tree with Values records the graph, exactly as the same Python code would:
``2*x`` is a product of x and the constant 2, ``u**2`` a power with constant exponent 2.
Interior nodes are then named from the output inwards -- f, then u, v, w, ... -- so that the seed's
example reads f = u², u = v + 3, v = 2x.
"""

from __future__ import annotations

import ast
import math
import numbers
import operator

from .graph import Graph
from .ops import FLOATS, RULES, WITH_CONSTANT
from .record import partials_at, sync
from .value import Value

MAX_LENGTH = 1000  # characters of expression
MAX_DEPTH = 100  # levels of operations in the parsed tree (a + b + c is two levels)
# Value's one-argument functions: the function ops of the rule table, and sqrt.
FUNCTIONS = tuple(rule.method for rule in RULES.values() if rule.method) + ("sqrt",)
_ALLOWED = "numbers, the names given with --at, + - * / **, and " + " ".join(FUNCTIONS)
_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_UNARY = {ast.USub: "-", ast.UAdd: "+"}
# Names the interior nodes get, from the output inwards (x, y, z are left for inputs).
_NODE_NAMES = "uvwabcdeghkmnpqrst"
_OUTPUT_NAMES = ("f", "g", "h", "out", "result")
# What to call the constructs people try, in the error message.
_FORBIDDEN = {
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.Lambda: "a lambda",
    ast.ListComp: "a list comprehension",
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.Compare: "a comparison",
    ast.BoolOp: "and/or",
    ast.IfExp: "an if-expression",
    ast.NamedExpr: "an assignment (:=)",
    ast.JoinedStr: "an f-string",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.Starred: "unpacking (*)",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "a slice",
}


class ExplainError(ValueError):
    """A problem with the expression or its bindings, in words that point at the user's input."""


def local_partials(node: Value) -> tuple:
    """(∂node/∂arg for each argument) at the node's data: the rule table's local derivatives, as
    every sweep computes them (() for a leaf)."""
    if node._rec is None:
        return ()
    sync(node._rec)
    return partials_at(node._rec, node._i, node._rec.data)


# ---------------------------------------------------------------------------------------------
# Parsing and checking
# ---------------------------------------------------------------------------------------------


def _quote(expr: str, node: ast.AST) -> str:
    segment = ast.get_source_segment(expr, node) or type(node).__name__
    segment = " ".join(segment.split())
    if len(segment) > 40:
        segment = segment[:37] + "..."
    return f"`{segment}` (column {node.col_offset + 1})"


def _children(node: ast.AST) -> list[ast.AST]:
    """The sub-expressions an allowed node evaluates, in order."""
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, ast.Call):
        return list(node.args)
    return []


def _check_node(expr: str, node: ast.AST, bindings) -> None:
    """Raise ExplainError unless `node` is on the allowlist."""
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            op = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@"}.get(type(node.op), "this")
            raise ExplainError(f"the operator {op} in {_quote(expr, node)} is not supported; "
                               f"EXPR may use {_ALLOWED}")
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise ExplainError(f"{_quote(expr, node)}: only unary - and + are supported, "
                               f"not `not` or `~`")
    elif isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            raise ExplainError(f"calling {_quote(expr, node.func)} is not allowed; the "
                               f"functions are {', '.join(FUNCTIONS)}")
        if len(node.args) != 1 or node.keywords or isinstance(node.args[0], ast.Starred):
            raise ExplainError(f"{name}() takes exactly one argument: {_quote(expr, node)}")
    elif isinstance(node, ast.Name):
        if node.id not in bindings:
            if node.id in FUNCTIONS:
                raise ExplainError(f"{_quote(expr, node)} is a function: call it, e.g. "
                                   f"{node.id}(x)")
            raise ExplainError(f"the name '{node.id}' at column {node.col_offset + 1} has no "
                               f"value; give it one with --at {node.id}=...")
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ExplainError(f"{_quote(expr, node)}: only numbers are allowed as constants, "
                               f"not {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ExplainError(f"the number {_quote(expr, node)} overflows a float")
    else:
        what = _FORBIDDEN.get(type(node), type(node).__name__)
        raise ExplainError(f"{what} is not allowed: {_quote(expr, node)}; EXPR may use "
                           f"{_ALLOWED}")


def parse(expr: str, bindings=()) -> ast.expr:
    """The checked syntax tree of `expr`; ExplainError for anything off the allowlist."""
    if not isinstance(expr, str):
        raise ExplainError(f"the expression must be text, got {type(expr).__name__}")
    text = expr.strip()
    if not text:
        raise ExplainError("the expression is empty; try for example: \"(2*x + 3)**2\" --at x=2")
    if len(text) > MAX_LENGTH:
        raise ExplainError(f"the expression is {len(text)} characters long; the limit is "
                           f"{MAX_LENGTH}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        if error.offset and error.offset <= len(text):
            where = f" at column {error.offset}"
        else:
            where = " at the end (is something missing?)"
        raise ExplainError(f"syntax error{where}: {error.msg}") from None
    except (ValueError, RecursionError, MemoryError):
        # NOTE: the C parser gives up on some pathological inputs with these instead.
        raise ExplainError("the expression is too deeply nested to parse") from None
    # Check every node, with an explicit stack (never recursion) that also tracks the depth.
    stack = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExplainError(f"the expression has more than {MAX_DEPTH} levels of operations "
                               f"(each + in a + b + c ... adds a level); the limit is {MAX_DEPTH}")
        _check_node(text, node, bindings)
        stack.extend((child, depth + 1) for child in _children(node))
    return tree.body


# ---------------------------------------------------------------------------------------------
# Building the graph
# ---------------------------------------------------------------------------------------------


def _constant(value):
    """A literal as Python would use it; ints stay ints (so x**2 prints as **2) while small."""
    if isinstance(value, int) and abs(value) <= 2**53:
        return value
    try:
        return float(value)
    except OverflowError:
        raise ExplainError(f"the number {str(value)[:20]}... is too large for a float") from None


# The binary operators the parser allows, as Python applies them to Values and numbers.
_ARITHMETIC = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
}


def _numbers_only(op: str, a: float, b: float) -> float:
    """An operation on two constants, in floats: never a complex number, never a huge int."""
    a, b = float(a), float(b)
    if op == "/" and b == 0:
        raise ZeroDivisionError(f"division by zero: {a:g} / {b:g}")
    if op == "**":
        return FLOATS.pow(a, b)
    return _ARITHMETIC[op](a, b)


def _apply(node: ast.AST, args: list, inputs: dict):
    if isinstance(node, ast.Constant):
        return _constant(node.value)
    if isinstance(node, ast.Name):
        return inputs[node.id]
    if isinstance(node, ast.UnaryOp):
        (a,) = args
        return -a if isinstance(node.op, ast.USub) else a
    if isinstance(node, ast.Call):
        (a,) = args
        return getattr(a if isinstance(a, Value) else Value(a), node.func.id)()
    a, b = args
    op = _BINARY[type(node.op)]
    if not isinstance(a, Value) and not isinstance(b, Value):
        return _numbers_only(op, a, b)
    return _ARITHMETIC[op](a, b)


def _evaluate(expr: str, tree: ast.expr, inputs: dict):
    """Evaluate the checked tree bottom-up with an explicit stack, recording Values."""
    results: dict[int, object] = {}
    stack = [(tree, False)]
    while stack:
        node, ready = stack.pop()
        children = _children(node)
        if not ready:
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(children))
            continue
        try:
            value = _apply(node, [results.pop(id(c)) for c in children], inputs)
        except (ArithmeticError, ValueError) as error:
            raise ExplainError(f"while evaluating {_quote(expr, node)}: {error}") from None
        data = value.data if isinstance(value, Value) else value
        if not math.isfinite(data):
            raise ExplainError(f"overflow while evaluating {_quote(expr, node)}: the result is "
                               f"{data} (beyond the largest float, about 1.8e308)")
        results[id(node)] = value
    return results[id(tree)]


def _make_inputs(bindings) -> dict[str, Value]:
    inputs = {}
    for name, value in dict(bindings).items():
        if not (isinstance(name, str) and name.isidentifier()):
            raise ExplainError(f"--at {name}=...: '{name}' is not a name (use letters, digits "
                               "and _, not starting with a digit)")
        if name in FUNCTIONS:
            raise ExplainError(f"--at {name}=...: '{name}' is one of the functions; pick "
                               "another name")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ExplainError(f"--at {name}={value!r}: the value must be a number")
        if not math.isfinite(value):
            raise ExplainError(f"--at {name}={value!r}: the value must be a finite number")
        inputs[name] = Value(float(value), label=name)
    return inputs


def _name_nodes(out: Value, inputs: dict[str, Value]) -> None:
    """Label the output f and the interior nodes u, v, w, ... from the output inwards."""
    taken = set(inputs) | set(FUNCTIONS)
    names = [n for n in _NODE_NAMES if n not in taken]
    output_name = next(n for n in _OUTPUT_NAMES if n not in taken)
    taken.add(output_name)
    if output_name in names:
        names.remove(output_name)
    interior = [node for node in reversed(Graph(out).nodes) if node.args and node is not out]
    for i, node in enumerate(interior):
        base = names[i % len(names)]
        node.label = base if i < len(names) else f"{base}{i // len(names)}"
    if out.args or out.label == "":
        out.label = output_name


def build(expr: str, bindings: dict[str, float]) -> tuple[Value, dict[str, Value]]:
    """Parse `expr` safely and record its graph at the given input values.

    Returns the output Value and the input leaves by name (each labelled with its name).
    Interior nodes are labelled too (f, u, v, ...). Raises ExplainError (a ValueError) for
    anything off the allowlist, unbound names, and errors or overflow while evaluating.
    """
    inputs = _make_inputs(bindings)
    tree = parse(expr, inputs)
    out = _evaluate(expr.strip(), tree, inputs)
    if not isinstance(out, Value):
        out = Value(out)  # a constant expression: a graph of one leaf
    _name_nodes(out, inputs)
    return out, inputs


# ---------------------------------------------------------------------------------------------
# The explanation
# ---------------------------------------------------------------------------------------------


def _num(x: float) -> str:
    return f"{x:.6g}"


def _factor(x: float) -> str:
    """A number inside a product: negative ones in parentheses, so `1 × (-1)` reads clearly."""
    return f"({_num(x)})" if x < 0 else _num(x)


def _name(node: Value) -> str:
    return node.label or _num(node.data)


def _formula(node: Value) -> str:
    """The node's operation written with its arguments' names: `v + 3`, `u ** 2`, `exp(v)`."""
    args = [_name(a) for a in node.args]
    symbol = RULES[node.op].symbol
    if node.op in WITH_CONSTANT:
        args.append(_num(node.k))
    if not symbol[:1].isalpha():  # an operator symbol (+ * **) is written between its operands
        return f" {symbol} ".join(args)
    return f"{node.op.value}({', '.join(args)})"  # a function, by the name `explain` parses


def explain(expr: str, bindings: dict[str, float]) -> str:
    """The whole explanation as text: the graph, the forward values, the reverse sweep as the
    chain rule, a forward-mode sweep per input, and the results."""
    return describe(expr, *build(expr, bindings))


def describe(expr: str, out: Value, inputs: dict[str, Value]) -> str:
    """`explain` for a graph already built from `expr` by `build`. It back-propagates that
    graph, so afterwards every node's ``grad`` is d(out)/d(node), ready to be drawn."""
    graph = Graph(out)
    graph.backward()
    nodes, arg_indices = graph.nodes, graph.arg_indices
    out_is_input = any(out is v for v in inputs.values())  # the expression is a bare name
    f = next(n for n in _OUTPUT_NAMES if n not in inputs) if out_is_input else _name(out)
    at = ", ".join(f"{name} = {_num(v.data)}" for name, v in inputs.items())
    lines = [f"{f} = {' '.join(expr.split())}" + (f"   at {at}" if at else ""), ""]

    lines += ["The graph: one node per line, its arguments by index (grads after the sweep).",
              str(graph), ""]

    lines.append("Forward pass: each node from its arguments, in array order.")
    for node in nodes:
        if node.args:
            lines.append(f"  {_name(node)} = {_formula(node)} = {_num(node.data)}")
        elif node.label:
            lines.append(f"  {node.label} = {_num(node.data)}")
    lines.append("")

    lines.append(f"Reverse mode: one sweep from {f} back to the inputs; each step is the chain "
                 "rule,")
    lines.append(f"d{f}/d(node) = upstream × local, summed over the node's uses.")
    partials = [local_partials(node) if node.args else () for node in nodes]
    uses: list[list[tuple[int, int]]] = [[] for _ in nodes]
    for j, indices in enumerate(arg_indices):
        for p, i in enumerate(indices):
            uses[i].append((j, p))
    for i in range(len(nodes) - 1, -1, -1):
        node = nodes[i]
        if not node.label:
            continue  # a constant: nobody asks for its gradient
        name = _name(node)
        if node is out:
            lines.append(f"  d{f}/d{name} = 1   ({f} is {name} itself)" if out_is_input
                         else f"  d{f}/d{f} = 1")
            continue
        symbols = [f"d{f}/d{_name(nodes[j])} × ∂{_name(nodes[j])}/∂{name}" for j, _ in uses[i]]
        products = [f"{_factor(nodes[j].grad)} × {_factor(partials[j][p])}" for j, p in uses[i]]
        lines.append(f"  d{f}/d{name} = {' + '.join(symbols)} = {' + '.join(products)} = "
                     f"{_num(node.grad)}")
    lines.append("")

    position = graph.index
    for name, leaf in inputs.items():
        lines.append(f"Forward mode for {name}: one sweep in array order, seeding "
                     f"d{name}/d{name} = 1.")
        if leaf not in position:
            lines += [f"  {f} does not depend on {name}: d{f}/d{name} = 0", ""]
            continue
        tangents = graph.jvp({leaf: 1.0})
        for i, node in enumerate(nodes):
            if tangents[i] is None or not node.label:
                continue
            if node is leaf:
                lines.append(f"  d{name}/d{name} = 1")
                if node is out:
                    lines.append(f"  d{f}/d{name} = d{name}/d{name} = 1")
                continue
            moving = [(p, j) for p, j in enumerate(arg_indices[i]) if tangents[j] is not None]
            here = _name(node)
            symbols = [f"∂{here}/∂{_name(nodes[j])} × d{_name(nodes[j])}/d{name}"
                       for _, j in moving]
            products = [f"{_factor(partials[i][p])} × {_factor(tangents[j])}" for p, j in moving]
            lines.append(f"  d{here}/d{name} = {' + '.join(symbols)} = {' + '.join(products)} "
                         f"= {_num(tangents[i])}")
        lines.append("")

    lines.append(f"{f} = {_num(out.data)}")
    for name, leaf in inputs.items():
        lines.append(f"d{f}/d{name} = {_num(leaf.grad)}")
    return "\n".join(lines)


__all__ = ["build", "explain", "describe", "parse", "ExplainError", "FUNCTIONS", "MAX_LENGTH", "MAX_DEPTH"]
