"""The shape of the package, kept by tests: layers that import only downwards, no import cycle,
the engine's size budget, and what `import tapegrad` costs.

The layers, in order (docs: ../shared/DESIGN.md). A module may import modules of its own layer
or of the layers before it -- at module level and inside functions alike:

    ops -> record -> value -> graph -> transforms, gradcheck, memory -> nn, losses, optim, datasets,
    serialize, charlm -> backends -> the tools (symbolic, viz, explain, explorer,
    training_explorer, demo, names_demo, cli, plots, plain)

Where a lower layer needs a higher one, the higher one registers itself: the NumPy backend in
``graph.BACKENDS``, the Jupyter drawings attached by the package's ``__init__``.
"""

from __future__ import annotations

import ast
import io
import os
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "tapegrad"

LAYERS = [
    ["ops", "files"],
    ["record"],
    ["value"],
    ["graph"],
    ["transforms", "gradcheck", "memory"],
    ["nn", "losses", "optim", "datasets", "serialize", "charlm"],
    ["backends", "backends.leaf_store", "backends.numpy", "backends.numpy_math",
     "backends.feeds", "backends.compiled_step", "backends.cross_entropy",
     "backends.flat_graph", "backends.products"],
    ["symbolic", "viz", "explain", "explorer", "training_explorer", "demo", "names_demo", "cli",
     "plots", "plain", "check", "__main__"],
]
LAYER = {name: k for k, names in enumerate(LAYERS) for name in names}

ENGINE = ["ops.py", "record.py", "value.py", "graph.py"]  # all a Value and a Graph need
ENGINE_BUDGET = 765  # lines of code: no blank lines, comments or docstrings (750 until the
# reverse sweep wrote in + and *'s partials and recording checked room and taint at once:
# 12% fewer instructions a microgpt step, for 8 lines; 760 until the recorders of + and *
# kept the new node's entry number instead of computing it again: 5.5% fewer instructions
# in microgpt's forward pass, for 5 lines)
PLAIN_BUDGET = 150  # lines in all: plain.py is read, whole, first
IMPORT_BUDGET_MS = 15.0  # what `import tapegrad` adds to a bare interpreter


def _modules() -> dict[str, Path]:
    """Every module of the package but __init__ files, by dotted name below tapegrad."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    """The tapegrad modules `name` imports anywhere in its file (dotted, below tapegrad)."""
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    known, found = _modules(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
                if not module.startswith("tapegrad"):
                    continue
                module = module.removeprefix("tapegrad").removeprefix(".")
            targets = [module] + [f"{module}.{a.name}".lstrip(".") for a in node.names]
        else:
            continue
        for target in targets:
            target = target.removeprefix("tapegrad.")
            if target in known:
                found.add(target)
    return found


def test_every_module_has_a_layer():
    unplaced = sorted(set(_modules()) - set(LAYER))
    assert not unplaced, f"put these modules in a layer of {__name__}.LAYERS: {unplaced}"


@pytest.mark.parametrize("name", sorted(LAYER))
def test_each_module_imports_only_its_own_layer_or_lower_ones(name):
    path = _modules()[name]
    upward = {t for t in _imports(name, path) if LAYER[t] > LAYER[name]}
    assert not upward, (
        f"{path.name} (layer {LAYER[name]}: {LAYERS[LAYER[name]]}) imports "
        f"{sorted(upward)} from a higher layer; have the higher module register itself instead"
    )


def test_no_module_imports_itself_through_others():
    graph = {name: _imports(name, path) for name, path in _modules().items()}
    for start in graph:
        stack, seen = [(start, [start])], set()
        while stack:
            name, trail = stack.pop()
            for target in graph.get(name, ()):
                if target == start:
                    pytest.fail("an import cycle: " + " -> ".join(trail + [start]))
                if target not in seen:
                    seen.add(target)
                    stack.append((target, trail + [target]))


def lines_of_code(path: Path) -> int:
    """Lines with code on them: not blank, not only a comment, not a docstring."""
    source = path.read_text(encoding="utf-8")
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                if isinstance(first.value.value, str):
                    docstrings.update(range(first.lineno, first.end_lineno + 1))
    code = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            code.update(n for n in range(token.start[0], token.end[0] + 1) if n not in docstrings)
    return len(code)


def test_lines_of_code_counts_code_only(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""A docstring\nof two lines."""\n\n# a comment\nx = (1,\n     2)  # two\n'
                      "def f():\n    '''doc'''\n    return x\n")
    assert lines_of_code(sample) == 4


def test_the_engine_stays_within_its_budget():
    counts = {name: lines_of_code(PACKAGE / name) for name in ENGINE}
    total = sum(counts.values())
    report = ", ".join(f"{name} {n}" for name, n in counts.items())
    assert total <= ENGINE_BUDGET, (
        f"the engine is {total} lines of code, over its budget of {ENGINE_BUDGET} ({report}): "
        f"{max(counts, key=counts.get)} is the largest"
    )


def test_plain_is_one_short_file():
    lines = (PACKAGE / "plain.py").read_text(encoding="utf-8").count("\n")
    assert lines <= PLAIN_BUDGET, f"plain.py is {lines} lines, over its budget of {PLAIN_BUDGET}"


def _import_time_ms(env) -> float:
    """What `import tapegrad` costs in a fresh interpreter (-X importtime's total), in ms."""
    run = subprocess.run([sys.executable, "-X", "importtime", "-c", "import tapegrad"],
                         capture_output=True, text=True, env=env, check=True)
    for line in run.stderr.splitlines():
        if line.rstrip().endswith("| tapegrad"):
            return int(line.split("|")[1]) / 1000
    raise AssertionError(f"no import time for tapegrad in:\n{run.stderr[-2000:]}")


def test_import_tapegrad_is_cheap(tmp_path):
    # As a user's interpreter runs it: compiled files cached (here in a folder of the test's own,
    # so the tree stays clean), the best of a few runs (the machine may be busy).
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(tmp_path)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    _import_time_ms(env)
    best = min(_import_time_ms(env) for _ in range(5))
    assert best <= IMPORT_BUDGET_MS, f"import tapegrad took {best:.1f} ms (budget {IMPORT_BUDGET_MS})"


def test_import_tapegrad_loads_no_heavy_standard_module():
    code = ("import sys; before = set(sys.modules); import tapegrad; "
            "print(' '.join(sorted(set(sys.modules) - before)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split())
    heavy = {"enum", "dataclasses", "inspect", "typing", "functools", "collections", "random",
             "threading", "weakref", "re", "numpy"}
    assert not loaded & heavy, f"import tapegrad loads {sorted(loaded & heavy)}"
