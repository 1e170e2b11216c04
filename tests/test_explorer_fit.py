"""The expression explorer's rough edges, issue 12: inputs found from labels, one result per line,
and a wide graph fitted to a 1280-pixel window, zoomable, with the current node kept in view."""

from __future__ import annotations


from test_explorer_browser import browser, page_data  # noqa: F401 (a fixture, used by name)
from tapegrad import Value
from tapegrad.explorer import explorer_html


def test_labelled_leaves_are_the_inputs_when_none_are_given():
    x, y = Value(2.0, label="x"), Value(3.0, label="y")
    f = x * y + 1
    assert page_data(explorer_html(f))["inputs"] == ["x", "y"]
    assert page_data(explorer_html(f))["modes"] == page_data(explorer_html(f, {"x": x, "y": y}))["modes"]


def test_a_graph_without_labels_still_makes_a_page():
    f = Value(2.0) * 3
    assert page_data(explorer_html(f))["inputs"] == []


def wide():
    """f = Σ x_i y_i over 24 pairs: a graph some 3,000 pixels wide when drawn at full size."""
    xs = [Value(0.1 * i, label=f"x{i}") for i in range(24)]
    ys = [Value(1.0 - 0.05 * i, label=f"y{i}") for i in range(24)]
    total = xs[0] * ys[0]
    for x, y in zip(xs[1:], ys[1:]):
        total = total + x * y
    return total, {"x0": xs[0], "y5": ys[5]}


def test_wide_graph_fits_zooms_and_keeps_the_current_node_in_view(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.set_window_size(1280, 800)
    f, inputs = wide()
    page = tmp_path / "wide.html"
    page.write_text(explorer_html(f, inputs), encoding="utf-8")
    browser.get(page.as_uri())
    width = "return document.querySelector('#graph svg').getBoundingClientRect().width"
    inner = "return document.getElementById('graph').clientWidth"
    natural = float(browser.execute_script(
        "return document.querySelector('#graph svg').viewBox.baseVal.width"))
    assert natural > 1280 and browser.execute_script(width) <= browser.execute_script(inner)

    body = browser.find_element(By.TAG_NAME, "body")
    for key in "+++++":
        body.send_keys(key)  # zoomed in past the window's width: the graph scrolls
    assert browser.execute_script(width) > 1.5 * browser.execute_script(inner)
    body.send_keys("b")
    visible = """const g = document.getElementById('graph').getBoundingClientRect();
        const r = document.querySelector('.tg-current rect').getBoundingClientRect();
        return r.left >= g.left - 1 && r.right <= g.right + 1;"""
    for steps in (1, 20, 40):
        while len(browser.find_elements(By.CSS_SELECTOR, "#history li")) < steps:
            body.send_keys(Keys.ARROW_RIGHT)
        assert browser.execute_script(visible), f"step {steps}: the current node is off-screen"
    body.send_keys(Keys.END)
    assert browser.find_element(By.ID, "summary").text.splitlines() == [
        "df/dx0 = 1", "df/dy5 = 0.5"]  # one result per line
    shot = tmp_path / "wide-explorer.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")] == []
