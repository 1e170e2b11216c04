"""tapegrad demo --html: the training explorer's numbers, checked in Python, and its page in a
real headless Chromium (a screenshot of each view, its path printed for a person to look at)."""

from __future__ import annotations

import base64
import io
import json
import re
import struct
import subprocess
import sys
import time
import zlib

import pytest

from test_explorer_browser import browser  # noqa: F401 (a fixture, used by name)
from tapegrad import demo, training_explorer

DATA = re.compile(r'<script type="application/json" id="tg-data">(.*?)</script>', re.S)
SLOT = re.compile(r"\{(=?)([dgpDG])(\d+)\}")


def unpack(b64: str, code: str = "f") -> tuple:
    raw = zlib.decompress(base64.b64decode(b64))
    return struct.unpack(f"<{len(raw) // struct.calcsize(code)}{code}", raw)


def page(tmp_path, name: str = "moons.html", **options) -> tuple[str, dict]:
    path = tmp_path / name
    demo.run(out_dir=None, stream=io.StringIO(), html=str(path), **options)
    html = path.read_text(encoding="utf-8")
    return html, json.loads(DATA.search(html).group(1))


@pytest.fixture(scope="module")
def moons(tmp_path_factory):
    return page(tmp_path_factory.mktemp("moons"), steps=3)


class Filler:
    """The page's slot filling, in Python: a template with this step's numbers for one point."""

    def __init__(self, data: dict) -> None:
        self.data, self.params = data, unpack(data["params"]["numbers"])
        self.numbers = unpack(data["graph"]["numbers"])
        self.K = data["graph"]["own"]
        self.row = 2 * self.K + data["graph"]["stored"]
        self.P, self.fields = len(data["params"]["names"]), data["params"]["fields"]

    def param(self, s: int, field: str, i: int) -> float:
        return self.params[(s * len(self.fields) + self.fields.index(field)) * self.P + i]

    def value(self, s: int, b: int, kind: str, i: int) -> float:
        base = sum(len(batch) for batch in self.data["batches"][:s]) * self.row + b * self.row
        return {"d": lambda: self.numbers[base + i], "g": lambda: self.numbers[base + self.K + i],
                "p": lambda: self.numbers[base + 2 * self.K + i],
                "D": lambda: self.param(s, "value", i), "G": lambda: self.param(s, "grad", i)}[kind]()

    def fill(self, text: str, s: int, b: int) -> str:
        return SLOT.sub(lambda m: repr(self.value(s, b, m.group(2), int(m.group(3)))), text)


def test_the_page_records_every_step_and_names_every_parameter(moons):
    html, data = moons
    assert data["snapshots"] == [1, 2, 3] and data["steps"] == 3 and len(data["losses"]) == 3
    names = data["params"]["names"]
    assert len(names) == 337 and names[:3] == ["L1.N1.w1", "L1.N1.w2", "L1.N1.b"]
    assert names[-1] == "L3.N1.b"
    steps = data["graph"]["steps"]
    assert len(steps) == len(data["graph"]["names"]) == 337 + 2 + 65  # params, x1 x2, neurons
    assert steps[0]["text"].startswith("dL/dL3.N1.out = {=g")  # the output first
    assert "http" not in html.replace("http://www.w3.org", "")  # nothing fetched


def test_each_update_is_what_sgd_makes_of_its_gradient(moons):
    """The update is measured (value after - value before), the gradient recorded before it: for
    the demo's plain SGD, update = -lr × gradient at every step, for every parameter."""
    _, data = moons
    f = Filler(data)
    for s, lr in enumerate(data["lr"]):
        for i in range(f.P):
            grad, update = f.param(s, "grad", i), f.param(s, "update", i)
            assert update == pytest.approx(-lr * grad, rel=1e-4, abs=1e-7), (s, i)


def test_every_backward_step_adds_up_and_every_rule_gives_its_number(moons):
    _, data = moons
    f = Filler(data)
    checked = 0
    for s in (0, 2):
        for b in (0, 17):
            for step in data["graph"]["steps"]:
                text = f.fill(step["text"], s, b)
                if " × " in text and "share" not in text:
                    numeric, stated = text.rsplit(" = ", 2)[1:]
                    terms = [t.split(" × ") for t in numeric.split(" + ")]
                    total = sum(float(a) * float(c) for a, c in terms)
                    assert total == pytest.approx(float(stated), rel=1e-4, abs=1e-6), text
                    checked += 1
                for rule in step["rules"]:
                    line = f.fill(rule, s, b)
                    found = re.fullmatch(r".* = step\((.+)\) = (.+)", line)
                    if found:  # ReLU's local derivative: 1 where its input is > 0, else 0
                        assert float(found.group(2)) == (1.0 if float(found.group(1)) > 0 else 0.0)
                        checked += 1
    assert checked > 100


def test_three_classes_and_adam_keep_m_and_v(tmp_path):
    _, data = page(tmp_path, "spiral.html", dataset="spiral", steps=2)
    assert data["params"]["fields"] == ["value", "grad", "update", "m", "v"]
    assert set(unpack(data["grid"]["cells"], "B")) <= {0, 1, 2}  # the class of each cell
    assert data["graph"]["steps"][0]["text"].startswith("dL/dL3.N3.out")  # three outputs


def test_a_long_run_is_recorded_every_kth_step(tmp_path, monkeypatch):
    monkeypatch.setattr(training_explorer, "MAX_SNAPSHOTS", 2)
    _, data = page(tmp_path, steps=5)
    assert data["snapshots"] == [1, 4, 5] and len(data["losses"]) == 5


def test_the_normal_demo_records_nothing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the demo made a Recorder without --html")

    monkeypatch.setattr(training_explorer, "Recorder", refuse)
    demo.run(steps=2, out_dir=None, stream=io.StringIO())


def test_a_bad_html_path_is_refused_before_training(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tapegrad", "demo", "--no-pictures", "--html",
                           str(tmp_path / "missing" / "page.html")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "missing" in done.stderr and "step" not in done.stdout


# ---------------------------------------------------------------------------------------------
# The page in Chromium
# ---------------------------------------------------------------------------------------------


def test_the_training_explorer_in_chromium(browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser.set_window_size(1300, 1000)
    path = tmp_path / "moons.html"
    demo.run(steps=12, out_dir=None, stream=io.StringIO(), html=str(path))
    browser.get(path.as_uri())
    WebDriverWait(browser, 20).until(lambda d: d.execute_script("return document.body.dataset.ready"))
    text = lambda id_: browser.find_element(By.ID, id_).text  # noqa: E731
    body = browser.find_element(By.TAG_NAME, "body")
    picture = "return document.getElementById('boundary').toDataURL()"
    shots = []

    def shot(name):
        shots.append(tmp_path / f"training-explorer-{name}.png")
        assert browser.save_screenshot(str(shots[-1]))

    # The training: keys, slider, play and pause; the boundary changes as it learns.
    assert text("step") == "step 1 of 12"
    first = browser.execute_script(picture)
    body.send_keys(Keys.END)
    assert text("step") == "step 12 of 12" and browser.execute_script(picture) != first
    body.send_keys(Keys.HOME, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    assert text("step") == "step 3 of 12"
    browser.execute_script("tgTraining.frameMs = 600")  # slow enough to pause before the end
    browser.find_element(By.ID, "play").click()
    WebDriverWait(browser, 10).until(lambda d: text("step") != "step 3 of 12")
    browser.find_element(By.ID, "play").click()  # pause
    paused = text("step")
    time.sleep(1.3)  # two frames of playing, had it not paused
    assert paused != "step 3 of 12" and text("step") == paused and "Play" in text("play")
    body.send_keys(Keys.END)
    shot("training")

    # A point: its graph at this step, layers opened on click.
    body.send_keys(Keys.HOME)
    canvas = browser.find_element(By.ID, "boundary")
    x, y = browser.execute_script("return tgTraining.pointXY(17)")
    width, height = canvas.size["width"], canvas.size["height"]
    ActionChains(browser).move_to_element_with_offset(canvas, x - width / 2, y - height / 2).click().perform()
    assert text("point-title").startswith("Point 17 ")
    closed = len(browser.find_elements(By.CSS_SELECTOR, "#network .node"))
    browser.find_element(By.ID, "layer-L1").click()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#network .node")) == closed + 32
    shot("point")

    # Its backward pass, node by node, each step the chain rule with its rules and numbers.
    seen = set()
    for k in range(1, 4):
        body.send_keys(".")
        assert text("b-counter") == f"its backward pass: node {k} of 404"
        seen.add(text("current"))
        assert text("current").startswith("dL/d")
    assert len(seen) == 3 and "∂L2.N16.out/∂L2.N16.act = step(L2.N16.act) = step(" in text("rules")
    assert "((" not in text("rules")  # a negative number inside a call gets no extra parentheses
    shot("backward")

    # A parameter: its numbers at this step, where it sits, and its share from this point.
    browser.find_element(By.ID, "param-1").click()
    assert text("param-detail").startswith("L1.N1.w2: weight 2 of neuron 1 in layer 1: it "
                                           "multiplies input x2")
    assert text("current").startswith("dL/dL1.N1.w2, this point's share = dL/dL1.N1.act × ")
    assert browser.find_elements(By.CSS_SELECTOR, "#network .node.param.current")
    shot("parameters")

    problems = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert problems == [], f"the page logged errors: {problems}"
    print("training explorer screenshots:", *shots, sep="\n  ")
