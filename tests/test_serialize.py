"""Saving and loading models (tapegrad.serialize, Module.state_dict / load_state_dict).

A save is atomic (a temporary file renamed into place), and every failed load -- wrong shape,
corrupt file, missing file -- raises a clear error and leaves the model exactly as it was."""

from __future__ import annotations

import json
import os
import random
import re

import pytest

from tapegrad import Value
from tapegrad.nn import MLP, Layer, Module, Neuron
from tapegrad.serialize import load, named_parameters, save


def model(seed: int, sizes=(4, 1)) -> MLP:
    random.seed(seed)
    return MLP(2, list(sizes))


def datas(m: Module) -> list[float]:
    return [p.data for p in m.parameters()]


def test_state_dict_names_and_values():
    m = model(0, (2, 1))
    state = m.state_dict()
    assert list(state) == [
        "layers.0.neurons.0.w", "layers.0.neurons.0.b",
        "layers.0.neurons.1.w", "layers.0.neurons.1.b",
        "layers.1.neurons.0.w", "layers.1.neurons.0.b",
    ]
    assert state["layers.0.neurons.1.w"] == [p.data for p in m.layers[0].neurons[1].w]
    assert state["layers.1.neurons.0.b"] == 0.0
    json.dumps(state)  # plain numbers only


def test_round_trip_in_memory_and_through_a_file(tmp_path):
    source = model(1)
    for p in source.parameters():
        p.data += 0.125  # as if trained: biases are no longer 0
    target = model(2)
    target.load_state_dict(source.state_dict())
    assert datas(target) == datas(source)

    path = tmp_path / "model.json"
    save(source, path)
    fresh = model(3)
    load(fresh, path)
    assert datas(fresh) == datas(source)  # floats survive JSON exactly
    x = [Value(0.3), Value(-0.8)]
    assert fresh(x).data == source(x).data
    document = json.loads(path.read_text())
    assert (document["format"], document["version"], document["module"]) == (
        "tapegrad.state_dict", 1, "MLP"
    )


def test_neuron_and_layer_have_state_dicts_too():
    random.seed(0)
    n = Neuron(3)
    assert list(n.state_dict()) == ["w", "b"]
    layer = Layer(2, 2)
    assert list(layer.state_dict()) == ["neurons.0.w", "neurons.0.b", "neurons.1.w", "neurons.1.b"]


def test_a_custom_module_falls_back_to_positions():
    class Scaled(Module):
        def __init__(self):
            self.table = {"a": Value(1.0), "b": Value(2.0)}  # not found by attribute walk

        def parameters(self):
            return list(self.table.values())

    m = Scaled()
    assert m.state_dict() == {"parameters.0": 1.0, "parameters.1": 2.0}
    m.load_state_dict({"parameters.0": 5.0, "parameters.1": 6.0})
    assert [p.data for p in m.parameters()] == [5.0, 6.0]


def test_named_parameters_cover_parameters_in_order():
    m = model(0, (3, 2, 1))
    flat = [v for _, p in named_parameters(m) for v in (p if isinstance(p, list) else [p])]
    assert [id(v) for v in flat] == [id(v) for v in m.parameters()]


# ---------------------------------------------------------------------------------------------
# Failed loads leave the model as it was
# ---------------------------------------------------------------------------------------------


def bad_states():
    good = model(7).state_dict()
    last = list(good)[-2]  # the last neuron's weights: a check that fails only at the very end
    cases = {
        "missing": ({k: v for k, v in good.items() if k != last}, f"missing {last}"),
        "unexpected": ({**good, "layers.9.neurons.0.b": 0.0}, "unexpected layers.9.neurons.0.b"),
        "short list": ({**good, last: good[last][:-1]}, f"{last} needs a list of 4 numbers"),
        "not a list": ({**good, last: 1.0}, f"{last} needs a list of 4 numbers"),
        "a string": ({**good, last: [*good[last][:-1], "1"]}, f"{last}[3] is '1', not a number"),
        "a bool": ({**good, "layers.1.neurons.0.b": True}, "is True, not a number"),
        # A whole number that JSON can hold but a float cannot: found while checking, not
        # halfway through copying (which would leave the model half loaded).
        "too large": (
            {**good, last: [*good[last][:-1], 10**400]},
            f"{last}[3] is too large for a float",
        ),
        "not a dict": ([1, 2], "expected a dict"),
    }
    return cases


@pytest.mark.parametrize("case", list(bad_states()))
def test_bad_state_dicts_change_nothing(case):
    state, words = bad_states()[case]
    m = model(0)
    before = datas(m)
    with pytest.raises(ValueError, match=re.escape(words)):
        m.load_state_dict(state)
    assert datas(m) == before


def test_loading_a_model_of_another_shape(tmp_path):
    path = tmp_path / "wide.json"
    save(model(0, (8, 1)), path)
    m = model(1, (4, 1))
    before = datas(m)
    with pytest.raises(ValueError, match="same shape") as error:
        load(m, path)
    assert str(path) in str(error.value)
    assert datas(m) == before


@pytest.mark.parametrize(
    "content, words",
    [
        ('{"format": "tapegrad.state_dict", "version": 1, "sta', "corrupt or truncated"),
        ("", "JSON is broken at line 1"),
        ('{"weights": [1, 2]}', "not a tapegrad model file"),
        ("[1, 2, 3]", "not a tapegrad model file"),
        ('{"format": "tapegrad.state_dict", "version": 99, "state": {}}', "version 99"),
        ('{"format": "tapegrad.state_dict", "version": 1}', "expected a dict"),
    ],
)
def test_corrupt_files_change_nothing(tmp_path, content, words):
    path = tmp_path / "broken.json"
    path.write_text(content)
    m = model(0)
    before = datas(m)
    with pytest.raises(ValueError, match=re.escape(words)):
        load(m, path)
    assert datas(m) == before


def test_binary_garbage(tmp_path):
    path = tmp_path / "garbage.json"
    path.write_bytes(bytes(range(256)))
    m = model(0)
    before = datas(m)
    with pytest.raises(ValueError, match="not a tapegrad model file"):
        load(m, path)
    assert datas(m) == before


def test_missing_file(tmp_path):
    m = model(0)
    before = datas(m)
    with pytest.raises(FileNotFoundError, match="there is no such file; save a model there first"):
        load(m, tmp_path / "nope.json")
    assert datas(m) == before


# ---------------------------------------------------------------------------------------------
# Saves are atomic
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fail_in", ["fdopen", "fsync", "replace"])
def test_an_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch, fail_in):
    path = tmp_path / "model.json"
    old = model(0)
    save(old, path)
    old_text = path.read_text()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-save

    # fdopen: the temporary file exists, empty; fsync: it holds the new JSON, not yet on disk;
    # replace: it is complete but not yet renamed over the old one.
    monkeypatch.setattr(f"tapegrad.serialize._os.{fail_in}", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(model(1), path)
    monkeypatch.undo()
    assert path.read_text() == old_text  # the old model, whole
    assert os.listdir(tmp_path) == ["model.json"]  # and no temporary file left behind
    fresh = model(2)
    load(fresh, path)
    assert datas(fresh) == datas(old)


def test_save_into_a_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist; create it first"):
        save(model(0), tmp_path / "no" / "such" / "model.json")


def test_save_overwrites(tmp_path):
    path = tmp_path / "m.json"
    save(model(0), path)
    newer = model(1)
    save(newer, path)
    m = model(2)
    load(m, path)
    assert datas(m) == datas(newer)


def test_a_saved_file_has_the_permissions_of_any_new_file(tmp_path):
    """Atomic saves go through a temporary file; it must not leave the model readable by its
    owner only (tempfile.mkstemp's 0600), but get what open() gives: 0666 less the umask."""
    plain = tmp_path / "plain.txt"
    plain.write_text("")
    path = tmp_path / "m.json"
    save(model(0), path)
    assert os.stat(path).st_mode & 0o777 == os.stat(plain).st_mode & 0o777
