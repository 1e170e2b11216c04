"""Drawings of a computation graph: Graphviz DOT text and a self-made SVG.

    to_dot(f)   # DOT text: feed it to Graphviz (`dot -Tsvg`), or paste it into any DOT viewer
    to_svg(f)   # an SVG drawing, made in pure Python: no Graphviz needed

Both draw what micrograd's notebook draws, left to right: a record per Value showing
``label | data | grad``, and between a Value and its arguments a small node with the op's symbol
(taken from RULES, the one table that knows the ops).

The SVG layout is layered and reads the Graph array directly. A node's layer is the longest path
from the leaves to it (one pass in array order, since arguments come first); a leaf sits one layer
before its first user, so constants stay next to where they are used. Within a layer, nodes are
ordered by the barycentre of their neighbours (a few sweeps each way), which untangles most edges.

An edge that skips layers gets a waypoint in each layer it crosses (a slot of its own in that
layer's order), and edges bend only in the empty strips between layers, so no edge runs through
a box.

Large graphs stay readable: past ``max_nodes`` only the nodes nearest the outputs are drawn, in
whole rings of equal distance (a network is cut between layers, not through a neuron), and one
box says how many were left out (the nodes they feed get an edge from it).
"""

import math as _math
import re as _re
import shutil as _shutil
import subprocess as _subprocess
from dataclasses import dataclass, field
from html import escape

from .graph import Graph
from .ops import RULES
from .value import Value

MAX_NODES = 150  # past this, a drawing shows only the nodes nearest the outputs

# Geometry of the SVG drawing, in pixels. Text is monospace, so its width is known in advance.
FONT_SIZE = 12
CHAR_WIDTH = 7.3  # the advance of one monospace character at FONT_SIZE (DejaVu Sans Mono: 0.602 em)
CELL_PAD = 8  # space on each side of a cell's text
RECORD_HEIGHT = 28
ROW_GAP = 16
OP_RADIUS_MIN = 14
GAP = 34  # horizontal space between an argument and the op node it feeds, and around op nodes
MARGIN = 12
BARYCENTRE_SWEEPS = 4


def format_number(x: float) -> str:
    """A number as the drawings show it: 4 decimals like micrograd's notebook, exponent notation
    when that would be too long."""
    if _math.isnan(x) or _math.isinf(x):
        return str(x)
    if x != 0 and not 1e-3 <= abs(x) < 1e6:
        return f"{x:.4g}"
    return f"{x:.4f}"


def op_symbol(node: Value) -> str:
    """How the op that made `node` is drawn: its symbol from RULES, plus its constant operand
    (the 2 of ``x ** 2``) for ops that take one. Empty for a leaf."""
    rule = RULES[node.op]
    if rule.takes_constant:
        return f"{rule.symbol}{node.k:g}"
    return rule.symbol


# ---------------------------------------------------------------------------------------------
# Which nodes to draw
# ---------------------------------------------------------------------------------------------


def nodes_to_draw(graph: Graph, max_nodes: int) -> list[int]:
    """The indices of the nodes to draw, in array order: all of them, or, for a large graph,
    at most `max_nodes` of those nearest the outputs (fewest steps away)."""
    if max_nodes < 1:
        raise ValueError(
            f"max_nodes={max_nodes!r}: a drawing needs at least one node; use e.g. 150"
        )
    n = len(graph.nodes)
    if n <= max_nodes:
        return list(range(n))
    # Breadth first from the outputs, ring by ring (ring d: the nodes d steps from the nearest
    # output), so only the nodes near the outputs are ever visited. Whole rings only, so a
    # drawn node shows all of its arguments or none of them (a half-drawn neuron is harder to
    # read than a cut between layers); a ring is split only when stopping before it would
    # leave the drawing nearly empty.
    index = graph.index
    ring = list(dict.fromkeys(index[out] for out in graph.outputs))
    seen = set(ring)
    chosen: list[int] = []
    while ring:
        if len(chosen) + len(ring) > max_nodes:
            if len(chosen) < max(2, max_nodes // 10):
                chosen += sorted(ring, reverse=True)[: max_nodes - len(chosen)]  # the latest
            break
        chosen += ring
        next_ring = []
        for i in ring:
            for arg in graph.nodes[i].args:
                j = index[arg]
                if j not in seen:
                    seen.add(j)
                    next_ring.append(j)
        ring = next_ring
    return sorted(chosen)


def arg_positions(graph: Graph, i: int) -> list[int]:
    """The array positions of node i's arguments (graph.arg_indices[i], without building
    that list for every node of a huge graph of which only a corner is drawn)."""
    return [graph.index[a] for a in graph.nodes[i].args]


# ---------------------------------------------------------------------------------------------
# DOT
# ---------------------------------------------------------------------------------------------


def _dot_escape(text: str) -> str:
    """Text safe inside a DOT record label (whose fields are split on | and grouped by braces)."""
    for ch in '\\{}|<>"':
        text = text.replace(ch, "\\" + ch)
    return text


def to_dot(*roots: Value, max_nodes: int = MAX_NODES) -> str:
    """The graph of `roots` as Graphviz DOT text, micrograd-notebook style, left to right.

    Every Value is a record ``{ label | data ... | grad ... }``; every computed Value has an op
    node (its symbol from RULES) between it and its arguments. Render it with
    ``dot -Tsvg graph.dot > graph.svg``, or use to_svg, which needs no Graphviz.
    """
    graph = _graph_of(roots, "to_dot")
    shown = nodes_to_draw(graph, max_nodes)
    shown_set = set(shown)
    lines = [
        "digraph tapegrad {",
        "  rankdir=LR;",
        '  node [shape=record, fontname="monospace", fontsize=12];',
    ]
    hidden = len(graph.nodes) - len(shown)
    if hidden:
        lines.append(
            f'  label="showing the {len(shown)} nodes nearest the output; '
            f'{hidden} earlier nodes are not drawn"; labelloc=t;'
        )
        lines.append(f'  hidden [shape=note, label="{hidden} more nodes\\nnot drawn"];')
    for i in shown:
        node = graph.nodes[i]
        label = _dot_escape(node.label)
        data, grad = format_number(node.data), format_number(node.grad)
        lines.append(f'  n{i} [label="{{ {label} | data {data} | grad {grad} }}"];')
        if node.args:
            symbol = op_symbol(node).replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'  n{i}op [shape=circle, label="{symbol}"];')
            lines.append(f"  n{i}op -> n{i};")
            feeds_from_hidden = False
            for j in arg_positions(graph, i):
                if j in shown_set:
                    lines.append(f"  n{j} -> n{i}op;")
                elif not feeds_from_hidden:
                    lines.append(f"  hidden -> n{i}op [style=dashed];")
                    feeds_from_hidden = True
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The layered layout
# ---------------------------------------------------------------------------------------------


@dataclass
class Box:
    """One drawn Value: its record (cells side by side) and, if computed, its op node."""

    index: int  # position in the Graph array; -1 for the box that stands for hidden nodes
    cells: list[str]  # the texts the record shows: label, data, grad
    cell_widths: list[float]
    symbol: str = ""  # the op node's text; empty for leaves
    args: list[int] = field(default_factory=list)  # indices of drawn boxes feeding the op node
    layer: int = 0
    x: float = 0.0  # left edge of the record
    y: float = 0.0  # top edge of the record
    lane: tuple[float, float] = (0.0, 0.0)  # where its layer's op nodes start, records end

    @property
    def width(self) -> float:
        return sum(self.cell_widths)

    @property
    def op_radius(self) -> float:
        return max(OP_RADIUS_MIN, len(self.symbol) * CHAR_WIDTH / 2 + 6)


@dataclass
class Layout:
    """Where everything goes: the boxes (keyed by array index) and the canvas size."""

    boxes: dict[int, Box]
    width: float
    height: float
    note: str = ""
    # for an edge (arg, node) that skips layers: (left, right, y) of its pass through each
    waypoints: dict[tuple[int, int], list[tuple[float, float, float]]] = field(default_factory=dict)


def text_width(text: str) -> float:
    return len(text) * CHAR_WIDTH


def layout(graph: Graph, shown: list[int], cells: dict[int, list[str]]) -> Layout:
    """Place the drawn nodes `shown` (array indices, in order) in layers, left to right.

    ``cells[i]`` are the texts of node i's record; each cell is as wide as its longest text
    (a list of alternatives is allowed, for pages that change the text later).
    """
    shown_set = set(shown)
    boxes: dict[int, Box] = {}
    for i in shown:
        node = graph.nodes[i]
        texts = cells[i]
        widths = [_cell_width(t) for t in texts]
        drawn_args = [j for j in arg_positions(graph, i) if j in shown_set]
        boxes[i] = Box(i, [_first(t) for t in texts], widths, op_symbol(node), drawn_args)
    hidden = len(graph.nodes) - len(shown)
    note = ""
    if hidden:
        note = (
            f"showing the {len(shown)} nodes nearest the output; "
            f"{hidden} earlier nodes are not drawn"
        )
        hidden_feeds = [
            i for i in shown if any(j not in shown_set for j in arg_positions(graph, i))
        ]
        text = f"{hidden} more nodes"
        boxes[-1] = Box(-1, [text], [_cell_width(text)])
        for i in hidden_feeds:
            boxes[i].args.append(-1)

    # Layers: computed nodes after their deepest argument; leaves just before their first user.
    order = ([-1] if -1 in boxes else []) + shown
    for i in order:
        box = boxes[i]
        box.layer = 1 + max((boxes[j].layer for j in box.args), default=-1) if box.args else 0
    users: dict[int, list[int]] = {i: [] for i in order}
    for i in order:
        for j in boxes[i].args:
            users[j].append(i)
    for i in reversed(order):
        box = boxes[i]
        if not box.args and users[i]:
            box.layer = min(boxes[u].layer for u in users[i]) - 1
    low = min(b.layer for b in boxes.values())
    for box in boxes.values():
        box.layer -= low
    layers: list[list] = [[] for _ in range(1 + max(b.layer for b in boxes.values()))]
    for i in order:
        layers[boxes[i].layer].append(i)

    # An edge that skips layers gets a waypoint in each layer it crosses: a slot of its own in
    # that layer's order, so it runs between the boxes instead of through them.
    before = {i: list(dict.fromkeys(boxes[i].args)) for i in order}
    after = {i: list(dict.fromkeys(users[i])) for i in order}
    routes: dict[tuple[int, int], list[tuple]] = {}
    for i in order:
        for j in before[i]:
            crossed = range(boxes[j].layer + 1, boxes[i].layer)
            if not crossed:
                continue
            chain = [("via", j, i, layer) for layer in crossed]
            for k, waypoint in enumerate(chain):
                layers[waypoint[3]].append(waypoint)
                before[waypoint] = [chain[k - 1] if k else j]
                after[waypoint] = [chain[k + 1] if k + 1 < len(chain) else i]
            after[j] = [chain[0] if u == i else u for u in after[j]]
            before[i] = [chain[-1] if a == j else a for a in before[i]]
            routes[(j, i)] = chain

    _order_within_layers(layers, before, after)

    # x: each layer is as wide as its widest op node plus its widest record.
    x = MARGIN
    spans = []  # for each layer, where its op nodes start and where its records end
    for layer in layers:
        drawn = [boxes[i] for i in layer if not isinstance(i, tuple)]
        op_width = max((2 * b.op_radius for b in drawn if b.symbol), default=0)
        left = x
        if op_width:
            x += op_width + GAP
        for b in drawn:
            b.x = x
        x += max((b.width for b in drawn), default=0) + GAP
        spans.append((left, x - GAP))
        for b in drawn:
            b.lane = spans[-1]
    width = x - GAP + MARGIN
    # y: rows centred in the tallest layer.
    row = RECORD_HEIGHT + ROW_GAP
    tallest = max(len(layer) for layer in layers)
    top = MARGIN + (FONT_SIZE + 10 if note else 0)
    mid: dict = {}
    for layer in layers:
        offset = top + (tallest - len(layer)) * row / 2
        for rank, i in enumerate(layer):
            mid[i] = offset + rank * row + RECORD_HEIGHT / 2
            if not isinstance(i, tuple):
                boxes[i].y = mid[i] - RECORD_HEIGHT / 2
    height = top + tallest * row - ROW_GAP + MARGIN
    waypoints = {
        edge: [(spans[w[3]][0], spans[w[3]][1], mid[w]) for w in chain]
        for edge, chain in routes.items()
    }
    return Layout(boxes, width, height, note, waypoints)


def _order_within_layers(layers, before, after) -> None:
    """Reorder each layer by the mean position of its neighbours (the barycentre heuristic),
    sweeping right, then left, a few times. Positions are centred, as the layers are drawn."""
    position = {}

    def place(layer):
        for rank, i in enumerate(layer):
            position[i] = rank - (len(layer) - 1) / 2

    def relayer(layer, neighbours):
        def key(i):
            near = neighbours[i]
            return sum(position[j] for j in near) / len(near) if near else position[i]

        layer.sort(key=key)  # stable: ties keep array order
        place(layer)

    for layer in layers:
        place(layer)
    for _ in range(BARYCENTRE_SWEEPS):
        for layer in layers[1:]:
            relayer(layer, before)
        for layer in reversed(layers[:-1]):
            relayer(layer, after)


def _first(text) -> str:
    return text[0] if isinstance(text, (list, tuple)) else text


def _cell_width(text) -> float:
    options = text if isinstance(text, (list, tuple)) else [text]
    return max(text_width(t) for t in options) + 2 * CELL_PAD


# ---------------------------------------------------------------------------------------------
# SVG
# ---------------------------------------------------------------------------------------------

# Every rule is scoped to .tg-graph: Jupyter puts the SVG inline in the notebook's page, where
# a bare `text { ... }` would restyle every other SVG (plots included).
SVG_STYLE = """
  .tg-graph .tg-record rect { fill: #ffffff; stroke: #44475a; stroke-width: 1.2; }
  .tg-graph .tg-record line { stroke: #44475a; stroke-width: 1; }
  .tg-graph .tg-label { font-weight: bold; }
  .tg-graph .tg-hidden rect { fill: #f4f4f4; stroke-dasharray: 4 3; }
  .tg-graph .tg-op ellipse { fill: #eef3ff; stroke: #4a6fd4; stroke-width: 1.2; }
  .tg-graph .tg-edge { fill: none; stroke: #7a7f8e; stroke-width: 1.2; marker-end: url(#tg-arrow); }
  .tg-graph text { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px;
                   dominant-baseline: central; text-anchor: middle; fill: #1d1f27; }
  .tg-graph .tg-note { text-anchor: start; fill: #8a4b00; }
"""


def render_svg(lay: Layout, node_id=lambda i: f"n{i}") -> str:
    """The SVG text of a layout. Every record is a ``<g id=...>`` and every cell text a
    ``<text id="...-cK">``, so a page can find them and change what they say."""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="tg-graph" width="{lay.width:.0f}" '
        f'height="{lay.height:.0f}" viewBox="0 0 {lay.width:.0f} {lay.height:.0f}">',
        "<defs>",
        # userSpaceOnUse: arrowheads keep their size when a page thickens a highlighted edge
        '<marker id="tg-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
        'markerHeight="8" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#7a7f8e"/></marker>',
        f"<style>{SVG_STYLE}</style>",
        "</defs>",
    ]
    if lay.note:
        out.append(
            f'<text class="tg-note" x="{MARGIN}" y="{MARGIN + FONT_SIZE / 2}">'
            f"{escape(lay.note)}</text>"
        )
    boxes = lay.boxes
    mid = RECORD_HEIGHT / 2

    def gid(i):
        return "hidden" if i == -1 else node_id(i)

    for i, box in boxes.items():  # edges first, so boxes are drawn over their ends
        if not box.args:
            continue
        cx, cy, r = box.x - GAP - box.op_radius, box.y + mid, box.op_radius
        # Every edge bends only in the empty strips between layers: straight along its row to
        # the end of its layer, an S-curve across the strip, straight along the next row.
        for j in box.args:
            arg = boxes[j]
            x, y = arg.lane[1], arg.y + mid
            d = f"M{arg.x + arg.width:.1f},{y:.1f} L{x:.1f},{y:.1f}"
            for left, right, y_pass in lay.waypoints.get((j, i), []):
                d += _curve(x, y, left, y_pass) + f" L{right:.1f},{y_pass:.1f}"
                x, y = right, y_pass
            d += _curve(x, y, box.lane[0], cy) + f" L{cx - r:.1f},{cy:.1f}"
            out.append(f'<path class="tg-edge" data-from="{gid(j)}" data-to="{gid(i)}" d="{d}"/>')
        out.append(
            f'<path class="tg-edge" data-from="{node_id(i)}-op" data-to="{node_id(i)}" '
            f'd="M{cx + r:.1f},{cy:.1f} L{box.x:.1f},{cy:.1f}"/>'
        )
    for i, box in boxes.items():
        if box.symbol:
            cx, cy, r = box.x - GAP - box.op_radius, box.y + mid, box.op_radius
            out.append(
                f'<g class="tg-op" id="{gid(i)}-op"><ellipse cx="{cx:.1f}" cy="{cy:.1f}" '
                f'rx="{r:.1f}" ry="{OP_RADIUS_MIN}"/><text x="{cx:.1f}" y="{cy:.1f}">'
                f"{escape(box.symbol)}</text></g>"
            )
        kind = "tg-record tg-hidden" if i == -1 else "tg-record"
        out.append(f'<g class="{kind}" id="{gid(i)}">')
        out.append(
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
            f'height="{RECORD_HEIGHT}" rx="3"/>'
        )
        x = box.x
        for k, (text, w) in enumerate(zip(box.cells, box.cell_widths)):
            if k:
                out.append(
                    f'<line x1="{x:.1f}" y1="{box.y:.1f}" x2="{x:.1f}" '
                    f'y2="{box.y + RECORD_HEIGHT:.1f}"/>'
                )
            css = ' class="tg-label"' if k == 0 and i != -1 else ""
            out.append(
                f'<text id="{gid(i)}-c{k}"{css} x="{x + w / 2:.1f}" y="{box.y + mid:.1f}">'
                f"{escape(text)}</text>"
            )
            x += w
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _curve(x1, y1, x2, y2) -> str:
    """An S-shaped cubic from (x1, y1) to (x2, y2), leaving and arriving horizontally."""
    bend = (x2 - x1) / 2
    return f" C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"


def record_cells(node: Value) -> list[str]:
    """What a Value's record shows: its label, its data, its grad."""
    return [node.label, f"data {format_number(node.data)}", f"grad {format_number(node.grad)}"]


def to_svg(*roots: Value, max_nodes: int = MAX_NODES, engine: str = "python") -> str:
    """The graph of `roots` drawn as SVG text, micrograd-notebook style, left to right.

    ``engine="python"`` (the default) lays it out here, in pure Python, with no Graphviz: the
    same picture on every machine. ``engine="dot"`` asks Graphviz's ``dot`` program to lay out
    to_dot's text instead (it minimises edge crossings harder, which helps on big tangled
    graphs), and ``engine="auto"`` uses dot when it is installed and Python otherwise.
    """
    if engine not in ("python", "dot", "auto"):
        raise ValueError(f"to_svg(engine={engine!r}): choose 'python', 'dot' or 'auto'")
    graph = _graph_of(roots, "to_svg")
    if engine != "python":
        dot = _shutil.which("dot")
        if dot:
            return _svg_by_graphviz(dot, to_dot(*roots, max_nodes=max_nodes))
        if engine == "dot":
            raise RuntimeError(
                "to_svg(engine='dot') needs Graphviz's `dot` program, which is not on PATH; "
                "install Graphviz (e.g. `apt-get install graphviz`), or use engine='python'"
            )
    shown = nodes_to_draw(graph, max_nodes)
    cells = {i: record_cells(graph.nodes[i]) for i in shown}
    return render_svg(layout(graph, shown, cells))


NOTEBOOK_NODES = 16  # a notebook's drawing: the nodes nearest the output, at a readable size
NOTEBOOK_WIDTH = 1100  # pixels; a wider drawing is scaled down to this, to 60% at the most


def notebook_svg(*roots: Value) -> str:
    """What Jupyter shows for a Value or a Graph: `to_svg` of at most NOTEBOOK_NODES nodes
    nearest the outputs (saying how many were left out), scaled to NOTEBOOK_WIDTH pixels if it
    is wider -- a 150-node drawing of a training loss would be some 3,000 pixels wide, its text
    unreadable once a notebook shrinks it to the cell."""
    svg = to_svg(*roots, max_nodes=NOTEBOOK_NODES)
    size = _re.match(r'<svg [^>]*?width="(\d+)" height="(\d+)"', svg)
    width, height = int(size.group(1)), int(size.group(2))
    scale = max(0.6, NOTEBOOK_WIDTH / width) if width > NOTEBOOK_WIDTH else 1.0
    if scale == 1.0:
        return svg
    sized = f'width="{width * scale:.0f}" height="{height * scale:.0f}"'
    return svg.replace(f'width="{width}" height="{height}"', sized, 1)  # the viewBox keeps all


def _svg_by_graphviz(dot: str, source: str) -> str:
    done = _subprocess.run(
        [dot, "-Tsvg"], input=source, capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"Graphviz's dot failed (exit {done.returncode}): {done.stderr.strip()}")
    svg = done.stdout
    return svg[svg.index("<svg") :]  # drop the XML prolog and doctype, as an inline SVG needs


def _graph_of(roots, caller: str) -> Graph:
    if not roots:
        raise TypeError(f"{caller}() needs at least one Value to draw, e.g. {caller}(loss)")
    for k, root in enumerate(roots):
        if isinstance(root, Graph):
            raise TypeError(
                f"{caller}(): argument {k} is a Graph; pass its outputs: "
                f"{caller}(*graph.outputs)"
            )
        if not isinstance(root, Value):
            raise TypeError(
                f"{caller}(): argument {k} is {root!r} ({type(root).__name__}), not a Value; "
                f"pass the Values to draw, e.g. {caller}(loss)"
            )
    return Graph(*roots)


__all__ = ["to_dot", "to_svg", "notebook_svg", "format_number", "op_symbol", "MAX_NODES",
           "NOTEBOOK_NODES", "NOTEBOOK_WIDTH"]
