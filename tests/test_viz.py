"""tapegrad.viz: DOT text and the pure-Python SVG drawing, and the Jupyter hooks that use them.

The drawings are checked by parsing them back (regular expressions for DOT, an XML parser for
SVG) and comparing what they show with the graph built by hand: every node drawn once, every
edge drawn once and pointing left to right, the numbers the seed computes by hand (49, 28).
"""

from __future__ import annotations

import copy
import math
import random
import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from examples import seed_example
from tapegrad import Graph, Op, RULES, Value
from tapegrad import viz
from oracle import TAPEGRAD
from tapegrad.nn import MLP
from tapegrad.viz import format_number, nodes_to_draw, to_dot, to_svg

SVG = "{http://www.w3.org/2000/svg}"


# Every op, produced through the public API, with the symbol RULES gives it.
OP_MAKERS = {
    Op.ADD: lambda x: x + 1.5,
    Op.MUL: lambda x: x * 3,
    Op.POW: lambda x: x**3,
    Op.POWV: lambda x: x ** Value(1.5),
    Op.EXP: lambda x: x.exp(),
    Op.LOG: lambda x: x.log(),
    Op.TANH: lambda x: x.tanh(),
    Op.SIGMOID: lambda x: x.sigmoid(),
    Op.RELU: lambda x: x.relu(),
    Op.ABS: lambda x: abs(x),
    Op.SIN: lambda x: x.sin(),
    Op.COS: lambda x: x.cos(),
    Op.DOT: lambda x: Value.dot([x, Value(2.0)], [Value(0.5), x], Value(1.0)),
    Op.SLOPE: lambda x: TAPEGRAD.slope(x, 3),
}


def test_every_op_has_a_maker():
    assert set(OP_MAKERS) == set(RULES) - {Op.LEAF}


# ---------------------------------------------------------------------------------------------
# DOT
# ---------------------------------------------------------------------------------------------

DOT_RECORD = re.compile(r'^\s*n(\d+) \[label="\{ (.*?) \| data (\S+) \| grad (\S+) \}"\];$', re.M)
DOT_OP = re.compile(r'^\s*n(\d+)op \[shape=circle, label="(.*?)"\];$', re.M)
DOT_EDGE = re.compile(r"^\s*(\w+) -> (\w+)", re.M)


def test_dot_of_the_seed_shows_every_value_with_its_data_and_grad():
    x, u, f = seed_example(backward=True)
    dot = to_dot(f)
    assert dot.startswith("digraph") and "rankdir=LR" in dot
    records = {int(i): (label, float(d), float(g)) for i, label, d, g in DOT_RECORD.findall(dot)}
    # By hand: x = 2, the constant 2, 2x = 4, the constant 3, u = 7, f = 49;
    # df/df = 1, df/du = 2u = 14, and so on back to df/dx = 28.
    assert sorted(records.values()) == sorted(
        [("x", 2, 28), ("", 2, 28), ("", 4, 14), ("", 3, 14), ("u", 7, 14), ("f", 49, 1)]
    )
    ops = sorted(label for _, label in DOT_OP.findall(dot))
    assert ops == sorted(["*", "+", "**2"])


def test_dot_edges_are_the_graph_edges():
    x = Value(1.5, label="x")
    y = Value(-0.5, label="y")
    z = (x * y + x.tanh()) * x  # x used three times
    graph = Graph(z)
    dot = to_dot(z)
    edges = DOT_EDGE.findall(dot)
    expected = []
    for i, args in enumerate(graph.arg_indices):
        if args:
            expected.append((f"n{i}op", f"n{i}"))
            expected += [(f"n{j}", f"n{i}op") for j in args]
    assert sorted(edges) == sorted(expected)


@pytest.mark.parametrize("op", sorted(OP_MAKERS, key=lambda op: op.value))
def test_op_symbols_come_from_the_rule_table(op, monkeypatch):
    """Renaming an op's symbol in RULES renames it in both drawings: nothing is hard-coded."""
    node = OP_MAKERS[op](Value(0.7, label="x"))
    assert node.op is op
    renamed = copy.copy(RULES[op])
    renamed.symbol = f"my_{op.value}"
    monkeypatch.setitem(RULES, op, renamed)
    expected = f"my_{op.value}" + (f"{node.k:g}" if RULES[op].takes_constant else "")
    assert f'label="{expected}"' in to_dot(node)
    op_texts = [
        g.find(f"{SVG}text").text
        for g in ET.fromstring(to_svg(node)).iter(f"{SVG}g")
        if g.get("class") == "tg-op"
    ]
    assert op_texts.count(expected) == 1


def test_dot_escapes_record_syntax_in_labels():
    a = Value(1.0, label='a{b}|<c> "d"')
    dot = to_dot(a)
    assert r"a\{b\}\|\<c\> \"d\"" in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graphviz_accepts_the_dot_text_and_draws_every_node():
    x, u, f = seed_example(backward=True)
    svg = to_svg(f, engine="dot")
    root = ET.fromstring(svg)
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert {f"n{i}" for i in range(6)} <= set(titles)
    assert "data 49.0000" in svg and "grad 28.0000" in svg


def test_engine_dot_without_graphviz_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(viz._shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install graphviz.*engine='python'"):
        to_svg(Value(1.0), engine="dot")
    assert to_svg(Value(1.0), engine="auto").startswith("<svg")  # falls back to Python


# ---------------------------------------------------------------------------------------------
# SVG: the pure-Python layout
# ---------------------------------------------------------------------------------------------


def parse_svg(svg: str):
    """(records, ops, edges): records maps id -> (cell texts, rect), ops maps id -> (cx, rx),
    edges are (from id, to id, path d)."""
    root = ET.fromstring(svg)
    records, ops, edges = {}, {}, []
    for g in root.iter(f"{SVG}g"):
        cls = g.get("class", "")
        if "tg-record" in cls:
            rect = g.find(f"{SVG}rect")
            box = tuple(float(rect.get(k)) for k in ("x", "y", "width", "height"))
            texts = [t.text or "" for t in g.findall(f"{SVG}text")]
            records[g.get("id")] = (texts, box)
        elif cls == "tg-op":
            e = g.find(f"{SVG}ellipse")
            ops[g.get("id")] = (float(e.get("cx")), float(e.get("rx")), g.find(f"{SVG}text").text)
    for p in root.iter(f"{SVG}path"):
        if p.get("class") == "tg-edge":
            edges.append((p.get("data-from"), p.get("data-to"), p.get("d")))
    return root, records, ops, edges


def test_svg_of_the_seed_shows_the_hand_computed_numbers():
    x, u, f = seed_example(backward=True)
    _, records, ops, edges = parse_svg(to_svg(f))
    shown = sorted(tuple(texts) for texts, _ in records.values())
    assert shown == sorted(
        [
            ("x", "data 2.0000", "grad 28.0000"),
            ("", "data 2.0000", "grad 28.0000"),
            ("", "data 4.0000", "grad 14.0000"),
            ("", "data 3.0000", "grad 14.0000"),
            ("u", "data 7.0000", "grad 14.0000"),
            ("f", "data 49.0000", "grad 1.0000"),
        ]
    )
    assert sorted(text for _, _, text in ops.values()) == sorted(["*", "+", "**2"])
    assert len(edges) == 3 + 5  # one edge out of each op node, one per argument


def points_along(d: str, samples: int = 16):
    """Points along an SVG path made of M, L and C commands (absolute coordinates)."""
    tokens = re.findall(r"[MLC]|-?\d+\.?\d*", d)
    points, here, k = [], None, 0
    while k < len(tokens):
        cmd = tokens[k]
        if cmd in "ML":
            nxt = (float(tokens[k + 1]), float(tokens[k + 2]))
            if cmd == "L":
                points += [
                    (
                        here[0] + (nxt[0] - here[0]) * t / samples,
                        here[1] + (nxt[1] - here[1]) * t / samples,
                    )
                    for t in range(samples + 1)
                ]
            here, k = nxt, k + 3
        else:
            c = [float(v) for v in tokens[k + 1 : k + 7]]
            (x0, y0), (x1, y1), (x2, y2), (x3, y3) = here, c[0:2], c[2:4], c[4:6]
            for n in range(samples + 1):
                t = n / samples
                u = 1 - t
                points.append(
                    (
                        u**3 * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t**3 * x3,
                        u**3 * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t**3 * y3,
                    )
                )
            here, k = (x3, y3), k + 7
    return points


def y_of_op(svg: str, op_id: str) -> float:
    g = re.search(rf'id="{op_id}"><ellipse cx="[^"]+" cy="([^"]+)"', svg)
    return float(g.group(1))


def check_drawing(svg: str, graph: Graph):
    """Every node drawn once; every edge once, left to right, crossing no other node; no two
    records overlap; every record shows its node's label, data and grad."""
    _, records, ops, edges = parse_svg(svg)
    assert set(records) == {f"n{i}" for i in range(len(graph))}
    interior = [i for i, args in enumerate(graph.arg_indices) if args]
    assert set(ops) == {f"n{i}-op" for i in interior}
    expected = [(f"n{i}-op", f"n{i}") for i in interior]
    expected += [(f"n{j}", f"n{i}") for i in interior for j in graph.arg_indices[i]]
    assert sorted((a, b) for a, b, _ in edges) == sorted(expected)
    for a, b, d in edges:
        numbers = [float(v) for v in re.findall(r"-?\d+\.?\d*", d)]
        assert numbers[0] < numbers[-2], f"edge {a} -> {b} runs right to left: {d}"
    for i in interior:  # each op node sits between its arguments and its result
        cx, rx, _ = ops[f"n{i}-op"]
        x0 = records[f"n{i}"][1][0]
        assert cx + rx < x0
        for j in graph.arg_indices[i]:
            ax, _, aw, _ = records[f"n{j}"][1]
            assert ax + aw < cx - rx
    for a, b, d in edges:
        for px, py in points_along(d):
            for rid, (_, (x, y, w, h)) in records.items():
                if rid != a:
                    inside = x + 1 < px < x + w - 1 and y + 1 < py < y + h - 1
                    assert not inside, f"edge {a} -> {b} crosses record {rid} at {(px, py)}"
            for oid, (cx, rx, _) in ops.items():
                if oid not in (f"{b}-op", a):
                    inside = ((px - cx) / rx) ** 2 + ((py - (y_of_op(svg, oid))) / 14) ** 2 < 0.9
                    assert not inside, f"edge {a} -> {b} crosses op node {oid} at {(px, py)}"
    boxes = [box for _, box in records.values()]
    for k, (x1, y1, w1, h1) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[k + 1 :]:
            apart = x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1
            assert apart, f"records overlap: {(x1, y1, w1, h1)} and {(x2, y2, w2, h2)}"
    for i, node in enumerate(graph.nodes):
        texts = records[f"n{i}"][0]
        assert texts == [
            node.label,
            f"data {format_number(node.data)}",
            f"grad {format_number(node.grad)}",
        ]


def test_micrograd_notebook_neuron_draws_cleanly():
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    n = x1 * w1 + x2 * w2 + b
    o = n.tanh()
    o.backward()
    check_drawing(to_svg(o), Graph(o))
    # micrograd's notebook: o = tanh(n) = 0.7071, do/dn = 1 - o^2 = 0.5, do/dx1 = w1 * 0.5
    svg = to_svg(o)
    assert "data 0.7071" in svg and "grad 0.5000" in svg and "grad -1.5000" in svg


@st.composite
def random_dags(draw):
    """Random expression DAGs over a few inputs, reusing earlier nodes (a node feeding several
    later ones), with every op in the table."""
    nodes = [
        Value(draw(st.floats(0.2, 2.0)), label=f"x{k}") for k in range(draw(st.integers(1, 3)))
    ]
    for _ in range(draw(st.integers(1, 14))):
        op = draw(st.sampled_from(sorted(OP_MAKERS, key=lambda op: op.value)))
        a = draw(st.sampled_from(nodes))
        if op in (Op.ADD, Op.MUL) and draw(st.booleans()):
            b = draw(st.sampled_from(nodes))
            node = a + b if op is Op.ADD else a * b
        elif op in (Op.LOG, Op.POWV):
            node = OP_MAKERS[op](a * a + 1.0)  # keep the domain valid
        else:
            node = OP_MAKERS[op](a.tanh() if op is Op.EXP else a)
        nodes.append(node)
    return nodes[-1]


@settings(max_examples=40, deadline=None)
@given(random_dags())
def test_random_dags_draw_every_node_and_edge_left_to_right(out):
    out.backward()
    check_drawing(to_svg(out), Graph(out))


def test_several_roots_draw_one_graph():
    x = Value(0.5, label="x")
    a, b = x.sin(), x.cos()
    g = Graph(a, b)
    check_drawing(to_svg(a, b), g)
    assert len(DOT_RECORD.findall(to_dot(a, b))) == len(g)


def test_svg_styles_apply_to_the_drawing_only():
    """Jupyter inlines the SVG in the notebook page: every CSS rule must be scoped to it."""
    style = ET.fromstring(to_svg(Value(1.0))).find(f"{SVG}defs/{SVG}style").text
    selectors = [rule.split("{")[0].strip() for rule in style.split("}") if "{" in rule]
    assert selectors and all(sel.startswith(".tg-graph ") for sel in selectors), selectors


def test_labels_are_escaped_in_svg():
    v = Value(1.0, label="<b>&amp;</b>") * 2
    root, records, _, _ = parse_svg(to_svg(v))
    assert "<b>&amp;</b>" in [texts[0] for texts, _ in records.values()]


def test_large_graphs_are_truncated_with_a_visible_note():
    x = Value(1.0, label="x")
    y = x
    for _ in range(500):
        y = (y * 1.001).tanh()
    g = Graph(y)  # 1 + 500 * 3 nodes
    svg = to_svg(y, max_nodes=40)
    root, records, ops, edges = parse_svg(svg)
    hidden = len(g) - 40
    assert len(records) == 40 + 1  # the 40 nodes nearest the output and the "more nodes" box
    assert records["hidden"][0] == [f"{hidden} more nodes"]
    notes = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "tg-note"]
    assert notes == [
        f"showing the 40 nodes nearest the output; {hidden} earlier nodes are not drawn"
    ]
    assert f"n{len(g) - 1}" in records  # the output is always drawn
    assert any(a == "hidden" for a, _, _ in edges)
    dot = to_dot(y, max_nodes=40)
    assert len(DOT_RECORD.findall(dot)) == 40 and f"{hidden} earlier nodes are not drawn" in dot


def test_default_drawing_of_a_deep_chain_needs_no_recursion():
    x = Value(0.1)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    svg = to_svg(y)  # default max_nodes
    drawn = svg.count('class="tg-record"')
    assert viz.MAX_NODES / 2 <= drawn <= viz.MAX_NODES
    assert f"{200_001 - drawn} earlier nodes are not drawn" in svg


def test_truncation_keeps_whole_rings_around_the_output():
    """A large MLP is cut between layers: the drawn nodes are exactly those within some
    number of steps of the output."""
    random.seed(0)
    model = MLP(2, [16, 16, 1])
    score = model([Value(0.5), Value(-1.0)])
    g = Graph(score)
    drawn = nodes_to_draw(g, 60)
    distance = steps_to_output(g)
    reach = max(distance[i] for i in drawn)
    assert drawn == [i for i in range(len(g)) if distance[i] <= reach]
    assert 30 <= len(drawn) <= 60


def test_a_single_huge_ring_is_split_to_fill_the_drawing():
    xs = [Value(float(k)) for k in range(500)]
    total = Value.dot(xs[:250], xs[250:], Value(0.0))  # one node with 501 arguments
    drawn = nodes_to_draw(Graph(total), 100)
    assert len(drawn) == 100 and drawn[-1] == len(Graph(total)) - 1


def steps_to_output(g):
    """Breadth-first distance of every node from the output, computed independently."""
    distance = {g.index[g.outputs[0]]: 0}
    frontier = [g.index[g.outputs[0]]]
    while frontier:
        nxt = []
        for i in frontier:
            for j in g.arg_indices[i]:
                if j not in distance:
                    distance[j] = distance[i] + 1
                    nxt.append(j)
        frontier = nxt
    return distance


def test_max_nodes_must_be_positive():
    with pytest.raises(ValueError, match="max_nodes=0"):
        to_svg(Value(1.0), max_nodes=0)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: to_svg(), TypeError, r"to_svg\(\) needs at least one Value"),
        (lambda: to_dot(3.0), TypeError, r"argument 0 is 3.0 \(float\), not a Value"),
        (lambda: to_svg(Graph(Value(1.0) * 2)), TypeError, r"to_svg\(\*graph.outputs\)"),
        (lambda: to_svg(Value(1.0), engine="neato"), ValueError, r"engine='neato'.*'python'"),
    ],
)
def test_misuse_says_what_to_do(call, error, words):
    with pytest.raises(error, match=words):
        call()


@pytest.mark.parametrize(
    "x, shown",
    [
        (0.0, "0.0000"),
        (49.0, "49.0000"),
        (-1.5, "-1.5000"),
        (0.70710678, "0.7071"),
        (1e-7, "1e-07"),
        (123456789.0, "1.235e+08"),
        (math.inf, "inf"),
        (math.nan, "nan"),
    ],
)
def test_number_format(x, shown):
    assert format_number(x) == shown


# ---------------------------------------------------------------------------------------------
# Jupyter
# ---------------------------------------------------------------------------------------------


def test_jupyter_hooks_draw_while_repr_stays_micrograds():
    from tapegrad.viz import notebook_svg

    x, u, f = seed_example(backward=True)
    assert f._repr_svg_() == notebook_svg(f)
    g = Graph(f)
    assert g._repr_svg_() == notebook_svg(f)
    size = re.compile(r' width="\d+" height="\d+"')  # the seed's own drawing, maybe scaled
    assert size.sub("", notebook_svg(f), 1) == size.sub("", to_svg(f), 1)
    assert repr(f) == "Value(data=49.0, grad=1.0)"
    assert repr(g) == "<Graph of 6 nodes, 1 output(s)>"


def test_ipython_displays_values_and_graphs_as_svg():
    formatters = pytest.importorskip("IPython.core.formatters")
    x, u, f = seed_example(backward=True)
    fmt = formatters.DisplayFormatter()
    for obj in (f, Graph(f)):
        data, _ = fmt.format(obj)
        assert data["image/svg+xml"].startswith("<svg")
        assert "data 49.0000" in data["image/svg+xml"]
    assert fmt.format(f)[0]["text/plain"] == "Value(data=49.0, grad=1.0)"


def test_jupyter_draws_a_large_graph_near_its_output_at_a_readable_size():
    """A training loss over 100 points: a 150-node drawing is thousands of pixels wide; the
    notebook's drawing keeps the nodes nearest the loss, at most 1,100 pixels wide."""
    import random
    import re

    from tapegrad import datasets, losses
    from tapegrad.nn import MLP
    from tapegrad.viz import NOTEBOOK_NODES, NOTEBOOK_WIDTH

    random.seed(1)
    X, y = datasets.moons(100, 0.1, 1)
    model = MLP(2, [16, 16, 1])
    loss = losses.hinge([model(list(map(Value, row))) for row in X], [2 * c - 1 for c in y])
    size = re.compile(r'<svg [^>]*?width="(\d+)" height="(\d+)" viewBox="0 0 (\d+) (\d+)"')
    full = [int(v) for v in size.match(to_svg(loss)).groups()]
    shown = [int(v) for v in size.match(loss._repr_svg_()).groups()]
    assert full[0] > 2 * NOTEBOOK_WIDTH  # what it used to show
    assert shown[0] <= NOTEBOOK_WIDTH and shown[0] >= 0.6 * shown[2] - 1  # its text still legible
    assert loss._repr_svg_().count('class="tg-record"') <= NOTEBOOK_NODES
    assert "more nodes" in loss._repr_svg_() or "not drawn" in loss._repr_svg_()
