"""``tapegrad explain`` and ``tapegrad.explain.build``: the seed's example, derivatives against
the mpmath oracle, the printed chain-rule steps checked line by line, and tables of hostile and
broken inputs that must end with exit status 2 and one line on stderr, never running code; what
the messages suggest (in the expression's syntax), names that never clash, control characters
that never reach the terminal raw, --svg and --html written all or none, each atomically; and a
fuzz of whole command lines that must end with exit status 0, or 2 and one line that is not an
internal error."""

import math
import os
import re
import shutil
import stat
import subprocess
import sys
import time

import mpmath
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracle import assert_close, mp_gradient
from tapegrad import Graph, Value
from tapegrad.cli import main
from tapegrad.explain import MAX_DEPTH, MAX_LENGTH, ExplainError, build, explain, visible

SEED = "(2*x + 3)**2"


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------------------
# The seed's example
# ---------------------------------------------------------------------------------------------


def test_the_seeds_example(capsys):
    code, out, err = run_cli(capsys, "explain", SEED, "--at", "x=2")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert "u = v + 3 = 7" in out  # u = 2x + 3, named as the seed names it
    assert "f = u ** 2 = 49" in out
    assert "df/dx = df/dv × ∂v/∂x = 14 × 2 = 28" in out  # reverse mode, the last step
    assert "df/dx = ∂f/∂u × du/dx = 14 × 2 = 28" in out  # forward mode, the last step
    assert lines[-2:] == ["f = 49", "df/dx = 28"]
    assert str(Graph(build(SEED, {"x": 2.0})[0])).splitlines()[0] in out  # the graph listing


def test_build_returns_the_output_and_named_inputs():
    out, inputs = build("x*y + exp(x)", {"x": 1.0, "y": 3.0})
    assert isinstance(out, Value) and set(inputs) == {"x", "y"}
    assert [inputs["x"].label, inputs["y"].label, out.label] == ["x", "y", "f"]
    assert out.data == pytest.approx(3 + math.e)
    out.backward()
    assert inputs["x"].grad == pytest.approx(3 + math.e) and inputs["y"].grad == 1.0
    labels = [n.label for n in Graph(out).nodes if n.args]
    assert len(set(labels)) == len(labels) and all(labels)  # every interior node named, once


def test_build_records_what_python_would():
    out, inputs = build("x**2", {"x": 3.0})
    assert out._op == "**2"  # a constant exponent, as x ** 2 records it
    out, _ = build("2**x", {"x": 3.0})
    assert out.op.name == "POWV"
    out, _ = build("3", {})
    assert out.data == 3.0 and out.label == "f"


def test_names_avoid_the_inputs():
    out, inputs = build("u*v + f", {"u": 1.0, "v": 2.0, "f": 3.0})
    assert out.label not in {"u", "v", "f"}
    assert {n.label for n in Graph(out).nodes} >= {"u", "v", "f"}
    assert inputs["f"].label == "f"


# ---------------------------------------------------------------------------------------------
# Derivatives against mpmath; every printed step is arithmetic that checks out
# ---------------------------------------------------------------------------------------------

EXPRESSIONS = [
    ("(2*x + 3)**2", {"x": 2.0}),
    ("x*y + exp(x) - y/2", {"x": 1.0, "y": 3.0}),
    ("tanh(x) * sigmoid(y) + log(x*x + 1)", {"x": 0.7, "y": -1.2}),
    ("sqrt(x) / (1 + abs(y))", {"x": 2.5, "y": -0.4}),
    ("x**y + sin(x)*cos(y)", {"x": 1.5, "y": 2.0}),
    ("relu(x - 1) + relu(y) * x", {"x": 3.0, "y": -2.0}),
    ("-x**2 + +y", {"x": 3.0, "y": 1.0}),
    ("x * x * x", {"x": -1.5}),
    ("2**3 + x", {"x": 1.0}),
]
MP_FUNCTIONS = {
    "exp": mpmath.exp, "log": mpmath.log, "tanh": mpmath.tanh, "sin": mpmath.sin,
    "cos": mpmath.cos, "sqrt": mpmath.sqrt, "abs": abs,
    "sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)), "relu": lambda z: max(z, 0 * z),
}


@pytest.mark.parametrize("expr, at", EXPRESSIONS)
def test_results_match_mpmath(expr, at):
    text = explain(expr, at)
    names = list(at)

    def f(*values):  # the same expression, evaluated by Python on mpmath numbers (trusted)
        return eval(expr, {"__builtins__": {}}, {**MP_FUNCTIONS, **dict(zip(names, values))})

    value, grads = mp_gradient(f, [at[n] for n in names])
    results = dict(re.findall(r"^(\S+) = (\S+)$", text, re.MULTILINE))
    assert_close(float(results["f"]), value, "f", rel=1e-5)
    for name, grad in zip(names, grads):
        assert_close(float(results[f"df/d{name}"]), grad, f"df/d{name}", rel=1e-5, abs_=1e-6)


@pytest.mark.parametrize("expr, at", EXPRESSIONS)
def test_every_printed_chain_rule_step_adds_up(expr, at):
    text = explain(expr, at)
    steps = re.findall(r"^  (d\S+) = .+ = (.+ × .+) = (\S+)$", text, re.MULTILINE)
    assert steps, text
    for name, products, total in steps:
        terms = [t.split(" × ") for t in products.split(" + ")]
        value = sum(float(a.strip("()")) * float(b.strip("()")) for a, b in terms)
        assert value == pytest.approx(float(total), rel=1e-4, abs=1e-5), f"{name}: {products}"


@pytest.mark.parametrize("expr, at", EXPRESSIONS)
def test_forward_mode_agrees_with_reverse_mode(expr, at):
    text = explain(expr, at)
    for name in at:
        section = text.split(f"Forward mode for {name}:")[1].split("\n\n")[0]
        last = section.strip().splitlines()[-1].strip()
        reverse = re.search(rf"^df/d{name} = (\S+)$", text, re.MULTILINE).group(1)
        if "does not depend" in last:
            assert float(reverse) == 0.0
        else:
            assert last.startswith(f"df/d{name} = ") and last.endswith(f"= {reverse}")


def test_an_unused_input_has_derivative_zero():
    text = explain("x + 1", {"x": 1.0, "y": 2.0})
    assert "f does not depend on y: df/dy = 0" in text
    assert text.splitlines()[-1] == "df/dy = 0"


# ---------------------------------------------------------------------------------------------
# Hostile and broken input: exit 2, one line on stderr, nothing run
# ---------------------------------------------------------------------------------------------

HOSTILE = [
    ("__import__('os').system('touch PWNED')", "calling"),
    ("open('PWNED', 'w')", "calling `open`"),
    ("x.__class__", "attribute access"),
    ("x.data", "attribute access"),
    ("exp.__globals__", "attribute access"),
    ("print(x)", "calling `print`"),
    ("eval('1')", "calling `eval`"),
    ("exp(x, 2)", "exactly one argument"),
    ("exp(x=1)", "exactly one argument"),
    ("exp", "is a function: call it"),
    ("(lambda: 1)()", "calling"),
    ("lambda: 1", "lambda"),
    ("[i for i in range(10**9)]", "list comprehension"),
    ("sum(i for i in range(9))", "calling"),
    ("{1: 2}", "dict"),
    ("x[0]", "indexing"),
    ("'abc'", "only numbers"),
    ("b'abc'", "only numbers"),
    ("True + x", "only numbers"),
    ("1j * x", "only numbers"),
    ("None", "only numbers"),
    ("x if x else 1", "if-expression"),
    ("x < 1", "comparison"),
    ("x and 1", "and/or"),
    ("(y := 2)", "assignment"),
    ("f'{x}'", "f-string"),
    ("x // 2", "operator //"),
    ("x % 2", "operator %"),
    ("~x", "only unary - and +"),
    ("not x", "only unary - and +"),
    ("x; import os", "syntax error"),
    ("import os", "syntax error"),
    ("x +", "syntax error"),
    ("(x", "syntax error"),
    ("x\x00", "the invisible character \\x00 at column 2"),
    ("", "empty"),
    ("   ", "empty"),
    ("y + 1", "the name 'y' at column 1 has no value; give it one with --at y="),
    ("x" + "+x" * MAX_LENGTH, f"the limit is {MAX_LENGTH}"),
    ("-" * (MAX_DEPTH + 5) + "x", f"the limit is {MAX_DEPTH}"),
    ("+".join(["x"] * (MAX_DEPTH + 5)), f"the limit is {MAX_DEPTH}"),
    ("(" * 250 + "x" + ")" * 250, "syntax error"),
    ("exp(x * 1000)", "overflows a float"),
    ("x ** 2000", "overflows a float"),
    ("10.0 ** 400", "overflows a float"),
    ("2 ** 2 ** 2 ** 2 ** 2", "overflows a float"),
    ("9" * 400, "too large for a float"),
    ("1e999 * x", "overflows a float"),
    ("x * 1e308 * 10", "overflow while evaluating"),
    ("x / 0", "division by zero"),
    ("1 / (x - 2)", "division by zero"),
    ("log(x - 2)", "log needs a number > 0"),
    ("(-8) ** 0.5", "not a real number"),
    ("(x - 4) ** 0.5", "not a real number"),
]


@pytest.mark.parametrize("expr, words", HOSTILE)
def test_hostile_and_broken_expressions(capsys, tmp_path, monkeypatch, expr, words):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "explain", expr, "--at", "x=2")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("tapegrad explain: error: "), err
    assert words in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing ran, nothing was written


@pytest.mark.parametrize(
    "argv, words",
    [
        (["explain", "x", "--at", "x"], "write a name, '=' and a number"),
        (["explain", "x", "--at", "=2"], "write a name, '=' and a number"),
        (["explain", "x", "--at", "x=two"], "'two' is not a number"),
        (["explain", "x", "--at", "x=nan"], "finite number"),
        (["explain", "x", "--at", "x=1e999"], "finite number"),
        (["explain", "x", "--at", "x=1", "--at", "x=2"], "given twice"),
        (["explain", "x", "--at", "1x=2"], "is not a name"),
        (["explain", "exp", "--at", "exp=2"], "one of the functions"),
        (["explain"], "required: EXPR"),
        (["explain", "x", "--at"], "expected one argument"),
        (["explain", "x", "--at", "x=1", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_command_lines(capsys, argv, words):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and words in err, err


@pytest.mark.parametrize(
    "argv",
    [["-x**2", "--at", "x=3"], ["--at", "x=3", "-x**2"], ["--at=x=3", "-x**2"]],
)
def test_an_expression_starting_with_minus_is_not_an_option(capsys, argv):
    code, out, _ = run_cli(capsys, "explain", *argv)
    assert code == 0 and out.splitlines()[-2:] == ["f = -9", "df/dx = -6"]


def test_build_raises_explain_error_a_value_error():
    with pytest.raises(ExplainError, match="attribute access"):
        build("x.data", {"x": 1.0})
    assert issubclass(ExplainError, ValueError)
    with pytest.raises(ExplainError, match="must be a number"):
        build("x", {"x": "2"})


def test_hostile_input_as_a_real_process(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "tapegrad", "explain", "__import__('os').system('touch PWNED')"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "not allowed" in proc.stderr
    assert not (tmp_path / "PWNED").exists()


# ---------------------------------------------------------------------------------------------
# --svg and --html hand the graph to the drawing helpers
# ---------------------------------------------------------------------------------------------


def test_svg_and_html_files(tmp_path):
    pytest.importorskip("tapegrad.viz")
    pytest.importorskip("tapegrad.explorer")
    svg, html = tmp_path / "f.svg", tmp_path / "f.html"
    proc = subprocess.run(
        [sys.executable, "-m", "tapegrad", "explain", SEED, "--at", "x=2",
         "--svg", str(svg), "--html", str(html)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {svg}" in proc.stdout and f"wrote {html}" in proc.stdout
    assert "<svg" in svg.read_text()
    page = html.read_text()
    assert "<html" in page.lower() and "49" in page


def test_unwritable_svg_path(capsys, tmp_path):
    pytest.importorskip("tapegrad.viz")
    code, _, err = run_cli(capsys, "explain", "x", "--at", "x=1", "--svg",
                           str(tmp_path / "no" / "dir" / "f.svg"))
    assert code == 2 and "cannot write" in err and err.count("\n") == 1


TOKENS = ["x", "y", "2", "0", "0.5", "1e308", "9" * 30, "-", "+", "*", "/", "**", "(", ")",
          "exp", "log", "sqrt", "relu", "tanh", "abs", ",", ".", " ", "__", "[", "]", "lambda",
          ":", "'", "=", "e", "j", "import", "os", ";"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map("".join))
def test_random_token_soup_never_crashes(expr):
    try:
        text = explain(expr, {"x": 0.5, "y": -2.0})
    except ExplainError as error:
        assert str(error) and "\n" not in str(error)
    else:
        assert re.search(r"^df/dy = \S+$", text, re.MULTILINE)


# ---------------------------------------------------------------------------------------------
# What the messages suggest: the operator named, the fix in the expression's own syntax
# ---------------------------------------------------------------------------------------------

# (expression at x = 2, y = 1) -> fragments the one-line message must contain
SUGGESTIONS = [
    ("x^2", ["the operator ^ at column 2", "not a power", "write ** for powers: x**2"]),
    ("x^2 + 1", ["write ** for powers: x**2 + 1"]),
    ("(x + 1)^y", ["the operator ^ at column 8"]),
    ("x & y", ["the operator & at column 3", "bitwise and"]),
    ("x | y", ["the operator | at column 3", "bitwise or"]),
    ("x << 2", ["the operator << at column 3", "write x * 2**k"]),
    ("x >> 1", ["the operator >> at column 3", "x / 2**k"]),
    ("é + x^2", ["the operator ^ at column 6"]),  # columns count characters, not UTF-8 bytes
    ("é + zz", ["the name 'zz' at column 5"]),
    ("log(x - 2)", ["log needs a number > 0, and x - 2 is 0 here",
                    "add a small epsilon: log(x - 2 + 1e-12)"]),
    ("log(x - 3)", ["log needs a number > 0, and x - 3 is -1 here"]),
    ("sqrt(y - x)", ["sqrt needs a number >= 0, and y - x is -1 here", "sqrt(abs(y - x))"]),
    ("(x - 4) ** 0.5", ["not a real number, and x - 4 is -2 here", "abs(x - 4) ** 0.5"]),
    ("(y - x) ** (1/3)", ["abs(y - x) ** (1/3)"]),
    ("1 / (x - 2)", ["division by zero, and x - 2 is 0 here", "1 / (x - 2 + 1e-12)"]),
    ("(x - 2) ** -1", ["0 to a negative power divides by zero, and x - 2 is 0 here"]),
    ("exp(x * 1000)", ["overflows a float, and x * 1000 is 2000 here", "scale the input down"]),
    ("(x + 1).log()", ["write log(x + 1) for (x + 1).log()"]),
    ("x.exp()", ["write exp(x) for x.exp()"]),
    ("math.exp(x)", ["write exp(x), without math."]),
    ("np.sqrt(x)", ["write sqrt(x), without np."]),
    ("2(x + 1)", ["to multiply, write * between them: 2*(x + 1)"]),
    ("(x + 1)(x - 1)", ["(x + 1)*(x - 1)"]),
    ("x(y)", ["x*(y)"]),
    ("ln(x)", ["log(x) is the natural logarithm"]),
    ("max(x, 0)", ["relu(x) is max(x, 0)"]),
    ("e**x", ["exp(x) for e**x"]),
    ("2x", ["needs * between them, e.g. 2*x"]),
    ("x²", ["write **2 for ²"]),
    ("2×x", ["write * for ×"]),
    ("x − 1", ["write - for −"]),
    ("x # a comment", ["a comment (#, at column 3)"]),
]


@pytest.mark.parametrize("expr, fragments", SUGGESTIONS)
def test_messages_say_what_to_write(capsys, expr, fragments):
    code, out, err = run_cli(capsys, "explain", expr, "--at", "x=2", "--at", "y=1")
    assert (code, out) == (2, "") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err
    assert ").log()" not in err.replace(expr, "") and "internal error" not in err


def test_whitespace_of_any_kind_is_one_space():
    # newlines, tabs and no-break spaces (pasted from a web page) read as spaces
    out, _ = build("x\n+\t1\u00a0*\u00a0x", {"x": 2.0})
    assert out.data == 4.0
    assert explain("x\n+ 1", {"x": 2.0}).splitlines()[0] == "f = x + 1   at x = 2"


# ---------------------------------------------------------------------------------------------
# Names: every node its own, whatever the inputs are called
# ---------------------------------------------------------------------------------------------


def _labels(out):
    return [node.label for node in Graph(out).nodes if node.label]


@pytest.mark.parametrize(
    "expr, names, output",
    [
        ("x*x", ["x", "f", "g", "h", "out", "result"], "f1"),  # every output name bound
        ("f", ["f", "g", "h", "out", "result"], "f1"),  # ... and the output is an input
        ("x*f + u", ["x", "f", "u"], "g"),
        ("+".join(f"x*{k}" for k in range(1, 30)), ["x", "u1", "v1", "w"], "f"),  # past u..t
        ("+".join(f"x*{k}" for k in range(1, 30)), ["x"] + list("uvwabcdeghkmnpqrst"), "f"),
    ],
)
def test_every_node_gets_a_name_no_other_node_has(capsys, expr, names, output):
    out, inputs = build(expr, dict.fromkeys(names, 1.5))
    labels = _labels(out)
    assert len(labels) == len(set(labels)), labels
    assert out.label == output or (output == "f1" and out.label == "f")
    argv = ["explain", expr] + [a for n in names for a in ("--at", f"{n}=1.5")]
    code, text, err = run_cli(capsys, *argv)
    assert (code, err) == (0, "")
    assert text.splitlines()[0].startswith(f"{output} = {expr}   at ")


@pytest.mark.parametrize(
    "bindings, words",
    [
        ({"if": 1.0}, "'if' is a Python keyword"),
        ({"True": 1.0}, "'True' is a Python keyword"),
        ({"ﬁ": 1.0, "fi": 2.0}, "are the same name to Python ('fi')"),
        ({"x": 10**400}, "too large for a float"),
        ({"x": float("nan")}, "finite number"),
        ({"x y": 1.0}, "is not a name"),
        ({"x\x1b[2J": 1.0}, "'x\\x1b[2J' is not a name"),
        ([("x", 1.0)], "must be a dict from names to numbers"),
    ],
)
def test_bad_bindings(bindings, words):
    with pytest.raises(ExplainError) as caught:
        build("x", bindings)
    assert words in str(caught.value) and str(caught.value).isprintable()


def test_names_are_read_as_python_reads_them():
    # Python reads the ligature ﬁ as fi and a mathematical italic 𝑥 as x (NFKC): so do --at names
    out, inputs = build("ﬁ * 𝑥", {"ﬁ": 2.0, "x": 3.0})
    assert out.data == 6.0 and set(inputs) == {"fi", "x"}


# ---------------------------------------------------------------------------------------------
# Command lines: a table of argv -> exit status and a fragment of what is printed
# ---------------------------------------------------------------------------------------------

TOO_BIG = "+".join(["(x" + "+1" * 40 + ")"] * 6)  # 486 nodes: more than the explorer's 200

COMMAND_LINES = [
    # (argv after "explain", exit status, fragment of stdout (0) or of the stderr line (2))
    (["x^2", "--at", "x=2"], 2, "write ** for powers: x**2"),
    (["x", "--at", "x=1", "--at", "f=1", "--at", "g=2", "--at", "h=3", "--at", "out=4",
      "--at", "result=5"], 0, "f1 = x   at x = 1, f = 1"),
    (["--a", "x=3", "-x**2"], 0, "f = -9"),  # an abbreviated option is still an option
    (["--at=x=3", "--x"], 0, "f = --x"),  # ... and --x (minus minus x) still an expression
    (["x", "--at", "x=1", "--h"], 2, "ambiguous option"),
    (["x", "--at", "if=1"], 2, "Python keyword"),
    (["x", "--at", "x=" + "9" * 500], 2, "finite number"),
    (["x", "--at", "x=" + "z" * 500], 2, "'zzzzzzzzzzzzzzzzz...' is not a number"),
    ([TOO_BIG, "--at", "x=1", "--html", "f.html"], 2,
     "the graph has 486 nodes, and the explorer page steps through at most 200"),
    ([TOO_BIG, "--at", "x=1", "--svg", "f.svg"], 0, "wrote f.svg"),  # drawn, truncated
    (["x", "--at", "x=1", "--svg", ""], 2, "--svg needs a file name"),
    (["x", "--at", "x=1", "--svg", "."], 2, "--svg '.' is a folder; name a file in it"),
    (["x", "--at", "x=1", "--html", "pics/"], 2, "--html 'pics/' is a folder"),
    (["x", "--at", "x=1", "--svg", "no/f.svg"], 2, "cannot write 'no/f.svg': there is no folder"),
    (["x", "--at", "x=1", "--svg", "f", "--html", "./f"], 2, "--svg and --html both name"),
    (["x", "--at", "x=1", "--svg", "f.svg", "--html", "f.html"], 0, "wrote f.svg\nwrote f.html"),
    (["x", "--at", "x=1", "--svg", "/dev/null"], 0, "wrote /dev/null"),  # a device: not replaced
]


@pytest.mark.parametrize("argv, status, fragment", COMMAND_LINES)
def test_command_lines(capsys, tmp_path, monkeypatch, argv, status, fragment):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "explain", *argv)
    assert code == status, err
    if status == 0:
        assert err == "" and fragment in out
    else:
        assert out == "" and err.count("\n") == 1 and fragment in err, err
        assert list(tmp_path.iterdir()) == []  # nothing written
    assert "internal error" not in err


# ---------------------------------------------------------------------------------------------
# Control characters from the command line are shown escaped, never sent to the terminal
# ---------------------------------------------------------------------------------------------

ESC = "\x1b[2J\x1b[31m"  # clear the screen, then red


@pytest.mark.parametrize(
    "argv, shown",
    [
        ([f"x{ESC}", "--at", "x=1"], "\\x1b"),
        ([f"x # {ESC}", "--at", "x=1"], "\\x1b"),
        ([f"'{ESC}'", "--at", "x=1"], "\\x1b"),
        (["x\u202e + 1", "--at", "x=1"], "\\u202e"),  # a right-to-left override
        (["x\u200b", "--at", "x=1"], "\\u200b"),  # a zero-width space
        (["x\udcff", "--at", "x=1"], "not UTF-8"),  # a byte that was not UTF-8
        (["x", "--at", f"x{ESC}=1"], "\\x1b"),
        (["x", "--at", f"x=1{ESC}"], "\\x1b"),
        (["x", "--at", f"{ESC}"], "\\x1b"),
        (["x", "--at", "x=1", "--svg", f"no{ESC}/f.svg"], "\\x1b"),
        (["x", "--at", "x=1", "--at", f"y\x07=2", "--html", "f.html"], "\\x07"),
    ],
)
def test_control_characters_are_shown_escaped(capsys, tmp_path, monkeypatch, argv, shown):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "explain", *argv)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert shown in err
    assert err[:-1].isprintable(), err


def test_visible():
    assert visible("(2*x + 3)**2 × ∂é") == "(2*x + 3)**2 × ∂é"
    assert visible(f"a{ESC}\n\t\x00\x7f\x9b\u202e\udcff") == (
        "a\\x1b[2J\\x1b[31m\\n\\t\\x00\\x7f\\x9b\\u202e\\udcff"
    )
    assert str(ExplainError("bad \x1b[2J")) == "bad \\x1b[2J"


def test_no_raw_escape_reaches_a_real_terminal(tmp_path):
    # as a real process: argv bytes that are not UTF-8 and an ANSI escape, out as printable text
    for argv in ([b"x\xff", b"--at", b"x=1"], [b"x", b"--at", b"x\x1b[2J=1"]):
        proc = subprocess.run([sys.executable, "-m", "tapegrad", "explain", *argv],
                              capture_output=True, cwd=tmp_path, timeout=60)
        assert proc.returncode == 2 and proc.stdout == b""
        assert b"\x1b" not in proc.stderr and proc.stderr.count(b"\n") == 1
        assert proc.stderr.decode("utf-8")[:-1].isprintable()


# ---------------------------------------------------------------------------------------------
# --svg and --html: all or none, each atomically
# ---------------------------------------------------------------------------------------------


def test_a_failing_html_leaves_no_svg_behind(capsys, tmp_path):
    svg, html = tmp_path / "f.svg", tmp_path / "f.html"
    code, out, err = run_cli(capsys, "explain", TOO_BIG, "--at", "x=1",
                             "--svg", str(svg), "--html", str(html))
    assert code == 2 and out == "" and "explorer page" in err
    assert list(tmp_path.iterdir()) == []
    svg.write_text("the old drawing")  # and an existing file is left as it was
    assert run_cli(capsys, "explain", TOO_BIG, "--at", "x=1", "--svg", str(svg),
                   "--html", str(html))[0] == 2
    assert svg.read_text() == "the old drawing" and not html.exists()


def test_a_failing_write_leaves_the_targets_as_they_were(capsys, tmp_path, monkeypatch):
    svg, html = tmp_path / "f.svg", tmp_path / "f.html"
    svg.write_text("old svg")
    real_fsync, calls = os.fsync, []

    def fsync_fails_the_second_time(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_fails_the_second_time)
    code, out, err = run_cli(capsys, "explain", SEED, "--at", "x=2", "--svg", str(svg),
                             "--html", str(html))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--html: cannot write" in err and "No space left" in err
    assert svg.read_text() == "old svg" and not html.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.svg"]  # no temporary file left


def test_written_through_a_symlink_keeping_the_files_mode(capsys, tmp_path):
    target, link = tmp_path / "private.svg", tmp_path / "link.svg"
    target.write_text("old")
    target.chmod(0o600)
    link.symlink_to(target)
    code, out, _ = run_cli(capsys, "explain", SEED, "--at", "x=2", "--svg", str(link))
    assert code == 0 and out.endswith(f"wrote {link}\n")
    assert link.is_symlink() and "<svg" in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.svg", "private.svg"]


def test_a_new_file_gets_the_umasks_mode(capsys, tmp_path):
    old = os.umask(0o027)
    try:
        assert run_cli(capsys, "explain", "x", "--at", "x=1", "--svg",
                       str(tmp_path / "f.svg"))[0] == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.svg").stat().st_mode) == 0o640


# ---------------------------------------------------------------------------------------------
# The fuzz: whole command lines, every outcome exit 0 or one clear line
# ---------------------------------------------------------------------------------------------

PIECES = st.sampled_from(
    ["x", "y", "f", "u", "é", "ﬁ", "𝑥", "2", "0", "1e308", "-", "+", "*", "/", "**", "^", "&",
     "|", "<<", "%", "(", ")", ",", ".", "#", "'", "exp", "log", "sqrt", "relu", "abs", "sin",
     "ln", "math", " ", "\t", "\n", "\x00", "\x1b[31m", "\x07", "\u202e", "\u200b", "\udcff",
     "×", "²", "−", "\u00a0"]
)
BOUND_NAMES = st.sampled_from(["x", "y", "f", "g", "h", "out", "result", "u", "v", "u1", "ﬁ",
                               "fi", "exp", "if", "1x", "", "x\x1b", "é"])
VALUES = st.sampled_from(["0", "1", "-1", "2.5", "1e308", "1e-320", "nan", "inf", "two", "",
                          "1_0", "\x1b"])


# well-formed expressions too, so that evaluation (domains, overflow) and naming are reached
LEAVES = st.sampled_from(["x", "y", "f", "u", "g", "é", "2", "0", "0.5", "1e308", "(-1)"])
FORMED = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**", "^"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["exp", "log", "sqrt", "tanh", "-", "x.exp"]), inner).map(
            lambda t: f"{t[0]}({t[1]})"),
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    expr=st.one_of(st.lists(PIECES, max_size=12).map("".join), FORMED),
    bindings=st.lists(st.tuples(BOUND_NAMES, VALUES), max_size=6),
    svg=st.booleans(),
    html=st.booleans(),
)
def test_fuzzed_command_lines_end_cleanly(capsys, tmp_path_factory, expr, bindings, svg, html):
    folder = tmp_path_factory.mktemp("out")
    argv = ["explain", expr] + [a for name, value in bindings for a in ("--at", f"{name}={value}")]
    if svg:
        argv += ["--svg", str(folder / "f.svg")]
    if html:
        argv += ["--html", str(folder / "f.html")]
    code, out, err = run_cli(capsys, *argv)
    assert code in (0, 2), err
    assert "\x1b" not in out + err and all(line.isprintable() for line in out.splitlines())
    if code == 0:
        assert err == "" and "Forward pass: each node" in out
        written = sorted(p.name for p in folder.iterdir())
        assert written == sorted(["f.svg"] * svg + ["f.html"] * html)
    else:
        assert out == "" and err.count("\n") == 1 and err[:-1].isprintable(), err
        assert "internal error" not in err and "Traceback" not in err
        assert list(folder.iterdir()) == []


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.parametrize("columns", [60, 120])
def test_in_a_real_terminal_nothing_is_cleared(tmp_path, columns):
    # An expression and a --at name carrying "clear the screen": in a real terminal (tmux),
    # what was on the screen before stays, and the escape is shown as text.
    script = tmp_path / "run.sh"
    script.write_text(
        "echo BEFORE\n"
        f"'{sys.executable}' -m tapegrad explain \"$(printf 'x # \\033[2J')\" --at x=1\n"
        f"'{sys.executable}' -m tapegrad explain x --at \"$(printf 'x\\033[2J=1')\"\n"
        "echo AFTER\n"
    )
    tmux = ["tmux", "-L", f"tapegrad-test-{os.getpid()}-{columns}"]
    subprocess.run(tmux + ["new-session", "-d", "-x", str(columns), "-y", "30",
                           f"bash {script}; sleep 60"], check=True, timeout=30)
    try:
        screen = ""
        for _ in range(100):
            screen = subprocess.run(tmux + ["capture-pane", "-p", "-J"], capture_output=True,
                                    text=True, timeout=30).stdout
            if "AFTER" in screen:
                break
            time.sleep(0.1)
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True, timeout=30)
    assert "BEFORE" in screen and "AFTER" in screen, screen
    assert screen.count("\\x1b[2J") == 2, screen
