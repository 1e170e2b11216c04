"""Saving and loading a model's parameters, as a JSON file a person can read.

    save(model, "moons.json")     # atomic: an interrupted save never leaves a broken file
    load(model, "moons.json")     # checks everything first; on any error the model is unchanged

A state dict names each parameter by where it lives in the module, attribute by attribute:
``layers.0.neurons.3.w`` is the weight list of neuron 3 of layer 0, ``layers.0.neurons.3.b``
its bias. The file wraps it with a format tag and a version:

    {"format": "tapegrad.state_dict", "version": 1, "module": "MLP",
     "state": {"layers.0.neurons.0.w": [0.23, -0.91], "layers.0.neurons.0.b": 0.0, ...}}
"""

from __future__ import annotations

import json
import numbers
import os
import secrets

from .value import Value

FORMAT = "tapegrad.state_dict"
VERSION = 1


def named_parameters(module) -> list[tuple[str, object]]:
    """(name, parameter) pairs in attribute order, where a parameter is a Value or a list of
    Values. Walks the module's attributes with an explicit stack: Modules and lists of Modules
    are entered, Values and lists of Values are parameters.

    A custom Module whose ``parameters()`` holds Values this walk cannot find by attribute is
    named by position instead: ``parameters.0``, ``parameters.1``, ...
    """
    found: list[tuple[str, object]] = []
    stack = [("", module)]
    while stack:
        prefix, obj = stack.pop()
        children = []
        for name, attr in vars(obj).items():
            path = f"{prefix}{name}"
            if isinstance(attr, Value):
                found.append((path, attr))
            elif _is_module(attr):
                children.append((f"{path}.", attr))
            elif isinstance(attr, (list, tuple)) and attr:
                if all(isinstance(a, Value) for a in attr):
                    found.append((path, list(attr)))
                elif all(_is_module(a) for a in attr):
                    children.extend((f"{path}.{i}.", a) for i, a in enumerate(attr))
        stack.extend(reversed(children))  # so children are visited in attribute order
    walked = [v for _, p in found for v in (p if isinstance(p, list) else [p])]
    params = module.parameters()
    if {id(v) for v in walked} != {id(v) for v in params} or len(walked) != len(params):
        return [(f"parameters.{i}", p) for i, p in enumerate(params)]
    return found


def _is_module(obj) -> bool:
    """Whether `obj` is a module: anything with a parameters() method (nn.Module and its kind;
    this file does not import nn, which imports it)."""
    return not isinstance(obj, Value) and callable(getattr(obj, "parameters", None))


def state_dict(module) -> dict:
    """``{name: float or list of floats}``: a copy of the parameters' data."""
    return {
        name: [v.data for v in p] if isinstance(p, list) else p.data
        for name, p in named_parameters(module)
    }


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def load_state_dict(module, state) -> None:
    """Copy ``state``'s numbers into the module's parameters, after checking all of them.

    Raises ValueError naming the first problem (a missing or unexpected name, a list of the
    wrong length, a value that is not a number or too large for a float); nothing is changed
    unless everything fits.
    """
    where = f"load_state_dict into {type(module).__name__}"
    if not isinstance(state, dict):
        raise ValueError(f"{where}: expected a dict of name -> numbers, got {type(state).__name__}")
    named = named_parameters(module)
    expected = {name for name, _ in named}
    missing = [name for name, _ in named if name not in state]
    unexpected = [name for name in state if name not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else ""))
        if unexpected:
            parts.append(
                f"unexpected {', '.join(map(str, unexpected[:3]))}"
                + (" ..." if len(unexpected) > 3 else "")
            )
        raise ValueError(
            f"{where}: the saved parameters do not fit this model ({'; '.join(parts)}); "
            f"was it saved from a model of the same shape? This one is {module!r}"[:600]
        )
    checked = []  # (the parameters, their new values): filled while checking, applied after
    for name, p in named:
        saved = state[name]
        if isinstance(p, list):
            if not isinstance(saved, list) or len(saved) != len(p):
                got = f"{len(saved)} numbers" if isinstance(saved, list) else repr(saved)[:40]
                raise ValueError(
                    f"{where}: {name} needs a list of {len(p)} numbers, the saved state has {got}; "
                    "was it saved from a model of the same shape?"
                )
            values = [_saved_float(where, f"{name}[{i}]", x) for i, x in enumerate(saved)]
            checked.append((p, values))
        else:
            checked.append(([p], [_saved_float(where, name, saved)]))
    for params, values in checked:  # everything fits: only now change the model
        for p, x in zip(params, values):
            p.data = x


def _saved_float(where: str, name: str, x) -> float:
    """The float that the saved number ``x`` stands for; ValueError naming ``name`` otherwise.
    Converting here, while checking, means a number too large for a float is found before the
    model is touched."""
    if not _is_number(x):
        raise ValueError(f"{where}: {name} is {x!r}, not a number")
    try:
        return float(x)
    except OverflowError:
        raise ValueError(
            f"{where}: {name} is too large for a float (the largest is about 1.8e308); "
            "the file was not written by save, or was edited: save the model again"
        ) from None


def save(module, path) -> None:
    """Write the module's parameters to the JSON file ``path``, atomically.

    The JSON goes to a temporary file in the same folder, is flushed to disk, and then renamed
    over ``path`` in one step (``os.replace``): a reader sees the old file or the new one,
    never half of one, even if the save is interrupted.
    """
    text = json.dumps(
        {
            "format": FORMAT,
            "version": VERSION,
            "module": type(module).__name__,
            "state": state_dict(module),
        }
    )
    path = os.fspath(path)
    folder = check_save_path(path)
    fd, tmp = _new_file_beside(path, folder)
    file = None
    try:
        file = os.fdopen(fd, "w", encoding="utf-8")
        with file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        # NOTE: BaseException, so a KeyboardInterrupt mid-save also cleans up its temporary file.
        if file is None:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _new_file_beside(path: str, folder: str) -> tuple[int, str]:
    """A new, uniquely named temporary file in ``folder``, opened for writing: (fd, its path).

    Made with os.open's mode 0o666, so the umask applies and the saved model gets the
    permissions any new file gets (tempfile.mkstemp would make it 0600, private to its owner).
    """
    while True:
        tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:  # a name already taken: draw another
            continue


def check_save_path(path) -> str:
    """The folder that ``save(module, path)`` would write into; FileNotFoundError, saying so,
    when it does not exist. A training run calls it before it starts, so a mistyped path fails
    at once rather than after the training is done."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"save: cannot write {path!r}: the folder {folder!r} does not exist; create it first"
        )
    return folder


def load(module, path) -> None:
    """Set the module's parameters from a file written by ``save``.

    A missing file raises FileNotFoundError; a file that is not a tapegrad state dict
    (corrupt, truncated, something else) or that does not fit the model raises ValueError.
    Either way the message names the file, and the model is left as it was.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"load: there is no file {path!r}; save a model there first with "
            "tapegrad.serialize.save(model, path)"
        ) from None
    except UnicodeDecodeError:
        raise ValueError(f"load: {path!r} is not a tapegrad model file (not text)") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"load: {path!r} is not a tapegrad model file: its JSON is broken at line "
            f"{error.lineno}, column {error.colno} ({error.msg}); the file is corrupt or "
            "truncated, save the model again"
        ) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(
            f"load: {path!r} is JSON but not a tapegrad model file (no "
            f'"format": "{FORMAT}" field); was it written by tapegrad.serialize.save?'
        )
    if document.get("version") != VERSION:
        raise ValueError(
            f"load: {path!r} has format version {document.get('version')!r}; this tapegrad "
            f"reads version {VERSION}"
        )
    try:
        load_state_dict(module, document.get("state"))
    except ValueError as error:
        raise ValueError(f"load: {path!r}: {error}") from None


__all__ = ["named_parameters", "state_dict", "load_state_dict", "save", "load", "check_save_path"]
