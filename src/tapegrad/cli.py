"""The ``tapegrad`` command line.

    tapegrad sanity                          the seed's check, f = (2x + 3)^2 at x = 2
    tapegrad demo [--dataset digits] ...     train a network, show progress, draw pictures
    tapegrad explain "(2*x + 3)**2" --at x=2 the chain rule, step by step

With no command it runs ``sanity``. Mistakes in the arguments end with exit status 2 and one
line on stderr that says what to change; never with a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

from .graph import Graph
from .transforms import jvp
from .value import Value

EXPLAIN_OPTIONS = ("--at", "--svg", "--html", "-h", "--help")


def sanity_check() -> str:
    """The seed's sanity check, f = (2x + 3)^2 at x = 2, by reverse mode, forward mode and replay."""
    x = Value(2.0, label="x")
    u = 2 * x + 3
    u.label = "u"
    f = u**2
    f.label = "f"
    graph = Graph(f)
    graph.backward()
    lines = [
        "f(x) = (2x + 3)^2 at x = 2",
        "",
        str(graph),
        "",
        f"reverse mode:  u = {u.data:g}, f = {f.data:g}, df/dx = {x.grad:g}",
    ]
    value, tangent = jvp(lambda x: (2.0 * x + 3.0) ** 2, (2.0,), (1.0,))
    lines.append(f"forward mode:  f = {value:g}, df/dx = {tangent:g}")
    x.data, x.grad = 3.0, 0.0
    graph.forward()
    graph.backward()
    lines.append(f"replay at x=3: f = {f.data:g}, df/dx = {x.grad:g}")
    return "\n".join(lines)


class UsageError(Exception):
    """A mistake in the command line: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake raises UsageError (one line) instead of printing the usage."""

    def error(self, message):
        raise UsageError(f"{message} (see: {self.prog} --help)")


def _binding(text: str) -> tuple[str, float]:
    """'x=2' -> ('x', 2.0), for --at."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise UsageError(f"--at {text!r}: write a name, '=' and a number, e.g. --at x=2")
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"--at {text!r}: {value.strip()!r} is not a number") from None
    if not math.isfinite(number):
        raise UsageError(f"--at {text!r}: the value must be a finite number")
    return name, number


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tapegrad", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    sub.add_parser("sanity", help="the seed's sanity check, f = (2x+3)^2 at x = 2")

    from .demo import OPTIMIZERS, TASKS

    demo = sub.add_parser(
        "demo", help="train an MLP and draw pictures (default: micrograd's moons demo)",
        description="Train an MLP with tapegrad and draw what it learned. The defaults are "
                    "micrograd's demo: moons, MLP(2, [16, 16, 1]), SVM loss, SGD 1.0 -> 0.1.",
    )
    demo.add_argument("--dataset", choices=list(TASKS), default="moons")
    demo.add_argument("--steps", type=int, help="training steps (default: the dataset's)")
    demo.add_argument("--hidden", help="hidden layer widths, e.g. 16,16 (default: the dataset's)")
    demo.add_argument("--optimizer", choices=list(OPTIMIZERS), help="default: the dataset's")
    demo.add_argument("--lr", type=float, help="starting learning rate; it falls to a tenth")
    demo.add_argument("--batch-size", type=int, help="samples per step (default: the dataset's)")
    demo.add_argument("--seed", type=int, default=1337, help="for the data and the weights")
    demo.add_argument("--out", default=".", help="folder for the PNG pictures (default: .)")
    demo.add_argument("--no-pictures", action="store_true", help="train and print only")
    demo.add_argument("--save", metavar="PATH", help="save the trained model as JSON")

    explain = sub.add_parser(
        "explain", help="show the chain rule at work on an expression",
        description="Print the graph of EXPR, its forward values, the reverse sweep as the "
                    "chain rule, a forward-mode sweep per input, and the derivatives.",
    )
    explain.add_argument("expr", metavar="EXPR", help='e.g. "(2*x + 3)**2"')
    explain.add_argument("--at", action="append", default=[], metavar="NAME=NUMBER",
                         help="an input's value, e.g. --at x=2 (repeat for more inputs)")
    explain.add_argument("--svg", metavar="PATH", help="also draw the graph as SVG")
    explain.add_argument("--html", metavar="PATH", help="also write the step-through explorer")
    return parser


def _protect_expression(argv: list[str]) -> list[str]:
    """An expression that starts with '-' ("-x**2") would look like an option to argparse;
    a leading space keeps it an argument (explain strips it again)."""
    argv = list(argv)
    if not argv or argv[0] != "explain":
        return argv
    i = 1
    while i < len(argv):
        word = argv[i]
        if word == "--":
            break
        if word in ("--at", "--svg", "--html"):
            i += 2  # the option and its value
            continue
        if word.split("=")[0] in EXPLAIN_OPTIONS:
            i += 1
            continue
        if word.startswith("-"):
            argv[i] = " " + word
        break  # the first argument that is not an option is EXPR
    return argv


def _run_demo(args) -> int:
    from .demo import parse_hidden, run

    try:
        hidden = parse_hidden(args.hidden) if args.hidden is not None else None
        run(args.dataset, steps=args.steps, hidden=hidden, optimizer=args.optimizer, lr=args.lr,
            seed=args.seed, batch_size=args.batch_size,
            out_dir=None if args.no_pictures else args.out, save=args.save)
    except BrokenPipeError:
        raise  # the reader went away (| head): not a usage error
    except (ValueError, ImportError, OSError) as error:
        raise UsageError(str(error)) from None
    return 0


def _run_explain(args) -> int:
    from .explain import ExplainError, build, describe

    bindings = {}
    for text in args.at:
        name, number = _binding(text)
        if name in bindings:
            raise UsageError(f"--at {name}= is given twice; give each input one value")
        bindings[name] = number
    try:
        output, inputs = build(args.expr, bindings)
        print(describe(args.expr, output, inputs))  # also back-propagates, for the drawings
        if args.svg or args.html:
            if args.svg:
                from .viz import to_svg

                _write(args.svg, to_svg(output))
            if args.html:
                from .explorer import explorer_html

                title = f"{' '.join(args.expr.split())} at {', '.join(args.at)}"
                _write(args.html, explorer_html(output, inputs, title=title))
    except ExplainError as error:
        raise UsageError(str(error)) from None
    return 0


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as error:
        raise UsageError(f"cannot write {path!r}: {error.strerror}") from None
    print(f"wrote {path}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # NOTE: the explanations print × and ∂; a terminal that cannot show them gets '?' instead
    # of a UnicodeEncodeError.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")
    prog = "tapegrad"
    try:
        args = _build_parser().parse_args(_protect_expression(argv))
        prog = f"tapegrad {args.command}" if args.command else prog
        if args.command == "demo":
            return _run_demo(args)
        if args.command == "explain":
            return _run_explain(args)
        print(sanity_check())
        return 0
    except UsageError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `tapegrad demo | head`: the reader has gone; stop quietly, as Unix tools do. Point
        # stdout at devnull so Python's exit-time flush does not complain again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug in tapegrad: still one line, and how to report it
        print(f"{prog}: internal error, please report it: {type(error).__name__}: {error}",
              file=sys.stderr)
        return 2


__all__ = ["main", "sanity_check"]
