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
    """'x=2' -> ('x', 2.0), for --at: a name, '=' and a finite number as float() reads it."""
    from math import isfinite

    shown = repr(text if len(text) <= 40 else text[:37] + "...")  # repr: control chars escaped
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise UsageError(f"--at {shown}: write a name, '=' and a number, e.g. --at x=2")
    try:
        number = float(value)
    except ValueError:
        value = value.strip()
        value = value if len(value) <= 20 else value[:17] + "..."
        raise UsageError(f"--at {shown}: {value!r} is not a number") from None
    if not isfinite(number):
        raise UsageError(f"--at {shown}: the value must be a finite number")
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
    a leading space keeps it an argument (explain strips it again). Options are recognised as
    argparse recognises them, abbreviations included (--a for --at), so an expression such as
    "--x" (minus minus x) is one."""
    argv = list(argv)
    if not argv or argv[0] != "explain":
        return argv
    takes_value = ("--at", "--svg", "--html")
    i = 1
    while i < len(argv):
        word = argv[i]
        if word == "--":
            break
        option, equals, _ = word.partition("=")
        abbreviates = option.startswith("--") and len(option) > 2
        known = [o for o in EXPLAIN_OPTIONS
                 if o == option or (abbreviates and o.startswith(option))]
        if known:
            # the option and its value; an ambiguous one (--h) is left for argparse to refuse
            i += 2 if len(known) == 1 and known[0] in takes_value and not equals else 1
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


def _run_explain(args: "_argparse.Namespace") -> int:
    """``tapegrad explain``: everything is computed first -- the explanation, the drawing, the
    page -- then the files are written, all or none, and only then is anything printed; so a
    mistake anywhere ends with its one line on stderr and leaves no file behind."""
    from .explain import ExplainError, build, describe, visible

    bindings: dict[str, float] = {}
    for text in args.at:
        name, number = _binding(text)
        if name in bindings:
            raise UsageError(f"--at {visible(name)}= is given twice; give each input one value")
        bindings[name] = number
    files = {}
    try:
        output, inputs = build(args.expr, bindings)
        text = describe(args.expr, output, inputs)  # also back-propagates, for the drawings
        if args.svg is not None:
            from .viz import to_svg

            files["--svg"] = (args.svg, to_svg(output))
        if args.html is not None:
            from .explorer import MAX_NODES, explorer_html
            from .viz import MAX_NODES as MAX_DRAWN

            if len(Graph(output)) > MAX_NODES:
                raise UsageError(
                    f"--html: the graph has {len(Graph(output))} nodes, and the explorer page "
                    f"steps through at most {MAX_NODES}; explain a shorter expression, or leave "
                    f"out --html (--svg draws any graph, showing its {MAX_DRAWN} nodes nearest "
                    "the output)")
            at = ", ".join(f"{name} = {leaf.data:g}" for name, leaf in inputs.items())
            title = visible(" ".join(args.expr.split())) + (f" at {at}" if at else "")
            files["--html"] = (args.html, explorer_html(output, inputs, title=title))
    except ExplainError as error:
        raise UsageError(str(error)) from None
    _write(files)
    print(text)
    for path, _ in files.values():
        print(f"wrote {visible(path)}")
    return 0


def _write(files: dict[str, tuple[str, str]]) -> None:
    """Write `files` (option -> (path, text)), all or none, each atomically: every text goes to
    a temporary file beside its target, and only once all of them are complete do they replace
    their targets (os.replace: a reader sees the old file or the new one, never half of one).
    A symlink is written through to its target; an existing file keeps its mode and owner; a
    stream (/dev/stdout, a named pipe) is written directly, last. Every path is checked first,
    and a failure removes the temporary files: the targets stay as they were."""
    import os
    import stat
    import tempfile

    def checked(option: str, path: str, seen: dict) -> tuple[str, "os.stat_result | None"]:
        """The file `path` names (symlinks followed) and its stat, if it exists."""
        shown = repr(path)  # (repr writes control characters escaped)
        if not path.strip():
            raise UsageError(f"{option} needs a file name, e.g. {option} f.{option[2:]}")
        if path.endswith(("/", os.sep)) or os.path.isdir(path):
            raise UsageError(f"{option} {shown} is a folder; name a file in it, e.g. "
                             f"{os.path.join(path, 'f.' + option[2:])!r}")
        real = os.path.realpath(path)
        if real in seen:
            raise UsageError(f"{seen[real]} and {option} both name {shown}; give each its own file")
        seen[real] = option
        if not os.path.isdir(os.path.dirname(real)):
            raise UsageError(f"{option}: cannot write {shown}: there is no folder "
                             f"{os.path.dirname(path) or '.'!r}")
        existing = os.stat(real) if os.path.exists(real) else None
        if existing and not stat.S_ISREG(existing.st_mode) and not is_stream(existing):
            raise UsageError(f"{option} {shown} is not a regular file; name a file to write")
        return real, existing

    def is_stream(existing: "os.stat_result | None") -> bool:
        """A character device or a named pipe: written as it is, never replaced."""
        return existing is not None and (stat.S_ISCHR(existing.st_mode)
                                         or stat.S_ISFIFO(existing.st_mode))

    def staged(real: str, existing: "os.stat_result | None", text: str) -> str:
        """A complete temporary copy of the new `real`, with the mode (and, if allowed, the
        owner) the file has, or the mode a new file gets (0666 less the umask)."""
        folder, name = os.path.split(real)
        fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        pending.append(temp)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if existing is None:
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(temp, 0o666 & ~mask)
        else:
            os.chmod(temp, stat.S_IMODE(existing.st_mode))
            try:
                os.chown(temp, existing.st_uid, existing.st_gid)
            except OSError:
                pass  # not ours to give away: the file becomes the writer's
        return temp

    seen: dict[str, str] = {}
    plan = [(option, path, text, *checked(option, path, seen))
            for option, (path, text) in files.items()]
    pending: list[str] = []  # temporary files not yet moved into place
    try:
        moves = []
        for option, path, text, real, existing in plan:
            if not is_stream(existing):
                moves.append((option, path, staged(real, existing, text), real))
        for option, path, temp, real in moves:
            os.replace(temp, real)
            pending.remove(temp)
        for option, path, text, real, existing in plan:
            if is_stream(existing):
                with open(real, "w", encoding="utf-8") as out:
                    out.write(text)
    except OSError as error:
        raise UsageError(f"{option}: cannot write {path!r}: "
                         f"{error.strerror or error}") from None
    finally:
        for temp in pending:
            try:
                os.unlink(temp)
            except OSError:
                pass


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
