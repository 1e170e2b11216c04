"""The training explorer: one self-contained HTML page that replays a whole training run, from
the picture of what the network learned down to one multiplication in one gradient.

    tapegrad demo --html moons.html             # then open moons.html: no server, no network

A `Recorder` watches ``tapegrad demo`` train (demo calls it only when ``--html`` is given, so the
normal demo pays nothing). At each recorded step it keeps, computed here in Python:

- the loss and accuracy (every step), and the decision boundary: the model's score on a grid
  over the data (2-D datasets);
- every parameter's value, gradient, the optimizer's state after the update (SGD's momentum
  buffer, Adam's m and v) and the update itself (value after - value before);
- for every point of the step's batch, its computation graph: the data and the gradient of each
  node of the network for that point (the inputs x1, x2, each neuron's ``act`` and ``out``), and
  the local derivatives that are not simply another node's number (ReLU's step, for instance).

The chain-rule text of every backward step is written once, from the graph's structure and the
rule table (`symbolic.written`), with slots for the numbers: ``{g5}`` is node 5's gradient,
``{d5}`` its data, ``{D12}``/``{G12}`` parameter 12's, ``{p3}`` a stored local derivative. The
page fills the slots with the numbers of the step and point shown; it computes nothing itself.

The numbers are stored as float32 (7 significant digits; the page shows 4), compressed with
zlib and base64-encoded, and unpacked by the browser's own DecompressionStream.
"""

import array as _array
import base64 as _base64
import json as _json
import math as _math
import re as _re
import sys as _sys
import zlib as _zlib
from importlib import resources as _resources

from .explain import local_partials
from .graph import Graph
from .ops import RULES, WITH_CONSTANT
from .symbolic import Sym, show, written

TEMPLATE = "training_explorer_page.tmpl"
MAX_SNAPSHOTS = 100  # recorded steps; a longer run is recorded every k-th step
GRID = 48  # the decision boundary's grid, GRID x GRID cells
_PURE_SLOT = _re.compile(r"\{[dD]\d+\}")  # a local derivative that is a node's own number


def _floats(values) -> _array.array:
    """Numbers as float32, kept as one flat array: not a list of floats, which the garbage
    collector would walk at every full collection of the training run (slowing it down more
    and more as the recording grows)."""
    return _array.array("f", map(_finite, values))


def _pack(values, code: str = "f") -> str:
    """Numbers as float32 ("f", an array or any iterable) or bytes ("B"), little-endian,
    zlib-compressed, base64."""
    packed = values if isinstance(values, _array.array) else _array.array(code, values)
    if _sys.byteorder == "big":
        packed = _array.array(packed.typecode, packed)
        packed.byteswap()
    return _base64.b64encode(_zlib.compress(packed.tobytes(), 6)).decode("ascii")


def _finite(x: float) -> float:
    """A float32-safe number: nan and inf, which a training run that stops never records, as 0."""
    return x if _math.isfinite(x) else 0.0


class PointGraph:
    """The structure of one point's computation graph, the same for every point and step: its
    nodes (inputs, parameters, neurons' act and out), and each node's backward step as text with
    slots for the numbers (module docstring)."""

    def __init__(self, graph: Graph, params: list, loss_words: str) -> None:
        param_index = {id(p): i for i, p in enumerate(params)}
        nodes = graph.nodes
        first = next(node for node in nodes if node.args)  # L1.N1.act: its args are w.., x.., b
        width = (len(first.args) - 1) // 2
        input_names = {id(x): f"x{i}" for i, x in enumerate(first.args[width : 2 * width], 1)}
        self.size = len(nodes)
        self.kinds, self.names, self.slot = [], [], []  # per node
        self.own = []  # graph index of each node that is not a parameter, in order
        for i, node in enumerate(nodes):
            if id(node) in param_index:
                self.kinds.append("param")
                self.names.append(node.label)
                self.slot.append(("D", "G", param_index[id(node)]))
            else:
                self.kinds.append("input" if not node.args else "node")
                self.names.append(input_names.get(id(node), node.label) or f"v{i}")
                self.slot.append(("d", "g", len(self.own)))
                self.own.append(i)
        self.width = width
        self.computed = sum(kind == "node" for kind in self.kinds)
        self.computed_labels = [node.label for node in nodes if node.args]
        self.stored: list[tuple[int, int]] = []  # (node, argument): local derivatives kept
        self.steps = self._backward_steps(graph, loss_words)

    def _value(self, i: int, field: int) -> str:
        d, g, k = self.slot[i]
        return "{" + (d, g)[field] + str(k) + "}"

    def _backward_steps(self, graph: Graph, loss_words: str) -> list:
        nodes, index = graph.nodes, graph.index
        outputs = {index[out] for out in graph.outputs}
        partials = {}  # (user, p): the slot, number or stored entry of ∂user/∂(its p-th argument)
        rules = {}
        uses: list[list[tuple[int, int]]] = [[] for _ in nodes]
        for i, node in enumerate(nodes):
            if not node.args:
                continue
            rule = RULES[node.op]
            k = node.k if node.op in WITH_CONSTANT else None
            arg_ids = graph.arg_indices[i]
            names = written(rule, k, Sym(self.names[i]), [Sym(self.names[j]) for j in arg_ids])
            plugged = written(rule, k, Sym(self._value(i, 0), value=True),
                              [Sym(self._value(j, 0), value=True) for j in arg_ids])
            for p, (j, name, number) in enumerate(zip(arg_ids, names, plugged)):
                uses[j].append((i, p))
                if number.const is not None:
                    slot = show(number.const)
                elif _PURE_SLOT.fullmatch(number.text):
                    slot = number.text
                else:
                    slot = "{p" + str(len(self.stored)) + "}"
                    self.stored.append((i, p))
                partials[i, p] = slot
                line = f"∂{self.names[i]}/∂{self.names[j]} = {name.bare()}"
                if number.text != name.bare():
                    line += f" = {number.text}"
                if slot not in (number.text, name.bare()):
                    line += " = {=" + slot[1:]
                rules[i, p] = line
        steps = []
        for j in range(len(nodes) - 1, -1, -1):
            name, g = self.names[j], self._value(j, 1)
            if j in outputs:
                steps.append({"node": j, "text": f"dL/d{name} = {{={g[1:]}   (from the loss: "
                              f"{loss_words})", "rules": []})
                continue
            symbolic = " + ".join(f"dL/d{self.names[i]} × ∂{self.names[i]}/∂{name}"
                                  for i, _ in uses[j])
            numeric = " + ".join(f"{self._value(i, 1)} × {partials[i, p]}" for i, p in uses[j])
            lines = list(dict.fromkeys(rules[i, p] for i, p in uses[j]))
            if self.kinds[j] == "param":
                text = (f"dL/d{name}, this point's share = {symbolic} = {numeric}\n"
                        f"dL/d{name} over the whole batch (every point's share, and any L2 "
                        f"term) = {{={g[1:]}")
            else:
                text = f"dL/d{name} = {symbolic} = {numeric} = {{={g[1:]}"
            steps.append({"node": j, "text": text, "rules": lines})
        return steps

    def numbers(self, own: list) -> list:
        """One point's numbers at one step, from its own nodes (not the parameters) in its
        graph's order: their data, their gradients, and the local derivatives that are kept
        (`stored`)."""
        if len(own) != len(self.own):
            raise ValueError(f"a point's graph has {len(own)} nodes of its own, the first one "
                             f"had {len(self.own)}: the training explorer needs one network")
        kept = {}
        for i, p in self.stored:
            if i not in kept:
                kept[i] = local_partials(own[self.slot[i][2]])
        return ([n.data for n in own] + [n.grad for n in own]
                + [kept[i][p] for i, p in self.stored])


def _each_points_nodes(outputs: list, structure: PointGraph) -> list:
    """For each point (its output Values), its own nodes (inputs, then the neurons' act and out
    nodes) in its graph's order, found in one Graph of the whole batch.

    A point's forward pass is recorded in one stretch, so its computed nodes are the positions
    just before its last output; its inputs are the x's of its first neuron. The labels are
    checked against the structure, so a network that records otherwise is refused, not misread.
    (Per point, this costs a slice instead of a walk over the point's graph.)"""
    whole = Graph(*[v for row in outputs for v in row])
    nodes, index = whole.nodes, whole.index
    computed, width, labels = structure.computed, structure.width, structure.computed_labels
    found = []
    for row in outputs:
        end = index[row[-1]] + 1
        mine = nodes[end - computed : end]
        if [n.label for n in mine] != labels:
            raise ValueError("the training explorer expects each point's network to be recorded "
                             "in one stretch, neuron after neuron, as nn.MLP records it")
        found.append(list(mine[0].args[width : 2 * width]) + mine)
    return found


def _optimizer_state(optimizer, count: int) -> dict:
    """The optimizer's per-parameter lists (SGD's velocity, Adam's m and v), by name; None
    entries (a buffer not started yet) as 0."""
    state = {}
    for name, value in vars(optimizer).items():
        if name.startswith("_") or name == "params" or not isinstance(value, list):
            continue
        if len(value) == count and all(v is None or isinstance(v, float) for v in value):
            if any(v is not None for v in value):
                state[name] = [0.0 if v is None else v for v in value]
    return state


class Recorder:
    """Records a training run for the page (module docstring). Demo calls `before_update` after
    each step's backward pass (the gradients are in, the parameters not yet moved) and
    `after_update` after the optimizer's step."""

    def __init__(self, dataset: str, model, optimizer, X: list, y: list, classes: int,
                 steps: int, loss_words: str, grid_scores=None) -> None:
        self.dataset, self.model, self.optimizer = dataset, model, optimizer
        self.X, self.y, self.classes, self.total = X, y, classes, steps
        self.params = model.parameters()
        self.loss_words = loss_words
        self.grid_scores = grid_scores  # (x1s, x2s) -> a list of outputs per point, or None
        self.every = max(1, _math.ceil(steps / MAX_SNAPSHOTS))
        self.row_index = {id(row): i for i, row in enumerate(X)}
        self.losses: list[float] = []
        self.accuracies: list[float] = []
        self.snapshots: list[dict] = []
        self.structure: "PointGraph | None" = None
        self._pending: "dict | None" = None
        self.grid = self._grid() if len(X[0]) == 2 else None

    def _grid(self) -> dict:
        xs, ys = [x for x, _ in self.X], [y for _, y in self.X]
        pad = [0.1 * (max(v) - min(v)) or 1.0 for v in (xs, ys)]
        extent = [min(xs) - pad[0], max(xs) + pad[0], min(ys) - pad[1], max(ys) + pad[1]]
        cx = [extent[0] + (k + 0.5) * (extent[1] - extent[0]) / GRID for k in range(GRID)]
        cy = [extent[2] + (k + 0.5) * (extent[3] - extent[2]) / GRID for k in range(GRID)]
        points = [(a, b) for b in cy for a in cx]  # row by row, from the bottom
        return {"n": GRID, "extent": extent, "points": points}

    def _boundary(self) -> list[int]:
        """The model's scores on the grid, one byte per cell: for two classes 128 ± 127·tanh(score)
        (the colour's side and strength); for more, the class of the highest score."""
        points = self.grid["points"]
        outputs = self.grid_scores([p[0] for p in points], [p[1] for p in points])
        cells = []
        for k in range(len(points)):
            row = [float(out[k]) for out in outputs]
            if self.classes == 2:
                cells.append(max(1, min(255, round(128 + 127 * _math.tanh(row[0])))))
            else:
                cells.append(max(range(len(row)), key=row.__getitem__))
        return cells

    def before_update(self, k: int, batch_X: list, scores: list, loss: float,
                      accuracy: float) -> None:
        """Step k (from 0): its loss and accuracy; at a recorded step also the boundary, the
        parameters and gradients, and every point's graph."""
        self.losses.append(_finite(loss))
        self.accuracies.append(accuracy)
        if k % self.every and k != self.total - 1:
            self._pending = None
            return
        outputs = [s if isinstance(s, list) else [s] for s in scores]
        if self.structure is None:
            self.structure = PointGraph(Graph(*outputs[0]), self.params, self.loss_words)
        points = [self.row_index[id(row)] for row in batch_X]
        predicted = [int(row[0].data > 0) if self.classes == 2
                     else max(range(len(row)), key=lambda c: row[c].data) for row in outputs]
        self._pending = {
            "step": k + 1, "loss": _finite(loss), "accuracy": accuracy, "points": points,
            "predicted": predicted, "lr": getattr(self.optimizer, "lr", 0.0),
            "value": [p.data for p in self.params], "grad": _floats(p.grad for p in self.params),
            "numbers": _floats(x for nodes in _each_points_nodes(outputs, self.structure)
                               for x in self.structure.numbers(nodes)),
            "boundary": bytes(self._boundary()) if self.grid and self.grid_scores else None,
        }

    def after_update(self, k: int) -> None:
        """Step k's update: the parameters' new values and the optimizer's state."""
        if self._pending is None:
            return
        snap, self._pending = self._pending, None
        snap["update"] = _floats(p.data - v for p, v in zip(self.params, snap["value"]))
        snap["value"] = _floats(snap["value"])
        snap["state"] = {name: _floats(column) for name, column in
                         _optimizer_state(self.optimizer, len(self.params)).items()}
        self.snapshots.append(snap)

    def html(self, title: str = "") -> str:
        """The page (no network, no server): every recorded step's numbers, packed."""
        if not self.snapshots:
            raise ValueError("the training explorer has no step to show: train at least one step")
        snaps, structure = self.snapshots, self.structure
        state_names = sorted({name for s in snaps for name in s["state"]})
        fields = ["value", "grad", "update"] + state_names
        params, numbers, none = _array.array("f"), _array.array("f"), _floats([0.0] * len(self.params))
        for s in snaps:
            for name in fields:
                params.extend(s[name] if name in ("value", "grad", "update")
                              else s["state"].get(name, none))
            numbers.extend(s["numbers"])
        data = {
            "title": title or f"tapegrad demo: {self.dataset}, watched step by step",
            "dataset": self.dataset, "steps": self.total, "classes": self.classes,
            "snapshots": [s["step"] for s in snaps],
            "lr": [s["lr"] for s in snaps],
            "losses": [float(f"{v:.6g}") for v in self.losses],
            "accuracies": [round(v, 4) for v in self.accuracies],
            "X": [[round(v, 4) for v in row] for row in self.X] if len(self.X[0]) == 2 else None,
            "images": _pack([round(255 * v) for row in self.X for v in row], "B")
            if len(self.X[0]) != 2 else None,
            "width": len(self.X[0]), "y": self.y,
            "batches": [s["points"] for s in snaps],
            "predicted": [s["predicted"] for s in snaps],
            "grid": None if not snaps[0]["boundary"] else {
                "n": GRID, "extent": self.grid["extent"],
                "cells": _pack(b"".join(s["boundary"] for s in snaps), "B")},
            "params": {"names": [p.label for p in self.params], "fields": fields,
                       "numbers": _pack(params)},
            "graph": {"names": structure.names, "kinds": structure.kinds,
                      "own": len(structure.own), "stored": len(structure.stored),
                      "steps": structure.steps, "numbers": _pack(numbers)},
            "layers": _layers(self.model),
        }
        payload = _json.dumps(data, ensure_ascii=False, allow_nan=False).replace("</", "<\\/")
        page = _resources.files("tapegrad").joinpath(TEMPLATE).read_text(encoding="utf-8")
        escaped = data["title"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        fill = {"TITLE": escaped, "DATA": payload}
        return _re.sub(r"\{\{(TITLE|DATA)\}\}", lambda m: fill[m.group(1)], page)


def _layers(model) -> list:
    """The network's shape for the page: per layer, its neurons' names and activations."""
    return [[{"name": f"L{k}.N{j}", "act": n.activation, "inputs": len(n.w)}
             for j, n in enumerate(layer.neurons, 1)]
            for k, layer in enumerate(model.layers, 1)]


__all__ = ["Recorder", "PointGraph", "MAX_SNAPSHOTS", "GRID"]
