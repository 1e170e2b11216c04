"""The ``tapegrad`` command line.

    tapegrad sanity                          the seed's check, f = (2x + 3)^2 at x = 2
    tapegrad demo [--dataset digits] ...     train a network, show progress, draw pictures
    tapegrad explain "(2*x + 3)**2" --at x=2 the chain rule, step by step
    tapegrad check my_engine.py              test the engine you wrote, and see where it goes wrong
    tapegrad --version                       tapegrad 0.1.0

With no command it runs ``sanity``. ``--help`` of every command says what it does, every
option's default, and ends with an example. Mistakes in the arguments end with exit status 2
and one line on stderr that says what to change; a training run that blows up (nan or inf),
exit status 1 and one line naming the step; Ctrl-C, exit status 130 and ``interrupted`` on a
line of its own. Never a traceback.
"""

import argparse as _argparse
import os as _os
import sys as _sys

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


class _Stopped(Exception):
    """A run that could not finish (the training blew up): one line, exit status 1."""


class _Parser(_argparse.ArgumentParser):
    """argparse, but a mistake raises UsageError (one line) instead of printing the usage."""

    def error(self, message: str) -> None:
        """Raise UsageError (never returns) with argparse's ``message`` and where to read more."""
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


def version() -> str:
    """tapegrad's version: the installed distribution's (importlib.metadata), else the
    package's ``__version__`` (running from a source tree that is not installed)."""
    from importlib import metadata

    try:
        return metadata.version("tapegrad")
    except metadata.PackageNotFoundError:
        from . import __version__

        return __version__


class _HelpFormatter(_argparse.HelpFormatter):
    """argparse's help, fitted to the terminal, with every option's default said: an option
    whose help does not name its default gets one. A text written with line breaks (an example)
    is kept line for line; a paragraph without is filled to the terminal's width."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        """Keep a text that has line breaks as written; fill a one-line paragraph."""
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action: _argparse.Action) -> str:
        """The option's help, ending with ``(default: ...)`` unless it says its default."""
        text = action.help or ""
        if not action.option_strings or action.default is _argparse.SUPPRESS or "default" in text:
            return text
        return f"{text} (default: {_default_words(action.default)})"


def _default_words(default: object) -> str:
    """A default as the help says it: none, off, or the value (its % escaped for argparse)."""
    if default is None or default == []:
        return "none"
    if isinstance(default, bool):
        return "on" if default else "off"
    return str(default).replace("%", "%%")


def _per_dataset(tasks: dict, words) -> str:
    """'100 for moons, circles and xor; 150 for spiral; 500 for digits': a per-dataset default,
    ``words(task)`` for each, datasets with the same default named together."""
    groups: dict[str, list[str]] = {}
    for name, task in tasks.items():
        groups.setdefault(words(task), []).append(name)
    return "; ".join(f"{value} for {_and(names)}" for value, names in groups.items())


def _and(names: list, word: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {word} {names[-1]}"


def _or(names: list) -> str:
    """'a, b or c'."""
    return _and(names, "or")


SANITY_EXAMPLE = """\
example:
  tapegrad sanity
      f = (2x + 3)^2 at x = 2: its graph, then df/dx = 28
      by reverse mode, forward mode and replay
"""

DEMO_EXAMPLE = """\
examples:
  tapegrad demo
      micrograd's demo: 100 moons, MLP(2, [16, 16, 1])
  tapegrad demo --dataset spiral --steps 300 --out pics
      3 classes; pictures into the folder pics
  tapegrad demo --dataset names
      makemore's MLP on 32,033 names, in under a minute;
      then ten names it made up
  tapegrad demo --dataset digits --save digits.json
      handwritten digits (needs scikit-learn), scored
      on 359 held-out images; the model saved as JSON
  tapegrad demo --html moons.html
      also a page that replays the training: open it,
      press play, click a point, step through its gradient
"""

EXPLAIN_EXAMPLE = """\
examples:
  tapegrad explain "(2*x + 3)**2" --at x=2
      the graph, its values, and df/dx = 28 by both modes
  tapegrad explain "x*y + sin(x)" --at x=1 --at y=2
  tapegrad explain "tanh(x)" --at x=0.5 --html f.html
      also the step-through page, for a browser
"""


CHECK_EXAMPLE = """\
examples:
  tapegrad check my_engine.py
      runs the programs on the class Value of my_engine.py
      and on tapegrad; exit status 0 when all required pass
  tapegrad check engine.py --class Scalar --timeout 30
  tapegrad check micrograd.engine --json
      a module importable from here; the report as JSON
"""


def _build_parser() -> _argparse.ArgumentParser:
    """The command line: ``sanity``, ``demo``, ``explain`` and ``check``, and ``--version``."""
    parser = _Parser(
        prog="tapegrad", formatter_class=_HelpFormatter,
        description="tapegrad: a tiny autograd engine for learning how deep learning works. "
                    "With no command, runs sanity.",
        epilog="examples:\n  tapegrad demo\n  tapegrad explain \"(2*x + 3)**2\" --at x=2\n\n"
               "Each command's options: tapegrad COMMAND --help",
    )
    parser.add_argument("--version", action="version", version=f"tapegrad {version()}",
                        help="print tapegrad's version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, title="commands")
    sub.add_parser(
        "sanity", help="check the engine on f = (2x+3)^2 at x = 2",
        formatter_class=_HelpFormatter, epilog=SANITY_EXAMPLE,
        description="Check the engine by hand on f = (2x + 3)^2 at x = 2: u = 2x + 3 = 7, "
                    "f = u^2 = 49, df/dx = 2u * 2 = 28. Prints the recorded graph, then f and "
                    "df/dx by reverse mode, by forward mode, and by replaying the graph at x = 3.",
    )
    _add_demo(sub)

    explain = sub.add_parser(
        "explain", help="show the chain rule at work on an expression",
        formatter_class=_HelpFormatter, epilog=EXPLAIN_EXAMPLE,
        description="Print the graph of EXPR, its forward values, the reverse sweep as the "
                    "chain rule, a forward-mode sweep per input, and the derivatives.",
    )
    explain.add_argument("expr", metavar="EXPR", help='e.g. "(2*x + 3)**2"')
    explain.add_argument("--at", action="append", default=[], metavar="NAME=NUMBER",
                         help="an input's value, e.g. --at x=2 (repeat for more inputs)")
    explain.add_argument("--svg", metavar="PATH", help="also draw the graph as SVG")
    explain.add_argument("--html", metavar="PATH", help="also write the step-through explorer")
    _add_check(sub)
    return parser


def _add_check(sub) -> None:
    """The ``check`` command and its options."""
    from .check import TIMEOUT

    check = sub.add_parser(
        "check", help="test a micrograd-style engine you wrote against tapegrad",
        formatter_class=_HelpFormatter, epilog=CHECK_EXAMPLE,
        description="Run a battery of small programs (the sanity check, every operator with "
                    "numbers on either side, shared subexpressions, a neuron, a small MLP's "
                    "loss, a deep chain, a second backward()) on the class in PATH and on "
                    "tapegrad, and report, for each that differs, the first wrong node, yours "
                    "and the right number, the chain-rule step and, where the pattern is a "
                    "known mistake, what it is and how to fix it. Your code runs in a separate "
                    "process, with a time limit per program. Exit status 0 when every required "
                    "program passes, 1 when one does not, 2 when PATH cannot be loaded.",
    )
    check.add_argument("path", metavar="PATH",
                       help="your .py file, or a dotted module name importable from here")
    check.add_argument("--class", dest="class_name", default="Value", metavar="NAME",
                       help="the name of your scalar class (default: Value)")
    check.add_argument("--json", action="store_true",
                       help="print the report as JSON, for a course's CI (default: text)")
    check.add_argument("--timeout", type=float, default=TIMEOUT, metavar="SECONDS",
                       help=f"time limit per program (default: {TIMEOUT:g})")


def _add_demo(sub) -> None:
    """The ``demo`` command and its options, each with its default (per dataset, from TASKS)."""
    from . import names_demo
    from .demo import OPTIMIZERS, TASKS

    demo = sub.add_parser(
        "demo", help="train an MLP and draw pictures (default: micrograd's moons demo)",
        formatter_class=_HelpFormatter, epilog=DEMO_EXAMPLE,
        description="Train an MLP with tapegrad and draw what it learned. The defaults are "
                    "micrograd's demo: moons, MLP(2, [16, 16, 1]), SVM loss, SGD 1.0 -> 0.1. "
                    "On a terminal a progress bar shows the step, the loss and the accuracy on "
                    "the step's batch (before its update); elsewhere, plain lines. The last "
                    "line is the accuracy after the last step: on the training samples, as "
                    "micrograd's demo scores it, or for digits on held-out test images.",
    )
    demo.add_argument("--dataset", choices=[*TASKS, "names"], default="moons", metavar="NAME",
                      help=f"what to learn: {', '.join(TASKS)}, or names, a character-level "
                           "model of 32,033 names that invents new ones (default: moons)")
    demo.add_argument("--model", choices=["mlp", "gpt", "bigram"], default="mlp",
                      help="for names: mlp, makemore's MLP; gpt, microgpt's one-block "
                           "transformer; or bigram, the counting baseline alone (default: mlp)")
    demo.add_argument("--temperature", type=float, default=1.0,
                      help="for names: below 1 the invented names are more typical, above 1 "
                           "more daring (default: 1.0)")
    demo.add_argument("--steps", type=int, metavar="N",
                      help="training steps (default: "
                           f"{_per_dataset(TASKS, lambda t: t.steps)}; {names_demo.STEPS} for names)")
    demo.add_argument("--hidden", metavar="WIDTHS",
                      help="hidden layer widths, e.g. 16,16; '' for none, a linear model "
                           "(default: "
                           f"{_per_dataset(TASKS, lambda t: ','.join(map(str, t.hidden)))}; "
                           f"{names_demo.HIDDEN} for names)")
    demo.add_argument("--optimizer", choices=list(OPTIMIZERS), metavar="NAME",
                      help=f"{_or(list(OPTIMIZERS))} "
                           f"(default: {_per_dataset(TASKS, lambda t: t.optimizer)})")
    demo.add_argument("--lr", type=float,
                      help="starting learning rate; it falls linearly to a tenth of it "
                           f"(default: {_per_dataset(TASKS, lambda t: format(t.lr, 'g'))}; "
                           f"{names_demo.LR:g} for names)")
    demo.add_argument("--batch-size", type=int, metavar="N",
                      help="training samples per step (default: "
                           f"{_per_dataset(TASKS, lambda t: t.batch_size or 'all')}; "
                           f"{names_demo.BATCH} for names)")
    demo.add_argument("--seed", type=int, default=1337,
                      help="for the data, the weights and the minibatches (default: 1337)")
    demo.add_argument("--out", default=".", metavar="DIR",
                      help="folder for the PNG pictures, made if missing (default: ., the "
                           "current folder)")
    demo.add_argument("--no-pictures", action="store_true",
                      help="train and print only (default: draw the pictures, if matplotlib "
                           "is installed)")
    demo.add_argument("--save", metavar="PATH",
                      help="save the trained model as JSON to this file (default: not saved)")
    demo.add_argument("--html", metavar="PATH",
                      help="also write the training explorer, a page that replays the run step "
                           "by step, down to each point's backward pass (default: not written)")
    demo.add_argument("--eager", action="store_true",
                      help="rebuild each step's graph, as micrograd does (default: record the "
                           "step once and run it compiled with NumPy on every batch)")


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


def _run_demo(args: _argparse.Namespace) -> int:
    """``tapegrad demo``: a bad setting is a UsageError (exit 2), a run that blows up is
    _Stopped (exit 1); both before or instead of a traceback."""
    from .demo import TrainingStopped, parse_hidden, run

    try:
        hidden = parse_hidden(args.hidden) if args.hidden is not None else None
        if args.dataset == "names":
            return _run_names(args, hidden)
        run(args.dataset, steps=args.steps, hidden=hidden, optimizer=args.optimizer, lr=args.lr,
            seed=args.seed, batch_size=args.batch_size,
            out_dir=None if args.no_pictures else args.out, save=args.save, html=args.html,
            eager=args.eager)
    except BrokenPipeError:
        raise  # the reader went away (| head): not a usage error
    except TrainingStopped as error:
        raise _Stopped(str(error)) from None
    except (ValueError, ImportError, OSError) as error:
        raise UsageError(str(error)) from None
    return 0


def _run_names(args: _argparse.Namespace, hidden: "tuple | None") -> int:
    """``tapegrad demo --dataset names`` (names_demo.py); the classification options that mean
    nothing there are refused, not ignored."""
    from .names_demo import run

    for option, given in (("--optimizer", args.optimizer), ("--save", args.save)):
        if given is not None:
            raise UsageError(f"{option} is for the classification datasets; --dataset names "
                             "trains with Adam and keeps no file")
    if hidden is not None and len(hidden) != 1:
        raise UsageError(f"--hidden {args.hidden!r}: the names MLP has one hidden layer; give "
                         "its width, e.g. --hidden 200")
    run(steps=args.steps, seed=args.seed, lr=args.lr, batch_size=args.batch_size,
        hidden=hidden[0] if hidden else None, temperature=args.temperature, model=args.model)
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


def _run_check(args: "_argparse.Namespace") -> int:
    """``tapegrad check``: the report on stdout, exit status 0 (every required program passes)
    or 1; a file that cannot be loaded is one line on stderr (or the JSON with status "error"),
    exit status 2."""
    from math import isfinite

    from .check import LoadError, check, json_report, load_error_json, text_report

    if not (isfinite(args.timeout) and args.timeout > 0):
        raise UsageError(f"--timeout {args.timeout:g}: give a number of seconds > 0, e.g. "
                         "--timeout 10")
    try:
        result = check(args.path, args.class_name, args.timeout)
    except LoadError as error:
        if args.json:
            print(load_error_json(args.path, args.class_name, error))
            return 2
        raise UsageError(str(error)) from None
    report = json_report(result) if args.json else text_report(result)
    print(report)
    return result.exit_status


def _write(files: dict[str, tuple[str, str]]) -> None:
    """Write `files` (option -> (path, text)), all or none, each atomically (tapegrad.files:
    every text goes to a temporary file beside its target, and only once all of them are
    complete do they replace their targets; a reader sees the old file or the new one, never
    half of one). A symlink is written through to its target; an existing file keeps its mode
    and owner; a stream (/dev/stdout, a named pipe) is written directly, last. Every path is
    checked first, and a failure removes the temporary files: the targets stay as they were."""
    import os
    import stat

    from .files import WriteError, is_stream, write_all

    def check(option: str, path: str, seen: dict) -> None:
        """UsageError, in the option's words, unless `path` can be written as `option`'s file."""
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

    seen: dict[str, str] = {}
    for option, (path, _) in files.items():
        check(option, path, seen)
    try:
        write_all(list(files.values()))
    except WriteError as error:
        option, (path, _) = list(files.items())[error.index]
        raise UsageError(f"{option}: cannot write {path!r}: "
                         f"{error.strerror or error}") from None


def _shown(error: BaseException) -> str:
    """An error's message as it is safe to print, on one line: argparse's messages repeat the
    command line's words, which may carry a newline or control characters (an ESC starts the
    terminal's escape sequences)."""
    from .explain import visible

    return visible(str(error))


def main(argv: "list[str] | None" = None) -> int:
    """Run the command line ``argv`` (default: the process's arguments); return the exit status."""
    argv = _sys.argv[1:] if argv is None else list(argv)
    # NOTE: the explanations print × and ∂; a terminal that cannot show them gets '?' instead
    # of a UnicodeEncodeError.
    if hasattr(_sys.stdout, "reconfigure"):
        _sys.stdout.reconfigure(errors="replace")
    prog = "tapegrad"
    try:
        args = _build_parser().parse_args(_protect_expression(argv))
        prog = f"tapegrad {args.command}" if args.command else prog
        if args.command == "demo":
            return _run_demo(args)
        if args.command == "explain":
            return _run_explain(args)
        if args.command == "check":
            return _run_check(args)
        print(sanity_check())
        return 0
    except UsageError as error:
        print(f"{prog}: error: {_shown(error)}", file=_sys.stderr)
        return 2
    except _Stopped as error:
        print(f"{prog}: error: {_shown(error)}", file=_sys.stderr)
        return 1
    except BrokenPipeError:
        # `tapegrad demo | head`: the reader has gone; stop quietly, as Unix tools do. Point
        # stdout at devnull so Python's exit-time flush does not complain again.
        devnull = _os.open(_os.devnull, _os.O_WRONLY)
        _os.dup2(devnull, _sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        # NOTE: on a terminal the ^C the user typed is echoed where the cursor was: at the start
        # of a fresh line (the bar's line is ended when it closes). "\r" writes over it, so the
        # message has its line to itself.
        start = "\r" if _sys.stderr.isatty() else ""
        print(f"{start}{prog}: interrupted", file=_sys.stderr)
        return 130
    except Exception as error:  # a bug in tapegrad: still one line, and how to report it
        print(f"{prog}: internal error, please report it: {type(error).__name__}: {_shown(error)}",
              file=_sys.stderr)
        return 2


__all__ = ["main", "sanity_check", "version"]
