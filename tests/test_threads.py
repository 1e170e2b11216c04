"""Threads give the single-threaded numbers.

Every scenario of the core issue, each forced to interleave as much as CPython allows (a switch
interval of a microsecond, threads released together by a barrier):

- a node made on a worker thread, used on the main thread;
- per-sample losses computed in a thread pool and summed on the main thread;
- several threads calling backward() at once into one shared parameter;
- several threads recording with the same leaf at once;
- backward() on one thread while another keeps recording on the record being swept;
- grad() and jvp() called from several threads at once.

Where a sum's order may differ between threads (which worker's record is newer), the data are
small integers, so every float sum is exact in any order: an exact comparison then catches a
lost or doubled term, which is what a race does.
"""

from __future__ import annotations

import random
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import tapegrad.record as record_module
from tapegrad.transforms import records_of
from tapegrad import Graph, Value, grad, jvp
from tapegrad.nn import MLP


@pytest.fixture(autouse=True)
def switch_often():
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    yield
    sys.setswitchinterval(interval)


def run_together(*jobs):
    """Run each job on a thread of its own, released at once; return their results in order."""
    barrier = threading.Barrier(len(jobs))
    results, errors = [None] * len(jobs), []

    def run(k, job):
        barrier.wait()
        try:
            results[k] = job()
        except BaseException as error:  # re-raised on the main thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(k, job)) for k, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def test_a_node_made_on_a_worker_thread_used_on_the_main_thread():
    x = Value(3.0)
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("h", x * x))
    t.start()
    t.join()
    (box["h"] * 2.0).backward()
    assert x.grad == 12.0


def test_the_records_stay_in_order_when_a_newer_records_node_is_used():
    x = Value(3.0)
    older = x * 1.0  # this thread's record, made first
    (newer,) = run_together(lambda: x * x)  # a worker's record: numbered after ours
    mixed = older * newer  # would refer to a newer record: goes on a fresh one instead
    assert mixed._rec.serial > newer._rec.serial > older._rec.serial
    mixed.backward()
    assert x.grad == 3 * 3.0**2  # d(x³)/dx


def _integer_model(seed: int):
    rng = random.Random(seed)
    model = MLP(3, [4, 1])
    for p in model.parameters():
        p.data = float(rng.randint(-3, 3))
    samples = [[float(rng.randint(-2, 2)) for _ in range(3)] for _ in range(40)]
    return model, samples


def _sample_loss(model, row):
    return (model(list(map(Value, row))) - 1.0) ** 2


def test_per_sample_losses_from_a_thread_pool_summed_on_the_main_thread():
    model, samples = _integer_model(0)
    expected_total = sum(_sample_loss(model, row) for row in samples)
    expected_total.backward()
    expected = [p.grad for p in model.parameters()]
    model.zero_grad()

    with ThreadPoolExecutor(max_workers=4) as pool:
        losses = list(pool.map(lambda row: _sample_loss(model, row), samples))
    total = sum(losses)
    assert total.data == expected_total.data
    graph = Graph(total)  # every node of every worker's record, in order
    assert all(j < i for i, args in enumerate(graph.arg_indices) for j in args)
    total.backward()
    assert [p.grad for p in model.parameters()] == expected
    assert any(p.grad for p in model.parameters())

    model.zero_grad()
    graph.forward()
    graph.backward()  # the same graph replayed across the workers' records
    assert [p.grad for p in model.parameters()] == expected


def test_per_sample_losses_from_a_thread_pool_match_to_rounding():
    random.seed(4)
    model = MLP(2, [8, 1])
    rows = [[random.uniform(-2, 2), random.uniform(-2, 2)] for _ in range(60)]
    total = sum(_sample_loss(model, row) for row in rows)
    total.backward()
    expected = [p.grad for p in model.parameters()]
    model.zero_grad()
    with ThreadPoolExecutor(max_workers=3) as pool:
        total = sum(pool.map(lambda row: _sample_loss(model, row), rows))
    total.backward()
    for got, want in zip((p.grad for p in model.parameters()), expected):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_concurrent_backward_into_a_shared_parameter_loses_no_term():
    w = Value(1.0)
    n = 20_000

    def job(k):
        def build_and_sweep():
            loss = sum(w * float(k + i % 7) for i in range(n))
            loss.backward()
            return loss.data

        return build_and_sweep

    datas = run_together(*(job(k) for k in range(4)))
    expected = sum(float(k + i % 7) for k in range(4) for i in range(n))
    assert w.grad == expected
    assert datas == [sum(float(k + i % 7) for i in range(n)) for k in range(4)]


def test_threads_recording_with_the_same_leaf_at_once():
    w = Value(2.0)

    def job(k):
        def build():
            y = Value(0.0)
            for i in range(3_000):
                y = y + w * float(k + 1)
            return y

        return build

    outputs = run_together(*(job(k) for k in range(3)))
    for y in outputs:
        for rec in records_of([y]):
            imports = list(rec.outside.values())
            assert imports.count(w) <= 1, "a record imported the same leaf twice"
    for k, y in enumerate(outputs):
        w.grad = 0.0
        y.backward()
        assert w.grad == 3_000 * float(k + 1)


def test_backward_while_another_thread_records_on_the_swept_record():
    p, q = Value(1.5, label="p"), Value(-0.5, label="q")
    handoff, done = threading.Event(), threading.Event()
    box = {}

    def recorder():
        h = p * 2.0
        box["h"] = h
        handoff.set()
        y = h
        for i in range(20_000):  # keeps appending to this record while the other thread sweeps
            y = y + q * 1.0
            if i == 10:
                done.wait(timeout=30)
        return y

    def sweeper():
        handoff.wait(timeout=30)
        try:
            (box["h"] * 3.0).backward()  # sweeps the recorder's record up to h
        finally:
            done.set()

    y, _ = run_together(recorder, sweeper)
    assert p.grad == 6.0 and q.grad == 0.0, "only the leaves of the swept graph get gradients"
    assert y.data == 3.0 - 0.5 * 20_000
    p.grad = 0.0
    y.backward()
    assert (p.grad, q.grad) == (2.0, 20_000.0)


def test_grad_and_jvp_from_several_threads_at_once():
    def f(x):
        return ((x * x).tanh() + x.sin() * 3.0) ** 2

    points = [0.1 * k for k in range(-20, 20)]
    expected = [grad(f)(x) for x in points]
    expected_jvp = [jvp(f, (x,), (1.0,))[1] for x in points]

    def job(start):
        def run():
            return [
                (grad(f)(points[i]), jvp(f, (points[i],), (1.0,))[1])
                for i in range(start, len(points), 4)
            ]

        return run

    for start, got in enumerate(run_together(*(job(s) for s in range(4)))):
        for (g, t), i in zip(got, range(start, len(points), 4)):
            assert (g, t) == (expected[i], expected_jvp[i])


def test_a_parameter_used_on_two_threads_records_by_turns_is_imported_once_by_each():
    w = Value(1.0)
    loss = w * 1.0
    for k in (2.0, 3.0):
        run_together(lambda: w * 5.0)  # another thread's record imports w in between
        loss = loss + w * k
    assert list(loss._rec.outside.values()).count(w) == 1
    _, totals = record_module.backprop([(loss, 1.0)], store=False)
    assert totals[id(w)] == 6.0
    loss.backward()
    assert w.grad == 6.0


def test_backward_on_another_thread_ends_the_record_for_every_thread():
    x = Value(3.0)
    y = (x * 2) * (x * 2)
    run_together(y.backward)
    z = y * 3  # on this thread: must not go on the swept record
    assert z._rec is not y._rec
    x.grad = 0.0
    z.backward()
    assert (x.grad, y.grad, z.grad) == (72.0, 3.0, 1.0)


def test_a_leaf_made_on_another_thread_comes_before_its_uses():
    import math

    (p,) = run_together(lambda: Value(2.0, label="p"))
    x = Value(3.0)
    y = (p * x).tanh() * p
    g = Graph(y)
    assert all(j < i for i, args in enumerate(g.arg_indices) for j in args)
    t = math.tanh(6.0)
    assert g.jvp({p: 1.0})[-1] == pytest.approx(t + 2.0 * 3.0 * (1 - t * t), rel=1e-12)
