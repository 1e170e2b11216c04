"""``tapegrad check``: the engines in tests/check_engines, each correct.py with one classic bug,
checked through the command line as a learner or a course's CI runs it.

First, without tapegrad check: each engine has the bug its docstring names (the classic symptom,
by hand). Then one table, one row per engine: the exit status, the diagnosis ids among the
failures, the notes, and the programs that fail, read from ``--json``; each engine is checked once
per module and the rows' tests share the result. Then files that cannot be loaded (exit status 2,
saying why), micrograd's own engine (exit 0 with exactly its two notes, when it is installed),
golden text reports, and docs/check.md: its worked examples are what the check prints today.
"""

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
    result = _run_engine_program("crashes", "x = V(2.0); y = x * 3; print('forward'); y.backward()", 10)
    assert result.stdout == "forward\n" and result.returncode == -signal.SIGABRT


def test_every_engine_file_starts_with_a_docstring_naming_its_bug_and_the_fix():
    for path in sorted(ENGINES.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert text.startswith('"""'), path.name
        doc = text[3:text.index('"""', 3)]
        assert "Bug:" in doc and "Fix:" in doc, f"{path.name}: its docstring names no bug or fix"
