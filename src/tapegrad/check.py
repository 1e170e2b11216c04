"""``tapegrad check``: test the micrograd-style engine a learner wrote, and say where it goes wrong.

    result = check("my_engine.py")          # class Value, 10 s per program
    print(text_report(result))              # or json_report(result); result.exit_status

A battery of small programs (`PROGRAMS`) runs on the learner's class and on tapegrad's own
`Value` side by side. Each program is the text a learner would write with their class ``V``;
running it gives the nodes whose ``data`` and ``grad`` are compared, in topological order
(inputs first, output last). The comparison reads data first -- a wrong data is a wrong forward
pass -- then grads, from the output back: the first wrong gradient the backward sweep reaches is
the one to look at, since the ones below it follow from it. The report shows that node, the
learner's number and the right one, and the chain-rule step that makes the right one,

    df/dx = df/du × ∂u/∂x = 14 × 2 = 28,

its local derivative read from the rule table (tapegrad.ops.RULES) at the recorded point. Then,
from the pattern across programs, a diagnosis: gradients overwritten instead of added, a recursive
backward that walks shared nodes once per path, a reversed operand in ``__rsub__`` or
``__rtruediv__``, one op's local derivative, a reflected operator calling itself, a hang, a crash,
an exception. Two programs check what micrograd itself does differently from the ideal (a second
backward() after zeroing the leaves; a graph deeper than the recursion limit): they give notes,
never failures, so micrograd's own engine passes.

**The learner's code never runs in this process.** Each program runs in a fresh interpreter (this
file, loaded by path: its module level needs only the standard library) with a time limit; the
worker answers one JSON line: the rows ``[[name, data, grad], ...]`` or an error summarised to the
learner's own frame (file:line and the line of code). A worker that runs out of time is a hang,
one that dies without answering a crash; neither ever shows a traceback from tapegrad.
"""

import importlib.util as _importlib_util
import itertools as _itertools
import json as _json
import linecache as _linecache
import math as _math
import os as _os
import re as _re
import sys as _sys
import textwrap as _textwrap
import traceback as _traceback  # (all imported before the learner's folder is on sys.path:
# a file of theirs named like one of these modules must not stand in for it)

TIMEOUT = 10.0  # seconds per program, by default
REL_TOL, ABS_TOL = 1e-9, 1e-12  # when a learner's number counts as the right one
WIDTH = 100  # columns of the text report
# The features a program may need, and the attribute of the class that has each.
FEATURES = {"relu": "relu", "tanh": "tanh", "exp": "exp", "log": "log", "pow": "__pow__",
            "neg": "__neg__", "sub": "__sub__", "truediv": "__truediv__", "radd": "__radd__",
            "rsub": "__rsub__", "rmul": "__rmul__", "rtruediv": "__rtruediv__"}
# The reflected operators (a number on the left), which a learner often writes by calling the
# operator again: ``other + self`` in __radd__ is __radd__ once more.
REFLECTED = {"radd": "+", "rsub": "-", "rmul": "*", "rtruediv": "/"}
OUTCOMES = ("pass", "fail", "note", "skipped", "hang", "crash", "exception", "recursion")
DIAGNOSES = ("overwrite", "per_path", "reversed_rsub", "reversed_rtruediv", "wrong_local",
             "interior_not_reset", "recursion", "radd_recursion", "hang", "crash", "exception")


class Program:
    """One program of the battery.

    ``source``: its text, as the learner writes it with their class ``V`` (shown in reports);
    ``rows``: the names, in ``source``, of the nodes compared, in topological order (a name bound
    to a list stands for its items, ``w[0]``, ``w[1]``, ...); ``build(V)`` runs the source with
    the class V and returns the ``(name, node)`` pairs. ``needs``: the features it uses, among
    `FEATURES`; ``required``: False where micrograd itself differs from the ideal (the program
    gives a note, never a failure); ``tests``: the op it checks on its own, if it is one op."""

    __slots__ = ("name", "title", "source", "rows", "needs", "required", "tests")

    def __init__(self, name: str, title: str, source: str, rows: "tuple[str, ...]",
                 needs: "frozenset[str] | set[str]" = frozenset(), required: bool = True,
                 tests: "str | None" = None) -> None:
        self.name, self.title = name, title
        self.source = _textwrap.dedent(source).strip() + "\n"
        self.rows, self.needs = tuple(rows), frozenset(needs)
        self.required, self.tests = required, tests
        unknown = self.needs - set(FEATURES)
        if unknown:
            raise ValueError(f"program {name}: unknown features {sorted(unknown)}")

    def build(self, V: type) -> list:
        """Run the program with the class `V`; the (name, node) pairs it compares, inputs first."""
        return run_source(self.source, self.rows, V)

    def __repr__(self) -> str:
        return f"Program({self.name!r})"


def run_source(source: str, rows: "tuple[str, ...]", V: type) -> list:
    """Execute a program's `source` with ``V`` bound to the class, and pick out its `rows`: each
    name's node, a list's items as ``name[0]``, ``name[1]``, ... (nested lists likewise)."""
    namespace = {"V": V}
    exec(compile(source, "<program>", "exec"), namespace)
    found = []

    def pick(name: str, value: object) -> None:
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                pick(f"{name}[{i}]", item)
        else:
            found.append((name, value))

    for name in rows:
        pick(name, namespace[name])
    return found


def _one_op(name: str, title: str, expression: str, at: float, tests: str,
            needs: "tuple[str, ...]" = ()) -> Program:
    """A program of one op on one input: x = V(at); y = <expression>; y.backward()."""
    title = f"{expression} at x = {at:g}" + (f", {title}" if title else "")
    return Program(name, title, f"x = V({at!r})\ny = {expression}\ny.backward()\n", ("x", "y"),
                   needs, tests=tests)


PROGRAMS = [
    Program("sanity", "the sanity check, f = (2x + 3)² at x = 2: u = 7, f = 49, df/dx = 28", """
        x = V(2.0)
        u = 2 * x + 3
        f = u ** 2
        f.backward()
        """, ("x", "u", "f"), {"rmul", "pow"}),
    _one_op("add", "a number on the right", "x + 2", 3.0, "add"),
    _one_op("radd", "a number on the left (__radd__)", "2 + x", 3.0, "radd", ("radd",)),
    _one_op("mul", "a number on the right", "x * 3", 2.0, "mul"),
    _one_op("rmul", "a number on the left (__rmul__)", "3 * x", 2.0, "rmul", ("rmul",)),
    Program("add_values", "x + y, two Values", """
        x, y = V(2.0), V(-3.0)
        z = x + y
        z.backward()
        """, ("x", "y", "z"), tests="add"),
    Program("mul_values", "x * y, two Values", """
        x, y = V(2.0), V(-3.0)
        z = x * y
        z.backward()
        """, ("x", "y", "z"), tests="mul"),
    _one_op("sub", "a number on the right", "x - 2", 3.0, "sub", ("sub",)),
    _one_op("rsub", "a number on the left (__rsub__)", "5 - x", 2.0, "rsub", ("rsub",)),
    _one_op("truediv", "a number on the right", "x / 4", 2.0, "truediv", ("truediv",)),
    _one_op("rtruediv", "a number on the left (__rtruediv__)", "6 / x", 2.0, "rtruediv",
            ("rtruediv",)),
    _one_op("neg", "", "-x", 2.0, "neg", ("neg",)),
    _one_op("pow", "", "x ** 3", 2.0, "pow", ("pow",)),
    _one_op("pow_fraction", "a negative fractional power", "x ** -1.5", 4.0, "pow",
            ("pow",)),
    _one_op("relu_positive", "", "x.relu()", 2.0, "relu", ("relu",)),
    _one_op("relu_negative", "", "x.relu()", -2.0, "relu", ("relu",)),
    _one_op("tanh", "", "x.tanh()", 0.5, "tanh", ("tanh",)),
    _one_op("exp", "", "x.exp()", 0.5, "exp", ("exp",)),
    _one_op("log", "", "x.log()", 2.0, "log", ("log",)),
    Program("mul_self", "x * x, a node used twice in one op", """
        x = V(3.0)
        y = x * x
        y.backward()
        """, ("x", "y")),
    Program("add_self", "x + x, a node used twice in one op", """
        x = V(3.0)
        y = x + x
        y.backward()
        """, ("x", "y")),
    Program("shared", "a shared subexpression: b = a + a; c = b + b", """
        a = V(1.0)
        b = a + a
        c = b + b
        c.backward()
        """, ("a", "b", "c")),
    Program("diamond", "a diamond: a feeds b and c, which meet again in f", """
        x = V(2.0)
        a = x + 1
        b = 2 * a
        c = 3 * a
        f = b * c
        f.backward()
        """, ("x", "a", "b", "c", "f"), {"rmul"}),
    Program("many_uses", "a node used many times: the sum of 10 uses of x", """
        x = V(0.5)
        s = [1 * x]
        for k in range(2, 11):
            s.append(s[-1] + k * x)
        s[-1].backward()
        """, ("x", "s"), {"rmul"}),  # each partial sum named: a step names each node it uses
    Program("neuron", "a neuron: tanh(w·x + b) with 3 inputs", """
        x = [V(0.5), V(-1.0), V(2.0)]
        w = [V(0.4), V(-0.3), V(0.2)]
        b = V(0.1)
        act = w[0] * x[0] + w[1] * x[1] + w[2] * x[2] + b
        out = act.tanh()
        out.backward()
        """, ("x", "w", "b", "act", "out"), {"tanh"}),
    Program("mlp", "a small MLP's loss: 2 inputs, 4 relu neurons, a linear output",
            """
        x1, x2 = V(0.5), V(-1.0)
        w = [[V(0.3), V(-0.5)], [V(-0.8), V(0.2)], [V(0.6), V(0.9)], [V(-0.4), V(-0.7)]]
        b = [V(0.1), V(-0.2), V(0.05), V(0.3)]
        h = [(wi[0] * x1 + wi[1] * x2 + bi).relu() for wi, bi in zip(w, b)]
        v = [V(0.7), V(-0.6), V(0.5), V(-0.9)]
        c = V(0.2)
        out = v[0] * h[0] + v[1] * h[1] + v[2] * h[2] + v[3] * h[3] + c
        loss = (out - 1.0) ** 2
        loss.backward()
        """, ("x1", "x2", "w", "b", "v", "c", "h", "out", "loss"), {"relu", "sub", "pow"}),
    Program("deep", "a chain of 5,000 nodes, deeper than Python's recursion limit", """
        x = V(0.5)
        y = x
        for _ in range(5000):
            y = y * 1.0001
        y.backward()
        """, ("x", "y"), required=False),
    Program("second_backward", "a second backward() after zeroing the leaves", """
        x = V(2.0)
        u = x * 3
        f = u * u
        f.backward()
        x.grad = 0.0
        f.backward()
        """, ("x", "u", "f"), required=False),
]
PROGRAM = {program.name: program for program in PROGRAMS}


# =============================================================================================
# The worker: runs in a fresh interpreter, with this file loaded by path (standard library only)
# =============================================================================================

# What the worker's interpreter runs: this file's code, compiled once by the parent and sent
# (marshal) on stdin ahead of the request, so that no worker compiles it again (where no .pyc
# is written, compiling this file would cost each worker more than everything else it does).
# It first drops -c's current folder from sys.path: a learner's json.py there must not stand in
# for the standard module (_learner_spec puts the folders the learner's code needs back).
_BOOT = ("import marshal, sys, types\n"
         "if sys.path and sys.path[0] == '': del sys.path[0]\n"
         "code = marshal.loads(sys.stdin.buffer.read(int(sys.stdin.buffer.readline())))\n"
         "m = sys.modules['_tapegrad_check_worker'] = types.ModuleType('_tapegrad_check_worker')\n"
         "m.__file__ = sys.argv[1]\n"
         "exec(code, m.__dict__)\n"
         "m.worker()\n")
_COMPILED: list = []  # this file's code, marshalled: made once, by the first worker's parent


def _worker_code() -> bytes:
    """This file's module code, compiled and marshalled, for `_BOOT`."""
    import marshal

    if not _COMPILED:
        with open(__file__, encoding="utf-8") as source:
            _COMPILED.append(marshal.dumps(compile(source.read(), __file__, "exec")))
    return _COMPILED[0]


class _LoadFailure(Exception):
    """The learner's file cannot be used: the message says why and what to do."""


def _encode(x: object) -> "float | str":
    """A learner's number for JSON: a float, or "nan", "inf", "-inf"; anything that is not a
    number, its repr (shortened)."""
    try:
        number = float(x)
    except Exception:
        text = repr(x) if not isinstance(x, str) else f"the text {x!r}"
        return text if len(text) <= 60 else text[:57] + "..."
    if _math.isfinite(number):
        return number
    return "nan" if _math.isnan(number) else ("inf" if number > 0 else "-inf")


def _decode(x: "float | str") -> "float | str":
    """The inverse of `_encode`: "nan", "inf", "-inf" as floats; other text stays text (made
    safe to print)."""
    if isinstance(x, str):
        return float(x) if x in ("nan", "inf", "-inf") else _visible(x)
    return float(x)


def _learner_frame(frames: list, learner: str) -> "tuple[str, int] | None":
    """(file, line) of the innermost frame in the learner's file, else in the learner's folder,
    else in the program's own text ("<program>"); `frames` innermost last."""
    folder = _os.path.dirname(learner)
    this = _os.path.realpath(__file__)
    mine = [(f, n) for f, n in frames if f == "<program>" or _os.path.realpath(f) != this]
    for test in (lambda f: f != "<program>" and _os.path.realpath(f) == learner,
                 lambda f: f != "<program>" and _os.path.dirname(_os.path.realpath(f)) == folder,
                 lambda f: f == "<program>"):
        found = [(f, n) for f, n in mine if test(f)]
        if found:
            return found[-1]
    return None


def _error_answer(error: BaseException, learner: str) -> dict:
    """A worker's answer for an exception: its kind, type, message and the learner's frame."""
    summary = _traceback.extract_tb(error.__traceback__)
    frames = [(frame.filename, frame.lineno) for frame in summary]
    where = _learner_frame(frames, learner)
    function = next((f.name for f in reversed(summary)
                     if where and (f.filename, f.lineno) == where), None)
    message = str(error)
    return {"error": "recursion" if isinstance(error, RecursionError) else "exception",
            "type": type(error).__name__,
            "message": message if len(message) <= 300 else message[:297] + "...",
            "file": where[0] if where else None, "line": where[1] if where else None,
            "function": function if function != "<module>" else None}


def _learner_spec(request: dict):
    """(module name, import spec) of the learner's module: from its path (a module name of its
    own, its folder first on sys.path, so that its own imports work), or its dotted name from
    the current folder."""
    if request.get("module"):
        _sys.path.insert(0, _os.getcwd())
        name = request["module"]
        try:
            spec = _importlib_util.find_spec(name)
        except ImportError:
            spec = None
        if spec is None or spec.origin is None:
            raise _LoadFailure(f"there is no module {name} importable from "
                               f"{_os.getcwd()}; name the .py file instead")
        return name, spec
    path = request["path"]
    _sys.path.insert(0, _os.path.dirname(_os.path.abspath(path)))
    name = "_tapegrad_check_" + _re.sub(r"\W", "_", _os.path.splitext(_os.path.basename(path))[0])
    spec = _importlib_util.spec_from_file_location(name, path)
    if spec is None:
        raise _LoadFailure("it is not a Python file: name a .py file, or a module")
    return name, spec


def _import_learner(name: str, spec):
    """Run the learner's module (its import-time code) and return it."""
    module = _importlib_util.module_from_spec(spec)
    _sys.modules[name] = module  # (dataclasses and pickle look the module up there)
    spec.loader.exec_module(module)
    return module


def _learner_class(module, name: str) -> type:
    """The class `name` of the learner's module (one that is a class)."""
    cls = getattr(module, name, None)
    if cls is None:
        classes = sorted(n for n, v in vars(module).items()
                         if isinstance(v, type) and getattr(v, "__module__", "") == module.__name__)
        if classes:
            names = ", ".join(classes)
            hint = f"; it defines {names}: name yours with --class {classes[0]}"
        else:
            hint = "; it defines no class at all"
        raise _LoadFailure(f"it has no class {name}{hint}")
    if not isinstance(cls, type):
        raise _LoadFailure(f"its {name} is a {type(cls).__name__}, not a class; name the class "
                           "with --class NAME")
    return cls


def _probe(cls: type) -> list:
    """The features `cls` has (keys of FEATURES); a _LoadFailure unless it has a backward()
    method and its instances a data and a grad."""
    if not callable(getattr(cls, "backward", None)):
        raise _LoadFailure(f"class {cls.__name__} has no backward() method: the check calls "
                           "out.backward() to fill every node's grad")
    try:
        v = cls(1.0)
    except Exception as error:
        raise _LoadFailure(f"{cls.__name__}(1.0) raised {type(error).__name__}: {error}; the "
                           "check makes its inputs as V(number)") from None
    lacking = [field for field in ("data", "grad") if not hasattr(v, field)]
    if lacking:
        raise _LoadFailure(f"{cls.__name__}(1.0) has no {' and no '.join(lacking)}: a node "
                           "keeps its number in .data and its gradient in .grad")
    return [feature for feature, attribute in FEATURES.items() if hasattr(cls, attribute)]


def worker() -> None:
    """The worker's main: read one request (JSON) from stdin, answer one JSON line on stdout.

    The request: ``path`` or ``module``, ``class``, ``timeout``, and ``source`` and ``rows`` of a
    program to run (none: only load the class and list its features). While the learner's code
    runs, its own output goes to /dev/null, and faulthandler writes a traceback to stderr if
    the time runs out (then exits) or the process dies of a signal, for the parent to read."""
    import faulthandler

    request = _json.loads(_sys.stdin.buffer.read().decode("utf-8"))
    answer_fd = _os.dup(1)
    devnull = _os.open(_os.devnull, _os.O_WRONLY)
    _os.dup2(devnull, 1)
    _sys.stdout = _sys.stderr = open(_os.devnull, "w")  # the learner's prints, debugging output
    faults = open(2, "w", closefd=False)
    faulthandler.enable(file=faults)
    faulthandler.dump_traceback_later(request["timeout"], exit=True, file=faults)
    learner, module = "", None
    try:
        name, spec = _learner_spec(request)
        learner = _os.path.realpath(spec.origin)
        module = _import_learner(name, spec)
        cls = _learner_class(module, request["class"])
        if request.get("source") is None:
            answer = {"file": learner, "features": _probe(cls)}
        else:
            rows = run_source(request["source"], tuple(request["rows"]), cls)
            answer = {"rows": [[name, _encode(getattr(node, "data", None)),
                                _encode(getattr(node, "grad", None))] for name, node in rows]}
    except _LoadFailure as failure:
        answer = {"load_error": str(failure)}
    except SyntaxError as error:
        answer = {"load_error": f"syntax error at line {error.lineno}: {error.msg}"
                                + (f" (in {error.filename})" if _os.path.realpath(
                                    error.filename or "") != learner else ""), "syntax": True}
        answer.update(_error_answer(error, learner))
    except BaseException as error:  # the learner's code: SystemExit and KeyboardInterrupt too
        answer = _error_answer(error, learner)
        if module is None:
            answer["load_error"] = "importing it raised " + (f"{answer['type']}: "
                                                             f"{answer['message']}")
    faulthandler.cancel_dump_traceback_later()
    with open(answer_fd, "w", encoding="utf-8") as out:
        out.write(_json.dumps(answer) + "\n")
    _os._exit(0)  # no atexit handlers, no finalisers of the learner's objects


# =============================================================================================
# The parent: one worker per program
# =============================================================================================


class LoadError(Exception):
    """The learner's file cannot be checked (exit status 2): the message says why."""


class Engine:
    """The learner's class, as the check runs it: the file (path as given, or the dotted module
    name), the class name, the file's real path once loaded, and the features it has."""

    __slots__ = ("path", "module", "class_name", "file", "features", "timeout")

    def __init__(self, path: str, class_name: str = "Value", timeout: float = TIMEOUT) -> None:
        self.path, self.class_name, self.timeout = path, class_name, timeout
        self.module = None if _looks_like_a_file(path) else path
        self.file, self.features = "", []

    def request(self, program: "Program | None") -> dict:
        """The JSON request a worker reads for `program` (None: load and list features)."""
        return {"path": None if self.module else self.path, "module": self.module,
                "class": self.class_name, "timeout": self.timeout,
                "source": program.source if program else None,
                "rows": list(program.rows) if program else None}

    def shown(self, file: str) -> str:
        """A file as reports name it: the learner's file as they gave it; another, relative to
        the current folder where it is below it."""
        if file == "<program>":
            return "the program"
        if self.file and _os.path.realpath(file) == self.file and not self.module:
            return self.path
        relative = _os.path.relpath(file)
        return file if relative.startswith("..") else relative


def _looks_like_a_file(path: str) -> bool:
    """Whether PATH names a file (else it is a dotted module name): it ends in .py, has a
    folder in it, or is a file."""
    return path.endswith(".py") or _os.sep in path or "/" in path or _os.path.isfile(path) \
        or not all(part.isidentifier() for part in path.split("."))


def _faulthandler_frame(stderr: str, engine: Engine) -> "tuple[str, int] | None":
    """The learner's frame in a faulthandler traceback (most recent call first)."""
    frames = _re.findall(r'File "([^"]+)", line (\d+)', stderr)
    if not frames:
        return None
    return _learner_frame([(f, int(n)) for f, n in reversed(frames)], engine.file)


def run_worker(engine: Engine, program: "Program | None") -> dict:
    """Run one worker for `program` on the learner's class and return its answer: the rows, or
    an error ``{"error": kind, "type", "message", "file", "line"}`` with kind "exception",
    "recursion", "hang" (out of time) or "crash" (it died without answering)."""
    import signal
    import subprocess

    here = _os.path.realpath(__file__)
    hang = f"did not finish in {engine.timeout:g} s"
    try:
        code = _worker_code()
        request = _json.dumps(engine.request(program)).encode("utf-8")
        done = subprocess.run([_sys.executable, "-c", _BOOT, here],
                              input=b"%d\n%s%s" % (len(code), code, request),
                              capture_output=True, timeout=engine.timeout + 5)
    except subprocess.TimeoutExpired:  # faulthandler did not get to end it: a hard hang
        return {"error": "hang", "type": None, "message": hang, "file": None, "line": None}
    stdout = done.stdout.decode("utf-8", "replace").strip()
    stderr = done.stderr.decode("utf-8", "replace")
    if stdout:
        try:
            return _json.loads(stdout.splitlines()[-1])
        except ValueError:
            pass
    frame = _faulthandler_frame(stderr, engine)
    where = {"file": frame[0] if frame else None, "line": frame[1] if frame else None}
    if "Timeout (" in stderr:
        return {"error": "hang", "type": None, "message": hang, **where}
    if done.returncode < 0:
        try:
            name = signal.Signals(-done.returncode).name
        except ValueError:
            name = f"signal {-done.returncode}"
        message = f"the process was killed by {name}"
    else:
        message = f"the process exited with status {done.returncode} before it could answer"
    return {"error": "crash", "type": None, "message": message, **where}


def load(engine: Engine) -> Engine:
    """Load the learner's class in a worker; fill in `engine`'s file and features. A LoadError
    says why it cannot be checked: no such file, a syntax error (with its line), an exception
    while importing (with the learner's line), no class of that name, or one without
    data, grad or backward()."""
    if not engine.module and not _os.path.isfile(engine.path):
        what = "a folder" if _os.path.isdir(engine.path) else "no such file"
        raise LoadError(f"{engine.path}: {what}; name the .py file that defines your class "
                        f"(e.g. tapegrad check engine.py), or a module importable from here")
    if engine.module:
        engine.file = ""
    else:
        engine.file = _os.path.realpath(engine.path)
    answer = run_worker(engine, None)
    name = engine.module or engine.path
    if "load_error" in answer:
        where = ""
        if answer.get("line") and not answer.get("syntax"):
            where = f" at {_where(engine, answer)}"
        raise LoadError(f"cannot load {name}: {answer['load_error']}{where}")
    if answer.get("error") == "hang":
        raise LoadError(f"cannot load {name}: importing it did not finish in {engine.timeout:g} "
                        f"s{' (at ' + _where(engine, answer) + ')' if answer.get('line') else ''}"
                        "; does it run a program at import? Put that under "
                        "`if __name__ == \"__main__\":`")
    if "error" in answer:
        raise LoadError(f"cannot load {name}: {_error_words(answer)}")
    engine.file, engine.features = answer["file"], answer["features"]
    return engine


def _where(engine: Engine, answer: dict) -> str:
    """'engine.py:12: `return other + self`': the learner's frame, with its line of code."""
    if not answer.get("file"):
        return "an unknown place"
    file, line = answer["file"], answer["line"]
    if file == "<program>":
        return f"line {line} of the program"
    code = _visible(_linecache.getline(file, line).strip())
    shown = f"{_visible(engine.shown(file))}:{line}"
    return f"{shown}: `{code}`" if code else shown


def _visible(text: str) -> str:
    """The learner's text (a message, a line of code, a repr) safe to print: control
    characters written as escapes (tapegrad.explain.visible)."""
    from .explain import visible

    return visible(str(text))


def _error_words(answer: dict) -> str:
    """An error answer as words: 'ZeroDivisionError: float division by zero'."""
    if answer.get("type"):
        kind = _visible(answer["type"])
        return f"{kind}: {_visible(answer['message'])}" if answer["message"] else kind
    return _visible(answer.get("message") or answer["error"])


def run_all(engine: Engine, programs: "list[Program]") -> dict:
    """Each program's worker answer, by name: the programs run side by side, two at a time
    (each in its own process)."""
    from concurrent import futures  # (here: the worker, which loads this file, needs it not)

    runnable = [p for p in programs if p.needs <= set(engine.features)]
    jobs = max(1, min(2, _os.cpu_count() or 1))
    with futures.ThreadPoolExecutor(jobs) as pool:
        answers = dict(zip((p.name for p in runnable),
                           pool.map(lambda p: run_worker(engine, p), runnable)))
    return answers


# =============================================================================================
# The right answer, and the comparison
# =============================================================================================

_RIGHT: dict = {}  # program name -> (rows, nodes): computed once per process


def right_answer(program: Program) -> tuple:
    """The program run on tapegrad's Value (trusted): its rows ``[(name, data, grad)]`` and its
    ``(name, node)`` pairs."""
    if program.name not in _RIGHT or _RIGHT[program.name][2] is not program:
        from .value import Value

        nodes = program.build(Value)
        rows = [(name, node.data, node.grad) for name, node in nodes]
        _RIGHT[program.name] = (rows, nodes, program)
    return _RIGHT[program.name][:2]


def same(yours: "float | str", right: float) -> bool:
    """Whether the learner's number is the right one: within a relative 1e-9 (absolute 1e-12
    near 0); nan matches nan, an infinity the same infinity; text (not a number) never."""
    if isinstance(yours, str) or isinstance(yours, bool):
        return False
    if _math.isnan(right) or _math.isnan(yours):
        return _math.isnan(right) and _math.isnan(yours)
    return _math.isclose(yours, right, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def compare(yours: list, right: list) -> "dict | None":
    """The first wrong node, or None when every number is right. `yours` and `right` are rows
    ``(name, data, grad)`` in topological order. Data first, from the inputs on (the first wrong
    data is where the forward pass goes wrong); then grads, from the output back (the first
    wrong grad the backward sweep reaches: those below it follow from it). Returns
    ``{"node", "field", "yours", "right", "index"}``."""
    if [row[0] for row in yours] != [row[0] for row in right]:
        raise ValueError(f"the rows differ: {[r[0] for r in yours]} and {[r[0] for r in right]}")
    for index, ((name, data, _), (_, right_data, _)) in enumerate(zip(yours, right)):
        if not same(data, right_data):
            return {"node": name, "field": "data", "yours": data, "right": right_data,
                    "index": index}
    for index in range(len(right) - 1, -1, -1):
        name, _, grad = yours[index]
        if not same(grad, right[index][2]):
            return {"node": name, "field": "grad", "yours": grad, "right": right[index][2],
                    "index": index}
    return None


# =============================================================================================
# The chain-rule step, from tapegrad's record and rule table
# =============================================================================================


def rule_text(op: object) -> str:
    """An op's local derivatives, as the rule table says them: a function op's documented rule
    (``tanh: d/dx = (1 - y)(1 + y) with y = tanh(x)``), an operator's read off its rule
    (``x * y: ∂/∂x = y, ∂/∂y = x``)."""
    from .ops import RULES
    from .symbolic import SYM_MATH, Sym

    rule = RULES[op]
    if rule.doc and "; " in rule.doc:
        return f"{rule.method}: {rule.doc.split('; ', 1)[1].rstrip('.')}"
    names = ("x", "y")[: rule.arity] if rule.arity > 0 else ()
    args = [Sym(n) for n in names] + ([Sym("k")] if rule.takes_constant else [])
    partials = rule.partials(SYM_MATH, Sym("out"), *args)
    written = f" {rule.symbol} ".join([*names] + (["k"] if rule.takes_constant else []))
    if len(names) == 1:
        return f"{written}: d/dx = {Sym.of(partials[0]).text}"
    parts = ", ".join(f"∂/∂{n} = {Sym.of(p).text}" for n, p in zip(names, partials))
    return f"{written}: {parts}"


def _show(x: "float | str") -> str:
    """A number as a report writes it: 6 significant digits (text as it is)."""
    if isinstance(x, str):
        return x
    return f"{x:.6g}"


def _show_pair(yours: "float | str", right: float) -> tuple:
    """The learner's number and the right one, with digits enough to tell them apart."""
    a, b = _show(yours), _show(right)
    if a == b and not isinstance(yours, str):
        a, b = repr(float(yours)), repr(float(right))
    return a, b


def _factor(x: float) -> str:
    """A number inside a product: negative ones in parentheses, so `1 × (-1)` reads clearly."""
    return f"({_show(x)})" if x < 0 else _show(x)


class Step:
    """How the right gradient of one compared node comes about, on the right graph: the terms
    ``(user, upstream, local, ops)`` of d(out)/d(node) = Σ upstream × local over its compared
    users (the other compared nodes held fixed): a term per direct use (x * x: two), but the
    paths to one user through nodes the program does not name are one term, its local
    derivative the sum over those paths of the product along each, and ``ops`` the ops on them
    (so each ∂user/∂node names one number); the shares of each direct use (grad of the user ×
    its partial), and whether the node is a leaf."""

    __slots__ = ("node", "out", "terms", "shares", "leaf", "total")

    def __init__(self, node: str, out: str, terms: list, shares: list, leaf: bool,
                 total: float) -> None:
        self.node, self.out, self.terms, self.shares, self.leaf, self.total = (
            node, out, terms, shares, leaf, total)

    def text(self) -> str:
        """``df/dx = df/du × ∂u/∂x = 14 × 2 = 28``."""
        f, n = self.out, self.node
        if n == f:
            return f"d{f}/d{f} = 1: backward() starts the output's grad at 1"
        if not self.terms:
            return f"{f} does not depend on {n}: d{f}/d{n} = 0"
        symbols = " + ".join(f"d{f}/d{user} × ∂{user}/∂{n}" for user, _, _, _ in self.terms)
        products = " + ".join(f"{_factor(up)} × {_factor(local)}" for _, up, local, _ in self.terms)
        return f"d{f}/d{n} = {symbols} = {products} = {_show(self.total)}"

    def rules(self) -> list:
        """The rule of each op whose local derivative the step uses, once each."""
        seen = []
        for _, _, _, ops in self.terms:
            seen += [op for op in ops if op not in seen]
        return [rule_text(op) for op in seen]


def _merged(*groups: tuple) -> tuple:
    """The items of `groups`, in order, each once."""
    return tuple(dict.fromkeys(item for group in groups for item in group))


def grad_step(nodes: list, index: int) -> Step:
    """The chain-rule step for the grad of compared node `index` of the right `nodes` (the
    (name, Value) pairs of a program run on tapegrad, after its backward). Local derivatives are
    the rule table's, at the recorded point (tapegrad.explain.local_partials)."""
    from .explain import local_partials
    from .graph import Graph
    from .ops import Op

    out_name, out = nodes[-1]
    name, node = nodes[index]
    graph = Graph(out)
    position, arg_indices, everything = graph.index, graph.arg_indices, graph.nodes
    compared = {position[v]: n for n, v in nodes if v in position}
    leaf = node.op is Op.LEAF
    if node not in position:
        return Step(name, out_name, [], [], leaf, 0.0)
    start = position[node]
    tangent: list = [None] * len(everything)
    tangent[start] = 1.0
    path_ops: list = [()] * len(everything)  # the ops on the paths from the node to each one
    terms, shares = [], []
    for j in range(start + 1, len(everything)):
        refs = arg_indices[j]
        reached = [(p, r) for p, r in enumerate(refs) if tangent[r] is not None]
        if not reached:
            continue
        partials = local_partials(everything[j])
        for p, r in reached:
            if r == start:
                shares.append(everything[j].grad * partials[p])
        if j in compared and all(r == start for _, r in reached):  # the node's own uses
            for p, r in reached:
                terms.append((compared[j], everything[j].grad, partials[p], (everything[j].op,)))
        elif j in compared:  # reached through unnamed nodes too: one term, the paths' sum, so
            # that ∂user/∂node names one number however many paths it stands for
            ops = _merged(*(path_ops[r] for _, r in reached), (everything[j].op,))
            local = sum(partials[p] * tangent[r] for p, r in reached)
            terms.append((compared[j], everything[j].grad, local, ops))
        else:
            tangent[j] = sum(partials[p] * tangent[r] for p, r in reached)
            path_ops[j] = _merged(*(path_ops[r] for _, r in reached), (everything[j].op,))
    total = sum(up * local for _, up, local, _ in terms)
    return Step(name, out_name, terms, shares, leaf, total)


def _defining_line(source: str, name: str) -> "str | None":
    """The line of `source` that assigns `name` (``u = 2 * x + 3``), if there is one."""
    for line in source.splitlines():
        if _re.match(rf"\s*{_re.escape(name)}\s*=[^=]", line):
            return line.strip()
    return None


def data_step(program: Program, right: list, index: int) -> str:
    """The forward step of compared node `index`: its line of the program and the right value,
    at its inputs' values (``y = 5 - x = 3 at x = 2``)."""
    name, value = right[index][0], right[index][1]
    line = _defining_line(program.source, name)
    if line is None:
        return f"{name} = {_show(value)}"
    known = {n: d for n, d, _ in right[:index]}
    used = [n for n in dict.fromkeys(_re.findall(r"[A-Za-z_]\w*", line.split("=", 1)[1]))
            if n in known]
    at = ", ".join(f"{n} = {_show(known[n])}" for n in used)
    return f"{line} = {_show(value)}" + (f" at {at}" if at else "")


# =============================================================================================
# Judging one program, then diagnosing by the pattern across programs
# =============================================================================================


class Run:
    """One program's result on the learner's class: ``kind`` ("pass", "mismatch", "skipped",
    "hang", "crash", "exception", "recursion"), the learner's rows (or the worker's error), the
    right rows, the first wrong node with its step, then the outcome and the diagnosis."""

    __slots__ = ("program", "kind", "rows", "right", "error", "first_wrong", "step", "missing",
                 "outcome", "diagnosis", "where")

    def __init__(self, program: Program) -> None:
        self.program, self.kind, self.rows, self.error = program, "skipped", None, None
        self.right, self.first_wrong, self.step, self.missing = [], None, None, []
        self.outcome, self.diagnosis, self.where = "skipped", None, ""


def judge(program: Program, answer: "dict | None", missing: "list[str] | None" = None) -> Run:
    """A program's Run from its worker's `answer` (None: skipped, lacking `missing`): its
    rows compared with tapegrad's, the first wrong node and its step."""
    run = Run(program)
    if answer is None:
        run.missing = list(missing or [])
        return run
    right, nodes = right_answer(program)
    run.right = right
    if "error" in answer:
        run.kind, run.error = answer["error"], answer
        return run
    run.rows = [(name, _decode(data), _decode(grad)) for name, data, grad in answer["rows"]]
    wrong = compare(run.rows, right)
    if wrong is None:
        run.kind = "pass"
        return run
    run.kind, index = "mismatch", wrong.pop("index")
    if wrong["field"] == "data":
        wrong["step"] = data_step(program, right, index)
    else:
        run.step = grad_step(nodes, index)
        wrong["step"] = run.step.text()
    wrong["index"] = index
    run.first_wrong = wrong
    return run


def _close(a: "float | str", b: float) -> bool:
    return not isinstance(a, str) and same(a, b)


def _one_share(run: Run) -> bool:
    """Whether the learner's wrong grad is what some of the node's uses give, not all: the
    sign of gradients overwritten (each use writes its share over the last)."""
    wrong, step = run.first_wrong, run.step
    if not wrong or wrong["field"] != "grad" or step is None or len(step.shares) < 2:
        return False
    shares = step.shares[:12]
    for size in range(1, len(shares)):
        for subset in _itertools.combinations(shares, size):
            if _close(wrong["yours"], sum(subset)):
                return True
    return False


def per_path_grads(nodes: list) -> list:
    """What a recursive per-path backward() gives each compared node of the right `nodes`
    ((name, Value) pairs): a list of the values it can give (one per order of visiting the
    children), each a dict name -> grad.

    That backward() starts the output's grad at 1, and visiting a node runs its _backward with
    the grad the node has *at that moment* (upstream × local added to each argument), then
    visits each argument in turn (each argument once, or as often as it is listed), so a node
    reached by several paths passes its gradient on once per path, the first times before all
    its uses have added their share. Leaves pass nothing on. Run with an explicit stack."""
    from .explain import local_partials
    from .graph import Graph

    graph = Graph(nodes[-1][1])
    everything, arg_indices, position = graph.nodes, graph.arg_indices, graph.index
    partials = [local_partials(v) if refs else () for v, refs in zip(everything, arg_indices)]
    found = []
    for once, backwards in _itertools.product((False, True), (False, True)):
        grad = [0.0] * len(everything)
        grad[-1] = 1.0
        stack = [len(everything) - 1]
        while stack:
            j = stack.pop()
            refs = arg_indices[j]
            for p, r in enumerate(refs):
                grad[r] += partials[j][p] * grad[j]
            children = list(dict.fromkeys(refs)) if once else list(refs)
            stack.extend(children if backwards else reversed(children))
        grads = {name: grad[position[v]] for name, v in nodes if v in position}
        if grads not in found:
            found.append(grads)
    return found


def _walks_per_path(run: Run) -> bool:
    """Whether the learner's first wrong grad is what a per-path backward() gives there."""
    wrong = run.first_wrong
    if wrong["field"] != "grad" or isinstance(wrong["yours"], str):
        return False
    _, nodes = right_answer(run.program)
    return any(_close(wrong["yours"], grads.get(wrong["node"], _math.nan))
               for grads in per_path_grads(nodes))


def _grad_wrong(run: "Run | None") -> bool:
    return run is not None and run.kind == "mismatch" and run.first_wrong["field"] == "grad"


def _implied_local(run: Run) -> "tuple[float, float] | None":
    """For a program of one op, at its first wrong input: (the learner's local derivative, the
    right one) -- their grad of the input over their grad of the output (the upstream), and the
    same on tapegrad."""
    wrong = run.first_wrong
    if run.rows is None or wrong is None or wrong["field"] != "grad":
        return None
    i = wrong["index"]
    yours_in, yours_out = run.rows[i][2], run.rows[-1][2]
    right_in, right_out = run.right[i][2], run.right[-1][2]
    if isinstance(yours_in, str) or isinstance(yours_out, str) or not yours_out or not right_out:
        return None
    return yours_in / yours_out, right_in / right_out


_REVERSED = {"rsub": ("reversed_rsub", "x - 5", lambda x: x - 5.0),
             "rtruediv": ("reversed_rtruediv", "x / 6", lambda x: x / 6.0)}
# The Op of the rule table behind each op a program checks on its own, where it is one rule.
_RULE_OF = {"add": "ADD", "radd": "ADD", "mul": "MUL", "rmul": "MUL", "pow": "POW",
            "relu": "RELU", "tanh": "TANH", "exp": "EXP", "log": "LOG"}
# The ops the derived operators are usually written with (micrograd's way: x - y is
# x + (-y), -x is x * -1, x / y is x * y ** -1), in the order to blame them.
_WRITTEN_WITH = {"radd": ("add",), "rmul": ("mul",), "sub": ("add", "mul"),
                 "rsub": ("add", "mul"), "neg": ("mul",),
                 "truediv": ("pow", "mul"), "rtruediv": ("pow", "mul")}
_METHOD = {"add": "__add__", "mul": "__mul__", **FEATURES}


def _diagnosis(id_: str, op: "str | None", words: str, fix: str) -> dict:
    return {"id": id_, "op": op, "words": words, "fix": fix}


class _Evidence:
    """What the programs show together: the facts the diagnoses are made of."""

    def __init__(self, runs: dict) -> None:
        reuse = [runs.get("mul_self"), runs.get("add_self")]
        self.runs = runs
        self.overwrite = any(r is not None and _one_share(r) for r in reuse)
        self.reuse_right = all(r is not None and r.kind == "pass" for r in reuse)
        self.reversed = {}
        for name, (id_, _, formula) in _REVERSED.items():
            run = runs.get(name)
            if run is not None and run.kind == "mismatch" and run.first_wrong["field"] == "data":
                x = run.right[0][1]
                if _close(run.first_wrong["yours"], formula(x)):
                    self.reversed[name] = id_
        self.wrong_ops: dict = {}
        for run in runs.values():
            op = run.program.tests
            if op and _grad_wrong(run) and not _one_share(run) and op not in self.wrong_ops:
                self.wrong_ops[op] = run
        self.recursing = [op for op in REFLECTED
                          if runs.get(op) is not None and runs[op].kind == "recursion"]


def _uses(program: Program) -> set:
    """The ops a program may use: what it needs, and + and * for any but a one-op program."""
    return set(program.needs) | ({program.tests} if program.tests else {"add", "mul"})


def diagnose(run: Run, evidence: _Evidence) -> "dict | None":
    """The diagnosis of one program's run, from its own pattern and the others' (`evidence`):
    a dict ``{"id", "op", "words", "fix"}``, or None when it passed or no known mistake fits."""
    program, wrong = run.program, run.first_wrong
    if run.kind in ("pass", "skipped"):
        return None
    if run.kind == "hang":
        return _hang(run)
    if run.kind == "crash":
        return _crash(run)
    if run.kind == "recursion":
        return _recursion(run, evidence)
    if run.kind == "exception":
        return _exception(run)
    if wrong["field"] == "data":
        return _wrong_data(run, evidence)
    if evidence.overwrite and _one_share(run):
        return _overwrite(run)
    if program.name == "second_backward":
        return _interior_not_reset(run)
    if evidence.reuse_right and _walks_per_path(run):
        return _per_path(run)
    underlying = [op for op in _WRITTEN_WITH.get(program.tests, ()) if op in evidence.wrong_ops]
    if underlying:  # 6 / x is wrong because the ** it is written with is
        return _wrong_local(evidence.wrong_ops[underlying[0]], run)
    if program.tests and program.tests in evidence.wrong_ops:
        return _wrong_local(evidence.wrong_ops[program.tests], run)
    for op, source in evidence.wrong_ops.items():
        if op in _uses(program):
            return _wrong_local(source, run)
    return None


def _hang(run: Run) -> dict:
    where = " (the place above is where it was when the time ran out)" if run.where else ""
    return _diagnosis(
        "hang", None,
        f"the program did not finish in the time allowed{where}. A backward() that never "
        "ends is usually a loop that never moves on: an index not advanced on some path (a "
        "`continue` before `i -= 1`), a `while` that waits for what nothing will change, or a "
        "walk over the graph that keeps going round because it does not remember the nodes it "
        "has visited.",
        "make every loop in backward() move on each time round: sweep with "
        "`for node in reversed(order):`, and mark nodes visited while sorting")


def _crash(run: Run) -> dict:
    return _diagnosis(
        "crash", None,
        f"the process running your class died without an answer: {run.error['message']}. "
        "Python code does not do that by itself: look for os._exit, os.abort, "
        "os.kill, or a C extension called with bad arguments.",
        "remove the call that ends the process; raise an exception instead if something is "
        "wrong")


def _recursion(run: Run, evidence: _Evidence) -> dict:
    program = run.program
    # The reflected operator at fault: the one whose own program recursed at the same place
    # (5 - x may recurse in __radd__, which __rsub__ calls), else this program's own.
    same_place = [op for op in evidence.recursing if evidence.runs[op].where == run.where]
    reflected = same_place or [op for op in evidence.recursing
                               if op == program.tests or op in program.needs]
    if reflected:
        op = reflected[0]
        symbol = REFLECTED[op]
        return _diagnosis(
            "radd_recursion", op,
            f"`{_expression(op)}` calls your {FEATURES[op]}, and it calls itself without end: "
            f"writing `other {symbol} self` there, with `other` a number, asks Python for "
            f"number {symbol} Value again, which is {FEATURES[op]} again, until the recursion "
            "limit stops it.",
            f"turn the number into a node first and use the operator with the node on the left: "
            f"`return {_REFLECTED_FIX[op]}`")
    if not program.required:
        return _diagnosis(
            "recursion", None,
            "RecursionError on a graph deeper than Python's recursion limit (about 1,000 "
            "calls): backward() walks the graph with a function that calls itself once per "
            "level (to sort it topologically, or to visit each node), so 5,000 nodes in a chain "
            "need 5,000 nested calls. "
            "micrograd does this too; a network's graph is rarely that deep, but an RNN "
            "unrolled over a long sequence is.",
            "build the topological order with an explicit stack instead of recursion: push "
            "(node, False); when popping (node, False) push (node, True) and then each child "
            "not yet visited; when popping (node, True) append the node to the order")
    return _exception(run)


_REFLECTED_FIX = {"radd": "self + other", "rsub": "V(other) + (-self)",
                  "rmul": "self * other", "rtruediv": "V(other) * self ** -1"}


def _expression(op: str, program: "Program | None" = None) -> str:
    """The expression of the one-op program that checks `op` (``5 - x``), from its source."""
    program = program or PROGRAM[op]
    return program.source.splitlines()[1].split(" = ", 1)[1]


def _exception(run: Run) -> dict:
    error = run.error
    function = error.get("function")
    if error.get("file") == "<program>":
        whose = "the program stopped in its own line: your class does not support what it does"
    else:
        whose = f"your {function}() raised" if function else "your code raised"
    return _diagnosis(
        "exception", run.program.tests,
        f"{whose} {_error_words(error)}, so the program never got to compare a gradient.",
        "fix the line shown; to see it happen, run the program above yourself with your class "
        "as V (from your_file import Value as V)")


def _wrong_data(run: Run, evidence: _Evidence) -> "dict | None":
    program = run.program
    name = program.name
    own = [op for op in _REVERSED
           if op in evidence.reversed and (op == name or op in program.needs)]
    if own:
        op = own[0]
        id_, swapped, _ = _REVERSED[op]
        symbol = REFLECTED[op]
        follows = "" if op == name else f" (the same mistake as in program {op})"
        return _diagnosis(
            id_, op,
            f"the operands of {FEATURES[op]} are the wrong way round{follows}: "
            f"`{_expression(op)}` calls {FEATURES[op]} with self = x and other = the number on "
            f"the left, and yours computes `{swapped}` (`self {symbol} other`) instead of "
            f"`other {symbol} self`.",
            f"in {FEATURES[op]}, compute other {symbol} self: `return {_REFLECTED_FIX[op]}`")
    return None


def _overwrite(run: Run) -> dict:
    wrong, step = run.first_wrong, run.step
    yours, right = _show_pair(wrong["yours"], wrong["right"])
    return _diagnosis(
        "overwrite", None,
        f"gradients are overwritten instead of accumulated: {wrong['node']} is used "
        f"{len(step.shares)} times, and its grad came to {yours}, the share of some of its uses "
        f"({', '.join(_show(s) for s in step.shares)}), not {right}, their sum. Each use must "
        "add its share to the grad; `=` keeps only the last one written. Nodes used once are "
        "right, which is why simple tests pass.",
        "wherever backward() adds a child's share to its grad (in each op's _backward closure, "
        "or in the loop that multiplies a node's grad by its stored local derivatives), add "
        "with `+=` (`child.grad += local * node.grad`), never assign with `=`")


def _per_path(run: Run) -> dict:
    wrong = run.first_wrong
    yours, right = _show_pair(wrong["yours"], wrong["right"])
    ratio = (f" ({wrong['yours'] / wrong['right']:g} times the right one)"
             if not isinstance(wrong["yours"], str) and wrong["right"] else "")
    return _diagnosis(
        "per_path", None,
        f"a shared node is visited once per path to it: {wrong['node']}'s grad came to {yours} "
        f"instead of {right}{ratio}. A backward() that recurses into each child and runs its "
        "backward step there (its _backward, or the loop over its stored local derivatives) "
        "passes a shared node's gradient on once for every path that reaches "
        "it, the first times before all of its uses have added their share. Graphs without "
        "shared nodes (trees), and a node used twice in one op, come out right.",
        "sort the graph topologically first (each node once, after everything that uses it), "
        "then pass each node's grad on to its children once, from the output back: "
        "`for node in reversed(topo):` run its _backward, or add each stored local "
        "derivative × node.grad to its child's grad")


def _interior_not_reset(run: Run) -> "dict | None":
    wrong, step = run.first_wrong, run.step
    if step is None or step.leaf or isinstance(wrong["yours"], str) or not _close(
            wrong["yours"], 2 * wrong["right"]):
        return None
    yours, right = _show_pair(wrong["yours"], wrong["right"])
    return _diagnosis(
        "interior_not_reset", None,
        f"a second backward() after zeroing the leaves double-counts: the interior node "
        f"{wrong['node']} kept the first call's gradient, so its grad came to {yours}, twice "
        f"{right}, and what it passes on to the leaves is doubled too. micrograd does this too; "
        "it matters when a program calls backward() twice on one graph (zero_grad() zeroes "
        "only the parameters).",
        "in backward(), set the grad of every interior node (every node made by an op) to 0 "
        "before the sweep, then the output's to 1; leave the leaves' alone, so that they still "
        "add up over several calls")


def _own_local(run: Run, op: str) -> "tuple[str, str, str, str, float, float] | None":
    """The learner's local derivative at `run`'s own first wrong node, where it can be isolated:
    (expression, point, user, node, yours, right) when the node's only use is one `op` node the
    program names (``f = u ** 2``). Then d(out)/d(node) = d(out)/d(user) × ∂user/∂node, the
    upstream d(out)/d(user) is right (the sweep reached it first), and the learner's local
    derivative is their d(out)/d(node) ÷ their d(out)/d(user). None when the node has other
    uses, or reaches the user through nodes the program does not name."""
    from .graph import Graph

    wrong, step = run.first_wrong, run.step
    if (run.rows is None or wrong is None or wrong["field"] != "grad" or step is None
            or len(step.terms) != 1 or op not in _RULE_OF):
        return None
    user, _, right, ops = step.terms[0]
    if ops != (_rule_op(op),):
        return None
    _, nodes = right_answer(run.program)
    names = [name for name, _ in nodes]
    i, u = wrong["index"], names.index(user)
    graph = Graph(nodes[-1][1])
    start, end = graph.index[nodes[i][1]], graph.index[nodes[u][1]]
    users = {j for j, refs in enumerate(graph.arg_indices) if start in refs}
    if users != {end}:
        return None
    yours_node, yours_user = run.rows[i][2], run.rows[u][2]
    if isinstance(yours_node, str) or isinstance(yours_user, str) or not yours_user:
        return None
    line = _defining_line(run.program.source, user)
    if line is None:
        return None
    expression = line.split("=", 1)[1].strip()
    known = {n: d for n, d, _ in run.right[:u]}
    used = [n for n in dict.fromkeys(_re.findall(r"[A-Za-z_]\w*", expression)) if n in known]
    at = ", ".join(f"{n} = {_show(known[n])}" for n in used)
    return expression, at, user, wrong["node"], yours_node / yours_user, right


def _wrong_local(source: Run, run: Run) -> dict:
    """wrong_local for `run`, the op being the one `source` (a one-op program) checks: the
    learner's local derivative at `run`'s own node and point where it can be isolated
    (`_own_local`), else at `source`'s, saying that the numbers are from that program."""
    op = source.program.tests
    rule = f"; the rule: {rule_text(_rule_op(op))}" if op in _RULE_OF else ""
    own = _own_local(run, op)
    if own is not None:
        expression, at, out, node, yours, right = own
        final = run.right[-1][0]
        follows = ("" if source is run
                   else f" (program {source.program.name} shows it on its own too)")
    else:
        implied = _implied_local(source)
        out, node = source.right[-1][0], source.first_wrong["node"]
        final = out
        at = ", ".join(f"{name} = {_show(data)}" for name, data, _ in source.right[:-1])
        expression = _expression(op, source.program)
        yours, right = implied if implied is not None else (None, None)
        follows = "" if source is run else (
            f" (the numbers are from program {source.program.name}, where it is on its own; "
            "in this program it cannot be isolated from the other ops)")
    if yours is not None:
        yours, right = _show_pair(yours, right)
        numbers = (f"in `{expression}` at {at}, your local derivative ∂{out}/∂{node} comes to "
                   f"{yours} (your d{final}/d{node} ÷ d{final}/d{out}), and "
                   f"the right one is {right}{rule}")
    else:
        numbers = f"at {at}{rule}"
    return _diagnosis(
        "wrong_local", op,
        f"the local derivative of {_OP_WORDS.get(op, op)} is wrong{follows}: {numbers}.",
        f"in {_METHOD.get(op, op)}, use the rule's local derivative, so that a child's share, "
        "wherever backward() adds it (a _backward closure, or a loop over local derivatives "
        "stored on the node), is that local derivative times the node's grad")


def _rule_op(op: str) -> object:
    from .ops import Op

    return getattr(Op, _RULE_OF[op])


_OP_WORDS = {"add": "+", "radd": "2 + x (__radd__)", "mul": "*", "rmul": "3 * x (__rmul__)",
             "sub": "x - 2 (__sub__)", "rsub": "5 - x (__rsub__)", "truediv": "x / 4 "
             "(__truediv__)", "rtruediv": "6 / x (__rtruediv__)", "neg": "-x (__neg__)",
             "pow": "**", "relu": "relu", "tanh": "tanh", "exp": "exp", "log": "log"}


def outcome(run: Run) -> str:
    """The program's outcome: pass, fail, note (a program not required that did not pass),
    skipped, or for a required one what went wrong: hang, crash, exception, recursion."""
    if run.kind in ("pass", "skipped"):
        return run.kind
    if not run.program.required:
        return "note"
    return "fail" if run.kind == "mismatch" else run.kind


class Result:
    """The whole check: the engine, each program's Run, the features it lacks; ``status``
    ("pass", "fail") and ``exit_status`` (0, 1)."""

    __slots__ = ("engine", "runs", "missing")

    def __init__(self, engine: Engine, runs: list, missing: list) -> None:
        self.engine, self.runs, self.missing = engine, runs, missing

    @property
    def status(self) -> str:
        """"fail" when a required program did not pass, else "pass"."""
        return "fail" if any(run.outcome not in ("pass", "note", "skipped")
                             for run in self.runs) else "pass"

    @property
    def exit_status(self) -> int:
        """0 when every required program passes (or is skipped), else 1."""
        return 1 if self.status == "fail" else 0

    def summary(self) -> str:
        """``14 passed, 2 failed, 2 notes, 3 skipped (no tanh, exp, log)``: the passed always,
        the others where there are any."""
        count = {k: sum(run.outcome == k for run in self.runs) for k in OUTCOMES}
        failed = len(self.runs) - count["pass"] - count["note"] - count["skipped"]
        parts = [f"{count['pass']} passed"]
        if failed:
            parts.append(f"{failed} failed")
        if count["note"]:
            parts.append(f"{count['note']} note" + ("s" if count["note"] != 1 else ""))
        if count["skipped"]:
            parts.append(f"{count['skipped']} skipped (no {', '.join(self.missing)})")
        return ", ".join(parts)


def judge_all(engine: Engine, answers: dict, programs: "list[Program]") -> Result:
    """The Result from the workers' `answers` (by program name; a program without one was
    skipped for lacking features): each run judged, then diagnosed with the others' evidence."""
    features = set(engine.features)
    runs, missing = [], []
    for program in programs:
        lacking = [f for f in FEATURES if f in program.needs and f not in features]
        for feature in lacking:
            if feature not in missing:
                missing.append(feature)
        run = judge(program, answers.get(program.name), lacking)
        if run.error and run.error.get("file"):
            run.where = _where(engine, run.error)
        runs.append(run)
    evidence = _Evidence({run.program.name: run for run in runs})
    for run in runs:
        run.diagnosis = diagnose(run, evidence)
        run.outcome = outcome(run)
    return Result(engine, runs, missing)


def check(path: str, class_name: str = "Value", timeout: float = TIMEOUT,
          programs: "list[Program] | None" = None) -> Result:
    """Check the class `class_name` of the learner's file (or dotted module) `path`: every
    program of `programs` (default PROGRAMS) in its own worker, `timeout` seconds each. Raises
    LoadError when the file cannot be loaded."""
    if not (isinstance(timeout, (int, float)) and _math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"the time limit must be a number of seconds > 0, not {timeout!r}")
    programs = PROGRAMS if programs is None else programs
    engine = load(Engine(path, class_name, float(timeout)))
    return judge_all(engine, run_all(engine, programs), programs)


# =============================================================================================
# Reports
# =============================================================================================


def _error_text(run: Run) -> "str | None":
    """A run's error as one line: what happened and where."""
    if run.error is None:
        return None
    text = _error_words(run.error)
    return text + (f" at {run.where}" if run.where else "")


def _program_json(run: Run) -> dict:
    wrong = run.first_wrong
    first = None
    if wrong is not None:
        first = {"node": wrong["node"], "field": wrong["field"],
                 "yours": _encode(wrong["yours"]), "right": _encode(wrong["right"]),
                 "step": wrong["step"]}
    error = _error_text(run)
    if run.outcome == "skipped":
        error = f"skipped: the class has no {', '.join(run.missing)}"
    return {"name": run.program.name, "required": run.program.required, "outcome": run.outcome,
            "source": run.program.source, "first_wrong": first, "diagnosis": run.diagnosis,
            "error": error}


def json_report(result: Result) -> str:
    """The check as JSON: file, class, status, missing, programs, summary (docs/check.md)."""
    return _json.dumps({
        "file": result.engine.path, "class": result.engine.class_name, "status": result.status,
        "missing": result.missing, "programs": [_program_json(run) for run in result.runs],
        "summary": result.summary()}, indent=2, ensure_ascii=False)


def load_error_json(path: str, class_name: str, error: LoadError) -> str:
    """The JSON of a file that cannot be loaded: status "error", the reason as the summary."""
    return _json.dumps({"file": path, "class": class_name, "status": "error", "missing": [],
                        "programs": [], "summary": str(error)}, indent=2, ensure_ascii=False)


def _wrap(text: str, indent: str) -> list:
    return _textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ",
                          break_on_hyphens=False, break_long_words=False)


_LABEL = {"pass": "PASS", "fail": "FAIL", "note": "NOTE", "skipped": "SKIPPED", "hang": "HANG",
          "crash": "CRASH", "exception": "ERROR", "recursion": "ERROR"}


def _status_line(run: Run) -> str:
    line = f"{_LABEL[run.outcome]:<8} {run.program.name:<16} {run.program.title}"
    if run.outcome == "skipped":
        line += f" (skipped: no {', '.join(run.missing)})"
    return line


def _repeated(run: Run, told: dict) -> "str | None":
    """One line for a crash or a hang the same as one `told` (diagnosis -> (the program it was
    given for, where)) already shows in full: ``CRASH mlp: crash, the same as in sanity above``,
    and where a crash was if that differs. None for anything else."""
    diagnosis = run.diagnosis
    if run.kind not in ("crash", "hang") or diagnosis is None:
        return None
    key = tuple(diagnosis.values())
    if key not in told:
        return None
    first, where = told[key]
    # (a hang's place is wherever the time ran out, so only a crash's different place is news)
    here = f"; here at {run.where}" if run.kind == "crash" and run.where != where else ""
    return f"{_LABEL[run.outcome]} {run.program.name}: {run.kind}, the same as in {first} above" \
        + here


def _details(run: Run, told: dict) -> list:
    """The lines for a program that did not pass: its source, the first wrong node and the
    step, or the error; the diagnosis and the fix, unless `told` (diagnosis -> the program it
    was given for) says an earlier program had the very same one."""
    lines = ["", f"{_LABEL[run.outcome]} {run.program.name}: {run.program.title}"]
    lines += ["    " + line for line in run.program.source.splitlines()]
    wrong = run.first_wrong
    if wrong is not None:
        yours, right = _show_pair(wrong["yours"], wrong["right"])
        lines.append(f"  first wrong node: {wrong['node']}.{wrong['field']}: yours {yours}, "
                     f"right {right}")
        what = "the forward step" if wrong["field"] == "data" else "the chain rule"
        lines += _wrap(f"{what}: {wrong['step']}", "  ")
        if run.step is not None:
            for rule in run.step.rules():
                lines += _wrap(f"the rule: {rule}", "    ")
    elif run.error is not None:
        lines += _wrap(f"what happened: {_error_text(run)}", "  ")
    diagnosis = run.diagnosis
    key = diagnosis and tuple(diagnosis.values())
    if diagnosis is not None and key in told:
        lines += _wrap(f"diagnosis ({diagnosis['id']}): the same as for {told[key][0]} above",
                       "  ")
    elif diagnosis is not None:
        told[key] = (run.program.name, run.where)
        lines += _wrap(f"diagnosis ({diagnosis['id']}): {diagnosis['words']}", "  ")
        lines += _wrap(f"fix: {diagnosis['fix']}", "  ")
    elif wrong is not None and wrong["field"] == "data":
        lines += _wrap("diagnosis: none of the known mistakes fits this pattern. The forward pass "
                       f"already differs at {wrong['node']}, before any gradient: check how your "
                       "class computes the step above", "  ")
    else:
        lines += _wrap("diagnosis: none of the known mistakes fits this pattern; start from "
                       "the first wrong node above and check its step against the rule", "  ")
    return lines


def text_report(result: Result) -> str:
    """The check as text: a line per program, then each one that did not pass in detail (its
    source, the first wrong node, yours vs right, the chain-rule step, the diagnosis and the
    fix), then the summary."""
    engine = result.engine
    lines = [f"tapegrad check {engine.path} (class {engine.class_name})", ""]
    lines += [_status_line(run) for run in result.runs]
    told: dict = {}
    repeating = False  # the last lines are one-line repeats: the next one follows them directly
    for run in result.runs:
        if run.outcome in ("pass", "skipped"):
            continue
        repeat = _repeated(run, told)
        if repeat is not None:
            lines += ([] if repeating else [""]) + _wrap(repeat, "")
        else:
            lines += _details(run, told)
        repeating = repeat is not None
    lines += ["", result.summary()]
    return "\n".join(lines)


__all__ = ["check", "text_report", "json_report", "load_error_json", "compare", "same",
           "judge", "judge_all", "diagnose", "grad_step", "data_step", "rule_text", "outcome",
           "right_answer", "run_source", "run_worker", "load", "worker", "Engine", "Program",
           "Result", "Run", "Step", "LoadError", "PROGRAMS", "PROGRAM", "FEATURES", "TIMEOUT",
           "OUTCOMES", "DIAGNOSES"]
