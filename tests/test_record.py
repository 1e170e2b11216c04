"""Records: where the nodes live (record.py), checked for what the design promises.

- a graph costs no Python object per node: the garbage collector has nothing to walk;
- a finished training step's record is freed by reference counting alone, and a loop that keeps
  the previous result alive while building the next stays bounded;
- a graph spread over many records computes exactly what it computes on one (small capacities
  force many records and imports of older records' nodes everywhere);
- Values are handles: two handles of one node are equal, and leaves are themselves;
- backward twice, or on two graphs sharing a record, keeps micrograd's semantics;
- threads give the single-threaded numbers (the threads section).
"""

from __future__ import annotations

import copy
import gc
import math
import sys
import weakref

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad.record as record_module
from tapegrad.transforms import records_of
from oracle import TAPEGRAD
from tapegrad import Graph, Value, grad
from tapegrad.ops import FLOATS, PARTIALS, Op
from tapegrad.nn import MLP
from test_random_dags import programs, record


def _split_everywhere(monkeypatch):
    """Records of 3 entries: nearly every node imports an older record's node (so the
    cross-record paths run everywhere)."""
    monkeypatch.setattr(record_module, "CAPACITY", 3)
    record_module.fresh()


@pytest.fixture
def small_records(monkeypatch):
    _split_everywhere(monkeypatch)
    yield
    record_module.fresh()


def _record_of(v: Value):
    return v._rec


# -- no object per node ---------------------------------------------------------------------


def test_a_long_chain_leaves_the_collector_nothing_to_walk():
    gc.collect()
    before = len(gc.get_objects())
    x = Value(1.0)
    y = x
    for _ in range(20_000):
        y = y * 1.0000001  # 40,000 nodes: the constants and the products
    gc.collect()  # (young tuples of references are untracked at the first collection)
    after = len(gc.get_objects())
    y.backward()
    assert after - before < 200, f"{after - before} tracked objects for 40,000 nodes"
    assert x.grad == pytest.approx(1.0000001**20_000, rel=1e-12)


# -- lifetime -------------------------------------------------------------------------------


def _demo_step(model, xs, ys):
    scores = [model([Value(a), Value(b)]) for a, b in xs]
    loss = sum((1 + -y * s).relu() for y, s in zip(ys, scores)) * (1.0 / len(ys))
    model.zero_grad()
    loss.backward()
    for p in model.parameters():
        p.data -= 0.1 * p.grad
    return loss


def test_a_training_steps_record_is_freed_by_reference_counting_alone():
    model = MLP(2, [4, 1])
    xs, ys = [(0.5, -1.0), (1.5, 0.3), (-0.7, 0.2)], [1.0, -1.0, 1.0]
    gc.disable()  # freed without the collector: no reference cycles
    try:
        loss = _demo_step(model, xs, ys)
        first = weakref.ref(_record_of(loss))
        loss = _demo_step(model, xs, ys)
        assert first() is None
        # backward ended it: the next step starts on a new record
        assert (Value(1.0) * 2)._rec is not _record_of(loss)
    finally:
        gc.enable()


def test_a_loop_that_keeps_its_previous_result_stays_bounded(small_records):
    w = [Value(0.5), Value(-0.25), Value(2.0)]
    records = []
    previous = None
    gc.disable()
    try:
        for step in range(300):
            out = sum((wi * (step + i) for i, wi in enumerate(w)), Value(0.0)).tanh()
            records.append(weakref.ref(_record_of(out)))
            del previous  # the previous result lives until the new one exists
            previous = out
        alive = sum(1 for r in records if r() is not None)
    finally:
        gc.enable()
    assert alive <= 6, f"{alive} records still alive after 300 independent results"


def test_an_evaluation_loop_without_backward_keeps_only_the_records_it_uses(monkeypatch):
    # Each result is independent of the last; a full record is left behind at the first node
    # that uses none of its nodes, so only the latest results' records stay alive.
    monkeypatch.setattr(record_module, "CAPACITY", 500)
    record_module.fresh()
    model = MLP(2, [4, 1])
    records, serials, score = [], set(), None
    gc.disable()
    try:
        for step in range(600):  # some 15 entries each: some 18 records in all
            score = model([Value(step * 0.01), Value(-1.0)]).tanh() * 2.0
            records.append(weakref.ref(score._rec))
            serials.add(score._rec.serial)
        alive = len({r().serial for r in records if r() is not None})
    finally:
        gc.enable()
    assert len(serials) > 10
    assert alive <= 2, f"{alive} records alive for one live result"


def test_a_node_keeps_the_older_records_it_needs(small_records):
    x = Value(3.0)
    y = ((x * 2 + 1) * x - 4).tanh() * 5  # several records of 3 entries
    older = [weakref.ref(r) for r in records_of([y]) if r is not y._rec]
    assert older, "the expression should span records"
    gc.collect()
    assert all(t() is not None for t in older)
    y.backward()
    u = 3.0
    inner = (2 * u + 1) * u - 4
    slope = (4 * u + 1) * (1 - math.tanh(inner) ** 2) * 5
    assert x.grad == pytest.approx(slope, rel=1e-12)


# -- many records compute what one record computes ---------------------------------------------


def _grads_and_data(program):
    xs, nodes = record(program)
    nodes[-1].backward()
    return [n.data for n in nodes], [x.grad for x in xs], [n.grad for n in nodes]


@settings(max_examples=40, deadline=None)
@given(programs(max_steps=12))
def test_any_program_gives_the_same_floats_on_records_of_three(program):
    expected = _grads_and_data(program)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _split_everywhere(monkeypatch)
        got = _grads_and_data(program)
    record_module.fresh()
    assert got == expected


def test_a_graph_over_many_records_replays_and_lists_in_order(small_records):
    x, w = Value(2.0, label="x"), Value(-1.5, label="w")
    f = ((x * w).tanh() + x**2) * w
    g = Graph(f)
    for i, args in enumerate(g.arg_indices):
        assert all(j < i for j in args), f"node {i} comes before one of its arguments"
    assert g.nodes[0] is x and g.nodes[1] is w and g.nodes[-1] is f
    g.backward()
    first = (x.grad, w.grad)
    x.grad = w.grad = 0.0
    x.data = 3.0
    g.forward()
    g.backward()
    x2 = Value(3.0)
    w2 = Value(-1.5)
    f2 = ((x2 * w2).tanh() + x2**2) * w2
    f2.backward()
    assert (f.data, x.grad, w.grad) == (f2.data, x2.grad, w2.grad)
    assert first != (x.grad, w.grad)


# -- handles --------------------------------------------------------------------------------


def test_handles_of_one_node_are_equal_and_leaves_are_themselves():
    x, y = Value(2.0), Value(3.0)
    z = x * y + 1
    product = z.args[0]
    assert product == z.args[0] and hash(product) == hash(z.args[0])
    assert product is z.args[0]  # one object per node while it is held (micrograd's id() works)
    assert product.args[0] is x and product.args[1] is y  # and leaves are the user's own
    assert {product, z.args[0]} == {product}
    assert x != y and product != z
    assert z._prev == {product, z.args[1]}
    product.label = "p"
    assert z.args[0].label == "p"  # labels live on the record, shared by every handle


def test_a_copied_leaf_is_a_leaf_of_its_own():
    x = Value(2.0)
    twin = copy.deepcopy(x)
    f = x * 3 + twin * 5  # both on one record
    f.backward()
    assert (x.grad, twin.grad) == (3.0, 5.0)


def _operand(kind: str) -> tuple:
    """An operand of a binary op, of one kind the recorder tells apart, and its number."""
    if kind == "new leaf":  # (first used on this record: imported by the op)
        return Value(1.25), 1.25
    if kind == "imported leaf":
        leaf = Value(-0.5)
        leaf * 1.0  # (now held by the current record)
        return leaf, -0.5
    if kind == "node":
        return Value(0.75) * 2.0, 1.5
    if kind == "older node":  # (on a record that has ended: imported, and it taints)
        node = Value(3.0) * 1.0
        node.backward()
        return node, 3.0
    return {"float": (2.5, 2.5), "int": (2, 2.0)}[kind]


_KINDS = ["new leaf", "imported leaf", "node", "older node"]


@pytest.mark.parametrize("symbol", ["+", "*"])
@pytest.mark.parametrize("left", _KINDS)
@pytest.mark.parametrize("right", [*_KINDS, "float", "int"])
def test_every_kind_of_operand_pair_records_one_node_where_its_handle_says(symbol, left, right):
    """The binary recorder's paths (an import first, or a constant first, or a tainted record):
    the new node is the record's last entry, and its handle, data and arguments say so."""
    record_module.fresh()
    a, x = _operand(left)
    b, z = _operand(right)
    y = a + b if symbol == "+" else a * b
    rec = y._rec
    assert y._i == len(rec.data) - 1 and rec.data[y._i] == y.data
    assert y.data == (x + z if symbol == "+" else x * z)
    assert [arg.data for arg in y.args] == [x, z]
    if rec.tainted is not None:
        assert len(rec.tainted) == len(rec.data)
    y.backward()
    assert (y.args[0].grad, y.args[1].grad) == ((1.0, 1.0) if symbol == "+" else (z, x))


def test_the_same_leaf_twice_in_one_op():
    x = Value(3.0)
    (x * x).backward()
    assert x.grad == 6.0


# -- backward twice --------------------------------------------------------------------------


def test_backward_twice_and_on_a_second_graph_on_the_same_record():
    x = Value(2.0)
    u = x * 3  # on one record: u, then two graphs using it
    f = u * u
    h = u + 1
    f.backward()
    assert (u.grad, f.grad, x.grad) == (12.0, 1.0, 36.0)
    f.backward()  # the same graph again: interior nodes hold this call's, leaves accumulate
    assert (u.grad, f.grad, x.grad) == (12.0, 1.0, 72.0)
    h.backward()  # the record's latest sweep is h's: u's gradient is h's, f was not reached
    assert (u.grad, h.grad, f.grad, x.grad) == (1.0, 1.0, 0.0, 75.0)
    constant = u.args[1]  # the 3, an entry of the record: the latest sweep's gradient too
    assert (constant.data, constant.grad) == (3.0, 2.0)


def test_an_interior_grad_set_by_hand_reads_back():
    x = Value(2.0)
    u = x * 3
    u.grad = 5.0
    assert u.grad == 5.0
    v = u + 1  # a record that has gradients takes no more entries: v goes on a new one
    assert v._rec is not u._rec and v.data == 7.0


@pytest.mark.parametrize("make", [lambda x: x * 2, lambda x: (x + 1).relu(), lambda x: x**3])
def test_values_of_every_kind_compare_by_node(make):
    x = Value(1.5)
    a = make(x)
    g = Graph(a)
    assert g.nodes[-1] is a
    assert g.index[a] == len(g) - 1
    assert all(g.index[node] == i for i, node in enumerate(g.nodes))


def test_recording_runs_through_the_rule_table_for_every_path():
    x = Value(0.3)
    vals = [TAPEGRAD.exp(x), TAPEGRAD.log(x), TAPEGRAD.tanh(x), x.sigmoid(), x.sin(), x.cos()]
    assert [v.op.value for v in vals] == ["exp", "log", "tanh", "sigmoid", "sin", "cos"]


_ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)


@given(_ANY_FLOAT, _ANY_FLOAT, _ANY_FLOAT)
def test_the_sweeps_written_in_add_and_mul_are_the_rule_tables(x, z, g):
    """The reverse sweep writes in + and *'s partials (record._sweep's NOTE): on floats, each
    argument's gradient is g times the rule table's partial, bit for bit, at any floats."""
    for op, y in ((Op.ADD, Value(x) + Value(z)), (Op.MUL, Value(x) * Value(z))):
        a, b = y.args
        partials = PARTIALS[op](FLOATS, y.data, x, z)
        record_module.backprop([(y, g)])
        for leaf, d in zip((a, b), partials):
            expected = 0.0 + g * d if g else 0.0  # (from 0.0; a zero g is skipped: 0 · inf is 0)
            assert leaf.grad == expected or (math.isnan(leaf.grad) and math.isnan(expected))
            assert math.copysign(1.0, leaf.grad) == math.copysign(1.0, expected)


# -- found in review -------------------------------------------------------------------------


def test_a_second_backward_resets_a_record_only_zeros_reach():
    x = Value(3.0)
    u = x * 2
    y = u * u
    y.backward()  # ends the record: z goes on a new one
    z = y * 0.0
    z.backward()
    assert (y.grad, u.grad, z.grad) == (0.0, 0.0, 1.0)


def _rounding_sensitive_program():
    import random

    rng = random.Random(0)
    x = Value(rng.uniform(-1, 1))
    u = (x * rng.uniform(-1, 1)).tanh()
    nodes = [x, u]
    for _ in range(rng.randint(4, 20)):
        a, b = rng.choice(nodes), rng.choice(nodes)
        if rng.random() < 0.7:
            nodes.append(a * rng.uniform(-3, 3) + b * rng.uniform(-3, 3))
        else:
            nodes.append(a * b)
    f = nodes[-1]
    for n in nodes[2:-1]:
        f = f + n
    f.backward()
    return x.grad, u.grad


def test_terms_from_several_records_add_up_in_micrograds_order(monkeypatch):
    with pytest.MonkeyPatch.context() as split:
        _split_everywhere(split)
        on_records_of_three = _rounding_sensitive_program()
    record_module.fresh()
    assert on_records_of_three == _rounding_sensitive_program()


@pytest.mark.parametrize("make", [lambda x: x * 3, lambda x: (x * 3).args[1]], ids=["product", "constant"])
def test_a_computed_value_cannot_be_copied_but_says_what_to_do(make):
    v = make(Value(2.0))
    with pytest.raises(TypeError, match="only leaves .* can be copied"):
        copy.deepcopy(v)


def test_a_pickled_leaf_comes_back_as_a_fresh_leaf():
    import pickle

    w = Value(0.5, label="w")
    (w * 2).backward()  # w is now imported by that record
    again = pickle.loads(pickle.dumps(w))
    assert (again.data, again.grad, again.label) == (0.5, 2.0, "w")
    f = again * 4 + w  # both on one new record: two different leaves
    f.backward()
    assert (again.grad, w.grad) == (6.0, 3.0)
    assert Graph(f).nodes[:2] == [w, again] or Graph(f).nodes[:2] == [again, w]


def test_a_constant_shared_by_two_numpy_graphs_accumulates():
    pytest.importorskip("numpy")
    x = Value(2.0)
    u = x * 3
    f, h = u * u, u + 1
    constant = u.args[1]
    g1, g2 = Graph(f, backend="numpy"), Graph(h, backend="numpy")
    g1.backward()
    g2.backward()
    g1.publish()
    g2.publish()
    g1.publish()  # publishing again adds nothing new
    assert (constant.grad, x.grad) == (26.0, 39.0)


def test_micrograds_draw_dot_trace_sees_one_id_per_node():
    # micrograd's draw_dot: nodes in a set, edges as pairs, then names from id().
    x = Value(3.0)
    shared = x * 2
    out = shared * shared + shared.relu()
    nodes, edges = set(), set()
    stack = [out]
    while stack:
        v = stack.pop()
        if v not in nodes:
            nodes.add(v)
            for child in v._prev:
                edges.add((child, v))
                stack.append(child)
    ids = {id(n) for n in nodes}
    assert all(id(a) in ids and id(b) in ids for a, b in edges)
    assert len(nodes) == 6  # x, 2, shared, shared*shared, relu, the sum


def test_threads_recording_at_once_each_get_their_own_record():
    import sys
    import threading

    results = {}

    def work(name, factor):
        x = Value(1.0)
        y = x
        for _ in range(5_000):
            y = y * factor + 0.0
        y.backward()
        results[name] = (y.data, x.grad)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        jobs = [("a", 1.0001), ("b", 0.9999)]
        threads = [threading.Thread(target=work, args=job) for job in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    for name, factor in [("a", 1.0001), ("b", 0.9999)]:
        data, grad = results[name]
        assert data == pytest.approx(factor**5_000, rel=1e-9)
        assert grad == pytest.approx(factor**5_000, rel=1e-9)


def test_grad_of_numbers_sweeps_the_records_without_touching_any_grad(small_records):
    from tapegrad import grad

    w = Value(0.7)  # captured, not differentiated: its grad must stay as it is
    w.grad = 5.0

    def f(x, y):
        h = (x * w + y).tanh() * x
        return h * h + (y * 3).relu() + x**3

    dx, dy = grad(f, argnums=(0, 1))(0.4, -1.2)
    x, y = Value(0.4), Value(-1.2)
    out = f(x, y)
    before = w.grad
    out.backward()
    assert (dx, dy) == (x.grad, y.grad)  # the same floats as backward()
    assert before == 5.0


def test_grad_and_backward_never_grow_or_truncate_the_records_they_sweep():
    from tapegrad import grad

    class Watched(list):  # a record's data that fails the test if a sweep resizes it
        def __iadd__(self, other):
            raise AssertionError("a sweep grew the record")

        def __delitem__(self, key):
            raise AssertionError("a sweep truncated the record")

    w = Value(0.5)
    h = (w * 2).tanh()
    h._rec.data = Watched(h._rec.data)
    assert grad(lambda x: x * h + h)(2.0) == h.data
    h.backward()


# -- found in review of the redesign ---------------------------------------------------------


def test_a_sum_over_many_records_in_a_loop_without_backward_stays_bounded(monkeypatch):
    # Every step's sum straddles a record boundary, so each record imports the step's partial
    # sum from the one before. Imports of older nodes hold their record weakly: only what the
    # live result depends on stays.
    monkeypatch.setattr(record_module, "CAPACITY", 256)
    record_module.fresh()
    w, records, serials, total = Value(0.5), [], set(), None
    gc.disable()
    try:
        for step in range(120):  # about 400 entries each, so about 190 records in all
            total = sum((w * float(i + step)).tanh() for i in range(100))
            records.append(weakref.ref(total._rec))
            serials.add(total._rec.serial)
        alive = len({r().serial for r in records if r() is not None})
    finally:
        gc.enable()
    assert len(serials) >= 50
    assert alive <= 3, f"{alive} records alive for one live result"
    w.grad = 0.0
    total.backward()  # and what the result needs is all there
    assert w.grad == pytest.approx(sum((119 + i) * (1 - math.tanh(0.5 * (119 + i)) ** 2)
                                       for i in range(100)), rel=1e-12)


def test_a_node_held_from_an_older_record_keeps_what_it_needs(small_records):
    x = Value(2.0)
    a = (x * 3.0).tanh()  # on records that nothing else holds
    b = a * a  # a newer record imports a
    del a
    gc.collect()
    b.backward()
    t = math.tanh(6.0)
    assert x.grad == pytest.approx(2 * t * (1 - t * t) * 3, rel=1e-12)


def test_python_replay_after_a_numpy_replay_over_two_records():
    pytest.importorskip("numpy")
    x = Value(0.5)
    a = x * 2.0
    record_module.fresh()  # the graph spans two records
    y = a * x
    graph = Graph(y, backend="numpy")
    x.data = 3.0
    graph.forward()
    x.data = 4.0
    assert Graph(y).forward() == 32.0 and a.data == 8.0


def test_eager_backward_after_a_numpy_replay_of_an_interior_node_another_record_uses():
    pytest.importorskip("numpy")
    x, w = Value(0.5), Value(-1.2)
    h = (x * w).sin()  # interior node of the NumPy graph
    graph = Graph(h + x, backend="numpy")
    z = h * h  # eager code on top of h: a newer record imports it
    x.data = 2.0
    graph.forward()  # h is now sin(-2.4), in the executor's arrays
    z.backward()
    assert x.grad == pytest.approx(2 * math.sin(-2.4) * math.cos(-2.4) * -1.2, rel=1e-12)


def test_graph_vjp_is_the_same_however_the_graph_is_split():
    results = []
    for split in (False, True):
        x = Value(-1.0)
        c = x * 2.0  # c < 0: only a zero reaches it through the relu
        if split:
            record_module.fresh()
        y = c.relu() + x
        results.append(Graph(y).vjp({y: 1.0}))
    assert results[0] == results[1] == [1.0, 0.0, 0.0, 1.0, 1.0]  # x, 2.0, c, relu, y


def test_forward_mode_with_no_tangent_is_not_a_replay():
    x = Value(1.0)
    y = x * x
    graph = Graph(y)
    x.data = 5.0
    assert graph.jvp({}) == [None, None] and y.data == 1.0
    from tapegrad import grad, hvp, jvp

    assert jvp(lambda v: grad(lambda u: u.sqrt())(v), (0.0,), (0.0,)) == (math.inf, 0.0)
    assert hvp(lambda u: u.sqrt() + u, (0.0,), (0.0,)) == (math.inf, 0.0)


def test_a_recorded_derivative_replays_at_a_pole():
    from tapegrad import grad

    x = Value(0.0)
    d = grad(lambda y: y.sqrt())(x)  # 0.5 · x ** -0.5: +inf at 0
    assert d.data == math.inf and Graph(d).forward() == math.inf
    x.data = 4.0
    assert Graph(d).forward() == 0.25


def test_copies_keep_a_leafs_attributes():
    import pickle

    p = Value(0.5)
    p.m, p.v = 0.1, 0.01  # Adam's state, kept on the parameter
    assert (copy.deepcopy(p).m, pickle.loads(pickle.dumps(p)).v) == (0.1, 0.01)


def test_forward_columns_of_a_jacobian_do_not_sweep_each_others_nodes():
    import tapegrad.ops as ops_module
    from tapegrad import hessian

    counts = []
    for n in (10, 20):
        visits = [0]
        originals = dict(ops_module.PARTIALS)
        for op, fn in originals.items():
            ops_module.PARTIALS[op] = lambda *a, _fn=fn: visits.__setitem__(0, visits[0] + 1) or _fn(*a)
        try:
            hessian(lambda xs: sum(x * x * x for x in xs), mode="fwd-over-rev")([1.0] * n)
        finally:
            ops_module.PARTIALS.update(originals)
        counts.append(visits[0])
    assert counts[1] < 4.5 * counts[0], f"partials evaluated: {counts} (quadratic in n per column?)"


def test_a_second_thread_sweeps_while_the_first_imports_new_leaves():
    import threading

    stop, errors, box = threading.Event(), [], {}

    def recorder():
        z = Value(1.0) * 1.0
        while not stop.is_set():
            z = (z * Value(0.999)).tanh() * 1.0 + Value(0.001)  # new leaves: new imports
            box["node"] = z
            if len(z._rec.data) > 2_000:
                z = Value(1.0) * 1.0  # keep the graphs small: a fresh start
                record_module.fresh()

    def sweeper():
        try:
            for _ in range(100):
                node = box.get("node")
                if node is not None:
                    (node * 2.0).backward()
                    Graph(node).vjp({node: 1.0})
        except Exception as error:  # (a dict changed size during iteration, say)
            errors.append(error)
        finally:
            stop.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=recorder), threading.Thread(target=sweeper)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors


@pytest.mark.parametrize("make", [lambda z, w: z * w, lambda z, w: w + z,
                                  lambda z, w: Value.dot([w], [z], w)])
def test_a_node_recorded_as_another_thread_ends_its_record_holds_the_records_it_needs(
        monkeypatch, make):
    """Another thread's backward() may end this thread's record between a recorder's check
    that it is open and its handle's making (the threads test above found it, one run in ten):
    the new node's handle must still hold the older records its graph reaches."""
    import tapegrad.value as value_module

    older = Value(1.0) * 1.5
    record_module.fresh()
    z = older * 2.0  # (imports older's node: the new record depends on an older one)
    del older

    def import_then_end(rec, leaf):  # (as if a backward ran on another thread meanwhile)
        i = record_module.import_leaf(rec, leaf)
        record_module.end(rec)
        return i

    monkeypatch.setattr(value_module, "import_leaf", import_then_end)
    y = make(z, Value(0.5))
    monkeypatch.undo()
    del z
    gc.collect()
    assert len(Graph(y)) > 0  # (it raised AttributeError: the older record was gone)
    y.backward()


def test_a_record_made_larger_than_the_default_keeps_every_import(monkeypatch):
    # Imports are found by entry number: none may be missed above the default capacity.
    monkeypatch.setattr(record_module, "CAPACITY", 1 << 18)
    record_module.fresh()
    try:
        xs = [Value(float(k)) for k in range(40_000)]
        y = sum(x * 2.0 for x in xs)  # 160,001 entries on one record, most of them imports
        assert len(y._rec.data) > 1 << 17  # (the default capacity)
        y.backward()
        assert all(x.grad == 2.0 for x in xs)
        assert grad(lambda v: sum(vi * vi for vi in v))([0.5] * 40_000)[-1] == 1.0
        assert len(Graph(y)) == len(y._rec.data)
    finally:
        record_module.fresh()


def test_forward_mode_finds_an_older_record_imported_above_the_default_capacity(monkeypatch):
    from tapegrad import jvp

    monkeypatch.setattr(record_module, "CAPACITY", 1 << 18)
    record_module.fresh()
    try:
        def f(x):
            a = x * 3.0
            record_module.fresh()  # as if the record had filled up here
            s = x
            for _ in range(70_000):  # 140,000 entries on the new record
                s = s * 1.0
            return s + a  # its only import of an older record's node, above entry 131,072

        value, tangent = jvp(f, (2.0,), (1.0,))
        assert (value, tangent) == (8.0, 4.0)
    finally:
        record_module.fresh()


def test_a_sweep_never_hands_one_cotangent_object_to_two_entries():
    """z = u + u seeded with an array: u's cotangent is a new object (1·s + 1·s), so adding
    into it leaves z's and the caller's seed as they were (found in review: + written into the
    sweep as g, not g · 1, once shared them)."""
    np = pytest.importorskip("numpy")
    x = Value(2.0)
    u = x * 3.0
    z = u + u
    seed = np.array([1.0, 2.0])
    found = Graph(z).vjp({z: seed})
    by_node = dict(zip(Graph(z).nodes, found))
    assert seed.tolist() == [1.0, 2.0]
    assert by_node[z].tolist() == [1.0, 2.0] and by_node[u].tolist() == [2.0, 4.0]
    assert by_node[x].tolist() == [6.0, 12.0]
