"""``tapegrad explain`` and ``tapegrad.explain.build``: the seed's example, derivatives against
the mpmath oracle, the printed chain-rule steps checked line by line, and a table of hostile
and broken inputs that must end with exit status 2 and one line on stderr, never running code."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import mpmath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle import assert_close, mp_gradient
from tapegrad import Graph, Value
from tapegrad.cli import main
from tapegrad.explain import MAX_DEPTH, MAX_LENGTH, ExplainError, build, explain

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
    ("x\x00", "syntax error"),
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
