"""The watch for graphs kept alive by mistake (``history.append(loss)``): it warns once, with
the fix, and stays quiet for a loop that keeps only numbers."""

import gc
import random
import tracemalloc
import warnings

import pytest

from tapegrad import Graph, Value, memory, record
from tapegrad.nn import MLP


@pytest.fixture
def watch(monkeypatch):
    """The watch, armed afresh, with a threshold small enough for a test (1 MiB)."""
    monkeypatch.setattr(record, "AFTER_BACKWARD", [memory.watch])
    monkeypatch.setattr(memory, "KEPT_WARNING", 1 << 20)
    memory._finished.clear()
    gc.collect()
    yield
    memory._finished.clear()


def small_step(model, X, Y):
    """One step of micrograd's demo, smaller: its loss, after backward."""
    loss = sum((1 + -y * model(x)).relu() for x, y in zip(X, Y)) * (1.0 / len(X))
    for p in model.parameters():
        p.grad = 0.0
    loss.backward()
    return loss


def data(n=20, seed=0):
    rng = random.Random(seed)
    X = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(n)]
    return X, [rng.choice([-1.0, 1.0]) for _ in range(n)]


KEEPERS = {  # how a learner keeps every step's graph alive
    "history.append(loss)": lambda kept, loss: kept.append(loss),
    "total += loss": lambda kept, loss: kept.append(kept.pop() + loss if kept else loss),
}


@pytest.mark.parametrize("keep", KEEPERS.values(), ids=KEEPERS.keys())
def test_keeping_every_steps_loss_warns_once_with_the_fix(watch, keep):
    model, (X, Y) = MLP(2, [8, 8, 1]), data()
    kept = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(60):
            keep(kept, small_step(model, X, Y))
    ours = [w for w in caught if "earlier training steps" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    message = str(ours[0].message)
    assert "loss.data" in message and "history.append(loss)" in message and "MiB" in message
    assert ours[0].filename == __file__  # it points at the user's backward() call


def test_a_loop_that_keeps_numbers_is_never_warned(watch):
    model, (X, Y) = MLP(2, [8, 8, 1]), data()
    history = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        for _ in range(60):
            history.append(small_step(model, X, Y).data)


def test_one_large_graph_replayed_is_not_a_leak(watch):
    x = Value(0.5)
    y = x
    for _ in range(20_000):  # about 3 MiB of entries, over the test's threshold of 1 MiB
        y = (y * 1.0001).tanh()
    graph = Graph(y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(20):
            graph.forward()
            graph.backward()


def test_the_cost_per_entry_is_what_memory_assumes():
    model, (X, Y) = MLP(2, [16, 16, 1]), data(50)
    small_step(model, X, Y)
    gc.collect()
    tracemalloc.start()
    try:
        losses = [small_step(model, X, Y) for _ in range(5)]
        gc.collect()
        used = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    entries = sum(len(loss._rec.data) for loss in losses)
    assert 0.5 < used / entries / memory.ENTRY_BYTES < 2.0, used / entries
