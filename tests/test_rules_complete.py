"""Every Op has every rule, and every Op can be reached from the public API.

The rule table (ops.RULES) is the one place that knows an op's math, so it must be complete: a
symbol, an arity, a forward formula and local partials for each Op, working in both arithmetics
the interpreters use -- plain floats (first derivatives, training) and Values (the partials are
recorded as nodes, so derivatives can be differentiated again). And each Op must be something a
user can actually make: some method or operator of Value produces it.
"""

from __future__ import annotations

import numbers

import pytest

from oracle import MP, TAPEGRAD, assert_close, mp_hessian
from tapegrad import RULES, Graph, Op, Value, hessian
from tapegrad.ops import FLOATS, VARIADIC, Rule

# Every Op member, found on the class itself (so the table is checked against it, not itself).
ALL_OPS = [v for v in vars(Op).values() if isinstance(v, Op)]

# For each Op: (how the public API makes it from Values, a smooth point inside its domain).
# The function is written against the namespace m of oracle.py so mpmath can run it too.
REACHED_BY = {
    Op.LEAF: (lambda m, a: a, (1.5,)),
    Op.ADD: (lambda m, a, b: a + b, (1.5, -0.5)),
    Op.MUL: (lambda m, a, b: a * b, (1.5, -0.5)),
    Op.POW: (lambda m, a: a**3, (1.5,)),
    Op.POWV: (lambda m, a, b: a**b, (1.5, 2.5)),
    Op.EXP: (lambda m, a: m.exp(a), (0.5,)),
    Op.LOG: (lambda m, a: m.log(a), (0.5,)),
    Op.TANH: (lambda m, a: m.tanh(a), (0.5,)),
    Op.SIGMOID: (lambda m, a: m.sigmoid(a), (0.5,)),
    Op.RELU: (lambda m, a: m.relu(a), (0.5,)),
    Op.ABS: (lambda m, a: m.abs(a), (-0.5,)),
    Op.SIN: (lambda m, a: m.sin(a), (0.5,)),
    Op.COS: (lambda m, a: m.cos(a), (0.5,)),
    Op.DOT: (
        lambda m, w1, w2, x1, x2, b: m.dot([w1, w2], [x1, x2], b),
        (0.5, -1.5, 2.0, 0.25, 1.0),
    ),
    Op.SLOPE: (lambda m, a: m.slope(a, 2.5), (1.5,)),  # made by derivatives of x ** k
}

# Other spellings that must make the same Op.
ALSO_REACHED_BY = [
    (Op.POW, lambda a: a.sqrt()),
    (Op.POWV, lambda a: 2**a),
    (Op.ABS, lambda a: a.abs()),
    (Op.MUL, lambda a: -a),
    (Op.ADD, lambda a: a - 1),
    (Op.MUL, lambda a: a / 2),
]


def make(op: Op):
    """The node for `op` made through the public API, and its input leaves."""
    f, point = REACHED_BY[op]
    xs = [Value(p) for p in point]
    return f(TAPEGRAD, *xs), xs


def test_rules_has_exactly_one_entry_per_op():
    assert set(RULES) == set(ALL_OPS) and len(ALL_OPS) == 15
    assert all(isinstance(rule, Rule) for rule in RULES.values())


@pytest.mark.parametrize("op", ALL_OPS, ids=lambda op: op.name)
def test_every_op_has_every_rule(op):
    rule = RULES[op]
    assert isinstance(rule.symbol, str) and (rule.symbol or op is Op.LEAF), "a symbol to print"
    assert isinstance(rule.arity, int) and (
        rule.arity >= 1 or rule.arity == VARIADIC or op is Op.LEAF
    )
    assert callable(rule.forward) and callable(rule.partials)
    assert isinstance(rule.takes_constant, bool)


def test_the_table_below_covers_every_op():
    assert set(REACHED_BY) == set(ALL_OPS)


@pytest.mark.parametrize("op", ALL_OPS, ids=lambda op: op.name)
def test_every_op_is_reachable_from_the_public_api(op):
    node, xs = make(op)
    assert node.op is op
    assert node._op.startswith(RULES[op].symbol)
    assert RULES[op].symbol in str(Graph(node))


@pytest.mark.parametrize(
    "op, f", ALSO_REACHED_BY, ids=[f"{op.name}-{i}" for i, (op, _) in enumerate(ALSO_REACHED_BY)]
)
def test_other_spellings_make_the_expected_op(op, f):
    assert f(Value(1.5)).op is op


@pytest.mark.parametrize("op", [op for op in ALL_OPS if op is not Op.LEAF], ids=lambda op: op.name)
def test_the_float_rules_agree_with_the_recorded_node(op):
    """forward(FLOATS, ...) reproduces the node's data; partials gives one number per argument."""
    node, _ = make(op)
    rule = RULES[op]
    args = [a.data for a in node.args]
    constant = (node.k,) if rule.takes_constant else ()
    if rule.arity != VARIADIC:
        assert len(node.args) == rule.arity
    assert rule.forward(FLOATS, *args, *constant) == node.data
    partials = rule.partials(FLOATS, node.data, *args, *constant)
    assert len(partials) == len(node.args)
    assert all(isinstance(p, numbers.Real) for p in partials)


@pytest.mark.parametrize("op", [op for op in ALL_OPS if op is not Op.LEAF], ids=lambda op: op.name)
def test_the_value_rules_give_second_derivatives(op):
    """The partials also run on Values (recording nodes), so the Hessian of every op is right."""
    f, point = REACHED_BY[op]
    ours = hessian(lambda xs: f(TAPEGRAD, *xs))(list(point))
    expected = mp_hessian(lambda *xs: f(MP, *xs), point)
    for i, (row, expected_row) in enumerate(zip(ours, expected)):
        assert_close(row, expected_row, f"{op.name}: Hessian row {i}")


NEW_OP = '''
    "softplus": Rule.function(lambda x: _math.log1p(_math.exp(x)) if x < 30 else x,
                              lambda m, y, a: (m.sigmoid(a),), "log(1 + e^x); d/dx = sigmoid(x).",
                              lambda np, a: np.logaddexp(0.0, a)),
'''

NEW_OP_CHECKS = '''
import math
import tapegrad
from tapegrad import Graph, Value, grad, hessian
from tapegrad.explain import explain
from tapegrad.viz import to_svg

x = Value(0.3)
y = x.softplus()
y.backward()
s = 1 / (1 + math.exp(-0.3))
assert y.data == math.log1p(math.exp(0.3)) and abs(x.grad - s) < 1e-15, (y.data, x.grad)
assert y.op is tapegrad.Op.SOFTPLUS and y._op == "softplus"
assert abs(hessian(lambda v: v.softplus())(0.3) - s * (1 - s)) < 1e-15
assert "df/dx = 0.574443" in explain("softplus(x)", {"x": 0.3})
assert ">softplus<" in to_svg(y)
try:
    import numpy
except ImportError:
    pass
else:
    g = Graph((x * 2.0).softplus(), backend="numpy")
    x.data = 1.0
    assert abs(g.forward() - math.log1p(math.exp(2.0))) < 1e-15
print("ok")
'''


def test_a_new_op_is_one_entry_in_the_rule_table(tmp_path):
    """Add an op to a copy of the package by one entry of ops.py, and nothing else: Value's
    method, the Value arithmetic of higher derivatives, the NumPy formula, explain's allowlist
    and the drawings all have it."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    source = Path(__file__).resolve().parent.parent / "src" / "tapegrad"
    copy = tmp_path / "tapegrad"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
    ops = copy / "ops.py"
    text = ops.read_text(encoding="utf-8")
    anchor = '    # a neuron fused into one node'
    assert anchor in text, "the table's last entry moved: update this test's anchor"
    ops.write_text(text.replace(anchor, NEW_OP.strip("\n") + "\n" + anchor), encoding="utf-8")
    run = subprocess.run([sys.executable, "-c", NEW_OP_CHECKS], cwd=tmp_path, capture_output=True,
                         text=True, env={"PYTHONPATH": str(tmp_path), "PATH": ""}, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-3000:]
