"""docs/tutorial.md runs: every Python block, in order, in one namespace; what each block prints
is exactly the output the tutorial shows after it; and the pictures in docs/images are the ones
the tutorial's code draws today (regenerate them with `python3 docs/make_images.py`)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
TUTORIAL = DOCS / "tutorial.md"


def load_make_images():
    spec = importlib.util.spec_from_file_location("make_images", DOCS / "make_images.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_images = load_make_images()


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """The tutorial run once, in a scratch directory: (its parts as run, that directory)."""
    workdir = tmp_path_factory.mktemp("tutorial")
    text = TUTORIAL.read_text(encoding="utf-8")
    return list(make_images.run_tutorial(text, workdir)), workdir


def test_every_python_block_is_run():
    text = TUTORIAL.read_text(encoding="utf-8")
    fenced = re.findall(r"^```python$", text, re.M)
    parts = make_images.tutorial_parts(text)
    assert len([p for p in parts if p[0] == "code"]) == len(fenced) >= 10


def test_each_block_prints_what_the_tutorial_shows(ran):
    parts, _ = ran
    blocks = [p for p in parts if p[0] == "code"]
    for k, (_, source, expected, printed) in enumerate(blocks):
        first_line = source.strip().splitlines()[0]
        if expected is None:
            assert (
                printed == ""
            ), f"block {k} ({first_line!r}) prints output the tutorial does not show"
        else:
            assert printed == expected, f"block {k} ({first_line!r}) printed:\n{printed}"


def test_the_seed_sanity_check_holds(ran):
    parts, _ = ran
    printed = "".join(p[3] for p in parts if p[0] == "code")
    assert "7.0 49.0\n14.0 28.0\n" in printed
    assert "(49.0, 28.0)" in printed
    assert "by hand 28, reverse mode 28, forward mode 28, numerically 28.000000" in printed


def test_pictures_are_the_ones_the_tutorial_draws(ran):
    parts, _ = ran
    drawings = [p for p in parts if p[0] == "draw"]
    assert len(drawings) >= 4
    for _, path, svg in drawings:
        saved = DOCS / path
        assert saved.exists(), f"{path} is missing: run python3 docs/make_images.py"
        assert (
            saved.read_text(encoding="utf-8") == svg
        ), f"{path} is out of date: run python3 docs/make_images.py"


def test_every_picture_is_shown_and_every_shown_picture_exists():
    text = TUTORIAL.read_text(encoding="utf-8")
    shown = re.findall(r"!\[[^\]]+\]\((images/[^)]+)\)", text)
    drawn = [p[1] for p in make_images.tutorial_parts(text) if p[0] == "draw"]
    assert set(drawn) <= set(shown)
    for path in shown:
        assert (DOCS / path).exists(), path


def test_the_explorer_page_the_tutorial_writes(ran):
    _, workdir = ran
    page = (workdir / "sanity.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "df/dx = 28" in page


def test_the_tutorial_follows_the_seed():
    headings = re.findall(r"^## (.+)$", TUTORIAL.read_text(encoding="utf-8"), re.M)
    expected = [
        "computation graph",
        "chain rule",
        "forward mode and reverse mode",
        "sanity check",
        "one neuron with sgd",
        "mlp",
    ]
    assert len(headings) == len(expected)
    for heading, words in zip(headings, expected):
        assert words in heading.lower(), (heading, words)


@pytest.mark.parametrize(
    "markdown, expected",
    [
        ("```python\nprint(1)\n```\n\n```text\n1\n```\n", [("code", "print(1)\n", "1\n")]),
        (
            "```python\nx = 1\n```\n\n```bash\nls\n```\n\n```text\nno\n```\n",
            [("code", "x = 1\n", None)],
        ),
        ("```python\nx = 1\n```\nwords\n```text\nno\n```\n", [("code", "x = 1\n", None)]),
        ("<!-- draw: images/a.svg e -->\n", [("draw", "images/a.svg", "e")]),
        ("```\nplain\n```\n```python\ny = 2\n```\n", [("code", "y = 2\n", None)]),
    ],
)
def test_the_block_reader(markdown, expected):
    assert make_images.tutorial_parts(markdown) == expected
