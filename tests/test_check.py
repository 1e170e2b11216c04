"""``tapegrad check``: the engines in tests/check_engines, each correct.py with one classic bug,
checked as a learner or a course's CI runs it.

First, without tapegrad check: each engine has the bug its docstring names (the classic symptom,
by hand). Then one table, one row per engine: the exit status, the diagnosis ids among the
failures, the notes, and the programs that fail, read from the ``--json`` report; each engine is
checked once per module (in this process, through check.check() and the report functions the
command line prints) and the rows' tests, the golden reports and the doc's examples share the
result. Through the command line itself: files that cannot be loaded (exit status 2, saying why),
micrograd's own engine (exit 0 with exactly its two notes, when it is installed, from --json) and
a golden text report (exit 1), which also holds the command line to what the functions give.
Last, docs/check.md: its worked examples are what the check prints today.
"""

import contextlib
import importlib.util
import json
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ENGINES = TESTS / "check_engines"
ROOT = TESTS.parent
DOC = ROOT / "docs" / "check.md"
HANG_TIMEOUT = "2"  # seconds per program for hangs.py, so that its hangs cost little


def _load(name: str):
    """The Value class of tests/check_engines/<name>.py, imported in this process."""
    spec = importlib.util.spec_from_file_location(f"_check_engine_{name}", ENGINES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Value


# ---------------------------------------------------------------------------------------------
# The engines have the bugs they say they have (by hand, without tapegrad check)
# ---------------------------------------------------------------------------------------------


def _sanity(V):
    """f = (2x + 3)² at x = 2: (u, f, df/dx), by hand (7, 49, 28)."""
    x = V(2.0)
    u = 2 * x + 3
    f = u ** 2
    f.backward()
    return u.data, f.data, x.grad


def _shared(V):
    """b = a + a; c = b + b: dc/da = 4."""
    a = V(1.0)
    b = a + a
    c = b + b
    c.backward()
    return a.grad


def _square(V):
    """x * x at 3: 6."""
    x = V(3.0)
    (x * x).backward()
    return x.grad


def _rsub(V):
    """5 - x at 2: (3, -1)."""
    x = V(2.0)
    y = 5 - x
    y.backward()
    return y.data, x.grad


def _rtruediv(V):
    """6 / x at 2: (3, -1.5)."""
    x = V(2.0)
    y = 6 / x
    y.backward()
    return y.data, x.grad


def _tanh(V):
    """d tanh(x)/dx at 0.5: 1 - tanh(0.5)²."""
    x = V(0.5)
    x.tanh().backward()
    return x.grad


def _deep(V):
    """A chain of 5,000 nodes: dy/dx = 1, or the RecursionError."""
    x = V(1.0)
    y = x
    for _ in range(5000):
        y = y * 1.0
    try:
        y.backward()
    except RecursionError:
        return RecursionError
    return x.grad


def _twice(V):
    """The sanity check's backward() again after zeroing x: 28 again."""
    x = V(2.0)
    f = (2 * x + 3) ** 2
    f.backward()
    x.grad = 0.0
    f.backward()
    return x.grad


def _radd(V):
    """2 + x at 2: 4, or the RecursionError."""
    try:
        return (2 + V(2.0)).data
    except RecursionError:
        return RecursionError


def _exp(V):
    """d exp(x)/dx at 1: e, or the error."""
    x = V(1.0)
    try:
        x.exp().backward()
    except TypeError as error:
        return str(error)
    return x.grad


RIGHT = {_sanity: (7.0, 49.0, 28.0), _shared: 4.0, _square: 6.0, _rsub: (3.0, -1.0),
         _rtruediv: (3.0, -1.5), _tanh: 1 - math.tanh(0.5) ** 2, _deep: 1.0, _twice: 28.0,
         _radd: 4.0, _exp: math.e}
# (engine, {program: what it gives instead of the right answer}); every other program is right.
SYMPTOMS = [
    ("correct", {}),
    ("overwrite", {_shared: 1.0, _square: 3.0}),
    ("per_path", {_shared: 8.0, _deep: RecursionError, _twice: 84.0}),
    ("reversed_rsub", {_rsub: (-3.0, 1.0)}),
    ("reversed_rtruediv", {_rtruediv: (1 / 3, 1 / 6)}),
    ("wrong_tanh", {_tanh: 1 - math.tanh(0.5)}),
    ("wrong_pow", {_sanity: (7.0, 49.0, 196.0), _twice: 196.0, _rtruediv: (3.0, -3.0)}),
    ("radd_recursion", {_radd: RecursionError}),
    ("raises", {_exp: "must be real number, not Value"}),
]


@pytest.mark.parametrize("engine, wrong", SYMPTOMS, ids=[row[0] for row in SYMPTOMS])
def test_each_engine_has_the_one_bug_its_docstring_names(engine, wrong):
    V = _load(engine)
    for program, right in RIGHT.items():
        got = program(V)
        want = wrong.get(program, right)
        same = got == pytest.approx(want) if isinstance(want, (float, tuple)) else got == want
        assert same, f"{engine}.py, {program.__doc__}: {got!r}, expected {want!r}"


def test_no_tanh_lacks_tanh_exp_and_log_and_is_otherwise_correct():
    V = _load("no_tanh")
    assert not any(hasattr(V, name) for name in ("tanh", "exp", "log"))
    for program, right in RIGHT.items():
        if program not in (_tanh, _exp):
            assert program(V) == pytest.approx(right), program.__doc__


def _run_engine_program(engine: str, code: str, timeout: float) -> subprocess.CompletedProcess:
    """`code` run with V, the engine's Value, in a fresh interpreter."""
    prelude = ("import importlib.util as u; s = u.spec_from_file_location('e', %r); "
               "m = u.module_from_spec(s); s.loader.exec_module(m); V = m.Value\n"
               % str(ENGINES / f"{engine}.py"))
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True,
                          timeout=timeout)


def test_hangs_loops_forever_only_on_a_zero_gradient():
    done = _run_engine_program("hangs", "x = V(2.0); (3 * x).relu().backward(); print(x.grad)", 10)
    assert done.stdout == "3.0\n"
    with pytest.raises(subprocess.TimeoutExpired):
        _run_engine_program("hangs", "x = V(-2.0); x.relu().backward()", 1)


def test_crashes_dies_by_a_signal_in_backward():
    code = "x = V(2.0); y = x * 3; print('forward'); y.backward()"
    result = _run_engine_program("crashes", code, 10)
    assert result.stdout == "forward\n" and result.returncode == -signal.SIGABRT


def test_every_engine_file_starts_with_a_docstring_naming_its_bug_and_the_fix():
    for path in sorted(ENGINES.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert text.startswith('"""'), path.name
        doc = text[3:text.index('"""', 3)]
        assert "Bug:" in doc and "Fix:" in doc, f"{path.name}: its docstring names no bug or fix"


# ---------------------------------------------------------------------------------------------
# tapegrad check on each engine: one table, read from the --json report
# ---------------------------------------------------------------------------------------------


def _env() -> dict:
    """This tree's tapegrad first on the path, whatever is installed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def run_check(*args, cwd: Path = ENGINES) -> subprocess.CompletedProcess:
    """`tapegrad check ARGS` in a fresh interpreter, from the engines' folder by default (so that
    reports name the files as a learner in their own folder sees them)."""
    return subprocess.run([sys.executable, "-m", "tapegrad", "check", *map(str, args)],
                          capture_output=True, text=True, env=_env(), cwd=cwd, timeout=600)


def _options(engine: str) -> tuple:
    """The options an engine is checked with: a short time limit where programs hang."""
    return ("--timeout", HANG_TIMEOUT) if engine == "hangs" else ()


OUTCOMES = {"pass", "fail", "note", "skipped", "hang", "crash", "exception", "recursion"}
FAILED = OUTCOMES - {"pass", "note", "skipped"}
EVERY_OTHER = "*"  # in a row's outcomes: every program the row does not name
# One row per engine: (engine, exit status, {diagnosis id: op} among the failures, diagnosis ids
# of the notes, {program: outcome} for every program that does not pass). A program that is not
# required (deep, second_backward) gives a note whenever it differs, diagnosed like a failure.
TABLE = [
    ("correct", 0, {}, set(), {}),
    ("no_tanh", 0, {}, set(),
     {"tanh": "skipped", "exp": "skipped", "log": "skipped", "neuron": "skipped"}),
    ("overwrite", 1, {"overwrite": None}, {"overwrite"},
     {"mul_self": "fail", "add_self": "fail", "shared": "fail", "diamond": "fail",
      "many_uses": "fail", "mlp": "fail", "second_backward": "note"}),
    ("per_path", 1, {"per_path": None}, {"recursion", "interior_not_reset"},
     {"shared": "fail", "diamond": "fail", "deep": "note", "second_backward": "note"}),
    ("reversed_rsub", 1, {"reversed_rsub": "rsub"}, set(), {"rsub": "fail"}),
    ("reversed_rtruediv", 1, {"reversed_rtruediv": "rtruediv"}, set(), {"rtruediv": "fail"}),
    ("wrong_tanh", 1, {"wrong_local": "tanh"}, set(), {"tanh": "fail", "neuron": "fail"}),
    ("wrong_pow", 1, {"wrong_local": "pow"}, set(),  # division is written with x ** -1
     {"sanity": "fail", "pow": "fail", "pow_fraction": "fail", "rtruediv": "fail", "mlp": "fail"}),
    ("radd_recursion", 1, {"radd_recursion": "radd"}, set(), {"radd": "recursion"}),
    ("hangs", 1, {"hang": None}, set(), {"relu_negative": "hang", "mlp": "hang"}),  # a zero grad
    ("crashes", 1, {"crash": None}, {"crash"},
     {EVERY_OTHER: "crash", "deep": "note", "second_backward": "note"}),
    ("raises", 1, {"exception": "exp"}, set(), {"exp": "exception"}),
]


@contextlib.contextmanager
def _in(folder: Path):
    """Run the block from `folder`, as `run_check` runs the command line."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


@pytest.fixture(scope="module")
def ran():
    """ARGS -> `tapegrad check ARGS` as it finishes from the engines' folder: what it prints on
    stdout and stderr and its exit status. A file that loads is checked in this process, once
    whatever the options: check.check(), then text_report or json_report, what the command line
    prints (test_the_command_line_prints_what_the_functions_give holds it to that); a file that
    cannot be loaded goes through the command line itself."""
    from tapegrad.check import LoadError, check, json_report, text_report
    from tapegrad.cli import _build_parser

    results, done = {}, {}

    def run(*args: str) -> subprocess.CompletedProcess:
        if args in done:
            return done[args]
        options = _build_parser().parse_args(["check", *args])
        key = (options.path, options.class_name, options.timeout)
        with _in(ENGINES):
            try:
                if key not in results:
                    results[key] = check(*key)
            except LoadError:
                done[args] = run_check(*args)
                return done[args]
            result = results[key]
            report = json_report(result) if options.json else text_report(result)
        done[args] = subprocess.CompletedProcess(args, result.exit_status, report + "\n", "")
        return done[args]

    return run


@pytest.fixture(scope="module")
def json_of(ran):
    """engine -> (the finished `tapegrad check ENGINE.py --json`, its report)."""

    def run(engine: str) -> tuple:
        result = ran(f"{engine}.py", "--json", *_options(engine))
        try:
            return result, json.loads(result.stdout)
        except ValueError:
            pytest.fail(f"{engine}.py: --json printed no JSON (exit {result.returncode}):\n"
                        f"{result.stdout}\n{result.stderr}")

    return run


@pytest.fixture(params=TABLE, ids=[row[0] for row in TABLE])
def checked(request, json_of):
    """(table row, the finished process, its --json report)."""
    return (request.param, *json_of(request.param[0]))


def _failures(report: dict) -> list:
    return [p for p in report["programs"] if p["outcome"] in FAILED]


def _notes(report: dict) -> list:
    return [p for p in report["programs"] if p["outcome"] == "note"]


def _ids(programs: list) -> dict:
    """{diagnosis id: op} of the programs."""
    return {p["diagnosis"]["id"]: p["diagnosis"]["op"] for p in programs if p["diagnosis"]}


def _program(report: dict, name: str) -> dict:
    (program,) = [p for p in report["programs"] if p["name"] == name]
    return program


def test_exit_status_and_overall_status(checked):
    (engine, status, *_), result, report = checked
    assert result.returncode == status, f"{engine}.py: {result.stderr}"
    assert report["status"] == ("pass" if status == 0 else "fail")
    assert (report["file"], report["class"]) == (f"{engine}.py", "Value")


def test_the_outcome_of_every_program(checked):
    (engine, _, _, _, outcomes), _, report = checked
    others = outcomes.get(EVERY_OTHER, "pass")
    got = {p["name"]: p["outcome"] for p in report["programs"]}
    want = {name: outcomes.get(name, others) for name in got}
    assert got == want, engine
    assert set(outcomes) - {EVERY_OTHER} <= set(got), "a program of the table is not run"


def test_diagnoses_among_the_failures(checked):
    (engine, _, ids, _, _), _, report = checked
    failures = _failures(report)
    assert _ids(failures) == ids, f"{engine}.py: {[(p['name'], p['diagnosis']) for p in failures]}"
    assert all(p["diagnosis"] for p in failures), "every failure is diagnosed"
    assert all(p["required"] for p in failures), "a program that is not required gives notes only"


def test_notes(checked):
    (engine, _, _, notes, _), _, report = checked
    assert set(_ids(_notes(report))) == notes, engine
    assert not any(p["required"] for p in _notes(report)), "a required program passes or fails"
    assert all(p["diagnosis"] for p in _notes(report)), "every note says what it is"


def test_the_report_has_the_fields_the_json_format_promises(checked):
    _, _, report = checked
    assert set(report) == {"file", "class", "status", "missing", "programs", "summary"}
    assert len(report["programs"]) >= 25
    for program in report["programs"]:
        assert set(program) == {"name", "required", "outcome", "source", "first_wrong",
                                "diagnosis", "error"}, program
        assert program["outcome"] in OUTCOMES and isinstance(program["required"], bool)
        assert program["source"].strip(), program["name"]
        assert (program["first_wrong"] is not None) == (program["outcome"] == "fail" or (
            program["outcome"] == "note" and program["error"] is None)), program
        if program["first_wrong"] is not None:
            assert set(program["first_wrong"]) == {"node", "field", "yours", "right", "step"}
            assert program["first_wrong"]["field"] in ("data", "grad")
        assert (program["diagnosis"] is None) == (program["outcome"] in ("pass", "skipped"))
        if program["diagnosis"] is not None:
            assert set(program["diagnosis"]) == {"id", "op", "words", "fix"}
            assert program["diagnosis"]["words"] and program["diagnosis"]["fix"]


def test_missing_features_are_listed_and_each_skipped_program_says_which(checked):
    (engine, *_), _, report = checked
    assert sorted(report["missing"]) == (["exp", "log", "tanh"] if engine == "no_tanh" else [])
    for program in report["programs"]:
        if program["outcome"] == "skipped":
            lacks = re.search(r"no (\w+)", program["error"] or "")
            assert lacks and lacks.group(1) in report["missing"], program
            assert lacks.group(1) in program["source"], program


def test_the_summary_counts_the_outcomes(checked):
    _, _, report = checked
    outcomes = [p["outcome"] for p in report["programs"]]
    counted = {{"note": "notes"}.get(word, word): int(n) for n, word in
               re.findall(r"(\d+) (passed|failed|notes?|skipped)", report["summary"])}
    want = {"passed": outcomes.count("pass"), "failed": len(_failures(report)),
            "notes": outcomes.count("note"), "skipped": outcomes.count("skipped")}
    assert counted == {k: n for k, n in want.items() if n or k == "passed"}, report["summary"]


def test_the_learners_own_line_is_named_never_a_traceback_from_tapegrad(checked):
    (engine, *_), result, report = checked
    assert "Traceback" not in result.stdout + result.stderr
    for program in report["programs"]:
        if program["outcome"] in ("exception", "recursion", "hang", "crash") or (
                program["outcome"] == "note" and program["error"]):
            assert re.search(rf"\b{engine}\.py:\d+", program["error"] or ""), program
            assert str(ROOT / "src") not in program["error"], program["error"]


# (engine, program): the first wrong node, field, the learner's number, the right one, and the
# chain-rule step (None: not checked here); the node nearest the output, where the sweep starts.
FIRST_WRONG = [
    ("overwrite", "mul_self", "x", "grad", 3.0, 6.0,
     "dy/dx = dy/dy × ∂y/∂x + dy/dy × ∂y/∂x = 1 × 3 + 1 × 3 = 6"),
    ("overwrite", "shared", "b", "grad", 1.0, 2.0, None),  # b's is wrong before a's
    ("per_path", "shared", "a", "grad", 8.0, 4.0,
     "dc/da = dc/db × ∂b/∂a + dc/db × ∂b/∂a = 2 × 1 + 2 × 1 = 4"),
    ("reversed_rsub", "rsub", "y", "data", -3.0, 3.0, None),
    ("reversed_rtruediv", "rtruediv", "y", "data", 1 / 3, 3.0, None),
    ("wrong_tanh", "tanh", "x", "grad", 1 - math.tanh(0.5), 1 - math.tanh(0.5) ** 2, None),
    ("wrong_pow", "sanity", "u", "grad", 98.0, 14.0, "df/du = df/df × ∂f/∂u = 1 × 14 = 14"),
    ("wrong_pow", "pow", "x", "grad", 24.0, 12.0, "dy/dx = dy/dy × ∂y/∂x = 1 × 12 = 12"),
]


@pytest.mark.parametrize("engine, name, node, field, yours, right, step", FIRST_WRONG,
                         ids=[f"{row[0]}-{row[1]}" for row in FIRST_WRONG])
def test_the_first_wrong_node(json_of, engine, name, node, field, yours, right, step):
    wrong = _program(json_of(engine)[1], name)["first_wrong"]
    assert (wrong["node"], wrong["field"]) == (node, field)
    assert (wrong["yours"], wrong["right"]) == (pytest.approx(yours), pytest.approx(right))
    if step is not None:
        assert wrong["step"] == step


def test_wrong_local_names_the_op_and_the_rule_from_the_rule_table(json_of):
    from tapegrad.ops import RULES

    (tanh,) = [rule for rule in RULES.values() if rule.symbol == "tanh"]
    derivative = tanh.doc.split(";")[1].strip().rstrip(".")  # d/dx = (1 - y)(1 + y) with ...
    diagnosis = _program(json_of("wrong_tanh")[1], "tanh")["diagnosis"]
    assert derivative in diagnosis["words"], "the rule, as the rule table writes it"
    assert "0.537883" in diagnosis["words"] and "0.786448" in diagnosis["words"]  # yours, right


def test_an_exception_is_summarised_to_the_learners_line(json_of):
    line = next(n for n, text in enumerate((ENGINES / "raises.py").read_text().splitlines(), 1)
                if "_math.exp(self)" in text)
    error = _program(json_of("raises")[1], "exp")["error"]
    assert error.startswith("TypeError: must be real number, not Value")
    assert f"raises.py:{line}" in error and "_math.exp(self)" in error


# ---------------------------------------------------------------------------------------------
# Files that cannot be loaded: exit status 2, saying why
# ---------------------------------------------------------------------------------------------


def _refusal(ran, *args, cwd: Path = ENGINES) -> str:
    """What `tapegrad check ARGS` says, text and --json alike, for a file it cannot load; both
    end with exit status 2 and no traceback. Both run through the command line (`ran` sends a
    file that cannot be loaded there, and shares the run with the other tests)."""
    run = ran if cwd == ENGINES else lambda *a: run_check(*a, cwd=cwd)
    text, machine = run(*args), run(*args, "--json")
    assert (text.returncode, machine.returncode) == (2, 2), (text.stderr, machine.stdout)
    assert "Traceback" not in text.stdout + text.stderr + machine.stdout + machine.stderr
    report = json.loads(machine.stdout)
    assert report["status"] == "error" and report["programs"] == []
    said = (text.stdout + text.stderr).strip()
    assert said, "the reason is printed"
    return said + "\n" + json.dumps(report)


def test_a_missing_file(ran, tmp_path):
    said = _refusal(ran, tmp_path / "nowhere.py", cwd=tmp_path)
    assert "nowhere.py" in said and re.search(r"no such file|not found|does not exist", said, re.I)


def test_a_syntax_error_names_its_line(ran):
    said = _refusal(ran, "syntax_error.py")
    assert re.search(r"syntax", said, re.I) and re.search(r"syntax_error\.py:17|line 17", said)


def test_an_exception_at_import_names_the_learners_line(ran, tmp_path):
    (tmp_path / "broken.py").write_text('"""An engine that fails as it is imported."""\n\n'
                                        'raise ValueError("no data yet")\n')
    said = _refusal(ran, "broken.py", cwd=tmp_path)
    assert "ValueError" in said and "no data yet" in said and re.search(r"broken\.py:3", said)


def test_no_class_of_that_name(ran):
    said = _refusal(ran, "no_class.py")
    assert re.search(r"\bValue\b", said) and "--class" in said, "says to name the class"


def test_a_class_without_backward(ran):
    said = _refusal(ran, "no_class.py", "--class", "Scalar")
    assert "Scalar" in said and "backward" in said


def test_a_dotted_module_name_is_imported_from_the_current_folder(ran):
    said = _refusal(ran, "no_class")  # found (else it would say so), imported, its classes read
    assert re.search(r"\bValue\b", said) and not re.search(r"not found|no such", said, re.I)


# ---------------------------------------------------------------------------------------------
# micrograd's own engine, as installed from PyPI
# ---------------------------------------------------------------------------------------------


def test_micrograds_engine_passes_with_exactly_its_two_notes():
    micrograd = pytest.importorskip("micrograd.engine")
    path = Path(micrograd.__file__)
    result = run_check(path, "--json", cwd=path.parent)
    report = json.loads(result.stdout)
    assert (result.returncode, report["status"]) == (0, "pass"), _failures(report)
    assert sorted(p["diagnosis"]["id"] for p in _notes(report)) == ["interior_not_reset",
                                                                   "recursion"]
    assert sorted(report["missing"]) == ["exp", "log", "tanh"]  # micrograd has relu only


# ---------------------------------------------------------------------------------------------
# Golden reports: the exact text
# ---------------------------------------------------------------------------------------------

# What every engine whose only failure is one program lists first (reversed_rsub.py's, here).
LISTING = """\
PASS     sanity           the sanity check, f = (2x + 3)² at x = 2: u = 7, f = 49, df/dx = 28
PASS     add              x + 2 at x = 3, a number on the right
PASS     radd             2 + x at x = 3, a number on the left (__radd__)
PASS     mul              x * 3 at x = 2, a number on the right
PASS     rmul             3 * x at x = 2, a number on the left (__rmul__)
PASS     add_values       x + y, two Values
PASS     mul_values       x * y, two Values
PASS     sub              x - 2 at x = 3, a number on the right
FAIL     rsub             5 - x at x = 2, a number on the left (__rsub__)
PASS     truediv          x / 4 at x = 2, a number on the right
PASS     rtruediv         6 / x at x = 2, a number on the left (__rtruediv__)
PASS     neg              -x at x = 2
PASS     pow              x ** 3 at x = 2
PASS     pow_fraction     x ** -1.5 at x = 4, a negative fractional power
PASS     relu_positive    x.relu() at x = 2
PASS     relu_negative    x.relu() at x = -2
PASS     tanh             x.tanh() at x = 0.5
PASS     exp              x.exp() at x = 0.5
PASS     log              x.log() at x = 2
PASS     mul_self         x * x, a node used twice in one op
PASS     add_self         x + x, a node used twice in one op
PASS     shared           a shared subexpression: b = a + a; c = b + b
PASS     diamond          a diamond: a feeds b and c, which meet again in f
PASS     many_uses        a node used many times: the sum of 10 uses of x
PASS     neuron           a neuron: tanh(w·x + b) with 3 inputs
PASS     mlp              a small MLP's loss: 2 inputs, 4 relu neurons, a linear output
PASS     deep             a chain of 5,000 nodes, deeper than Python's recursion limit
PASS     second_backward  a second backward() after zeroing the leaves
"""
REVERSED_RSUB = f"""\
tapegrad check reversed_rsub.py (class Value)

{LISTING}
FAIL rsub: 5 - x at x = 2, a number on the left (__rsub__)
    x = V(2.0)
    y = 5 - x
    y.backward()
  first wrong node: y.data: yours -3, right 3
  the forward step: y = 5 - x = 3 at x = 2
  diagnosis (reversed_rsub): the operands of __rsub__ are the wrong way round: `5 - x` calls
    __rsub__ with self = x and other = the number on the left, and yours computes `x - 5` (`self -
    other`) instead of `other - self`.
  fix: in __rsub__, compute other - self: `return V(other) + (-self)`

27 passed, 1 failed
"""


def test_the_whole_text_report_of_reversed_rsub(ran):
    result = ran("reversed_rsub.py")
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout == REVERSED_RSUB


def test_the_command_line_prints_what_the_functions_give(ran):
    """The command line's text, JSON and exit status for a file that loads are check.check()'s
    and its report functions' (`ran` checks the engines in this process): the text and exit
    status 1 here, the JSON and exit status 0 in micrograd's test, exit status 2 in the
    refusals'."""
    result = run_check("reversed_rsub.py")
    assert (result.returncode, result.stdout, result.stderr) == (1, REVERSED_RSUB, "")
    assert result.stdout == ran("reversed_rsub.py").stdout


# (command line, the one line on stderr); each ends with exit status 2 and nothing on stdout.
REFUSALS = [
    (("syntax_error.py",),
     "tapegrad check: error: cannot load syntax_error.py: syntax error at line 17: expected ':'"),
    (("no_class.py",),
     "tapegrad check: error: cannot load no_class.py: it has no class Value; it defines Scalar: "
     "name yours with --class Scalar"),
    (("no_class.py", "--class", "Scalar"),
     "tapegrad check: error: cannot load no_class.py: class Scalar has no backward() method: the "
     "check calls out.backward() to fill every node's grad"),
]


@pytest.mark.parametrize("args, line", REFUSALS, ids=[" ".join(row[0]) for row in REFUSALS])
def test_the_exact_line_for_a_file_that_cannot_be_loaded(ran, args, line):
    result = ran(*args)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", line + "\n")


# ---------------------------------------------------------------------------------------------
# docs/check.md: its examples are what the check prints today
# ---------------------------------------------------------------------------------------------

MARKER = "<!-- check-example -->"


def doc_examples(markdown: str) -> list:
    """(command-line arguments, [excerpt, ...]) for each fenced block after the marker: the block
    starts with the command, `$ tapegrad check ARGS`, and the output follows, in excerpts that a
    line of `...` separates (the lines between excerpts are left out)."""
    examples = []
    for block in re.findall(re.escape(MARKER) + r"\n```text\n(.*?)```", markdown, re.S):
        command, *output = block.rstrip("\n").split("\n")
        assert command.startswith("$ tapegrad check "), command
        excerpts, current = [], []
        for line in output:
            if line == "...":
                excerpts.append(current)
                current = []
            else:
                current.append(line)
        excerpts.append(current)
        examples.append((tuple(command.split()[3:]), excerpts))
    return examples


def _contains_in_order(lines: list, excerpts: list) -> bool:
    """Whether each excerpt is a run of consecutive lines of `lines`, each after the one before."""
    start = 0
    for excerpt in excerpts:
        at = next((i for i in range(start, len(lines) - len(excerpt) + 1)
                   if lines[i:i + len(excerpt)] == excerpt), None)
        if at is None or not excerpt:
            return False
        start = at + len(excerpt)
    return True


@pytest.mark.parametrize("markdown, found", [
    ("x\n" + MARKER + "\n```text\n$ tapegrad check a.py --json\nA\nB\n...\nD\n```\n",
     [(("a.py", "--json"), [["A", "B"], ["D"]])]),
    ("```text\n$ tapegrad check a.py\nA\n```\n", []),  # no marker: not an example
])
def test_the_example_reader(markdown, found):
    assert doc_examples(markdown) == found


@pytest.mark.parametrize("lines, excerpts, ok", [
    (["a", "b", "c", "d"], [["a", "b"], ["d"]], True),
    (["a", "b", "c", "d"], [["b", "a"]], False),
    (["a", "b", "c", "d"], [["c"], ["a"]], False),  # out of order
    (["a", "b", "c", "d"], [["a", "c"]], False),  # not consecutive
    (["a"], [[]], False),
])
def test_the_excerpt_matcher(lines, excerpts, ok):
    assert _contains_in_order(lines, excerpts) == ok


EXAMPLES = doc_examples(DOC.read_text(encoding="utf-8"))


@pytest.mark.parametrize("args, excerpts", EXAMPLES,
                         ids=[f"{k}:{' '.join(args)}" for k, (args, _) in enumerate(EXAMPLES)])
def test_each_example_in_the_doc_is_what_the_check_prints(ran, args, excerpts):
    result = ran(*args)
    printed = (result.stdout + result.stderr).rstrip("\n").split("\n")
    assert _contains_in_order(printed, excerpts), (
        f"docs/check.md shows for `tapegrad check {' '.join(args)}` (in tests/check_engines) what "
        "it no longer prints; run it there and paste its output. It prints:\n" + "\n".join(printed))


def test_the_doc_has_a_worked_example_of_every_diagnosis():
    from tapegrad.check import DIAGNOSES

    shown = "\n".join(line for _, excerpts in EXAMPLES for excerpt in excerpts for line in excerpt)
    missing = [d for d in DIAGNOSES if f"diagnosis ({d}):" not in shown]
    assert not missing, f"docs/check.md has no example of {missing}"
    assert len(EXAMPLES) >= 12


def test_the_doc_lists_every_program_with_its_title():
    from tapegrad.check import PROGRAMS

    text = DOC.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| (.*) \|$", text, re.M)
    assert rows == [(p.name, p.title) for p in PROGRAMS]
