"""``tapegrad explain``: the chain rule made visible, for one expression typed by a person.

    out, inputs = build("(2*x + 3)**2", {"x": 2.0})
    print(explain("(2*x + 3)**2", {"x": 2.0}))

The expression is parsed with Python's ``ast`` and checked against an allowlist before anything
is evaluated: numbers, the names given values, ``+ - * / **``, unary ``-`` and ``+``, and calls to
the engine's functions (``exp log tanh sigmoid relu abs sin cos sqrt``). Nothing else -- no
attribute, no other call, no lambda -- ever runs, and every problem is an ``ExplainError`` whose
message quotes the part of the expression at fault and says what to write instead, in the
expression's own syntax (``log(x + 1e-12)``, ``x**2`` for ``x^2``).

The text is read as one line: every run of whitespace (newlines, tabs, no-break spaces) counts as
one space, so the columns in messages count characters of that line. Whatever of the user's text
a message or the explanation repeats goes through `visible`, so a control character (an ANSI
escape, say) is shown as ``\\x1b`` and never reaches a terminal raw.

Evaluating the checked tree with Values records the graph, exactly as the same Python code would:
``2*x`` is a product of x and the constant 2, ``u**2`` a power with constant exponent 2.
Interior nodes are then named from the output inwards -- f, then u, v, w, ... -- so that the seed's
example reads f = u², u = v + 3, v = 2x. No name is ever given twice: names the inputs use are
skipped, and past the end of the list come u1, v1, ...
"""

import ast as _ast
import keyword as _keyword
import math as _math
import numbers as _numbers
import operator as _operator
import unicodedata as _unicodedata
from collections.abc import Iterator as _Iterator
from collections.abc import Mapping as _Mapping

from .graph import Graph
from .ops import FLOATS, RULES, WITH_CONSTANT
from .record import partials_at, sync
from .symbolic import local_rules, rule_line
from .value import Value

MAX_LENGTH = 1000  # characters of expression
MAX_DEPTH = 100  # levels of operations in the parsed tree (a + b + c is two levels)
# Value's one-argument functions: the function ops of the rule table, and sqrt.
FUNCTIONS = tuple(rule.method for rule in RULES.values() if rule.method) + ("sqrt",)
_ALLOWED = "numbers, the names given with --at, + - * / **, and " + " ".join(FUNCTIONS)
_BINARY = {_ast.Add: "+", _ast.Sub: "-", _ast.Mult: "*", _ast.Div: "/", _ast.Pow: "**"}
_UNARY = {_ast.USub: "-", _ast.UAdd: "+"}
# The operators Python has and explain does not: their symbol, and what they are instead.
_REFUSED_OPERATORS = {
    _ast.BitXor: ("^", "is Python's bitwise xor, not a power"),
    _ast.BitAnd: ("&", "is Python's bitwise and, which has no derivative"),
    _ast.BitOr: ("|", "is Python's bitwise or, which has no derivative"),
    _ast.LShift: ("<<", "shifts the bits of an integer, which has no derivative"),
    _ast.RShift: (">>", "shifts the bits of an integer, which has no derivative"),
    _ast.FloorDiv: ("//", "is floor division, whose derivative is 0 wherever it exists"),
    _ast.Mod: ("%", "is the remainder, which jumps instead of having a derivative"),
    _ast.MatMult: ("@", "multiplies matrices, and explain works on numbers"),
}
# Names interior nodes get, from the output inwards (x, y, z are left for inputs).
_NODE_NAMES = "uvwabcdeghkmnpqrst"
_OUTPUT_NAMES = ("f", "g", "h", "out", "result")
# Functions people reach for that explain spells another way.
_OTHER_SPELLINGS = {
    "ln": "log(x) is the natural logarithm",
    "log10": "write log(x) / log(10)",
    "log2": "write log(x) / log(2)",
    "pow": "write x ** y",
    "square": "write x ** 2",
    "tan": "write sin(x) / cos(x)",
    "max": "relu(x) is max(x, 0)",
    "softplus": "write log(1 + exp(x))",
}
# Modules whose functions people prefix: `math.exp(x)` is explain's exp(x).
_MODULE_NAMES = ("math", "cmath", "np", "numpy", "torch", "tapegrad", "tg")
# Characters pasted from typeset maths, and what the expression writes for them.
_LOOKALIKES = {"×": "*", "÷": "/", "−": "-", "–": "-", "—": "-", "²": "**2", "³": "**3",
               "√": "sqrt(...)", "∗": "*", "⋅": "*"}
# What to call the constructs people try, in the error message.
_FORBIDDEN = {
    _ast.Attribute: "attribute access",
    _ast.Subscript: "indexing",
    _ast.Lambda: "a lambda",
    _ast.ListComp: "a list comprehension",
    _ast.SetComp: "a set comprehension",
    _ast.DictComp: "a dict comprehension",
    _ast.GeneratorExp: "a generator expression",
    _ast.Compare: "a comparison",
    _ast.BoolOp: "and/or",
    _ast.IfExp: "an if-expression",
    _ast.NamedExpr: "an assignment (:=)",
    _ast.JoinedStr: "an f-string",
    _ast.List: "a list",
    _ast.Tuple: "a tuple",
    _ast.Dict: "a dict",
    _ast.Set: "a set",
    _ast.Starred: "unpacking (*)",
    _ast.Await: "await",
    _ast.Yield: "yield",
    _ast.YieldFrom: "yield",
    _ast.Slice: "a slice",
}


def visible(text: str) -> str:
    """`text` as it is safe to show on a terminal: every character that is not printable -- a
    control character such as ESC, which starts the terminal's escape sequences, a newline, a
    bidirectional override, a lone surrogate left by bytes that were not UTF-8 -- is written as
    Python writes it inside a string literal (``\\x1b``, ``\\n``, ``\\u202e``, ``\\udcff``).
    Printable text, × and ∂ included, is kept as it is."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class ExplainError(ValueError):
    """A problem with the expression or its bindings, in words that point at the user's input.

    The message is always one printable line: the user's text in it goes through `visible`."""

    def __init__(self, message: str) -> None:
        super().__init__(visible(message))


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


def _one_line(expr: str) -> str:
    """The expression as one line: each run of whitespace one space, none at the ends."""
    return " ".join(expr.split())


def _chars(text: str, byte_offset: int) -> int:
    """The character offset in `text` of a byte offset in its UTF-8 encoding (``ast`` counts
    bytes, people count characters: in ``é + y``, y is at byte 4 but character 3)."""
    return len(text.encode("utf-8")[:byte_offset].decode("utf-8", "ignore"))


def _span(text: str, node: _ast.AST) -> tuple[int, int]:
    """Where `node` starts and ends in `text`, in characters."""
    return _chars(text, node.col_offset), _chars(text, node.end_col_offset)


def _segment(text: str, node: _ast.AST) -> str:
    """The text of `node` as the user wrote it (without the brackets around it)."""
    start, end = _span(text, node)
    return text[start:end]


def _operand(text: str, node: _ast.AST) -> str:
    """`node`'s text, bracketed unless it is a name, a number or a call, so that it can be put
    next to an operator in a suggestion (``abs(x - 4) ** (1/3)``)."""
    segment = _segment(text, node)
    if isinstance(node, (_ast.Name, _ast.Call)):
        return segment
    if isinstance(node, _ast.Constant) and not segment.startswith("-"):
        return segment
    return f"({segment})"


def _excerpt(text: str, node: _ast.AST) -> str:
    """`node`'s text for a message, shortened to 40 characters."""
    segment = _segment(text, node) or type(node).__name__
    return segment if len(segment) <= 40 else segment[:37] + "..."


def _quote(text: str, node: _ast.AST) -> str:
    """`node` quoted for a message, with its column: `x ** 2` (column 5)."""
    return f"`{_excerpt(text, node)}` (column {_span(text, node)[0] + 1})"


def _check_characters(text: str) -> None:
    """Refuse characters that cannot be part of an expression and would not show as themselves:
    bytes that were not UTF-8 (Python keeps them as lone surrogates), and control or format
    characters (ESC, NUL, a zero-width space, a bidirectional override)."""
    for column, ch in enumerate(text, 1):
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise ExplainError(f"the expression has a byte that is not UTF-8 text at column "
                               f"{column} ({visible(ch)}); retype it, or set the terminal to "
                               "UTF-8")
        if not ch.isprintable():
            raise ExplainError(f"the expression has the invisible character {visible(ch)} at "
                               f"column {column}; retype the expression without it")


def _syntax_hint(text: str, error: SyntaxError) -> str:
    """What to write instead, for the syntax errors people make from habit: typeset symbols
    (× ² −), and a number written against a name (2x)."""
    for ch in text:
        if ch in _LOOKALIKES:
            return f"; write {_LOOKALIKES[ch]} for {ch}"
    if error.msg.startswith("invalid decimal literal"):
        return "; a number followed by a name needs * between them, e.g. 2*x"
    return ""


def _syntax_tree(text: str) -> _ast.Expression:
    """``ast.parse`` of the one-line `text`, its errors as ExplainError."""
    try:
        return _ast.parse(text, mode="eval")
    except SyntaxError as error:
        if error.offset and error.offset <= len(text):
            where = f" at column {error.offset}"
        else:
            where = " at the end (is something missing?)"
        message = f"syntax error{where}: {error.msg}{_syntax_hint(text, error)}"
        raise ExplainError(message) from None
    except (ValueError, RecursionError, MemoryError):
        # NOTE: the C parser gives up on some pathological inputs with these instead.
        raise ExplainError("the expression is too deeply nested to parse") from None


def _children(node: _ast.AST) -> list[_ast.AST]:
    """The sub-expressions an allowed node evaluates, in order."""
    if isinstance(node, _ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, _ast.UnaryOp):
        return [node.operand]
    if isinstance(node, _ast.Call):
        return list(node.args)
    return []


def _refused_operator(text: str, node: _ast.BinOp) -> str:
    """The message for an operator explain does not have, naming it where it stands."""
    symbol, what = _REFUSED_OPERATORS[type(node.op)]  # (every binary operator Python has)
    left_end = _span(text, node.left)[1]
    at = text.find(symbol, left_end)
    column = (at if at >= 0 else _span(text, node)[0]) + 1
    message = f"the operator {symbol} at column {column} (in `{_excerpt(text, node)}`) {what}"
    if symbol == "^":
        powers = text.replace("^", "**")
        example = f": {powers}" if len(powers) <= 60 else ", e.g. x**2"
        return f"{message}; write ** for powers{example}"
    if symbol in ("<<", ">>"):
        return f"{message}; to multiply or divide by a power of 2, write x * 2**k or x / 2**k"
    return f"{message}; EXPR may use {_ALLOWED}"


def _juxtaposed(text: str, call: _ast.Call) -> str:
    """``2(x + 1)`` with the * it needs: ``2*(x + 1)``."""
    start, end = _span(text, call)
    split = _span(text, call.func)[1]
    while split < end and text[split] == ")":  # past the brackets: (x+1)*(x-1)
        split += 1
    return f"{text[start:split]}*{text[split:end]}"


def _refused_call(text: str, node: _ast.Call, bindings: "_Mapping | tuple") -> str:
    """The message for a call to something that is not one of the functions, with what to
    write instead where there is a usual reason for trying it."""
    func = node.func
    name = func.id if isinstance(func, _ast.Name) else None
    if isinstance(func, _ast.Attribute) and func.attr in FUNCTIONS:
        owner = func.value
        if isinstance(owner, _ast.Name) and owner.id in _MODULE_NAMES:
            args = ", ".join(_segment(text, a) for a in node.args)
            return (f"{_quote(text, node)}: write {func.attr}({args}), without {owner.id}.: "
                    f"the functions are called by their names alone")
        return (f"{_quote(text, node)}: methods are not part of EXPR; write "
                f"{func.attr}({_segment(text, owner)}) for {_segment(text, node)}")
    arithmetic = (_ast.BinOp, _ast.UnaryOp, _ast.Call)
    number = isinstance(func, _ast.Constant) and isinstance(func.value, (int, float))
    if number or isinstance(func, arithmetic) or (name is not None and name in bindings):
        return (f"{_quote(text, node)} calls {_segment(text, func)} as a function; to multiply, "
                f"write * between them: {_juxtaposed(text, node)}")
    hint = f" ({_OTHER_SPELLINGS[name]})" if name in _OTHER_SPELLINGS else ""
    return (f"calling {_quote(text, func)} is not allowed{hint}; the functions are "
            f"{', '.join(FUNCTIONS)}")


def _unbound(text: str, node: _ast.Name) -> str:
    """The message for a name that has no value."""
    name, column = node.id, _span(text, node)[0] + 1
    if name in FUNCTIONS:
        return f"{_quote(text, node)} is a function: call it, e.g. {name}(x)"
    message = (f"the name '{name}' at column {column} has no value; give it one with "
               f"--at {name}=...")
    if name == "e":
        return f"{message}, or write exp(1) for Euler's number (exp(x) for e**x)"
    if name in ("pi", "π"):
        return f"{message}, e.g. --at {name}=3.141592653589793"
    return message


def _check_node(text: str, node: _ast.AST, bindings: "_Mapping | tuple") -> None:
    """Raise ExplainError unless `node` is on the allowlist."""
    if isinstance(node, _ast.BinOp):
        if type(node.op) not in _BINARY:
            raise ExplainError(_refused_operator(text, node))
    elif isinstance(node, _ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise ExplainError(f"{_quote(text, node)}: only unary - and + are supported, "
                               f"not `not` or `~`")
    elif isinstance(node, _ast.Call):
        name = node.func.id if isinstance(node.func, _ast.Name) else None
        if name not in FUNCTIONS:
            raise ExplainError(_refused_call(text, node, bindings))
        if len(node.args) != 1 or node.keywords or isinstance(node.args[0], _ast.Starred):
            raise ExplainError(f"{name}() takes exactly one argument: {_quote(text, node)}")
    elif isinstance(node, _ast.Name):
        if node.id not in bindings:
            raise ExplainError(_unbound(text, node))
    elif isinstance(node, _ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ExplainError(f"{_quote(text, node)}: only numbers are allowed as constants, "
                               f"not {type(value).__name__}")
        if isinstance(value, float) and not _math.isfinite(value):
            raise ExplainError(f"the number {_quote(text, node)} overflows a float")
    else:
        what = _FORBIDDEN.get(type(node), type(node).__name__)
        raise ExplainError(f"{what} is not allowed: {_quote(text, node)}; EXPR may use "
                           f"{_ALLOWED}")


def _check_tree(text: str, tree: _ast.Expression, bindings: "_Mapping | tuple") -> None:
    """Check every node, with an explicit stack (never recursion) that also tracks the depth."""
    stack = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExplainError(f"the expression has more than {MAX_DEPTH} levels of operations "
                               f"(each + in a + b + c ... adds a level); the limit is {MAX_DEPTH}")
        _check_node(text, node, bindings)
        stack.extend((child, depth + 1) for child in _children(node))


def parse(expr: str, bindings: "_Mapping[str, object] | tuple[str, ...]" = ()) -> _ast.expr:
    """The checked syntax tree of `expr`, read as one line (see the module's docstring), whose
    names must all be in `bindings`; ExplainError for anything off the allowlist."""
    if not isinstance(expr, str):
        raise ExplainError(f"the expression must be text, got {type(expr).__name__}")
    text = _one_line(expr)
    if not text:
        raise ExplainError("the expression is empty; try for example: \"(2*x + 3)**2\" --at x=2")
    if len(text) > MAX_LENGTH:
        raise ExplainError(f"the expression is {len(text)} characters long; the limit is "
                           f"{MAX_LENGTH}")
    _check_characters(text)
    tree = _syntax_tree(text)
    _check_tree(text, tree, bindings)
    if "#" in text:  # (no string survives the check, so a # left is a comment's)
        column = text.index("#") + 1
        raise ExplainError(f"a comment (#, at column {column}) is not part of an expression; "
                           "leave it out")
    return tree.body


# ---------------------------------------------------------------------------------------------
# Building the graph
# ---------------------------------------------------------------------------------------------


def _constant(value: int | float) -> int | float:
    """A literal as Python would use it; ints stay ints (so x**2 prints as **2) while small."""
    if isinstance(value, int) and abs(value) <= 2**53:
        return value
    try:
        return float(value)
    except OverflowError:
        raise ExplainError(f"the number {str(value)[:20]}... is too large for a float") from None


# The binary operators the parser allows, as Python applies them to Values and numbers.
_ARITHMETIC = {
    "+": _operator.add,
    "-": _operator.sub,
    "*": _operator.mul,
    "/": _operator.truediv,
    "**": _operator.pow,
}


def _numbers_only(op: str, a: float, b: float) -> float:
    """An operation on two constants, in floats: never a complex number, never a huge int."""
    a, b = float(a), float(b)
    if op == "/" and b == 0:
        raise ZeroDivisionError(f"division by zero: {a:g} / {b:g}")
    if op == "**":
        return FLOATS.pow(a, b)
    return _ARITHMETIC[op](a, b)


def _apply(node: _ast.AST, args: list, inputs: dict) -> "Value | float":
    """The value of one checked node, from its arguments' values: a Value once an input is
    involved (so it is recorded), a number while only constants are."""
    if isinstance(node, _ast.Constant):
        return _constant(node.value)
    if isinstance(node, _ast.Name):
        return inputs[node.id]
    if isinstance(node, _ast.UnaryOp):
        (a,) = args
        return -a if isinstance(node.op, _ast.USub) else a
    if isinstance(node, _ast.Call):
        (a,) = args
        return getattr(a if isinstance(a, Value) else Value(a), node.func.id)()
    a, b = args
    op = _BINARY[type(node.op)]
    if not isinstance(a, Value) and not isinstance(b, Value):
        return _numbers_only(op, a, b)
    return _ARITHMETIC[op](a, b)


def _number(value: "Value | float") -> float:
    """The number a Value holds, or the number itself."""
    return value.data if isinstance(value, Value) else float(value)


def _here(text: str, node: _ast.AST, value: "Value | float") -> str:
    """", and x - 2 is 0 here": what a sub-expression came to, unless it is a number as written."""
    if isinstance(node, _ast.Constant) or (isinstance(node, _ast.UnaryOp)
                                          and isinstance(node.operand, _ast.Constant)):
        return ""
    return f", and {_segment(text, node)} is {_num(_number(value))} here"


def _function_failure(text: str, node: _ast.Call, a: "Value | float",
                      error: Exception) -> str | None:
    """What went wrong in log, sqrt or exp of the value `a`, in the expression's words."""
    name, arg = node.func.id, node.args[0]
    where, written, here = _quote(text, node), _segment(text, arg), _here(text, arg, a)
    if name == "log" and isinstance(error, ValueError):
        epsilon = (f"; if it can reach 0, add a small epsilon: log({written} + 1e-12)"
                   if here and _number(a) == 0 else "")
        return f"{where}: log needs a number > 0{here}{epsilon}"
    if name == "sqrt" and isinstance(error, ValueError):
        magnitude = f"; write sqrt(abs({written})) if you meant the magnitude" if here else ""
        return f"{where}: sqrt needs a number >= 0{here}{magnitude}"
    if name == "exp" and isinstance(error, OverflowError):
        return (f"{where} overflows a float{_here(text, arg, a)} (exp(709.78) is the largest, "
                "about 1.8e308); scale the input down")
    return None


def _operator_failure(text: str, node: _ast.BinOp, a: "Value | float", b: "Value | float",
                      error: Exception) -> str | None:
    """What went wrong in a ** b or a / b, in the expression's words."""
    where = _quote(text, node)
    if isinstance(node.op, _ast.Div) and isinstance(error, ZeroDivisionError):
        guard = (f"; if it can reach 0, guard it or add a small epsilon: "
                 f"{_operand(text, node.left)} / ({_segment(text, node.right)} + 1e-12)"
                 if _here(text, node.right, b) else "")
        return f"{where}: division by zero{_here(text, node.right, b)}{guard}"
    if not isinstance(node.op, _ast.Pow):
        return None
    if isinstance(error, ZeroDivisionError):
        return f"{where}: 0 to a negative power divides by zero{_here(text, node.left, a)}"
    if isinstance(error, OverflowError):
        return f"{where}: the result overflows a float (beyond about 1.8e308)"
    if isinstance(error, ValueError):
        here = _here(text, node.left, a)
        magnitude = (f"; write abs({_segment(text, node.left)}) ** {_operand(text, node.right)} "
                     "if you meant the magnitude" if here else "")
        return (f"{where}: a negative number to a non-integer power is not a real number"
                f"{here}{magnitude}")
    return None


def _failure(text: str, node: _ast.AST, args: list, error: Exception) -> str:
    """The message for an error the engine raised evaluating `node` from `args`."""
    message = None
    if isinstance(node, _ast.Call):
        message = _function_failure(text, node, args[0], error)
    elif isinstance(node, _ast.BinOp):
        message = _operator_failure(text, node, *args, error)
    return message or f"while evaluating {_quote(text, node)}: {error}"


def _evaluate(text: str, tree: _ast.expr, inputs: dict) -> "Value | float":
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
        args = [results.pop(id(c)) for c in children]
        try:
            value = _apply(node, args, inputs)
        except (ArithmeticError, ValueError) as error:
            raise ExplainError(_failure(text, node, args, error)) from None
        if not _math.isfinite(_number(value)):
            raise ExplainError(f"overflow while evaluating {_quote(text, node)}: the result is "
                               f"{_number(value)} (beyond the largest float, about 1.8e308)")
        results[id(node)] = value
    return results[id(tree)]


def _input_name(given: object) -> str:
    """The name `--at given=...` binds, as Python reads it in the expression: NFKC-normalised,
    as Python normalises identifiers (so ``ﬁ`` is ``fi``, and a mathematical italic 𝑥 is x)."""
    if not isinstance(given, str):
        raise ExplainError(f"--at {given!r}=...: the name must be text, e.g. 'x'")
    name = _unicodedata.normalize("NFKC", given)
    if not name.isidentifier():
        raise ExplainError(f"--at {given}=...: '{given}' is not a name (use letters, digits "
                           "and _, not starting with a digit)")
    if _keyword.iskeyword(name):
        raise ExplainError(f"--at {given}=...: '{name}' is a Python keyword, which EXPR cannot "
                           f"use as a name; pick another, e.g. {name.lower()}_")
    if name in FUNCTIONS:
        raise ExplainError(f"--at {given}=...: '{name}' is one of the functions; pick "
                           "another name")
    return name


def _input_value(name: str, value: object) -> float:
    """The number bound to `name`, as a finite float."""
    if isinstance(value, bool) or not isinstance(value, _numbers.Real):
        raise ExplainError(f"--at {name}={value!r}: the value must be a number")
    try:
        number = float(value)
    except OverflowError:
        raise ExplainError(f"--at {name}=...: the value is too large for a float") from None
    if not _math.isfinite(number):
        raise ExplainError(f"--at {name}={value!r}: the value must be a finite number")
    return number


def _make_inputs(bindings: "_Mapping[str, float]") -> dict[str, Value]:
    """The input leaves, one per binding, labelled with their names; checked before any is made."""
    if not isinstance(bindings, _Mapping):
        raise ExplainError(f"the bindings must be a dict from names to numbers, e.g. "
                           f"{{'x': 2.0}}, not {type(bindings).__name__}")
    values, written = {}, {}
    for given, value in bindings.items():
        name = _input_name(given)
        if name in values:
            raise ExplainError(f"--at {written[name]}=... and --at {given}=... are the same "
                               f"name to Python ('{name}'); give each input one value")
        values[name], written[name] = _input_value(name, value), given
    return {name: Value(number, label=name) for name, number in values.items()}


def _fresh_names(taken: set[str], bases: "tuple[str, ...] | str") -> _Iterator[str]:
    """Names not in `taken`, without end: each of `bases`, then each with 1 after it, then 2,
    ... (checked against `taken` as they are handed out)."""
    suffix = 0
    while True:
        for base in bases:
            name = f"{base}{suffix or ''}"
            if name not in taken:
                yield name
        suffix += 1


def _output_name(taken: set[str]) -> str:
    """What the output is called: f, unless an input is; then g, h, out, result, f1, ..."""
    return next(_fresh_names(taken | set(FUNCTIONS), _OUTPUT_NAMES))


def _name_nodes(out: Value, inputs: dict[str, Value]) -> None:
    """Label the output f and the interior nodes u, v, w, ... from the output inwards, never
    reusing a name an input, a function or another node has."""
    taken = set(inputs) | set(FUNCTIONS)
    output_name = _output_name(taken)
    taken.add(output_name)
    interior = [node for node in reversed(Graph(out).nodes) if node.args and node is not out]
    for node, name in zip(interior, _fresh_names(taken, _NODE_NAMES)):
        node.label = name
    if out.args or out.label == "":
        out.label = output_name


def build(expr: str, bindings: "_Mapping[str, float]") -> tuple[Value, dict[str, Value]]:
    """Parse `expr` safely and record its graph at the given input values.

    Returns the output Value and the input leaves by name (each labelled with its name, as
    Python reads it: NFKC-normalised). Interior nodes are labelled too (f, u, v, ...). Raises
    ExplainError (a ValueError) for anything off the allowlist, bad or unbound names, and errors
    or overflow while evaluating; nothing is evaluated until the whole expression has passed
    the checks.
    """
    inputs = _make_inputs(bindings)
    tree = parse(expr, inputs)
    out = _evaluate(_one_line(expr), tree, inputs)
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


def node_rules(node: Value, name) -> "list[tuple[str, str]]":
    """Each local derivative of `node` as (its rule, the rule with the numbers in), from the rule
    table (`symbolic.local_rules`); `name(v)` is what a node is called in the text."""
    k = node.k if node.op in WITH_CONSTANT else None
    args = [(name(a), a.data) for a in node.args]
    return local_rules(RULES[node.op], k, (name(node), node.data), args)


def _rule_lines(edges: list, nodes: list, partials: list, rules: list) -> list[str]:
    """The local derivatives ∂node_j/∂(its argument p) a chain-rule step multiplies, one line
    each as its rule and its numbers (``∂f/∂u = 2u = 2 × 7 = 14``), each line once."""
    lines: list[str] = []
    for j, p in edges:
        node = nodes[j]
        line = f"    {rule_line(_name(node), _name(node.args[p]), rules[j][p], partials[j][p])}"
        if line not in lines:
            lines.append(line)
    return lines


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
    f = _output_name(set(inputs)) if out_is_input else _name(out)
    at = ", ".join(f"{name} = {_num(v.data)}" for name, v in inputs.items())
    lines = [f"{f} = {visible(_one_line(expr))}" + (f"   at {at}" if at else ""), ""]

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
    lines.append(f"d{f}/d(node) = upstream × local, summed over the node's uses; above each "
                 "step, its local")
    lines.append("derivatives, each as its rule from the rule table, then with the numbers in.")
    partials = [local_partials(node) if node.args else () for node in nodes]
    rules = [node_rules(node, _name) if node.args else [] for node in nodes]
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
        lines += _rule_lines([(j, p) for j, p in uses[i]], nodes, partials, rules)
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
            lines += _rule_lines([(i, p) for p, _ in moving], nodes, partials, rules)
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


__all__ = ["build", "explain", "describe", "parse", "visible", "local_partials", "ExplainError",
           "FUNCTIONS", "MAX_LENGTH", "MAX_DEPTH"]
