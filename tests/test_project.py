"""Facts about the project that the brief promises: the README's two commands, CI running the
test command exactly, a standard-library-only core, and the README's examples running."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "tapegrad"

# The core: Value, Op, Graph, both modes, nn, transforms. They may import only the standard
# library and each other; everything else is an optional extra imported where it is used.
CORE = [
    "__init__.py", "ops.py", "record.py", "value.py", "graph.py", "transforms.py", "plain.py",
    "gradcheck.py", "nn.py",
]


def readme_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block and text.index(block.group(0)) < text.index("##"), "README must open with its commands"
    return block.group(1).strip().splitlines()


def test_readme_opens_with_the_demo_and_the_test_command():
    demo, tests = readme_commands()
    assert demo.endswith("tapegrad demo")
    assert "pytest" in tests


def test_ci_runs_the_readmes_test_command_exactly():
    _, tests = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests in ci, f".ci/run must contain the README's test command line:\n{tests}"


@pytest.mark.parametrize("name", CORE)
def test_core_imports_only_the_standard_library(name):
    tree = ast.parse((PACKAGE / name).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module]
        else:
            continue
        # Only module-level imports count: a function may import an optional extra lazily.
        for module in modules:
            top = module.split(".")[0]
            if top in sys.stdlib_module_names:
                continue
            assert not _at_module_level(tree, node), f"{name} imports {module} at module level"


def _at_module_level(tree, target) -> bool:
    return any(node is target for node in tree.body) or any(
        target in ast.walk(node) for node in tree.body if isinstance(node, (ast.If, ast.Try))
    )


def test_python_code_in_the_readme_runs_in_order_in_one_session_and_prints_what_it_says(tmp_path):
    """Every Python block of the README, in order, in one interpreter, as a reader pasting them
    into one session would (in a scratch folder: the blocks write files)."""
    pytest.importorskip("numpy")  # (the replay block runs the NumPy backend)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 8
    code = "\n".join(blocks)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert result.returncode == 0, result.stderr
    # Each `print(...)   # expected` comment is what that line prints.
    expected = [c.strip() for c in re.findall(r"print\(.*?\)\s*#\s*(\(?[-\d.TF][^\n]*)", code)]
    printed = [line.strip() for line in result.stdout.splitlines()]
    for want in expected:
        assert want in printed, f"README says a line prints {want!r}; it printed {printed}"
