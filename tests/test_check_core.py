"""tapegrad check's judgement, without a worker process: the comparison, the chain-rule step, the
rule table read as formulas, and the diagnoses, on rows made by hand (the right rows with the
numbers a given mistake gives). tests/test_check.py runs the whole check on real engines."""

import json
import math

import pytest

from tapegrad.check import (FEATURES, PROGRAM, PROGRAMS, Engine, compare, grad_step, judge_all,
                            json_report, per_path_grads, right_answer, rule_text, same,
                            text_report)
from tapegrad.ops import Op


def _engine(features=tuple(FEATURES)) -> Engine:
    engine = Engine("learner.py")
    engine.features = list(features)
    return engine


def _answers(changes: "dict | None" = None, errors: "dict | None" = None,
             programs=PROGRAMS) -> dict:
    """Every program's worker answer as tapegrad's own numbers, except `changes`
    ({(program, node): (data or None, grad or None)}) and `errors` ({program: error answer})."""
    changes, errors = changes or {}, errors or {}
    answers = {}
    for program in programs:
        if program.name in errors:
            answers[program.name] = errors[program.name]
            continue
        rows = []
        for name, data, grad in right_answer(program)[0]:
            new_data, new_grad = changes.get((program.name, name), (None, None))
            rows.append([name, data if new_data is None else new_data,
                         grad if new_grad is None else new_grad])
        answers[program.name] = {"rows": rows}
    return answers


def _result(changes=None, errors=None, features=tuple(FEATURES)):
    engine = _engine(features)
    answers = _answers(changes, errors)
    answers = {n: a for n, a in answers.items() if PROGRAM[n].needs <= set(features)}
    return judge_all(engine, answers, PROGRAMS)


def _by_name(result) -> dict:
    return {run.program.name: run for run in result.runs}


def _ids(result) -> dict:
    return {run.program.name: (run.outcome, run.diagnosis and run.diagnosis["id"])
            for run in result.runs if run.outcome != "pass"}


# -- comparing ---------------------------------------------------------------------------------


def test_same_uses_a_relative_tolerance_and_matches_nan_with_nan_only():
    assert same(1.0 + 1e-10, 1.0) and not same(1.0 + 1e-8, 1.0)
    assert same(1e-13, 0.0) and not same(1e-11, 0.0)
    assert same(math.nan, math.nan) and not same(math.nan, 1.0) and not same(1.0, math.nan)
    assert same(math.inf, math.inf) and not same(-math.inf, math.inf)
    assert not same("None", 1.0) and not same(True, 1.0)


def test_compare_reports_data_first_from_the_inputs_then_grads_from_the_output():
    right = [("x", 2.0, 28.0), ("u", 7.0, 14.0), ("f", 49.0, 1.0)]
    assert compare(right, right) is None
    both = [("x", 2.0, 0.0), ("u", 7.0, 0.0), ("f", 50.0, 1.0)]
    assert compare(both, right) == {"node": "f", "field": "data", "yours": 50.0, "right": 49.0,
                                    "index": 2}
    grads = [("x", 2.0, 1.0), ("u", 7.0, 2.0), ("f", 49.0, 1.0)]
    assert compare(grads, right)["node"] == "u"  # nearest the output: x's follows from it
    with pytest.raises(ValueError, match="rows differ"):
        compare(right[:2], right)


def test_every_program_runs_on_tapegrad_and_ends_with_its_output():
    for program in PROGRAMS:
        rows, nodes = right_answer(program)
        assert [r[0] for r in rows] == [n for n, _ in nodes]
        assert rows[-1][2] == 1.0, program.name  # the output: d(out)/d(out)
    assert right_answer(PROGRAM["sanity"])[0] == [("x", 2.0, 28.0), ("u", 7.0, 14.0),
                                                 ("f", 49.0, 1.0)]
    assert right_answer(PROGRAM["shared"])[0][0] == ("a", 1.0, 4.0)


# -- the step and the rules ---------------------------------------------------------------------


def test_the_chain_rule_step_names_the_compared_nodes_and_reads_the_record():
    _, nodes = right_answer(PROGRAM["sanity"])
    assert grad_step(nodes, 1).text() == "df/du = df/df × ∂f/∂u = 1 × 14 = 14"
    # x reaches u through 2 * x, a node the program does not name: one term, its local
    # derivative the product along the path
    assert grad_step(nodes, 0).text() == "df/dx = df/du × ∂u/∂x = 14 × 2 = 28"
    assert grad_step(nodes, 2).text().startswith("df/df = 1")
    _, nodes = right_answer(PROGRAM["mul_self"])
    step = grad_step(nodes, 0)
    assert step.text() == "dy/dx = dy/dy × ∂y/∂x + dy/dy × ∂y/∂x = 1 × 3 + 1 × 3 = 6"
    assert step.shares == [3.0, 3.0] and step.rules() == ["x * y: ∂/∂x = y, ∂/∂y = x"]


def test_every_name_in_a_step_is_one_node_and_every_partial_one_number():
    # many_uses names each partial sum: one term per sum, each ∂s[k]/∂x the k + 1 of its use
    _, nodes = right_answer(PROGRAM["many_uses"])
    text = grad_step(nodes, 0).text()
    assert text.startswith("ds[9]/dx = ds[9]/ds[0] × ∂s[0]/∂x + ds[9]/ds[1] × ∂s[1]/∂x + ")
    assert text.endswith(" = " + " + ".join(f"1 × {k}" for k in range(1, 11)) + " = 55")
    # two paths to y through nodes the program does not name: one term, their sum
    from tapegrad.check import Program

    two_paths = Program("two_paths", "", "x = V(2.0)\ny = x * 3 + x * 4\ny.backward()\n",
                        ("x", "y"))
    _, nodes = right_answer(two_paths)
    assert grad_step(nodes, 0).text() == "dy/dx = dy/dy × ∂y/∂x = 1 × 7 = 7"


def test_rule_text_is_read_from_the_rule_table():
    assert rule_text(Op.ADD) == "x + y: ∂/∂x = 1, ∂/∂y = 1"
    assert rule_text(Op.MUL) == "x * y: ∂/∂x = y, ∂/∂y = x"
    assert rule_text(Op.POW) == "x ** k: d/dx = k · x ** (k - 1)"
    assert rule_text(Op.TANH) == "tanh: d/dx = (1 - y)(1 + y) with y = tanh(x)"
    assert rule_text(Op.RELU) == "relu: d/dx = 1 for x > 0, else 0"


def test_a_per_path_backward_is_emulated_on_the_right_graph():
    _, nodes = right_answer(PROGRAM["shared"])
    found = {grads["a"] for grads in per_path_grads(nodes)}
    assert found == {4.0, 8.0}  # children visited once each (a set), or once per listing
    _, nodes = right_answer(PROGRAM["sanity"])  # a tree: every order gives the right numbers
    assert [grads["x"] for grads in per_path_grads(nodes)] == [28.0]


# -- diagnoses -----------------------------------------------------------------------------------


def test_the_right_numbers_pass_with_no_notes():
    result = _result()
    assert _ids(result) == {} and result.exit_status == 0 and result.status == "pass"
    assert result.summary() == f"{len(PROGRAMS)} passed"


def test_overwritten_gradients():
    result = _result({("mul_self", "x"): (None, 3.0), ("add_self", "x"): (None, 1.0),
                      ("shared", "b"): (None, 1.0), ("shared", "a"): (None, 1.0)})
    assert _ids(result) == {"mul_self": ("fail", "overwrite"), "add_self": ("fail", "overwrite"),
                            "shared": ("fail", "overwrite")}
    assert result.exit_status == 1
    words = _by_name(result)["mul_self"].diagnosis["words"]
    assert "x is used 2 times" in words and "came to 3" in words and "not 6" in words


def test_a_node_used_twice_alone_is_not_overwrite_when_the_numbers_are_not_a_share():
    result = _result({("mul_self", "x"): (None, 5.0)})
    assert _ids(result) == {"mul_self": ("fail", None)}
    assert "none of the known mistakes fits" in text_report(result)


def test_a_per_path_backward():
    result = _result({("shared", "a"): (None, 8.0)})
    assert _ids(result) == {"shared": ("fail", "per_path")}
    # the same wrong number where a node used twice in one op is wrong too: not per_path
    result = _result({("shared", "a"): (None, 8.0), ("mul_self", "x"): (None, 5.0)})
    assert _ids(result)["shared"] == ("fail", None)


def test_reversed_operands_of_the_reflected_operators():
    result = _result({("rsub", "y"): (-3.0, None), ("rtruediv", "y"): (2.0 / 6.0, None)})
    assert _ids(result) == {"rsub": ("fail", "reversed_rsub"),
                            "rtruediv": ("fail", "reversed_rtruediv")}
    run = _by_name(result)["rsub"]
    assert run.first_wrong["step"] == "y = 5 - x = 3 at x = 2"
    assert run.diagnosis["op"] == "rsub" and "`x - 5`" in run.diagnosis["words"]
    # 5 - x wrong in another way is not a reversed operand
    assert _ids(_result({("rsub", "y"): (7.0, None)})) == {"rsub": ("fail", None)}


def test_a_wrong_local_derivative_names_the_op_and_the_rule():
    t = math.tanh(0.5)
    result = _result({("tanh", "x"): (None, 1 - t), ("neuron", "act"): (None, 1 - math.tanh(1.0))})
    assert _ids(result) == {"tanh": ("fail", "wrong_local"), "neuron": ("fail", "wrong_local")}
    tanh = _by_name(result)["tanh"].diagnosis
    assert tanh["op"] == "tanh" and "(1 - y)(1 + y)" in tanh["words"]
    assert f"{1 - t:.6g}" in tanh["words"] and f"{1 - t * t:.6g}" in tanh["words"]
    neuron = _by_name(result)["neuron"].diagnosis["words"]  # at its own node and point
    assert "program tanh shows it on its own too" in neuron
    assert "in `act.tanh()` at act = 1, your local derivative ∂out/∂act comes to " \
           f"{1 - math.tanh(1.0):.6g}" in neuron and f"{1 - math.tanh(1.0) ** 2:.6g}" in neuron


def test_a_wrong_local_derivative_at_the_failing_programs_own_node():
    result = _result({("pow", "x"): (None, 24.0), ("sanity", "u"): (None, 98.0),
                      ("sanity", "x"): (None, 196.0), ("rtruediv", "x"): (None, -3.0)})
    sanity = _by_name(result)["sanity"].diagnosis["words"]
    assert "in `u ** 2` at u = 7, your local derivative ∂f/∂u comes to 98 (your df/du ÷ df/df)" \
           ", and the right one is 14" in sanity, sanity
    # 6 / x has no ** of its own in the right graph: the numbers are pow's, and it says so
    rtruediv = _by_name(result)["rtruediv"].diagnosis["words"]
    assert "the numbers are from program pow" in rtruediv and "in `x ** 3` at x = 2" in rtruediv


def test_a_derived_operator_is_blamed_on_the_op_it_is_written_with():
    result = _result({("pow", "x"): (None, 24.0), ("rtruediv", "x"): (None, -3.0)})
    assert {r.program.name: r.diagnosis["op"] for r in result.runs if r.diagnosis} == {
        "pow": "pow", "rtruediv": "pow"}


def test_notes_for_what_micrograd_does_too():
    recursion = {"error": "recursion", "type": "RecursionError", "message": "maximum recursion "
                 "depth exceeded", "file": None, "line": None}
    result = _result({("second_backward", "u"): (None, 24.0), ("second_backward", "x"):
                      (None, 72.0)}, {"deep": recursion},
                     features=[f for f in FEATURES if f not in ("tanh", "exp", "log")])
    assert _ids(result) == {"tanh": ("skipped", None), "exp": ("skipped", None),
                            "log": ("skipped", None), "neuron": ("skipped", None),
                            "deep": ("note", "recursion"),
                            "second_backward": ("note", "interior_not_reset")}
    assert result.exit_status == 0
    assert result.summary() == (f"{len(PROGRAMS) - 6} passed, 2 notes, 4 skipped "
                                "(no tanh, exp, log)")
    skipped = [p for p in json.loads(json_report(result))["programs"] if p["name"] == "neuron"]
    assert skipped[0]["error"] == "skipped: the class has no tanh"


def test_errors_in_the_learners_code():
    def error(kind, type_=None, message=""):
        return {"error": kind, "type": type_, "message": message, "file": None, "line": None}

    result = _result(errors={
        "radd": error("recursion", "RecursionError", "maximum recursion depth exceeded"),
        "log": error("exception", "ZeroDivisionError", "float division by zero"),
        "relu_negative": error("hang", message="did not finish in 10 s"),
        "exp": error("crash", message="the process was killed by SIGABRT")})
    assert _ids(result) == {"radd": ("recursion", "radd_recursion"),
                            "log": ("exception", "exception"), "relu_negative": ("hang", "hang"),
                            "exp": ("crash", "crash")}
    assert _by_name(result)["radd"].diagnosis["op"] == "radd"
    assert result.summary().startswith(f"{len(PROGRAMS) - 4} passed, 4 failed")


def test_the_json_report_has_the_fields_of_the_design():
    result = _result({("rsub", "y"): (-3.0, None), ("mul_self", "x"): (None, math.nan)})
    report = json.loads(json_report(result))
    assert list(report) == ["file", "class", "status", "missing", "programs", "summary"]
    assert report["status"] == "fail" and report["file"] == "learner.py"
    programs = {p["name"]: p for p in report["programs"]}
    assert all(list(p) == ["name", "required", "outcome", "source", "first_wrong", "diagnosis",
                           "error"] for p in programs.values())
    rsub = programs["rsub"]
    assert rsub["first_wrong"] == {"node": "y", "field": "data", "yours": -3.0, "right": 3.0,
                                   "step": "y = 5 - x = 3 at x = 2"}
    assert list(rsub["diagnosis"]) == ["id", "op", "words", "fix"]
    assert programs["mul_self"]["first_wrong"]["yours"] == "nan"
    assert programs["deep"]["required"] is False


def test_the_text_report_shows_the_program_the_node_the_step_and_the_fix():
    result = _result({("mul_self", "x"): (None, 3.0)})
    text = text_report(result)
    assert "FAIL     mul_self         x * x, a node used twice in one op" in text
    assert "\n    y = x * x\n" in text
    assert "first wrong node: x.grad: yours 3, right 6" in text
    assert "the chain rule: dy/dx = dy/dy × ∂y/∂x + dy/dy × ∂y/∂x = 1 × 3 + 1 × 3 = 6" in text
    assert "diagnosis (overwrite)" in text
    assert "fix: wherever backward() adds a child's share" in text
    assert all(len(line) <= 100 for line in text.splitlines())
    assert text.endswith(f"{len(PROGRAMS) - 1} passed, 1 failed")


def test_the_fixes_fit_an_engine_that_stores_local_derivatives_too():
    # micrograd's _backward closures are one way to write an engine; a fix that names them
    # names the other way too (a node's stored local derivatives)
    result = _result({("mul_self", "x"): (None, 3.0), ("pow", "x"): (None, 24.0)})
    fixes = [r.diagnosis["fix"] for r in result.runs if r.diagnosis]
    per_path = _result({("shared", "a"): (None, 8.0)})
    fixes += [r.diagnosis["fix"] for r in per_path.runs if r.diagnosis]
    assert {r.diagnosis["id"] for r in result.runs + per_path.runs if r.diagnosis} >= {
        "overwrite", "wrong_local", "per_path"}
    for fix in fixes:
        if "_backward" in fix:
            assert "stored local derivative" in fix or "local derivatives stored" in fix, fix


def test_a_crash_or_a_hang_is_shown_in_full_once_then_one_line_each():
    crash = {"error": "crash", "type": None, "message": "the process was killed by SIGABRT",
             "file": None, "line": None}
    result = _result(errors={name: crash for name in ("sanity", "add", "radd", "deep")})
    text = text_report(result)
    assert text.count("what happened:") == 1 and text.count("diagnosis (crash):") == 1
    assert "\n\nCRASH add: crash, the same as in sanity above\nCRASH radd: crash, the same as " \
           "in sanity above\nNOTE deep: crash, the same as in sanity above\n\n" in text
