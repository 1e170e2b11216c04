"""tapegrad.symbolic: the rule table's local derivatives written out as text, by running each
rule's own `partials` formula on an arithmetic that builds text (no op's math written twice)."""

import math

import pytest

from tapegrad.explain import explain
from tapegrad.ops import FloatMath, Op, RULES
from tapegrad.symbolic import documented_formula, evaluate, local_rules, rule_line

# op, its constant k, (out name, out number), its arguments' (name, number), and what each local
# derivative reads as: (its rule, the rule with the numbers in)
ROWS = [
    (Op.POW, 2.0, ("f", 49.0), [("u", 7.0)], [("2u", "2 × 7")]),
    (Op.MUL, None, ("v", 4.0), [("x", 2.0), ("2", 2.0)], [("2", "2"), ("x", "2")]),
    (Op.ADD, None, ("u", 7.0), [("v", 4.0), ("3", 3.0)], [("1", "1"), ("1", "1")]),
    (Op.TANH, None, ("f", -0.5), [("u", -0.549306)],
     [("(1 - f)(1 + f)", "(1 - (-0.5))(1 + (-0.5))")]),
    (Op.SIGMOID, None, ("s", 0.25), [("u", -1.1)], [("s · (1 - s)", "0.25 × (1 - 0.25)")]),
    (Op.EXP, None, ("e", 1.0), [("u", 0.0)], [("e", "1")]),
    (Op.LOG, None, ("l", 0.0), [("u", 1.0)], [("1 / u", "1 / 1")]),
    (Op.COS, None, ("c", 1.0), [("u", 0.0)], [("-sin(u)", "-sin(0)")]),
    (Op.RELU, None, ("r", 0.0), [("a", -3.0)], [("step(a)", "step(-3)")]),
    (Op.POW, -1.0, ("f", 0.5), [("u", 2.0)], [("(-1) × u ** (-2)", "(-1) × 2 ** (-2)")]),
    (Op.DOT, None, ("act", 0.1), [("w1", 0.5), ("x1", -0.2), ("b", 0.2)],
     [("x1", "-0.2"), ("w1", "0.5"), ("1", "1")]),
]


@pytest.mark.parametrize("op, k, out, args, written", ROWS, ids=[str(r[0]) for r in ROWS])
def test_each_local_derivative_reads_as_its_rule_then_its_numbers(op, k, out, args, written):
    assert local_rules(RULES[op], k, out, args) == written


def test_the_seeds_step_reads_2u_then_2_times_7():
    [(rule, numbers)] = local_rules(RULES[Op.POW], 2.0, ("f", 49.0), [("u", 7.0)])
    assert rule_line("f", "u", (rule, numbers), 14.0) == "∂f/∂u = 2u = 2 × 7 = 14"
    assert rule_line("u", "v", ("1", "1"), 1.0) == "∂u/∂v = 1"  # nothing said twice
    text = explain("(2*x + 3)**2", {"x": 2.0})
    assert "    ∂f/∂u = 2u = 2 × 7 = 14\n  df/du = df/df × ∂f/∂u = 1 × 14 = 14" in text


# The functions of the arithmetic whose docstrings give their formula: the text is read from the
# docstring, so each docstring must say what its code computes.
DOCUMENTED = [name for name in dir(FloatMath)
              if documented_formula(getattr(FloatMath, name, None)) is not None]


@pytest.mark.parametrize("name", DOCUMENTED)
@pytest.mark.parametrize("x, k", [(2.0, 3.0), (0.5, 0.5), (3.0, -1.0), (1.5, 2.0)])
def test_documented_formulas_compute_what_their_code_does(name, x, k):
    function = getattr(FloatMath, name)
    formula = documented_formula(function)
    assert math.isclose(evaluate(formula, {"x": x, "k": k}), function(x, k), rel_tol=1e-12)


def test_the_documented_formulas_are_found():
    assert "pow_slope" in DOCUMENTED  # or the test above would test nothing


def test_a_formula_evaluate_cannot_read_says_so():
    with pytest.raises(ValueError, match="does not read"):
        evaluate("x.real", {"x": 1.0})
