"""Saving and loading a model's parameters, as a JSON file a person can read.

    save(model, "moons.json")     # atomic: an interrupted save never leaves a broken file
    load(model, "moons.json")     # checks everything first; on any error the model is unchanged

A state dict names each parameter by where it lives in the module, attribute by attribute:
``layers.0.neurons.3.w`` is the weight list of neuron 3 of layer 0, ``layers.0.neurons.3.b``
its bias. The file wraps it with a format tag and a version:

    {"format": "tapegrad.state_dict", "version": 1, "module": "MLP",
     "state": {"layers.0.neurons.0.w": [0.23, -0.91], "layers.0.neurons.0.b": 0.0, ...}}

How a save goes: the path is checked (a regular file or nothing yet, in a folder that exists and
can be written; a symlink is followed to the file it names), then tapegrad.files writes the JSON
atomically: to a temporary file beside that file, synced to disk, and renamed over it in one
step. The temporary file is named ``.<name>.tapegrad-<host>-<pid>-<random>.tmp``: a save killed
halfway leaves it behind, and the next save of the same file removes it once its writer is
provably gone.

How a load goes: the file is read up to a size no file of this model can exceed, its nesting and
its numbers are checked while it is parsed (no recursion limit, no 5,000-digit number, no NaN or
infinity gets through), and only when every parameter has its number is the model changed.
"""

import json as _json
import numbers as _numbers
import os as _os
import re as _re
import reprlib as _reprlib
import stat as _stat
from typing import Protocol as _Protocol

from . import files as _files
from .value import Value

FORMAT = "tapegrad.state_dict"
VERSION = 1

# What a load accepts. save writes a float as its repr (at most 24 characters, 20 or so for a
# typical weight, plus ", "); the limits are several times that, so a file edited by hand or
# pretty-printed (one number a line, indented) still loads, while a file that cannot be this
# model's is refused before it is read.
_BYTES_PER_PARAMETER = 64
_BYTES_PER_NAME = 64  # beside the name itself: its quotes, ": ", brackets, indentation
_BYTES_OF_SLACK = 64 * 1024  # the format tag, version, module name, whitespace
_MAX_NUMBER_CHARS = 100  # the exact decimal expansion of 0.1 has 55 characters
_MAX_DEPTH = 32  # a model file is 3 levels deep: the document, its state, a weight list


class _Model(_Protocol):
    """What saving and loading need of a model: its parameters (nn.Module and its kind)."""

    def parameters(self) -> "list[Value]":
        """The Values to save and load, in a fixed order."""


# ---------------------------------------------------------------------------------------------
# State dicts: names and numbers
# ---------------------------------------------------------------------------------------------


def named_parameters(module: _Model) -> "list[tuple[str, Value | list[Value]]]":
    """(name, parameter) pairs in attribute order, where a parameter is a Value or a list of
    Values. Walks the module's attributes with an explicit stack: Modules and lists of Modules
    are entered, Values and lists of Values are parameters.

    A custom Module whose ``parameters()`` holds Values this walk cannot find by attribute is
    named by position instead: ``parameters.0``, ``parameters.1``, ...
    """
    found: "list[tuple[str, Value | list[Value]]]" = []
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


def _is_module(obj: object) -> bool:
    """Whether `obj` is a module: anything with a parameters() method (nn.Module and its kind;
    this file does not import nn, which imports it)."""
    return not isinstance(obj, Value) and callable(getattr(obj, "parameters", None))


def state_dict(module: _Model) -> "dict[str, float | list[float]]":
    """``{name: float or list of floats}``: a copy of the parameters' data."""
    return {
        name: [v.data for v in p] if isinstance(p, list) else p.data
        for name, p in named_parameters(module)
    }


def load_state_dict(module: _Model, state: dict) -> None:
    """Copy ``state``'s numbers into the module's parameters, after checking all of them.

    Raises ValueError naming the first problem (a missing or unexpected name, a list of the
    wrong length, a value that is not a finite number or too large for a float); nothing is
    changed unless everything fits.
    """
    where = f"load_state_dict into {type(module).__name__}"
    _assign(_checked_values(module, named_parameters(module), state, where))


def _assign(checked: "list[tuple[Value, float]]") -> None:
    """Set each parameter to its checked number: the only step of a load that changes the
    model, run once everything has been checked."""
    for p, x in checked:
        p.data = x


def _checked_values(module: _Model, named: "list[tuple[str, Value | list[Value]]]",
                    state: object, where: str) -> "list[tuple[Value, float]]":
    """(parameter, its new number) for every parameter of ``module`` (``named``: its
    named_parameters), read from ``state``; ValueError starting with ``where`` at the first
    thing that does not fit."""
    if not isinstance(state, dict):
        raise ValueError(f"{where}: expected a dict of name -> numbers, got {type(state).__name__}")
    _check_names(module, state, [name for name, _ in named], where)
    checked = []
    for name, p in named:
        saved = state[name]
        if isinstance(p, list):
            if not isinstance(saved, list) or len(saved) != len(p):
                got = f"{len(saved)} numbers" if isinstance(saved, list) else _brief(saved)
                raise ValueError(
                    f"{where}: {name} needs a list of {len(p)} numbers, the saved state has {got}; "
                    "was it saved from a model of the same shape?"
                )
            checked += zip(p, _saved_floats(where, name, saved))
        else:
            checked.append((p, _saved_float(where, name, saved)))
    return checked


def _check_names(module: _Model, state: dict, names: "list[str]", where: str) -> None:
    """ValueError listing (the first few) missing and unexpected names, if there are any."""
    expected = set(names)
    missing = [name for name in names if name not in state]
    unexpected = [_cut(str(name)) for name in state if name not in expected]
    if not (missing or unexpected):
        return
    parts = []
    for word, listed in (("missing", missing), ("unexpected", unexpected)):
        if listed:
            parts.append(f"{word} {', '.join(listed[:3])}" + (" ..." if len(listed) > 3 else ""))
    raise ValueError(
        f"{where}: the saved parameters do not fit this model ({'; '.join(parts)}); "
        f"was it saved from a model of the same shape? This one is {module!r}"[:600]
    )


def _is_number(x: object) -> bool:
    return isinstance(x, _numbers.Real) and not isinstance(x, bool)


def _saved_floats(where: str, name: str, saved: list) -> "list[float]":
    """The floats of the saved list ``saved`` of parameter ``name``, checked as _saved_float
    checks one (a finite float, the common case, is taken at once: lists can be long)."""
    return [x if type(x) is float and x - x == 0.0 else _saved_float(where, f"{name}[{i}]", x)
            for i, x in enumerate(saved)]


def _saved_float(where: str, name: str, x: object) -> float:
    """The float that the saved number ``x`` stands for; ValueError naming ``name`` otherwise.
    Converting here, while checking, means a number too large for a float, NaN or an infinity
    is found before the model is touched."""
    if isinstance(x, _RefusedNumber):
        raise ValueError(f"{where}: {name} is {x.description()}")
    if not _is_number(x):
        raise ValueError(f"{where}: {name} is {_brief(x)}, not a number")
    try:
        number = float(x)
    except OverflowError:
        raise ValueError(
            f"{where}: {name} is too large for a float (the largest is about 1.8e308); "
            "the file was not written by save, or was edited: save the model again"
        ) from None
    if number - number != 0.0:  # nan or ±inf: x - x is nan for both, 0.0 for every finite x
        raise ValueError(
            f"{where}: {name} is {number!r}; a parameter must be a finite number (a model with "
            "a nan or infinite weight gives nan for every input)"
        )
    return number


_BRIEF = _reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxlist, _BRIEF.maxdict = 2, 4, 4
_BRIEF.maxstring = _BRIEF.maxother = _BRIEF.maxlong = 40


def _cut(text: str, most: int = 60) -> str:
    """``text``, or its first ``most`` characters and '...': a name in a file can be megabytes."""
    return text if len(text) <= most else f"{text[:most]}..."


def _brief(x: object) -> str:
    """repr(x) cut to about 40 characters, for messages: a saved value can be megabytes."""
    try:
        return _BRIEF.repr(x)
    except ValueError:  # an int past Python's limit for str() (4,300 digits by default)
        return "an int too long to show"


# ---------------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------------


def save(module: _Model, path: "str | _os.PathLike[str]") -> None:
    """Write the module's parameters to the JSON file ``path``, atomically.

    ``path`` must name a regular file or nothing yet, in a folder that exists and can be
    written (``check_save_path`` says what is wrong otherwise, as a ValueError, before anything
    is written). A symlink is followed: the file it points to is replaced and the link kept. An
    existing file keeps its permission bits (and, where allowed, its owner); a new one gets what
    ``open()`` would give it, 0666 less the umask.

    The JSON goes (by tapegrad.files.write_all) to a temporary file beside the target, is
    flushed to disk, renamed over the target in one step (``os.replace``), and the folder is
    synced: a reader sees the old file or the new one, never half of one, even if the save is
    interrupted. Before writing, the temporaries that killed saves of the same file left behind
    are removed (only those whose writing process is gone). A model with a nan or infinite
    parameter is refused with a ValueError naming it, since such a file could not be loaded back.
    """
    target = check_save_path(path)
    text = _document_text(module)
    try:
        _files.write_all([(target, text)])
    except OSError as error:  # disk full, a folder changed meanwhile: named by the target
        raise OSError(
            error.errno,
            f"save: could not write {_shown(path)} ({error.strerror or error}); "
            "the file there, if any, is unchanged",
        ) from None


def _document_text(module: _Model) -> str:
    """The file's JSON; ValueError naming the first parameter that is nan or infinite."""
    state = state_dict(module)
    document = {"format": FORMAT, "version": VERSION, "module": type(module).__name__,
                "state": state}
    try:
        return _json.dumps(document, allow_nan=False)  # in C: refuses nan and ±inf at no cost
    except ValueError:
        _refuse_non_finite(state)  # there is one: find it, to name it
        raise


def _refuse_non_finite(state: "dict[str, float | list[float]]") -> None:
    """ValueError naming the first parameter of ``state`` that is nan or infinite, if any."""
    for name, value in state.items():
        numbers = value if isinstance(value, list) else [value]
        for i, x in enumerate(numbers):
            if x - x != 0.0:  # nan or ±inf: x - x is nan for both, 0.0 for every finite x
                where = f"{name}[{i}]" if isinstance(value, list) else name
                raise ValueError(
                    f"save: parameter {where} is {x!r}, so the model could not be loaded back; "
                    "nothing was written (did the training diverge? try a smaller learning rate)"
                )


def check_save_path(path: "str | _os.PathLike[str]") -> str:
    """The file that ``save(module, path)`` would write, with symlinks resolved; ValueError,
    naming ``path`` and saying what to pass, when save would refuse it or fail on it.

    Refused: an empty path, a path ending in '/', a folder, anything that is not a regular
    file (a device such as /dev/null, a fifo, a socket), a file that cannot be written, a
    folder that does not exist, is not a folder, or cannot be written into. A training run
    calls it before it starts, so a mistyped path fails at once rather than after the
    training is done.
    """
    text = _path_text("save", path)
    shown = _shown(path)
    if not text:
        raise ValueError("save: the path is empty; pass a file name such as 'model.json'")
    if text.endswith(_os.sep) or (_os.altsep and text.endswith(_os.altsep)):
        raise ValueError(
            f"save: {shown} ends in {text[-1]!r}, so it names a folder, not a file; pass a file "
            f"path such as {_os.path.join(text, 'model.json')!r}"
        )
    target = _os.path.realpath(text)
    if _os.path.islink(text):
        shown = f"{shown} (a symlink to {target!r})"
    _check_target(text if target == _os.path.abspath(text) else target, target, shown)
    _check_folder(_os.path.dirname(target), shown)
    return target


def _check_target(written: str, target: str, shown: str) -> None:
    """ValueError unless ``target`` is a writable regular file or does not exist yet
    (``written``: the target as the user wrote it, where no symlink was followed)."""
    try:
        st = _os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        return  # nothing there yet (or a parent is not a folder: _check_folder says so)
    except OSError as error:  # a symlink loop, a folder that cannot be searched
        raise ValueError(
            f"save: cannot write {shown}: {error.strerror or error}; pass another path"
        ) from None
    if _stat.S_ISDIR(st.st_mode):
        raise ValueError(
            f"save: {shown} is a folder; pass a file path inside it, such as "
            f"{_os.path.join(written, 'model.json')!r}"
        )
    if not _stat.S_ISREG(st.st_mode):
        raise ValueError(
            f"save: {shown} is {_kind(st.st_mode)}, not a regular file, and save writes only "
            "regular files; pass a path such as 'model.json'"
        )
    if not _os.access(target, _os.W_OK):
        raise ValueError(
            f"save: {shown} is read-only; make it writable (chmod u+w) or pass another path"
        )


def _check_folder(folder: str, shown: str) -> None:
    """ValueError unless ``folder`` is a folder this process can create files in."""
    if _os.path.lexists(folder) and not _os.path.isdir(folder):
        raise ValueError(
            f"save: cannot write {shown}: {folder!r} is a file, not a folder; pass a path in "
            "an existing folder"
        )
    if not _os.path.isdir(folder):
        raise ValueError(
            f"save: cannot write {shown}: the folder {folder!r} does not exist; create it "
            "first, or pass a path in an existing folder"
        )
    if not _os.access(folder, _os.W_OK | _os.X_OK):
        raise ValueError(
            f"save: cannot write {shown}: the folder {folder!r} cannot be written into (no "
            "permission, or a read-only disk); pass a path in a folder you can write to"
        )


def _kind(mode: int) -> str:
    """What a file that is not regular is, in words: 'a character device', ..."""
    kinds = [(_stat.S_ISCHR, "a character device"), (_stat.S_ISBLK, "a block device"),
             (_stat.S_ISFIFO, "a fifo (named pipe)"), (_stat.S_ISSOCK, "a socket")]
    return next((word for test, word in kinds if test(mode)), "a special file")


def _path_text(verb: str, path: object) -> str:
    """``path`` as a str (str, bytes or os.PathLike); TypeError saying what to pass otherwise."""
    try:
        return _os.fsdecode(_os.fspath(path))
    except TypeError:
        raise TypeError(
            f"{verb}: path must be a file name (a str or a pathlib.Path such as 'model.json'), "
            f"got {_brief(path)} of type {type(path).__name__}"
        ) from None


def _shown(path: object) -> str:
    """The path as the user wrote it, for messages: the repr of its text."""
    try:
        return repr(_os.fsdecode(_os.fspath(path)))
    except TypeError:
        return _brief(path)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def load(module: _Model, path: "str | _os.PathLike[str]") -> None:
    """Set the module's parameters from a file written by ``save``.

    A missing file raises FileNotFoundError, one that cannot be read (no permission) OSError,
    both naming it. Every bad file raises ValueError naming it and
    saying what is wrong: not a regular file, larger than any file of this model can be, not
    text, broken JSON, nested too deep, a number of too many digits, NaN, an infinity or a
    number too large for a float, not a tapegrad state dict, or one that does not fit the
    model. Either way the model is left as it was.

    The size limit is ``64 bytes a parameter + 64 bytes and the length of each name + 64 KiB``,
    several times what save writes; at most that much is read.
    """
    text_path = _path_text("load", path)
    where = f"load: {_shown(path)}"
    named = named_parameters(module)
    data = _read_bounded(text_path, where, *_size_limit(named))
    try:
        text = data.decode("utf-8-sig")  # -sig: a byte-order mark from an editor is fine
    except UnicodeDecodeError:
        raise ValueError(f"{where} is not a tapegrad model file (not text)") from None
    document = _parse(text, where)
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(
            f"{where} is JSON but not a tapegrad model file (no "
            f'"format": "{FORMAT}" field); was it written by tapegrad.serialize.save?'
        )
    if document.get("version") != VERSION:
        raise ValueError(
            f"{where} has format version {_brief(document.get('version'))}; this tapegrad "
            f"reads version {VERSION}"
        )
    _assign(_checked_values(module, named, document.get("state"), where))


def _size_limit(named: "list[tuple[str, Value | list[Value]]]") -> "tuple[int, int]":
    """(the largest file that can hold the parameters ``named``, generously (see load), how
    many parameters they are)."""
    count = sum(len(p) if isinstance(p, list) else 1 for _, p in named)
    names = sum(_BYTES_PER_NAME + len(name) for name, _ in named)
    return _BYTES_PER_PARAMETER * count + names + _BYTES_OF_SLACK, count


def _read_bounded(path: str, where: str, limit: int, count: int) -> bytes:
    """The file's bytes, reading at most ``limit + 1`` of them; ValueError for anything that
    is not a regular file (checked before opening: opening a fifo would wait for a writer, a
    device may do anything) or that holds more than ``limit`` bytes, too many for ``count``
    parameters."""
    try:
        _check_loadable(_os.stat(path), where)
        # O_NONBLOCK: should the path become a fifo after the check, opening it does not hang
        flags = _os.O_RDONLY | getattr(_os, "O_NONBLOCK", 0) | getattr(_os, "O_BINARY", 0)
        fd = _os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{where}: there is no such file; save a model there first with "
            "tapegrad.serialize.save(model, path)"
        ) from None
    except OSError as error:  # no permission, a symlink loop, ...
        raise OSError(error.errno, f"{where}: cannot read it ({error.strerror or error})") from None
    with open(fd, "rb") as file:
        st = _os.fstat(fd)
        _check_loadable(st, where)  # the path may have changed since the check above
        data = b"" if st.st_size > limit else file.read(limit + 1)
    if st.st_size > limit or len(data) > limit:
        size = f"{st.st_size:,} bytes" if st.st_size > limit else f"more than {limit:,} bytes"
        raise ValueError(
            f"{where} is {size}, larger than a file of this model's {count:,} parameters can be "
            f"(at most {limit:,} bytes); is it the right file, saved from this model's shape?"
        )
    return data


def _check_loadable(st: _os.stat_result, where: str) -> None:
    """ValueError unless ``st`` is a regular file's."""
    if _stat.S_ISDIR(st.st_mode):
        raise ValueError(f"{where} is a folder; pass the path of a file written by save")
    if not _stat.S_ISREG(st.st_mode):
        raise ValueError(
            f"{where} is {_kind(st.st_mode)}, not a file written by save; pass the path of "
            "a saved model"
        )


class _RefusedNumber:
    """A number of the file that no parameter may have (NaN, an infinity, one of too many
    digits), kept as its text while parsing: the check of the parameters then names it."""

    def __init__(self, text: str, why: str):
        self.text, self.why = text, why

    def description(self) -> str:
        """What the number is and why it is refused, for the message."""
        shown = self.text if len(self.text) <= 24 else f"{self.text[:12]}...{self.text[-4:]}"
        return f"{shown}: {self.why}"

    def __repr__(self) -> str:
        return self.description().partition(":")[0]


def _parsed_constant(text: str) -> _RefusedNumber:
    """json's NaN, Infinity and -Infinity: never a parameter."""
    return _RefusedNumber(text, "a parameter must be a finite number (save never writes it)")


def _too_long(text: str) -> "_RefusedNumber | None":
    """The refusal of a number written with more than _MAX_NUMBER_CHARS characters, or None."""
    if len(text) > _MAX_NUMBER_CHARS:
        return _RefusedNumber(text, f"a number written with {len(text):,} characters; save "
                                    "writes at most 24, so the file was not written by save")
    return None


def _parsed_float(text: str) -> "float | _RefusedNumber":
    """A JSON number with a fraction or exponent: a float if it is short and finite (1e999
    would become inf)."""
    refused = _too_long(text)
    if refused is not None:
        return refused
    number = float(text)
    if number - number != 0.0:
        return _RefusedNumber(text, "too large for a float (the largest is about 1.8e308)")
    return number


def _parsed_int(text: str) -> "int | _RefusedNumber":
    """A JSON whole number: an int if it is short (converting a long one costs time
    quadratic in its digits, and Python refuses more than 4,300)."""
    refused = _too_long(text)
    return refused if refused is not None else int(text)


def _parse(text: str, where: str) -> object:
    """The JSON document in ``text``; ValueError starting with ``where`` if it is broken or
    nested deeper than _MAX_DEPTH (checked first: json's parser recurses in C, and with the
    recursion limit raised a deep file would crash the interpreter)."""
    deep = f"{where} is not a tapegrad model file: its JSON is nested more than {_MAX_DEPTH} " \
           "levels deep (a model file has 3); the file is corrupt or not a saved model"
    if _nested_deeper_than(text, _MAX_DEPTH):
        raise ValueError(deep)
    try:
        return _json.loads(text, parse_float=_parsed_float, parse_int=_parsed_int,
                           parse_constant=_parsed_constant)
    except _json.JSONDecodeError as error:
        raise ValueError(
            f"{where} is not a tapegrad model file: its JSON is broken at line "
            f"{error.lineno}, column {error.colno} ({error.msg}); the file is corrupt or "
            "truncated, save the model again"
        ) from None
    except RecursionError:  # a recursion limit set below _MAX_DEPTH's needs
        raise ValueError(deep) from None


_STRUCTURE = _re.compile(r'["\\\[\]{}]')  # what decides JSON's nesting: quotes, escapes, brackets


def _nested_deeper_than(text: str, limit: int) -> bool:
    """Whether brackets outside strings nest more than ``limit`` deep in ``text``.

    Steps only over the characters that matter (a saved model has a few per neuron), in one
    pass: inside a string a backslash hides the next character, a quote ends it; outside,
    [ and { go one level down, ] and } one up.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    depth, in_string, hidden = 0, False, -1
    for match in _STRUCTURE.finditer(text):
        at, char = match.start(), match.group()
        if at == hidden:
            continue
        if in_string:
            if char == "\\":
                hidden = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "[" or char == "{":
            depth += 1
            if depth > limit:
                return True
        elif char == "]" or char == "}":
            depth -= 1
    return False


__all__ = ["named_parameters", "state_dict", "load_state_dict", "save", "load", "check_save_path",
           "FORMAT", "VERSION"]
