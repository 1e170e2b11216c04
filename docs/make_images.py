"""Draw the tutorial's pictures with tapegrad itself.

    python3 docs/make_images.py

runs the Python blocks of docs/tutorial.md in order, in one namespace (as tests/test_tutorial.py
does), and wherever the tutorial has a marker

    <!-- draw: images/NAME.svg VARIABLE -->

saves ``tapegrad.viz.to_svg(VARIABLE)``, as the namespace holds it at that point, to
docs/images/NAME.svg. The test checks the saved pictures are the ones the tutorial draws today.
With matplotlib installed it redraws the README's pictures of ``tapegrad demo``,
docs/images/moons_boundary.png and moons_curves.png, from a run of the default demo. With
selenium and Chromium installed it also takes docs/images/explorer.png, a screenshot of the
explorer page at the end of the seed example's backward pass, and one screenshot per view of the
training explorer of the default demo (``tapegrad demo --html``): training_explorer_training.png,
_point.png, _backward.png and _parameters.png.
"""

import contextlib
import io
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
TUTORIAL = DOCS / "tutorial.md"

FENCE = re.compile(r"^```(\w*)\s*$")
DRAW = re.compile(r"^<!-- draw: (\S+) (\w+) -->\s*$")


def tutorial_parts(text: str) -> list[tuple]:
    """The tutorial as a list of ("code", source, expected_output_or_None) and
    ("draw", image_path, variable), in order. A ```text block separated from a ```python block
    only by blank lines is that block's expected output."""
    lines = text.splitlines()
    parts: list[list] = []
    previous = ("", -1)  # the kind of the last fenced block, and the line of its closing fence
    i = 0
    while i < len(lines):
        fence, marker = FENCE.match(lines[i]), DRAW.match(lines[i])
        if marker:
            parts.append(["draw", marker.group(1), marker.group(2)])
        if not fence:
            i += 1
            continue
        kind, start = fence.group(1), i + 1
        i = start
        while i < len(lines) and lines[i].strip() != "```":
            i += 1
        body = "\n".join(lines[start:i]) + "\n"
        if kind == "python":
            parts.append(["code", body, None])
        elif kind == "text" and previous[0] == "python":
            if all(not line.strip() for line in lines[previous[1] + 1 : start - 1]):
                parts[-1][2] = body
        previous = (kind, i)
        i += 1
    return [tuple(p) for p in parts]


def run_tutorial(text: str, workdir: Path):
    """Run the tutorial's code in `workdir`; yield ("code", source, expected, printed) and
    ("draw", path, svg) as it goes."""
    from tapegrad.viz import to_svg

    namespace: dict = {"__name__": "tutorial"}
    old = Path.cwd()
    os.chdir(workdir)
    try:
        for part in tutorial_parts(text):
            if part[0] == "code":
                printed = io.StringIO()
                with contextlib.redirect_stdout(printed):
                    exec(compile(part[1], str(TUTORIAL), "exec"), namespace)
                yield "code", part[1], part[2], printed.getvalue()
            else:
                yield "draw", part[1], to_svg(namespace[part[2]])
    finally:
        os.chdir(old)


def draw_demo_pictures(images: Path) -> str:
    """Run the default ``tapegrad demo`` (micrograd's moons, 100 steps) and save the README's
    pictures of it, moons_boundary.png and moons_curves.png, in `images`; returns what happened."""
    from tapegrad import demo, plots

    try:
        plots.figure(1, 1)
    except ImportError:
        return "skipped moons_boundary.png and moons_curves.png: " + plots.MISSING
    names = ("moons_boundary.png", "moons_curves.png")
    with tempfile.TemporaryDirectory() as tmp:
        demo.run("moons", out_dir=tmp, stream=io.StringIO())
        for name in names:
            shutil.copyfile(Path(tmp) / name, images / name)
    return "wrote " + ", ".join(str((images / name).relative_to(DOCS.parent)) for name in names)


def _chromium(tmp: str, size: str):
    """A headless Chromium driven by selenium, or the sentence saying why there is none."""
    try:
        from selenium import webdriver
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        return "no chromium and chromedriver on PATH (apt-get install chromium chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--hide-scrollbars", f"--window-size={size}",
                 f"--user-data-dir={tmp}/profile"):
        options.add_argument(flag)
    return webdriver.Chrome(service=webdriver.ChromeService(driver_path), options=options)


def screenshot_explorer(path: Path) -> str:
    """Save a screenshot of the seed example's explorer page; returns what happened."""
    from tapegrad import Value
    from tapegrad.explorer import explorer_html

    x = Value(2.0, label="x")
    u = 2 * x + 3
    u.label = "u"
    f = u**2
    f.label = "f"
    with tempfile.TemporaryDirectory() as tmp:
        driver = _chromium(tmp, "1240,600")
        if isinstance(driver, str):
            return f"skipped explorer.png: {driver}"
        from selenium.webdriver.common.by import By

        page = Path(tmp) / "explorer.html"
        page.write_text(
            explorer_html(f, {"x": x}, title="f = (2*x + 3)**2 at x = 2"), encoding="utf-8"
        )
        try:
            driver.get(page.as_uri())
            driver.find_element(By.ID, "mode-backward").click()
            for _ in range(4):
                driver.find_element(By.ID, "next").click()
            driver.save_screenshot(str(path))
        finally:
            driver.quit()
    return f"wrote {path.relative_to(DOCS.parent)}"


def screenshot_training_explorer(images: Path) -> str:
    """The default demo's training explorer, one screenshot per view: the training at its last
    step, a point's graph, a step of its backward pass, a parameter's story."""
    from tapegrad import demo

    with tempfile.TemporaryDirectory() as tmp:
        driver = _chromium(tmp, "1300,900")
        if isinstance(driver, str):
            return f"skipped the training explorer's screenshots: {driver}"
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys
        from selenium.webdriver.support.ui import WebDriverWait

        page = Path(tmp) / "moons.html"
        demo.run("moons", out_dir=None, stream=io.StringIO(), html=str(page))
        written = []

        def shot(view: str, scroll_to: str) -> None:
            driver.execute_script("document.getElementById(arguments[0]).scrollIntoView()",
                                  scroll_to)
            driver.execute_script("window.scrollBy(0, -100)")  # below the sticky header
            written.append(images / f"training_explorer_{view}.png")
            driver.save_screenshot(str(written[-1]))

        try:
            driver.get(page.as_uri())
            WebDriverWait(driver, 30).until(
                lambda d: d.execute_script("return document.body.dataset.ready"))
            body = driver.find_element(By.TAG_NAME, "body")
            body.send_keys(Keys.END)
            shot("training", "training")
            canvas = driver.find_element(By.ID, "boundary")
            x, y = driver.execute_script("return tgTraining.pointXY(17)")
            ActionChains(driver).move_to_element_with_offset(
                canvas, x - canvas.size["width"] / 2, y - canvas.size["height"] / 2).click().perform()
            body.send_keys(Keys.HOME)
            driver.find_element(By.ID, "layer-L1").click()
            shot("point", "point")
            for _ in range(3):
                body.send_keys(".")
            shot("backward", "point")
            driver.find_element(By.ID, "param-1").click()
            shot("parameters", "parameters")
        finally:
            driver.quit()
    return "wrote " + ", ".join(str(path.relative_to(DOCS.parent)) for path in written)


def main() -> int:
    sys.path.insert(0, str(DOCS.parent / "src"))
    text = TUTORIAL.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        for part in run_tutorial(text, Path(tmp)):
            if part[0] == "draw":
                target = DOCS / part[1]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(part[2], encoding="utf-8")
                print(f"wrote {target.relative_to(DOCS.parent)}")
    print(draw_demo_pictures(DOCS / "images"))
    print(screenshot_explorer(DOCS / "images" / "explorer.png"))
    print(screenshot_training_explorer(DOCS / "images"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
