"""tapegrad.explorer: the page's content, checked in Python (always), and the page itself in a
real headless Chromium (where one is installed; otherwise those tests skip and say why).

The numbers the page will reveal are checked against the mpmath oracle (high-precision numerical
derivatives, independent of tapegrad's rules) and against the seed's hand computation: at x = 2,
f = (2x + 3)^2 = 49 and df/dx = 2(2x + 3) * 2 = 28.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from examples import seed_example
from oracle import MP, TAPEGRAD, assert_close, mp_gradient, torch_gradient, torch_ops
from tapegrad import Graph, Value
from tapegrad.explorer import explorer_html
from tapegrad.viz import format_number

DATA = re.compile(r'<script type="application/json" id="tg-data">(.*?)</script>', re.S)


def page_data(html: str) -> dict:
    return json.loads(DATA.search(html).group(1))



# ---------------------------------------------------------------------------------------------
# What the page shows, computed in Python
# ---------------------------------------------------------------------------------------------


def test_seed_forward_pass_reveals_each_value_in_array_order():
    x, u, f = seed_example()
    forward = page_data(explorer_html(f, {"x": x}))["modes"]["forward"]
    assert [s["text"] for s in forward["steps"]] == [
        "x = 2   (an input: nothing to compute)",  # constants get no step, as in explain
        "v2 = x * 2 = 2 * 2 = 4",  # 2 * x is recorded as x.__rmul__(2)
        "u = v2 + 3 = 4 + 3 = 7",
        "f = u ** 2 = 7 ** 2 = 49",
    ]
    assert forward["summary"] == ["f = 49"]


def test_seed_backward_pass_shows_each_chain_rule_product():
    x, u, f = seed_example()
    backward = page_data(explorer_html(f, {"x": x}))["modes"]["backward"]
    assert [s["text"] for s in backward["steps"]] == [
        "df/df = 1   (the output: its gradient with respect to itself)",
        "df/du = df/df × ∂f/∂u = 1 × 14 = 14",
        "df/dv2 = df/du × ∂u/∂v2 = 14 × 1 = 14",
        "df/dx = df/dv2 × ∂v2/∂x = 14 × 2 = 28",
    ]
    # each local derivative as its rule, then its numbers
    assert [s["rules"] for s in backward["steps"]] == [
        [], ["∂f/∂u = 2u = 2 × 7 = 14"], ["∂u/∂v2 = 1"], ["∂v2/∂x = 2"]]
    assert backward["summary"] == ["df/dx = 28"]
    assert backward["steps"][-1]["show"] == "grad 28.0000"


def test_seed_forward_mode_pushes_a_tangent_from_x():
    x, u, f = seed_example()
    tangent = page_data(explorer_html(f, {"x": x}))["modes"]["jvp:x"]
    assert [s["text"] for s in tangent["steps"]] == [
        "dx/dx = 1   (the seed: a nudge of 1 enters at x)",
        "dv2/dx = ∂v2/∂x × dx/dx = 2 × 1 = 2",
        "du/dx = ∂u/∂v2 × dv2/dx = 1 × 2 = 2",
        "df/dx = ∂f/∂u × du/dx = 14 × 2 = 28",
    ]
    assert tangent["summary"] == ["df/dx = 28"]


def test_a_node_used_twice_sums_both_products():
    x = Value(3.0)
    f = x * x
    backward = page_data(explorer_html(f, {"x": x}))["modes"]["backward"]
    assert (
        backward["steps"][-1]["text"] == "df/dx = df/df × ∂f/∂x + df/df × ∂f/∂x = 1 × 3 + 1 × 3 = 6"
    )


def test_negative_constants_and_unnamed_leaves_read_clearly():
    w = Value(0.5, label="w")
    x = Value(2.0)
    f = w * x - 1  # records w * x, then its sum with the constant -1 (micrograd's -other)
    data = page_data(explorer_html(f, {"x": x}))
    forward = [s["text"] for s in data["modes"]["forward"]["steps"]]
    assert "w = 0.5   (a leaf: nothing to compute)" in forward
    assert "f = v2 + (-1) = 1 + (-1) = 0" in forward  # the constant: no step of its own
    assert len(forward) == 4
    backward = [s["text"] for s in data["modes"]["backward"]["steps"]]
    assert len(backward) == 4  # f, v2, x, w: not the constant -1
    assert "df/dw = df/dv2 × ∂v2/∂w = 1 × 2 = 2" in backward


def test_nodes_behind_a_zero_gradient_still_get_their_step():
    x = Value(0.0, label="x")
    hidden = x * 3 - 10
    hidden.label = "h"
    f = hidden.relu() + x.sqrt()  # relu is flat at -10: nothing flows back into h
    f.backward()
    graph = Graph(f)
    backward = page_data(explorer_html(f, {"x": x}))["modes"]["backward"]
    computed = [i for i, node in enumerate(graph.nodes) if node.args or node.label]
    assert sorted(s["node"] for s in backward["steps"]) == computed  # all but constants
    shown = {s["node"]: s["show"] for s in backward["steps"]}
    for i in computed:  # the same gradients as backward()
        node = graph.nodes[i]
        assert shown[i] == f"grad {format_number(node.grad)}", (i, node)
    assert "df/dh = df/dv5 × ∂v5/∂h = 1 × 0 = 0" in [s["text"] for s in backward["steps"]]


def test_an_input_held_fixed_and_an_unused_input():
    x, y, z = Value(0.5), Value(-2.0), Value(7.0)
    f = (x * y).exp()
    data = page_data(explorer_html(f, {"x": x, "y": y, "z": z}))
    assert "dy/dx = 0   (another input, held fixed)" in [
        s["text"] for s in data["modes"]["jvp:x"]["steps"]
    ]
    assert data["modes"]["backward"]["summary"][2] == "df/dz = 0"
    assert data["modes"]["jvp:z"]["summary"] == ["df/dz = 0"]


# The same function on every backend: tapegrad Values, mpmath numbers, torch tensors.
FUNCTIONS = {
    "seed": lambda m, x, y: (2 * x + 3) ** 2 * y,
    "tanh neuron": lambda m, x, y: m.tanh(x * y + x) * x,
    "log exp sin": lambda m, x, y: m.log(x * x + 1) + m.exp(y) * m.sin(x),
    "sigmoid quotient": lambda m, x, y: m.sigmoid(x - y) / (y * y + 1),
    "dot": lambda m, x, y: m.dot([x, y, x], [x, y, y], 0.5) ** 0.5,  # x² + y² + xy + ½ > 0
}
POINTS = [(0.7, -1.3), (2.0, 0.25)]


def explored(name, point):
    x, y = Value(point[0]), Value(point[1])
    f = FUNCTIONS[name](TAPEGRAD, x, y)
    graph = Graph(f)
    data = page_data(explorer_html(f, {"x": x, "y": y}))
    return graph, f, x, y, data


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_gradients_and_tangents_match_the_mpmath_oracle(name, point):
    graph, f, x, y, data = explored(name, point)
    value, gradient = mp_gradient(lambda x, y: FUNCTIONS[name](MP, x, y), point)
    modes = data["modes"]
    assert_close(modes["forward"]["values"][graph.index[f]], value, "f")
    reverse = modes["backward"]["values"]
    assert_close([reverse[graph.index[x]], reverse[graph.index[y]]], gradient, "df/d(x, y)")
    for k, name_ in enumerate("xy"):  # forward mode, one input at a time
        assert_close(modes[f"jvp:{name_}"]["values"][graph.index[f]], gradient[k], f"df/d{name_}")


@pytest.mark.parametrize("name", FUNCTIONS)
def test_gradients_match_pytorch(name):
    ops = torch_ops()
    graph, f, x, y, data = explored(name, POINTS[0])
    _, gradient = torch_gradient(lambda x, y: FUNCTIONS[name](ops, x, y), POINTS[0])
    reverse = data["modes"]["backward"]["values"]
    assert_close([reverse[graph.index[x]], reverse[graph.index[y]]], gradient, "df/d(x, y)")


def products(text: str) -> tuple[float, float]:
    """(Σ a × b, the stated result) of an equation ending '= a × b + c × d = result'."""
    numeric, result = text.rsplit(" = ", 2)[1:]
    total = 0.0
    for term in numeric.split(" + "):
        a, b = (float(v.strip("()")) for v in term.split(" × "))
        total += a * b
    return total, float(result.strip("()"))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_step_adds_up(name):
    """Each chain-rule step's products add up to the number it states, and each step's number
    is the node's value; steps visit every node once, backward in reverse array order."""
    graph, f, x, y, data = explored(name, POINTS[1])
    backward = data["modes"]["backward"]
    named = [i for i, node in enumerate(graph.nodes) if node.args or node in (x, y)]
    assert [s["node"] for s in backward["steps"]] == named[::-1]  # constants get no step
    for mode in ("backward", "jvp:x", "jvp:y"):
        for s in data["modes"][mode]["steps"]:
            if "×" in s["text"]:
                total, stated = products(s["text"])
                assert total == pytest.approx(stated, rel=1e-4, abs=1e-5), s["text"]
                assert stated == pytest.approx(
                    data["modes"][mode]["values"][s["node"]], rel=1e-5, abs=1e-6
                )
    assert [s["node"] for s in data["modes"]["forward"]["steps"]] == named


def test_the_page_is_self_contained():
    x, u, f = seed_example()
    html = explorer_html(f, {"x": x})
    assert not re.search(r"<link|\bsrc=|@import|fetch\(|XMLHttpRequest|\bimport\(", html)
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}  # the SVG namespace name, never fetched
    assert html.count("<svg") == 1 and "<style>" in html and "<script>" in html


def test_labels_cannot_break_out_of_the_page():
    x = Value(1.0, label="</script><script>alert(1)</script>")
    f = (x * 2).exp()
    f.label = "<b>f</b>"
    html = explorer_html(f, {"x": x}, title="<i>title</i>")
    assert html.count("<script") == 2  # the data and the page's code, nothing injected
    data = page_data(html)
    assert data["modes"]["forward"]["summary"] == [f"<b>f</b> = {f.data:.6g}"]
    assert "<title>&lt;i&gt;title&lt;/i&gt;</title>" in html


def strict_json(html: str) -> dict:
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON; JavaScript's JSON.parse would fail")

    return json.loads(DATA.search(html).group(1), parse_constant=refuse)


def test_infinite_and_nan_derivatives_still_make_valid_json():
    x = Value(0.0)
    f = x.sqrt() + (x * 0.0).relu()  # d sqrt(x)/dx is +inf at 0
    data = strict_json(explorer_html(f, {"x": x}))
    assert data["modes"]["backward"]["summary"] == ["df/dx = inf"]
    assert data["modes"]["backward"]["values"][0] == "inf"


def test_a_label_that_looks_like_a_placeholder_stays_a_label():
    x = Value(1.0)
    f = x * 2
    f.label = "{{DATA}}"
    html = explorer_html(f, {"{{SVG}}": x})
    data = strict_json(html)
    assert data["inputs"] == ["{{SVG}}"] and data["modes"]["forward"]["summary"] == ["{{DATA}} = 2"]
    assert ">{{DATA}}</text>" in html and ">{{SVG}}</text>" in html  # the records' labels


def test_making_a_page_changes_nothing_in_the_graph():
    x, u, f = seed_example()
    f.backward()
    before = [(v.data, v.grad) for v in Graph(f)]
    explorer_html(f, {"x": x})
    assert [(v.data, v.grad) for v in Graph(f)] == before


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: explorer_html(2.0, {}), TypeError, r"output is 2.0 \(float\), not a Value"),
        (lambda: explorer_html(Value(1.0), [Value(1.0)]), TypeError, r"pass a dict .*\{'x': x\}"),
        (lambda: explorer_html(Value(1.0), {"x": 1.0}), TypeError, r"inputs\['x'\] is 1.0"),
        (lambda: explorer_html(Value(1.0), {3: Value(1.0)}), TypeError, r"input name 3"),
    ],
)
def test_misuse_says_what_to_do(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_graphs_too_big_to_step_through_are_refused_with_a_way_out():
    x = Value(0.1)
    y = x
    for _ in range(150):
        y = (y * 1.01).tanh()
    with pytest.raises(ValueError, match=r"451 nodes, more than max_nodes=200.*to_svg"):
        explorer_html(y, {"x": x})
    assert page_data(explorer_html(y, {"x": x}, max_nodes=500))["modes"]["forward"]["steps"]


# ---------------------------------------------------------------------------------------------
# The page in a real headless Chromium
# ---------------------------------------------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1300,800",
]


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium driven by selenium through Debian's chromedriver; skips, saying
    what is missing, where there is none."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install selenium)"
    )
    from selenium.common.exceptions import WebDriverException

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.skip(
            "no Chromium and chromedriver on PATH "
            "(Debian/Ubuntu: apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=webdriver.ChromeService(chromedriver), options=options)
    except WebDriverException as error:
        pytest.skip(f"Chromium is installed but did not start: {error.msg}")
    try:
        yield driver
    finally:
        driver.quit()


def test_explorer_in_chromium_steps_to_f_49_and_df_dx_28(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    x, u, f = seed_example()
    page = tmp_path / "explorer.html"
    page.write_text(explorer_html(f, {"x": x}, title="f = (2*x + 3)**2 at x = 2"), encoding="utf-8")
    browser.get(page.as_uri())

    def text(css):
        return browser.find_element(By.CSS_SELECTOR, css).text

    def press(*keys):
        for key in keys:
            browser.find_element(By.TAG_NAME, "body").send_keys(key)

    def cell(node_id, k):
        return browser.find_element(By.ID, f"{node_id}-c{k}").text

    graph = Graph(f)
    x_id, f_id = f"n{graph.index[x]}", f"n{graph.index[f]}"
    assert text("#counter") == "Forward pass: step 0 of 4"
    assert cell(f_id, 1) == "data ?"

    # Forward pass: values appear node by node.
    press(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    assert text("#counter") == "Forward pass: step 2 of 4"
    assert cell(x_id, 1) == "data 2.0000" and cell(f_id, 1) == "data ?"
    press(*[Keys.ARROW_RIGHT] * 2)
    assert text("#current") == "f = u ** 2 = 7 ** 2 = 49"
    stroke = "return getComputedStyle(document.querySelector(arguments[0])).stroke"
    assert browser.execute_script(stroke, f"#{f_id} rect") == "rgb(224, 161, 0)"  # highlighted
    assert browser.execute_script(stroke, f"#{x_id} rect") == "rgb(68, 71, 90)"  # not
    assert text("#summary") == "f = 49"
    assert cell(f_id, 1) == "data 49.0000"

    # Backward pass (key b), by the Next button: gradients appear from the output back.
    press("b")
    assert cell(f_id, 2) == "grad ?" and text("#summary") == ""
    for _ in range(2):
        browser.find_element(By.ID, "next").click()
    assert text("#rules") == "∂f/∂u = 2u = 2 × 7 = 14"  # the local derivative as its rule
    for _ in range(2):
        browser.find_element(By.ID, "next").click()
    assert text("#current") == "df/dx = df/dv2 × ∂v2/∂x = 14 × 2 = 28"
    assert text("#summary") == "df/dx = 28"
    assert cell(x_id, 2) == "grad 28.0000" and cell(f_id, 2) == "grad 1.0000"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#history li")) == 4
    press(Keys.ARROW_LEFT)
    assert cell(x_id, 2) == "grad ?" and text("#summary") == ""
    press(Keys.END)
    browser.save_screenshot(str(tmp_path / "explorer-backward.png"))

    # Forward mode for x (its button), jumping to the end.
    browser.find_element(By.ID, "mode-jvp-x").click()
    browser.find_element(By.ID, "end").click()
    assert text("#summary") == "df/dx = 28"
    assert cell(f_id, 2) == "d/dx 28.0000"
    press(Keys.HOME)
    assert text("#counter") == "Forward mode, d/dx: step 0 of 4"

    shot = tmp_path / "explorer.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000

    problems = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert problems == [], f"the page logged errors: {problems}"


def test_chromium_reports_script_errors(browser, tmp_path):
    """The console check above can fail: a page with a broken script is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><title>t</title><script>undefinedFunction();</script>")
    browser.get(page.as_uri())
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe and "undefinedFunction" in severe[0]["message"]


# ---------------------------------------------------------------------------------------------
# The command line: tapegrad explain EXPR --at x=2 --svg out.svg --html out.html
# ---------------------------------------------------------------------------------------------


def run_explain(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tapegrad",
            "explain",
            "(2*x + 3)**2",
            "--at",
            "x=2",
            "--svg",
            "graph.svg",
            "--html",
            "explorer.html",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_cli_writes_the_drawing_and_the_explorer(tmp_path):
    done = run_explain(tmp_path)
    assert "wrote graph.svg" in done.stdout and "wrote explorer.html" in done.stdout
    svg = (tmp_path / "graph.svg").read_text(encoding="utf-8")
    root = ET.fromstring(svg)  # well-formed
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "data 49.0000" in texts and "x" in texts
    assert "grad 28.0000" in texts
    data = page_data((tmp_path / "explorer.html").read_text(encoding="utf-8"))
    assert data["inputs"] == ["x"]
    assert data["modes"]["forward"]["summary"] == ["f = 49"]
    assert data["modes"]["backward"]["summary"] == ["df/dx = 28"]
    assert data["modes"]["jvp:x"]["summary"] == ["df/dx = 28"]


def test_cli_explorer_page_in_chromium(browser, tmp_path):
    from selenium.webdriver.common.by import By

    run_explain(tmp_path)
    browser.get((tmp_path / "explorer.html").as_uri())
    browser.find_element(By.ID, "mode-backward").click()
    browser.find_element(By.ID, "end").click()
    assert browser.find_element(By.ID, "summary").text == "df/dx = 28"
    browser.find_element(By.ID, "mode-forward").click()
    browser.find_element(By.ID, "end").click()
    assert browser.find_element(By.ID, "summary").text == "f = 49"
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")] == []
