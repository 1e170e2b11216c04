"""An arithmetic that builds text instead of numbers, to read the rule table's formulas.

A rule's ``partials(m, y, *xs)`` only uses ``+ - * /``, numbers and the functions of ``m``
(ops.py). Run it on `Sym` values with `SymMath` as ``m``, and each local derivative writes itself
out instead of computing a number: mul's ``(b, a)`` reads ``∂/∂x = y, ∂/∂y = x``, tanh's
``(1 - y) * (1 + y)`` reads ``(1 - f)(1 + f)``. Run it again on the arguments' *numbers*, written as
text, and it writes the same formula with the numbers plugged in. So the chain-rule steps of
``explain`` and the explorers show each local derivative as its rule, then its numbers,

    ∂f/∂u = 2u = 2 × 7 = 14

without any op's math being written a second time: the text comes from the one rule table.

Three kinds of Sym: a *name* (``u``), a *constant* (the 2 of ``u ** 2``, or a number in a
formula), and a *value* (a node's number, plugged in). Arithmetic on constants alone is done
(``k - 1`` with k = 2 is 1), and ``x ** 1`` and ``1 × x`` are written ``x``; names and values are
never folded, so the numeric line shows every number that goes in.

A function of the arithmetic (``m.pow_slope``, ``m.cos``) reads as the formula its FloatMath
docstring gives, when it starts ``d(...)/dx = FORMULA``: ``pow_slope`` is documented as
``d(x ** k)/dx = k · x ** (k - 1)``, and that formula is evaluated on the Syms here (a test checks
each such docstring against its code). Any other function reads as a call: ``cos(u)``.
"""

import ast as _ast
import inspect as _inspect
import re as _re

_SHORT_NAME = _re.compile(r"[A-Za-z][0-9]*")  # u, v2: written right after a number (2u)


def show(x: float) -> str:
    """A number as the formulas write it: 6 significant digits."""
    return f"{x:.6g}"


def _signed(text: str) -> str:
    """A negative number or term in parentheses, as an operand: ``2 × (-3)``, ``1 - (-f)``."""
    return f"({text})" if text.startswith("-") else text


class Sym:
    """A piece of a formula: its ``text``, whether it is a sum (wrapped in parentheses inside a
    product), its number if it is a constant (``const``), and whether it is a plugged-in value."""

    __slots__ = ("text", "sum", "const", "value")

    def __init__(self, text: str, is_sum: bool = False, const: "float | None" = None,
                 value: bool = False) -> None:
        self.text, self.sum, self.const, self.value = text, is_sum, const, value

    @staticmethod
    def number(x: float) -> "Sym":
        """A constant of a formula (the 1.0 of ``1.0 - y``, a node's exponent k)."""
        return Sym(show(float(x)), const=float(x))

    @staticmethod
    def plugged(x: float) -> "Sym":
        """A node's number put in place of its name; negative ones in parentheses, so that
        ``1 - (-0.5)`` and ``2 × (-3)`` read clearly."""
        text = show(float(x))
        return Sym(f"({text})" if text.startswith("-") else text, value=True)

    @staticmethod
    def of(x: object) -> "Sym":
        """`x` as a Sym: a Sym as it is, a number (a formula's 1.0) as a constant."""
        return x if isinstance(x, Sym) else Sym.number(x)

    def bare(self) -> str:
        """The text on its own: a negative plugged-in number without its parentheses."""
        return self.text[1:-1] if self.value and self.text.startswith("(-") else self.text

    def _binary(self, other: object, symbol: str, reflected: bool = False) -> "Sym":
        a, b = (Sym.of(other), self) if reflected else (self, Sym.of(other))
        if a.const is not None and b.const is not None:  # constants only: do the arithmetic
            x, y = a.const, b.const
            folded = {"+": lambda: x + y, "-": lambda: x - y, "*": lambda: x * y,
                      "/": lambda: x / y if y else None, "**": lambda: x**y}[symbol]()
            if folded is not None:
                return Sym.number(folded)
        if symbol == "*" and (a.const == 1 or b.const == 1):
            return b if a.const == 1 else a
        if symbol == "**" and b.const == 1:
            return a
        if symbol in ("+", "-"):
            return Sym(f"{a.text} {symbol} {_signed(b.text)}", True)
        wrap = [f"({s.text})" if s.sum else _signed(s.text) for s in (a, b)]
        if symbol == "*":
            short = _SHORT_NAME.fullmatch(b.text) and not b.value
            if (a.sum and b.sum) or (a.const is not None and (short or b.sum)):
                return Sym(f"{wrap[0]}{wrap[1]}")  # (1 - f)(1 + f), 2u, 2(1 - f)
            times = "×" if a.value or b.value or a.const is not None else "·"
            return Sym(f"{wrap[0]} {times} {wrap[1]}")
        return Sym(f"{wrap[0]} {symbol} {wrap[1]}")

    __add__ = lambda self, other: self._binary(other, "+")
    __radd__ = lambda self, other: self._binary(other, "+", True)
    __sub__ = lambda self, other: self._binary(other, "-")
    __rsub__ = lambda self, other: self._binary(other, "-", True)
    __mul__ = lambda self, other: self._binary(other, "*")
    __rmul__ = lambda self, other: self._binary(other, "*", True)
    __truediv__ = lambda self, other: self._binary(other, "/")
    __rtruediv__ = lambda self, other: self._binary(other, "/", True)
    __pow__ = lambda self, other: self._binary(other, "**")

    def __neg__(self) -> "Sym":
        if self.const is not None:
            return Sym.number(-self.const)
        return Sym(f"-{self.text}" if not self.sum else f"-({self.text})")


def documented_formula(function) -> "str | None":
    """The FORMULA of a docstring that starts ``d(...)/dx = FORMULA;`` (· for ×), else None."""
    head = " ".join((function.__doc__ or "").split(";")[0].split())
    if not head.startswith("d(") or " = " not in head:
        return None
    return head.split(" = ", 1)[1]


def evaluate(formula: str, bindings: dict, m: object = None) -> object:
    """`formula` (``k · x ** (k - 1)``: numbers, names, + - · * / **, unary -) computed on the
    values in `bindings`: Syms to write it, floats to check it. Nothing else is evaluated."""
    tree = _ast.parse(formula.replace("·", "*"), mode="eval").body
    binary = {_ast.Add: "__add__", _ast.Sub: "__sub__", _ast.Mult: "__mul__",
              _ast.Div: "__truediv__", _ast.Pow: "__pow__"}
    # an explicit stack, post-order: each node's operands are computed before it
    done: dict = {}
    stack = [tree]
    while stack:
        node = stack[-1]
        children = {_ast.BinOp: lambda n: [n.left, n.right], _ast.UnaryOp: lambda n: [n.operand]}
        kids = children.get(type(node), lambda n: [])(node)
        if any(id(k) not in done for k in kids):
            stack.extend(k for k in kids if id(k) not in done)
            continue
        stack.pop()
        if isinstance(node, _ast.Constant) and isinstance(node.value, (int, float)):
            done[id(node)] = Sym.number(node.value) if m is not None else float(node.value)
        elif isinstance(node, _ast.Name) and node.id in bindings:
            done[id(node)] = bindings[node.id]
        elif isinstance(node, _ast.BinOp) and type(node.op) in binary:
            left, right = done[id(node.left)], done[id(node.right)]
            if not isinstance(left, Sym) and isinstance(right, Sym):
                left = Sym.number(left)
            done[id(node)] = getattr(left, binary[type(node.op)])(right)
        elif isinstance(node, _ast.UnaryOp) and isinstance(node.op, _ast.USub):
            done[id(node)] = -done[id(node.operand)]
        else:
            raise ValueError(f"the documented formula {formula!r} uses {_ast.dump(node)}, "
                             "which evaluate() does not read; write it with numbers, names, "
                             "+ - · / ** only")
    return done[id(tree)]


class SymMath:
    """The arithmetic of `Sym`: the ``m`` a rule's formula runs on to write itself out. A
    function with a documented formula (module docstring) is that formula on its arguments;
    any other reads as a call."""

    def __getattr__(self, name: str):
        from .ops import FloatMath

        function = getattr(FloatMath, name, None)
        formula = documented_formula(function) if function is not None else None
        if formula is None:
            return lambda *args: Sym(f"{name}({', '.join(Sym.of(a).bare() for a in args)})")
        params = list(_inspect.signature(function).parameters)

        def documented(*args):
            return evaluate(formula, dict(zip(params, map(Sym.of, args))), self)

        return documented


SYM_MATH = SymMath()


def local_rules(rule, k: "float | None", out: tuple, args: list) -> "list[tuple[str, str]]":
    """Each local derivative ∂out/∂arg of a node made by `rule`, as (its rule, the rule with the
    numbers in): ``("2u", "2 × 7")`` for the u of ``f = u ** 2`` at u = 7.

    `out` is the node's (name, number); `args` its arguments' (name, number) pairs; `k` its
    constant operand (None if it has none)."""
    named = written(rule, k, Sym(out[0]), [Sym(name) for name, _ in args])
    numbers = written(rule, k, Sym.plugged(out[1]), [Sym.plugged(x) for _, x in args])
    return [(a.bare(), b.bare()) for a, b in zip(named, numbers)]


def written(rule, k: "float | None", out: Sym, args: "list[Sym]") -> "list[Sym]":
    """The rule's local derivatives run on Syms: one Sym per argument (a constant one for a
    partial that is a number, such as add's 1)."""
    extra = [] if k is None else [Sym.number(k)]
    return [Sym.of(p) for p in rule.partials(SYM_MATH, out, *args, *extra)]


def rule_line(of: str, wrt: str, written: tuple, value: float) -> str:
    """``∂f/∂u = 2u = 2 × 7 = 14``: the partial, its rule, its numbers, its value; a part that
    says the same as the one before it (``∂u/∂v = 1``, not ``= 1 = 1 = 1``) is left out."""
    parts = [f"∂{of}/∂{wrt}"]
    for text in (*written, show(value)):
        if text != parts[-1]:
            parts.append(text)
    return " = ".join(parts)


__all__ = ["Sym", "SymMath", "SYM_MATH", "local_rules", "written", "rule_line", "documented_formula",
           "evaluate", "show"]
