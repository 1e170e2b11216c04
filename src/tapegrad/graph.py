"""Graph: the nodes some outputs depend on, in topological order, as one array.

    g = Graph(f)          # g.nodes[i] is a Value, g.arg_indices[i] its arguments' positions
    g.backward()          # reverse mode: one backward sweep fills every .grad
    x.data = 3.0
    g.forward()           # replay: recompute every node from the leaves' current data
    g.backward()          # ... and differentiate again, without rebuilding anything

A Graph is a view of the records its nodes live on (record.py): for each record, which of its
entries the outputs depend on. Records in order, each in entry order, are already a topological
order -- every node's arguments come before it -- so one loop in that order evaluates the graph
and pushes tangents along (replay and forward mode, sweep_forward), and one loop the other way
back-propagates (reverse mode, record.backprop). No loop recurses, so graphs a million nodes
deep are fine.
"""

from itertools import chain, compress, count

from .ops import FLOATS, FORWARD

from .record import (LOCK, backprop, found_at, imports, operands, partials_at, reach,
                     refreshed, sync)
from .value import NodesOf, Value, node_at

# Interpreters of a Graph besides this file's own, by name: a backend registers itself here
# (tapegrad.backends does, for "numpy"), so this module never imports one.
BACKENDS = {"python": lambda graph: None}


def sweep_forward(stretches: list, seeds: "dict | None" = None, m: object = FLOATS) -> dict:
    """Replay, or forward mode: one loop in record order over `stretches`, (record, mask or
    None, first entry, last entry), the entries to visit; imports first read what they stand for.

    With no `seeds` (None), each entry is recomputed from its arguments' data: the leaves count
    as they are now. Given `seeds` (input Value -> its tangent ẋ), each entry instead gets its
    tangent ẏ = Σ_i ∂y/∂x_i · ẋ_i at the recorded point, and the result is the tangents, per
    record: None where no seeded input reaches the entry (its partials are never computed)."""
    by_leaf = {id(v): t for v, t in (seeds or {}).items() if v._rec is None}
    tangents = {}
    with LOCK:
        for rec, mask, first, last in stretches:
            sync(rec)
            data, ops, args = rec.data, rec.op, rec.args
            tangent = tangents[rec] = [None] * (last + 1)
            leaf_at, leaves, older_at, olders = refreshed(rec, first, last)
            for i, leaf in zip(leaf_at, leaves):
                tangent[i] = by_leaf.get(id(leaf))
            for i, (ref, j) in zip(older_at, olders):
                tangent[i] = found_at(tangents.get(ref(), ()), j)
            seeded = {v._i: t for v, t in (seeds or {}).items() if v._rec is rec and v._i <= last}
            for i, t in seeded.items():
                tangent[i] = t
            values = data if m is FLOATS else NodesOf(rec)
            visits = range(first, last + 1)
            # NOTE: compress skips the entries no output needs in C, not in a Python loop.
            for n in visits if mask is None else compress(visits, mask[first:last + 1]):
                refs = args[n]
                if not refs or n in seeded:
                    continue
                if seeds is None:  # replay
                    try:
                        data[n] = FORWARD[ops[n]](FLOATS, *operands(rec, n, data))
                    except (ArithmeticError, ValueError) as error:
                        error.entry = (rec, n)  # for the caller to name the node
                        raise
                    continue
                total = partials = None
                for p, r in enumerate(refs):
                    if tangent[r] is not None:
                        if partials is None:  # computed only for entries a tangent reaches
                            partials = partials_at(rec, n, values, m)
                        term = partials[p] * tangent[r]
                        total = term if total is None else total + term
                tangent[n] = total
    return tangents


class Graph:
    """The computation graph of `outputs` as an array of nodes in topological order."""

    def __init__(self, *outputs: Value, backend: str = "python"):
        if not outputs:
            raise TypeError("Graph() needs at least one output Value, e.g. Graph(loss)")
        for i, out in enumerate(outputs):
            if not isinstance(out, Value):
                raise TypeError(f"Graph(): output {i} is {out!r} ({type(out).__name__}), not a "
                                "Value; pass the Values your computation made, e.g. Graph(loss)")
        if backend not in BACKENDS:
            raise ValueError(f"Graph(backend={backend!r}): the backends are "
                             f"{', '.join(map(repr, BACKENDS))}")
        self.outputs, self.backend, found = outputs, backend, reach(outputs)
        self._stretches = [(rec, *found[rec]) for rec in sorted(found, key=lambda r: r.serial)]
        self._layout = self._nodes = self._index = self._args = None
        self._compiled = BACKENDS[backend](self)  # another backend's executor, which then runs
        # forward and backward; None for this file's own interpreters

    # -- the array -----------------------------------------------------------------------------

    def _positions(self):
        """Each position's record and entry (a leaf's own Value and -1 for a leaf), and for each
        record its entries' positions: the leaves in the order they were made, then the computed
        nodes in record order (an import is where its leaf, or its older record's node, is)."""
        if self._layout is None:
            leaves = {id(out): out for out in self.outputs if out._rec is None}
            for rec, mask, first, last in self._stretches:
                leaf_at, found = imports(rec, first, last)[:2]
                leaves.update((id(leaf), leaf) for i, leaf in zip(leaf_at, found) if mask[i])
            homes = sorted(leaves.values(), key=lambda v: v._made)
            entries, at_leaf, at = [-1] * len(homes), {id(v): p for p, v in enumerate(homes)}, {}
            for rec, mask, first, last in self._stretches:
                here = at[rec] = [-1] * (last + 1)
                leaf_at, found, older_at, olders = imports(rec, first, last)
                moved = {i: at_leaf[id(v)] for i, v in zip(leaf_at, found) if mask[i]}  # imports
                moved.update((i, at[r()][j]) for i, (r, j) in zip(older_at, olders) if mask[i])
                own = [n for n in compress(range(first, last + 1), mask[first:last + 1])
                       if n not in moved]  # (every other marked entry: a node of its own)
                for n, p in chain(moved.items(), zip(own, count(len(homes)))):
                    here[n] = p
                homes.extend([rec] * len(own))
                entries.extend(own)
            self._layout = homes, entries, at
        return self._layout

    @property
    def nodes(self) -> list:
        """The nodes, as Values, each after its arguments (the outputs are the objects given)."""
        if self._nodes is None:
            given = {(out._rec, out._i): out for out in self.outputs if out._rec is not None}
            homes, entries, _ = self._positions()
            self._nodes = [home if n < 0 else given[home, n] if (home, n) in given
                           else node_at(home, n) for home, n in zip(homes, entries)]
        return self._nodes

    @property
    def index(self) -> dict:
        """Each node's position in the array: ``g.index[v]`` for any Value of the graph."""
        if self._index is None:
            self._index = {node: p for p, node in enumerate(self.nodes)}
        return self._index

    @property
    def arg_indices(self) -> list:
        """For each node, the positions of its arguments (always smaller than its own)."""
        if self._args is None:
            homes, entries, at = self._positions()
            self._args = [() if n < 0 else tuple(map(at[home].__getitem__, home.args[n]))
                          for home, n in zip(homes, entries)]
        return self._args

    def __len__(self) -> int:
        return len(self._positions()[1])

    def __getitem__(self, i: int) -> Value:
        return self.nodes[i]

    def publish(self) -> None:
        """Make every node's ``data`` and ``grad`` current on its record (a no-op on the python
        backend, where they always are; another backend copies its arrays out)."""
        if self._compiled is not None:
            self._compiled.publish()

    # -- interpreters --------------------------------------------------------------------------

    def forward(self) -> "float | list[float]":
        """Replay: recompute every node from the leaves' current ``data``, in array order.

        Returns the output's new data (a list of them for several outputs)."""
        if self._compiled is not None:
            return self._compiled.forward()
        try:
            sweep_forward(self._stretches)
        except (ArithmeticError, ValueError) as error:
            where = self._positions()[2][error.entry[0]][error.entry[1]]
            raise type(error)(f"Graph.forward(), node {where} ({self._describe(where)}): {error}"
                              ) from error
        return self.outputs[0].data if len(self.outputs) == 1 else [o.data for o in self.outputs]

    def backward(self) -> None:
        """Reverse mode: one sweep from the outputs back to the leaves.

        Afterwards each node's ``grad`` is d(sum of outputs)/d(node). Interior nodes hold this
        call's gradient; leaves accumulate, as in micrograd and PyTorch (so a training loop
        zeroes them between steps)."""
        if self._compiled is not None:
            return self._compiled.backward()
        backprop([(out, 1.0) for out in self.outputs])

    def vjp(self, cotangents: dict, m: object = FLOATS) -> list:
        """Reverse mode without side effects: the cotangent of every node, aligned with
        ``nodes``, given the outputs' cotangents (a dict Value -> number or Value).

        The same sweep as backward() (record.backprop), writing nothing. With ``m=VALUES`` the
        cotangents are Values recorded on the graph (differentiable again). A node no cotangent
        reached (or only a zero one) gets 0.0."""
        self.publish()
        grads, totals = backprop(cotangents.items(), m, store=False, nodes_of=NodesOf)
        found = self._aligned(lambda rec, i: found_at(grads.get(rec, ()), i), totals)
        return [0.0 if ct is None else ct for ct in found]

    def jvp(self, tangents: dict, m: object = FLOATS) -> list:
        """Forward mode: one sweep in array order pushing tangents from the inputs.

        ``tangents`` maps input Values to their tangent ẋ; returns ẏ for every node, aligned
        with ``nodes``: ẏ = Σ ∂y/∂x_i · ẋ_i, None where the node does not depend on any seeded
        input. With ``m=VALUES`` the tangents are Values recorded on the graph."""
        self.publish()
        found = sweep_forward(self._stretches, tangents, m)
        by_leaf = {id(v): t for v, t in tangents.items() if v._rec is None}
        return self._aligned(lambda rec, i: found_at(found.get(rec, ()), i), by_leaf)

    def _aligned(self, of_entry, of_leaf: dict) -> list:
        homes, entries, _ = self._positions()
        return [of_leaf.get(id(home)) if n < 0 else of_entry(home, n)
                for home, n in zip(homes, entries)]

    # -- printing ------------------------------------------------------------------------------

    def _describe(self, i: int) -> str:
        args = ", ".join(f"#{j}" for j in self.arg_indices[i])
        return f"{self.nodes[i]._op or 'leaf'}" + (f" of {args}" if args else "")

    def __str__(self) -> str:
        """One line per node: index, op, argument indices, data, grad (and label)."""
        self.publish()
        outputs = {id(out) for out in self.outputs}
        rows = [("#", "op", "args", "data", "grad", "")] + [
            (str(i), node._op or "leaf", " ".join(map(str, args)), f"{node.data:.6g}",
             f"{node.grad:.6g}", (node.label + "  <- output" * (id(node) in outputs)).strip())
            for i, (node, args) in enumerate(zip(self.nodes, self.arg_indices))
        ]
        widths = [max(map(len, column)) for column in zip(*rows)]
        return "\n".join("  ".join(cell.rjust(w) if c in (0, 3, 4) else cell.ljust(w)  # numbers
                                    for c, (cell, w) in enumerate(zip(row, widths))).rstrip()
                          for row in rows)

    def __repr__(self) -> str:
        return f"<Graph of {len(self)} nodes, {len(self.outputs)} output(s)>"


__all__ = ["Graph", "sweep_forward", "BACKENDS"]
