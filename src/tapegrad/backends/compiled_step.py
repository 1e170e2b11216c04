"""Compiled training steps: record a step once on placeholders, then run it on every batch.

    xs, ts = placeholders(32, 64), placeholders(32, 10)   # a minibatch: images, one-hot targets
    loss = losses.softmax_cross_entropy([model(x) for x in xs], ts)
    step = compile_step(loss, feeds=(xs, ts), params=model.parameters())
    opt = Adam(model.parameters(), lr=0.01)
    for X, T in batches:              # arrays (or lists of rows) of shapes (32, 64) and (32, 10)
        opt.zero_grad()
        value = step.run(X, T)        # forward and backward on this batch: value == loss.data
        opt.step()                    # every parameter at once (they live in the step's arrays)

The loss is recorded once, eagerly, like any other; its graph is compiled for NumPy
(numpy.py), unless it is deep and narrow (numpy.narrow: a recurrence unrolled, say), which
NumPy would run as a small group per level, slower than tapegrad's python interpreter: such a
step replays its Graph there instead, the same numbers by the same calls. Each ``run`` writes
the batch into the placeholders with one array assignment per feed (one number at a time on
the python interpreters), recomputes every node from them and the parameters' current data,
and back-propagates: the parameters' ``.grad`` accumulate d(loss)/d(p), as after
``loss.backward()``. The numbers are eager's -- a fresh graph built on the batch -- to rounding
(tests check 1e-12 step for step).

Only the parameters get gradients: placeholders, constants and every node no parameter reaches
are skipped backward (``params`` defaults to every leaf that is not a placeholder). A model's
structure must not depend on the batch's values: a class index chosen by a label (``row[c]``)
would be frozen into the graph, so targets are fed as one-hot rows instead (softmax
cross-entropy takes them), and a hinge's labels as placeholders holding -1 or +1.
"""

import math as _math

import numpy as _np

from ..graph import Graph
from ..value import Value
from .leaf_store import home_of
from .numpy import NumpyExecutor, _TooNarrow, collector_paused


def _flatten(feed, what: str) -> tuple[list, tuple]:
    """The Values of `feed` (a list of them, or of rows of them) in row order, and its shape;
    `what` names it in errors ("compile_step: feed 0")."""
    if isinstance(feed, Value) or not isinstance(feed, (list, tuple)) or not feed:
        raise TypeError(f"{what} is {type(feed).__name__}; give a list of Values, or a list of "
                        "rows of them, e.g. placeholders(32, 64)")
    if all(isinstance(v, Value) for v in feed):
        return list(feed), (len(feed),)
    if not all(isinstance(row, (list, tuple)) and len(row) == len(feed[0]) for row in feed):
        raise TypeError(f"{what} mixes Values and rows, or has rows of different lengths; "
                        "make it with placeholders(rows, cols)")
    flat = [v for row in feed for v in row]
    if not all(isinstance(v, Value) for v in flat):
        raise TypeError(f"{what} holds something other than Values; make it with "
                        "placeholders(rows, cols)")
    return flat, (len(feed), len(feed[0]))


class CompiledStep:
    """A training step recorded on placeholders and compiled for NumPy (or, deep and narrow,
    replayed on the python interpreters); see the module docstring. ``run(*batches)`` trains
    on a batch, ``evaluate(*batches)`` only computes the loss; ``loss`` is the recorded loss
    Value (its data is the latest run's)."""

    def __init__(self, loss: Value, feeds, params=None):
        with collector_paused():  # (compiling makes objects per node: numpy.collector_paused)
            self._compile(loss, feeds, params)

    def _compile(self, loss: Value, feeds, params) -> None:
        if not isinstance(loss, Value):
            raise TypeError(f"compile_step: the loss is {loss!r} ({type(loss).__name__}); pass "
                            "the Value your step computed, e.g. compile_step(loss, feeds=(xs, ys))")
        self.loss = loss
        graph = Graph(loss)
        flats, self.shapes = [], []
        for k, feed in enumerate(feeds):
            flat, shape = _flatten(feed, f"compile_step: feed {k}")
            flats.append(flat)
            self.shapes.append(shape)
        fed = [v for flat in flats for v in flat]
        fed_ids = {id(v) for v in fed}
        homes, entries, _ = graph._positions()
        n_leaves = next((p for p, e in enumerate(entries) if e >= 0), len(entries))
        leaves = homes[:n_leaves]  # (the leaves come first, in the order they were made)
        in_graph = set(map(id, leaves))
        for v in fed:
            if v._rec is not None or home_of(v) is not None or id(v) not in in_graph:
                why = ("is not a leaf" if v._rec is not None else
                       "already belongs to another compiled step" if home_of(v) is not None
                       else "is not used by the loss")
                raise ValueError(f"compile_step: placeholder {v.label or repr(v)} {why}; feed "
                                 "fresh placeholders (placeholders(rows, cols)) that the loss "
                                 "is computed from")
        if len(fed_ids) != len(fed):
            raise ValueError("compile_step: a placeholder appears twice among the feeds; each "
                             "number of a batch needs a placeholder of its own")
        if params is None:
            params = [v for v in leaves if id(v) not in fed_ids]
        params = list(params)
        for i, p in enumerate(params):
            if id(p) in fed_ids:
                raise ValueError(f"compile_step: parameter {i} is also a placeholder; a "
                                 "placeholder takes each batch's numbers and gets no gradient")
        # (a parameter the loss does not use keeps its gradient, as after loss.backward())
        params = [p for p in params if id(p) in in_graph]
        self._params = params
        try:
            self.executor = NumpyExecutor(graph, wrt=params, first=params + fed,
                                          stop_if_narrow=True)
        except _TooNarrow as too_narrow:
            # NOTE: a deep, narrow step (a recurrence unrolled, say) would run as a small NumPy
            # group per level, slower than the python interpreter: it replays there instead
            # (Graph(loss) as recorded), its placeholders written one number at a time.
            self.executor, self._graph, self._placeholders = None, graph, flats
            self._narrow = too_narrow.args  # (its computed nodes, and its depth)
            param_ids = set(map(id, params))
            self._not_params = [v for v in leaves if id(v) not in param_ids]
            return
        homes: dict = {}  # where the parameters' gradients live: {store: their entries}
        for p in params:
            store, i = home_of(p)
            homes.setdefault(id(store), (store, []))[1].append(i)
        self._grads = [(store, _np.array(at, dtype=_np.intp)) for store, at in homes.values()]
        self._feeds = []
        for flat, shape in zip(flats, self.shapes):
            start = self.executor.pos[self.executor.layout.position(flat[0])]
            self._feeds.append(self.executor.val[start:start + len(flat)].reshape(shape))

    def _feed(self, batches, caller: str) -> None:
        if len(batches) != len(self.shapes):
            raise TypeError(f"CompiledStep.{caller}() takes {len(self.shapes)} batch(es), one per "
                            f"feed, in the order of compile_step's feeds; got {len(batches)}")
        for k, (shape, batch) in enumerate(zip(self.shapes, batches)):
            view = None if self.executor is None else self._feeds[k]
            if view is not None and type(batch) is _np.ndarray and batch.shape == shape:
                view[...] = batch  # the common case: one copy, checked by shape alone
                continue
            try:
                array = _np.asarray(batch, dtype=_np.float64)
            except (TypeError, ValueError) as error:
                raise TypeError(f"CompiledStep.{caller}(): batch {k} is not an array of "
                                f"numbers ({error}); give an array or a list of rows") from None
            if array.shape != shape:
                raise ValueError(f"CompiledStep.{caller}(): batch {k} has shape {array.shape}, "
                                 f"but its placeholders were made for {shape}; record the "
                                 "step on placeholders of the batch's size")
            if view is not None:
                view[...] = array
            else:  # (a step run on the python interpreters: see _compile)
                for v, x in zip(self._placeholders[k], array.ravel().tolist()):
                    v.data = x

    def run(self, *batches) -> float:
        """Train on one batch per feed: forward, then backward into the parameters' ``.grad``
        (accumulating, as loss.backward() does: zero them between steps). Returns the loss."""
        self._feed(batches, "run")
        if self.executor is None:
            loss = self._graph.forward()
            kept = [v.grad for v in self._not_params]  # (only the parameters get gradients)
            try:
                self._graph.backward()
            finally:  # (even when backward raises)
                for v, g in zip(self._not_params, kept):
                    v.grad = g
            return loss
        with _np.errstate(all="ignore"):  # once for both sweeps (see NumpyExecutor)
            loss = self.executor.forward_quietly()
            self.executor.backward_quietly()
        return loss

    def evaluate(self, *batches) -> float:
        """The loss on one batch per feed; no gradients."""
        self._feed(batches, "evaluate")
        return (self._graph if self.executor is None else self.executor).forward()

    def finite(self) -> bool:
        """Whether the latest run's loss and every parameter's gradient are finite: one sum per
        array the gradients live in (a sum that overflows says False too: then look closer)."""
        ex = self.executor
        if ex is None:
            return _math.isfinite(sum((p.grad for p in self._params), self.loss.data))
        total = ex.val.item(ex.pos[ex.layout.position(self.loss)])
        for store, at in self._grads:
            total += float(store.grad[at].sum())
        return _math.isfinite(total)

    def reader(self, nodes):
        """A function of no arguments returning the latest run's data of `nodes` (a list of
        Values of the loss's graph, or a list of rows of them, such as a model's scores) as an
        array of that shape: one gather, where publishing every node would be a Python loop."""
        flat, shape = _flatten(nodes, "CompiledStep.reader: nodes")
        ex = self.executor
        if ex is None:
            missing = [v for v in flat if v not in self._graph.index]
            if missing:
                raise ValueError(f"CompiledStep.reader: {missing[0]!r} is not in the loss's "
                                 "graph; read the Values the loss is computed from")
            return lambda: _np.array([v.data for v in flat]).reshape(shape)
        where = []
        for v in flat:
            at = ex.layout.position(v)
            p = ex.pos[at] if at >= 0 and at not in ex._unkept else -1
            if p < 0:
                raise ValueError(f"CompiledStep.reader: {v!r} has no place of its own in the "
                                 "compiled step (not in the loss's graph, an addition folded "
                                 "into a sum, or a layer's output that relu was computed from in "
                                 "its place); read the Values the loss is computed from, or the "
                                 "relu's")
            where.append(p)
        at, val = _np.array(where, dtype=_np.intp), ex.val
        return lambda: val[at].reshape(shape)

    def __repr__(self) -> str:
        shapes = ", ".join(str(shape) for shape in self.shapes)
        if self.executor is None:
            computed, depth = self._narrow
            return (f"<CompiledStep feeding {shapes}: {computed:,} computed nodes over {depth:,} "
                    "levels, deep and narrow, so replayed on the python interpreters>")
        return f"<CompiledStep feeding {shapes}: {self.executor!r}>"


def compile_step(loss: Value, feeds, params=None) -> CompiledStep:
    """A training step recorded on placeholders, compiled once (see the module docstring):
    ``feeds`` are the placeholders each batch is written into, in the order ``run`` takes the
    batches; ``params`` the leaves to differentiate (by default every other leaf)."""
    return CompiledStep(loss, feeds, params)


__all__ = ["CompiledStep", "compile_step"]
