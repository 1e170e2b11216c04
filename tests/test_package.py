"""The package as a user's tools see it: typed (py.typed), every public function and method
documented and annotated, and no module leaking what it imported into its public names."""

import ast
import importlib
import inspect
import types
from pathlib import Path

import pytest

import tapegrad

PACKAGE = Path(tapegrad.__file__).resolve().parent
OPTIONAL = {"backends.numpy": "numpy", "plots": "matplotlib"}  # modules that need an extra
# What a user's code calls: these modules' public functions and methods carry type hints (Value's
# through value.pyi, which declares what value.py makes in loops).
USER_API = ["tapegrad", "tapegrad.graph", "tapegrad.nn", "tapegrad.optim", "tapegrad.losses",
            "tapegrad.datasets", "tapegrad.serialize", "tapegrad.transforms", "tapegrad.gradcheck",
            "tapegrad.viz", "tapegrad.explain", "tapegrad.explorer", "tapegrad.memory",
            "tapegrad.plots", "tapegrad.demo", "tapegrad.cli"]
# plain.py is the 150-line engine a learner reads first, whole: its module docstring says what
# each part is. The arithmetics' members are the rule table's functions, documented there.
UNDOCUMENTED_BY_DESIGN = ("tapegrad.plain.", "tapegrad.ops.FloatMath.",
                          "tapegrad.backends.numpy_math.NumpyMath.")


def _module_names() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        names.append(".".join(("tapegrad",) + parts))
    return names


MODULES = [m for m in _module_names() if m != "tapegrad.__main__"]  # (it runs, when imported)


def _load(name: str):
    needs = OPTIONAL.get(name.removeprefix("tapegrad."))
    if needs:
        pytest.importorskip(needs)
    return importlib.import_module(name)


def _public(module) -> dict:
    """The module's public names: its __all__, else every name without a leading underscore."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    return {n: getattr(module, n) for n in names}


def test_the_package_is_typed():
    assert (PACKAGE / "py.typed").is_file()
    pyproject = (PACKAGE.parent.parent / "pyproject.toml").read_text()
    assert '"py.typed"' in pyproject, "py.typed must be package data, or wheels leave it out"


@pytest.mark.parametrize("name", MODULES)
def test_no_module_leaks_what_it_imported(name):
    module = _load(name)
    leaked = sorted(
        n for n, obj in vars(module).items()
        if not n.startswith("_") and (
            n == "annotations"  # from __future__ import annotations
            or (isinstance(obj, types.ModuleType) and not obj.__name__.startswith("tapegrad"))
        )
    )
    assert not leaked, f"{name} shows these imports as public names: {leaked}; import them as _name"


def _own_callables(module):
    """(qualified name, object) for each public function, class and method the module defines."""
    for n, obj in _public(module).items():
        if getattr(obj, "__module__", None) != module.__name__:
            continue  # re-exported from elsewhere: checked there
        if inspect.isfunction(obj):
            yield f"{module.__name__}.{n}", obj
        elif inspect.isclass(obj):
            yield f"{module.__name__}.{n}", obj
            for m, member in vars(obj).items():
                if m.startswith("_") and m not in ("__init__", "__call__"):
                    continue
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if inspect.isfunction(member) or isinstance(member, property):
                    yield f"{module.__name__}.{n}.{m}", member


@pytest.mark.parametrize("name", MODULES)
def test_every_public_function_and_method_has_a_docstring(name):
    module = _load(name)
    assert module.__doc__, f"{name} has no module docstring"
    missing = [q for q, obj in _own_callables(module)
               if not (q.endswith(".__init__") or inspect.getdoc(obj)
                       or q.startswith(UNDOCUMENTED_BY_DESIGN))]
    assert not missing, f"no docstring (help() shows nothing): {missing}"


def test_value_methods_made_from_the_rule_table_are_documented():
    from tapegrad import RULES, Value

    for rule in RULES.values():
        if rule.method:
            method = getattr(Value, rule.method)
            assert method.__doc__ and method.__name__ == rule.method, rule.method
    for comparison in ("__lt__", "__le__", "__gt__", "__ge__"):
        assert "data" in getattr(Value, comparison).__doc__


def _unannotated(obj) -> list[str]:
    fn = obj.fget if isinstance(obj, property) else obj
    if inspect.isclass(fn):
        return []
    signature = inspect.signature(fn)
    missing = [p.name for p in signature.parameters.values()
               if p.name not in ("self", "cls") and not p.name.startswith("_")
               and p.annotation is inspect.Parameter.empty]
    if signature.return_annotation is inspect.Signature.empty and fn.__name__ != "__init__":
        missing.append("return")
    return missing


@pytest.mark.parametrize("name", USER_API)
def test_the_public_api_has_type_hints(name):
    module = _load(name)
    gaps = {q: m for q, obj in _own_callables(module) if (m := _unannotated(obj))}
    assert not gaps, f"type hints missing (parameter names, or 'return'): {gaps}"


def test_the_typing_stub_of_value_declares_every_public_name():
    """value.py makes some methods from the rule table, which a type checker cannot see: the
    stub beside it declares them. It must not fall behind the class."""
    from tapegrad import Value

    stub = ast.parse((PACKAGE / "value.pyi").read_text())
    (cls,) = [node for node in stub.body if isinstance(node, ast.ClassDef) and node.name == "Value"]
    declared = {node.name for node in cls.body if isinstance(node, ast.FunctionDef)}
    declared |= {node.target.id for node in cls.body if isinstance(node, ast.AnnAssign)}
    runtime = {n for n in dir(Value) if not n.startswith("_") or n in (
        "__float__", "__bool__", "__round__", "__format__", "__lt__", "__le__", "__gt__",
        "__ge__", "__add__", "__radd__", "__mul__", "__rmul__", "__pow__", "__rpow__",
        "__neg__", "__sub__", "__rsub__", "__truediv__", "__rtruediv__", "__abs__")}
    assert runtime - declared == set(), f"value.pyi lacks {sorted(runtime - declared)}"


def test_the_typing_stub_annotates_everything_it_declares():
    stub = ast.parse((PACKAGE / "value.pyi").read_text())
    for node in ast.walk(stub):
        if isinstance(node, ast.FunctionDef) and node.name != "__getattr__":
            args = [a for a in node.args.args + node.args.kwonlyargs if a.arg not in ("self",)]
            assert node.returns is not None, f"value.pyi: {node.name} has no return type"
            assert all(a.annotation is not None for a in args), f"value.pyi: {node.name}"


def test_the_typing_stub_matches_the_methods_signatures():
    """Each method value.py defines takes the parameters its stub says, by name."""
    from tapegrad import Value

    stub = ast.parse((PACKAGE / "value.pyi").read_text())
    (cls,) = [node for node in stub.body if isinstance(node, ast.ClassDef) and node.name == "Value"]
    for node in cls.body:
        if not isinstance(node, ast.FunctionDef) or node.decorator_list and any(
                isinstance(d, ast.Attribute) or getattr(d, "id", "") == "property"
                for d in node.decorator_list) or node.name == "__getattr__":
            continue
        runtime = inspect.signature(getattr(Value, node.name))
        assert [a.arg for a in node.args.args] == list(runtime.parameters), node.name
