"""The demo's training step written for tapegrad's three paths and for the peers it is measured
against: micrograd (the PyPI package), PyTorch with batched tensors, and NumPy by hand.

The workload is micrograd's demo (see tests/data/micrograd-demo-moons.json): 100 moons points,
MLP(2, [16, 16, 1]) initialised from ``random.seed(1337)``, loss = mean(relu(1 - y·score)) +
1e-4·Σp², SGD with lr = 1.0 - 0.9·k/100. Every implementation starts from the same weights, so
every loss curve is micrograd's.

Each ``make_*`` function returns a `Demo`: ``step(k)`` runs training step k (forward, zero the
gradients, backward, update) and returns that step's loss. A peer that is not installed raises
`Missing` with a note for the report. Heavy imports happen inside the functions, so a child
process measuring one workload's memory loads only what that workload needs.

The tapegrad makers take ``package``, the name the engine is imported under: "tapegrad" for
this tree, or another checkout loaded in the same process under another name (bench.py's
``--baseline``), so that the two engines' steps are timed side by side in one run.
"""

from __future__ import annotations

import importlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REFERENCE = Path(__file__).resolve().parent.parent / "tests" / "data" / "micrograd-demo-moons.json"
SIZES = (2, 16, 16, 1)


class Missing(Exception):
    """A peer that is not installed; the message says what to install."""


@dataclass
class Demo:
    name: str
    step: Callable[[int], float]
    nodes: int = 0  # graph nodes a step touches, where that means something


def reference() -> dict:
    return json.loads(REFERENCE.read_text())


def learning_rate(k: int) -> float:
    return 1.0 - 0.9 * (k % 100) / 100  # the demo's schedule, repeated every 100 steps


def initial_weights(seed: int = 1337):
    """[(W as rows, b)] per layer, drawn exactly as micrograd's MLP draws them: neuron by
    neuron, random.uniform(-1, 1) per weight, bias 0."""
    random.seed(seed)
    layers = []
    for nin, nout in zip(SIZES, SIZES[1:]):
        rows = [[random.uniform(-1, 1) for _ in range(nin)] for _ in range(nout)]
        layers.append((rows, [0.0] * nout))
    return layers


# -------------------------------------------------------------------------------------------
# tapegrad and micrograd: the demo's loss as micrograd's demo writes it, for any Value class
# -------------------------------------------------------------------------------------------


def _demo_loss(Value, model, data):
    inputs = [list(map(Value, xrow)) for xrow in data["X"]]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(data["y"], scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = 1e-4 * sum((p * p for p in model.parameters()))
    return data_loss + reg_loss


def _sgd_by_hand(params, lr):
    for p in params:
        p.data -= lr * p.grad


def make_tapegrad_eager(data, package: str = "tapegrad") -> Demo:
    """tapegrad as micrograd's users write it: the graph rebuilt every step."""
    Value = importlib.import_module(package).Value
    MLP = importlib.import_module(f"{package}.nn").MLP
    return _micrograd_style_demo(f"{package} eager", Value, MLP, data)


def _micrograd_style_demo(name, Value, MLP, data) -> Demo:
    """micrograd's demo step, word for word, on the given library's Value and MLP."""
    random.seed(1337)
    model = MLP(2, list(SIZES[1:]))
    params = model.parameters()

    def step(k):
        loss = _demo_loss(Value, model, data)
        model.zero_grad()
        loss.backward()
        _sgd_by_hand(params, learning_rate(k))
        return loss.data

    return Demo(name, step)


def _recorded_demo(package: str):
    """The package's Graph class, the demo's model and its loss, recorded once."""
    engine = importlib.import_module(package)
    MLP = importlib.import_module(f"{package}.nn").MLP
    random.seed(1337)
    model = MLP(2, list(SIZES[1:]))
    loss = _demo_loss(engine.Value, model, reference())
    return engine.Graph, model, loss


def make_tapegrad_replay_python(data, package: str = "tapegrad") -> Demo:
    """The loss recorded once; each step replays the Graph with the python backend."""
    Graph, model, loss = _recorded_demo(package)
    graph, params = Graph(loss), model.parameters()

    def step(k):
        graph.forward()
        model.zero_grad()
        graph.backward()
        _sgd_by_hand(params, learning_rate(k))
        return loss.data

    return Demo(f"{package} replay (python)", step, len(graph))


def make_tapegrad_replay_numpy(data, package: str = "tapegrad") -> Demo:
    """The issue's loop, through the public API only: ``Graph(loss, backend="numpy")`` and the
    package's SGD, which updates every parameter at once in the backend's arrays (the
    parameters live there once the graph is compiled)."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        raise Missing("numpy not installed (pip install numpy)") from None
    SGD = importlib.import_module(f"{package}.optim").SGD
    Graph, model, loss = _recorded_demo(package)
    graph = Graph(loss, backend="numpy")
    opt = SGD(model.parameters(), lr=1.0)

    def step(k):
        opt.lr = learning_rate(k)
        graph.forward()
        opt.zero_grad()
        graph.backward()
        opt.step()
        return loss.data

    return Demo(f"{package} replay (numpy)", step, len(graph))


def make_micrograd(data) -> Demo:
    try:
        from micrograd.engine import Value
        from micrograd.nn import MLP
    except ImportError:
        raise Missing("micrograd not installed (pip install micrograd)") from None
    return _micrograd_style_demo("micrograd", Value, MLP, data)


# -------------------------------------------------------------------------------------------
# Batched peers: the same network as matrices
# -------------------------------------------------------------------------------------------


def make_torch(data, threads: int | None = None) -> Demo:
    """PyTorch float64, the whole batch as one tensor; torch's own autograd and update.
    With `threads`, torch uses that many threads during the step (on a busy machine its default
    of one thread per core can be much slower on tensors this small)."""
    try:
        import torch
    except ImportError:
        raise Missing("torch not installed (pip install torch)") from None
    f64 = torch.float64
    params = []
    for rows, bias in initial_weights():
        params += [torch.tensor(rows, dtype=f64, requires_grad=True)]
        params += [torch.tensor(bias, dtype=f64, requires_grad=True)]
    X = torch.tensor(data["X"], dtype=f64)
    y = torch.tensor([float(v) for v in data["y"]], dtype=f64)

    def step(k):
        if threads is None:
            return torch_step(k)
        default = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return torch_step(k)
        finally:
            torch.set_num_threads(default)

    def torch_step(k):
        h = torch_mlp(torch, X, params)
        data_loss = torch.relu(1 - y * h[:, 0]).sum() * (1.0 / len(y))
        loss = data_loss + 1e-4 * sum((p * p).sum() for p in params)
        for p in params:
            p.grad = None
        loss.backward()
        lr = learning_rate(k)
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
        return loss.item()

    return Demo("PyTorch batched" + (f", {threads} thread(s)" if threads else ""), step)


def torch_mlp(torch, X, params):
    """The MLP's scores for the batch X: params are W, b per layer; ReLU but after the last."""
    h = X
    for i in range(0, len(params), 2):
        h = h @ params[i].T + params[i + 1]
        if i + 2 < len(params):
            h = torch.relu(h)
    return h


def make_numpy_by_hand(data) -> Demo:
    """Forward and backward written out with NumPy matrices: the floor for this workload."""
    try:
        import numpy as np
    except ImportError:
        raise Missing("numpy not installed (pip install numpy)") from None
    layers = [(np.array(rows), np.array(bias)) for rows, bias in initial_weights()]
    X = np.array(data["X"])
    y = np.array([float(v) for v in data["y"]])
    n = len(y)

    def step(k):
        hs = [X]  # each layer's input
        for i, (W, b) in enumerate(layers):
            z = hs[-1] @ W.T + b
            hs.append(np.maximum(z, 0.0) if i + 1 < len(layers) else z)
        margins = 1 - y * hs[-1][:, 0]
        data_loss = np.maximum(margins, 0.0).sum() * (1.0 / n)
        loss = data_loss + 1e-4 * sum((W * W).sum() + (b * b).sum() for W, b in layers)
        # backward
        dz = (-1.0 * (margins > 0) * y * (1.0 / n))[:, None]
        lr = learning_rate(k)
        for i in range(len(layers) - 1, -1, -1):
            W, b = layers[i]
            dW, db = dz.T @ hs[i] + 2e-4 * W, dz.sum(axis=0) + 2e-4 * b
            if i:
                dz = (dz @ W) * (hs[i] > 0)
            W -= lr * dW
            b -= lr * db
        return float(loss)

    return Demo("NumPy by hand", step)


DEMOS = {
    "tapegrad-eager": make_tapegrad_eager,
    "tapegrad-replay-python": make_tapegrad_replay_python,
    "tapegrad-replay-numpy": make_tapegrad_replay_numpy,
    "micrograd": make_micrograd,
    "torch": make_torch,
    "torch-1-thread": lambda data: make_torch(data, threads=1),
    "numpy-by-hand": make_numpy_by_hand,
}
