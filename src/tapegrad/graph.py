"""Graph: the nodes reachable from some outputs, in topological order, as one array.

    g = Graph(f)          # record: g.nodes[i] is a Value, g.arg_indices[i] its arguments' indices
    g.backward()          # reverse mode: one backward sweep fills every .grad
    x.data = 3.0
    g.forward()           # replay: recompute every node from the leaves' current data
    g.backward()          # ... and differentiate again, without rebuilding anything

Because every node's arguments come before it in the array, a single pass in array order
evaluates the graph (forward, and forward-mode derivatives), and a single pass in reverse
order back-propagates (reverse mode). No pass recurses, so graphs a million nodes deep are fine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cached_property

from .ops import FLOATS, WITH_CONSTANT
from .tape import _PARTIALS, backprop, outside_data, reach, tapes_of
from .record import _FORWARD, view
from .value import Value


def topological_order(outputs) -> list[Value]:
    """Every node the outputs depend on, each after its arguments.

    One backward marking pass per tape (never recursion), newest tape first; then the marked
    entries in tape order, with the leaves slotted in where they were made. The outputs' own
    Values are kept; other tape nodes get fresh handles.
    """
    return _order_and_marks(tuple(outputs))[0]


def _order_and_marks(outputs):
    """topological_order(outputs), and for each tape (by serial) which entries are in it."""
    tapes = tapes_of(outputs)
    deps = {serial: tape for serial, tape in tapes.items()}
    found = reach(outputs, tapes)
    marks, span, leaves = found.marks, found.spans, found.leaves
    given = {(out._tape.serial, out._i): out for out in outputs if out._tape is not None}
    # Merge the leaves into the entries (already in order): each where it was made, or just
    # before its first use if that comes earlier (a leaf made on another thread's newer tape).
    def leaf_key(leaf):
        serial, n = found.first_use.get(id(leaf), (math.inf, 0))
        return min(leaf._key, (serial, n - 0.75, leaf._key[2]))

    pending = sorted(leaves.values(), key=leaf_key, reverse=True)
    order = []
    for serial in sorted(span):
        tape, marked = tapes[serial], marks[serial]
        low, high = span[serial]
        for n in range(low, high + 1):
            if marked[n]:
                while pending and leaf_key(pending[-1]) < (serial, n):
                    order.append(pending.pop())
                node = given.get((serial, n))
                order.append(node if node is not None else view(tape, n, deps))
    order.extend(reversed(pending))
    return order, found


def local_partials(node: Value, m=FLOATS) -> tuple:
    """(∂node/∂arg for each arg), from the rule table. With m=VALUES they are Values, recorded
    on the graph so they can be differentiated again; with FLOATS they are plain numbers."""
    tape = node._tape
    if tape is None:
        return ()  # a leaf
    n = node._i
    op = tape.op[n]
    if m is FLOATS:  # read the arguments' data straight from the tape: no handles needed
        y = tape.data[n]
        data, ext, deps = tape.data, tape.ext, node._deps
        xs = [data[r] if r >= 0 else outside_data(ext[~r], deps) for r in tape.args[n]]
    else:
        y, xs = node, list(node.args)
    if op in WITH_CONSTANT:
        xs.append(tape.k[n])
    return _PARTIALS[op](m, y, *xs)




class NodeIndex(Mapping):
    """Value -> position in a Graph's array, a read-only mapping. Keyed by what identifies a
    node -- its tape and entry, or a leaf's id() -- so any handle of a node finds it, and no
    Value has to be hashed to build it."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.leaves: dict[int, int] = {}  # id(leaf) -> position
        self.entries: dict[int, dict[int, int]] = {}  # tape serial -> {entry: position}
        leaves, entries = self.leaves, self.entries
        for p, v in enumerate(nodes):
            tape = v._tape
            if tape is None:
                leaves[id(v)] = p
            else:
                at = entries.get(tape.serial)
                if at is None:
                    at = entries[tape.serial] = {}
                at[v._i] = p

    def __getitem__(self, v) -> int:
        try:
            tape = v._tape
            return self.leaves[id(v)] if tape is None else self.entries[tape.serial][v._i]
        except (KeyError, AttributeError):
            raise KeyError(v) from None

    def __contains__(self, v) -> bool:
        try:
            self[v]
        except KeyError:
            return False
        return True

    def __iter__(self):
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        return f"<NodeIndex of {len(self.nodes)} nodes>"


def _accumulate(total, term):
    """total + term, where None means 'no contribution yet' (so no 0 + x nodes get recorded)."""
    return term if total is None else total + term


class Graph:
    """The computation graph of `outputs` as an array of nodes in topological order."""

    def __init__(self, *outputs: Value, backend: str = "python"):
        if not outputs:
            raise TypeError("Graph() needs at least one output Value, e.g. Graph(loss)")
        for i, out in enumerate(outputs):
            if not isinstance(out, Value):
                raise TypeError(
                    f"Graph(): output {i} is {out!r} ({type(out).__name__}), not a Value; "
                    "pass the Values your computation produced, e.g. Graph(loss)"
                )
        if backend not in ("python", "numpy"):
            raise ValueError(
                f"Graph(backend={backend!r}): the backends are 'python' (the default) and 'numpy'"
            )
        self.outputs = outputs
        self.backend = backend
        self.nodes, self._reach = _order_and_marks(outputs)
        self._compiled = None  # the NumPy executor: forward and backward run there instead
        if backend == "numpy":
            from .backends import compile_graph

            self._compiled = compile_graph(self)

    # -- the array -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self):
        return iter(self.nodes)

    def __getitem__(self, i: int) -> Value:
        return self.nodes[i]

    @cached_property
    def index(self) -> "NodeIndex":
        """Each node's position in the array: ``g.index[v]`` for any Value of the graph."""
        return NodeIndex(self.nodes)

    @cached_property
    def arg_indices(self) -> list[tuple[int, ...]]:
        """For each node, the positions of its arguments (always smaller than its own)."""
        leaves, entries = self.index.leaves, self.index.entries
        indices = []
        for node in self.nodes:
            tape = node._tape
            if tape is None:
                indices.append(())
                continue
            here, ext = entries[tape.serial], tape.ext
            positions = []
            for r in tape.args[node._i]:
                if r >= 0:
                    positions.append(here[r])
                else:
                    item = ext[~r]
                    if type(item) is tuple:
                        positions.append(entries[item[0]][item[1]])
                    else:
                        positions.append(leaves[id(item)])
            indices.append(tuple(positions))
        return indices

    def publish(self) -> None:
        """Make every node's ``data`` and ``grad`` current on its Value object.

        A no-op on the python backend, where they always are. The NumPy backend keeps interior
        nodes in its arrays and only copies them out here (outputs and leaves are always
        current); everything that reads interior nodes -- printing, drawing, vjp, jvp -- calls it.
        """
        if self._compiled is not None:
            self._compiled.publish()

    # -- interpreters --------------------------------------------------------------------------

    def forward(self):
        """Recompute every node from the leaves' current ``data``, in array order.

        Returns the output's new data (a list of them for several outputs).
        """
        if self._compiled is not None:
            return self._compiled.forward()
        values = [node.data for node in self.nodes]  # the leaves' current data (and the rest)
        for i, formula, positions, k, tape_data, n in self._replay_plan:
            xs = [values[j] for j in positions]
            if k is not None:
                xs.append(k)
            try:
                values[i] = tape_data[n] = formula(FLOATS, *xs)
            except (ArithmeticError, ValueError) as error:
                raise type(error)(
                    f"Graph.forward(), node {i} ({self._describe(i)}): {error}"
                ) from error
        datas = [out.data for out in self.outputs]
        return datas[0] if len(datas) == 1 else datas

    @cached_property
    def _replay_plan(self) -> list[tuple]:
        """Per computed node: (position, forward formula, argument positions, constant, the
        list its data lives in, its index there)."""
        plan = []
        for i, (node, positions) in enumerate(zip(self.nodes, self.arg_indices)):
            if positions:
                tape, n = node._tape, node._i
                op = tape.op[n]
                k = tape.k[n] if op in WITH_CONSTANT else None
                plan.append((i, _FORWARD[op], positions, k, tape.data, n))
        return plan

    def backward(self) -> None:
        """Reverse mode: one sweep from the outputs back to the leaves.

        Afterwards each node's ``grad`` is d(sum of outputs)/d(node). Interior nodes are reset
        first, so they hold this call's gradient; leaves accumulate, as in micrograd and
        PyTorch (so a training loop zeroes them between steps).
        """
        if self._compiled is not None:
            return self._compiled.backward()
        backprop(self.outputs, self._reach)

    def vjp(self, cotangents: dict, m=FLOATS, wrt=None) -> list:
        """Reverse mode without side effects: the cotangent of every node, as a list aligned with
        ``nodes``, given the outputs' cotangents (a dict Value -> number or Value).

        With ``m=VALUES`` the cotangents are Values recorded on the graph (differentiable
        again). Entries are None where no cotangent reaches the node: it does not influence
        the seeded outputs, or only through a zero float cotangent (skipped, as in backward). Given
        ``wrt`` (some nodes), only cotangents on paths from those nodes are computed: the rest
        of a long history (a captured Value's, say) is not swept.
        """
        self.publish()
        nodes, arg_indices = self.nodes, self.arg_indices
        live = self._downstream_of(wrt) if wrt is not None else None
        total = [None] * len(nodes)
        for out, seed in cotangents.items():
            total[self.index[out]] = _accumulate(total[self.index[out]], seed)
        for i in range(len(nodes) - 1, -1, -1):
            ct = total[i]
            if ct is None or not arg_indices[i] or (live is not None and not live[i]):
                continue
            if m is FLOATS and not ct:
                continue  # a zero cotangent contributes nothing (as in backward)
            for j, partial in zip(arg_indices[i], local_partials(nodes[i], m)):
                if live is None or live[j]:
                    total[j] = _accumulate(total[j], ct * partial)
        return total

    def _downstream_of(self, sources) -> list[bool]:
        """For each node, whether it is one of `sources` or depends on one."""
        index = self.index
        starts = {index[s] for s in sources if s in index}
        live = [False] * len(self.nodes)
        for i, args in enumerate(self.arg_indices):
            live[i] = i in starts or any(live[j] for j in args)
        return live

    def jvp(self, tangents: dict, m=FLOATS) -> list:
        """Forward mode: one sweep in array order pushing tangents from the inputs.

        ``tangents`` maps input Values to their tangent ẋ; returns ẏ for every node, aligned with
        ``nodes``: ẏ = Σ ∂y/∂x_i · ẋ_i, None where the node does not depend on any seeded input.
        With ``m=VALUES`` the tangents are Values recorded on the graph.
        """
        self.publish()
        nodes, arg_indices = self.nodes, self.arg_indices
        tangent = [None] * len(nodes)
        seeded = {self.index[v]: t for v, t in tangents.items() if v in self.index}
        for i, node in enumerate(nodes):
            if i in seeded:
                tangent[i] = seeded[i]
                continue
            total = partials = None
            for position, j in enumerate(arg_indices[i]):
                if tangent[j] is not None:
                    if partials is None:  # computed only for nodes a tangent reaches
                        partials = local_partials(node, m)
                    total = _accumulate(total, partials[position] * tangent[j])
            tangent[i] = total
        return tangent

    # -- printing ------------------------------------------------------------------------------

    def _describe(self, i: int) -> str:
        node = self.nodes[i]
        name = node._op or "leaf"
        args = ", ".join(f"#{j}" for j in self.arg_indices[i])
        return f"{name} of {args}" if args else name

    def __str__(self) -> str:
        """One line per node: index, op, argument indices, data, grad (and label)."""
        self.publish()
        outputs = {id(out) for out in self.outputs}
        rows = [("#", "op", "args", "data", "grad", "")]
        for i, node in enumerate(self.nodes):
            note = node.label
            if id(node) in outputs:
                note = f"{note}  <- output".strip()
            rows.append(
                (
                    str(i),
                    node._op or "leaf",
                    " ".join(str(j) for j in self.arg_indices[i]),
                    f"{node.data:.6g}",
                    f"{node.grad:.6g}",
                    note,
                )
            )
        widths = [max(len(row[c]) for row in rows) for c in range(5)]
        lines = []
        for row in rows:
            cells = [row[0].rjust(widths[0])] + [row[c].ljust(widths[c]) for c in range(1, 3)]
            cells += [row[c].rjust(widths[c]) for c in (3, 4)]
            lines.append(("  ".join(cells) + "  " + row[5]).rstrip())
        return "\n".join(lines)

    def _repr_svg_(self) -> str:
        """Jupyter shows a Graph as a drawing; repr and str stay text."""
        from .viz import to_svg

        self.publish()
        return to_svg(*self.outputs)

    def __repr__(self) -> str:
        return f"<Graph of {len(self.nodes)} nodes, {len(self.outputs)} output(s)>"


__all__ = ["Graph", "topological_order", "local_partials"]
