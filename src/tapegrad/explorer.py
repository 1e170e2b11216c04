"""The explorer: one self-contained HTML page that steps through a graph's forward pass, its
backward pass and forward mode, node by node.

    html = explorer_html(f, {"x": x})          # f a Value computed from the Value x
    Path("f.html").write_text(html)            # open it in any browser: no network needed

Everything shown is computed here, in Python, from the Graph, and embedded in the page as JSON;
the page's JavaScript only reveals it a step at a time. Three walks over the same array:

- forward pass, in array order: node i's value from its arguments, y = op(x_1, ..., x_n);
- backward pass, in reverse array order: each node's gradient by the chain rule, a sum over the
  nodes that use it of upstream gradient × local derivative,
      df/dv = Σ_{u uses v}  df/du · ∂u/∂v        (Graph.vjp, with ∂u/∂v from local_partials);
- forward mode, once per input x, in array order: each node's tangent dv/dx,
      dv/dx = Σ_{args a of v}  ∂v/∂a · da/dx      (Graph.jvp).

Because every node comes after its arguments, when the backward walk reaches a node every use of
it has already been visited, so its gradient is complete: that is why one reverse sweep suffices.
"""

import json as _json
import math as _math
import re as _re
from importlib import resources as _resources

from .explain import local_partials, node_rules
from .graph import Graph
from .symbolic import rule_line
from .ops import RULES
from .value import Value
from .viz import format_number, layout, render_svg

MAX_NODES = 200  # a page for stepping through by hand; bigger graphs belong in to_svg
TEMPLATE = "explorer_page.tmpl"  # a hand-written HTML page with one slot for the data


def number(x: float) -> str:
    """An operand in an equation: up to 6 significant digits, negatives in parentheses (so
    that 14 × (-2) reads clearly). Results are written plainly."""
    text = f"{x:.6g}"
    return f"({text})" if text.startswith("-") else text


def _is_identifier(name: str) -> bool:
    """x, v2, L1.N3.w2: a name that reads as one symbol after d or ∂."""
    return name.replace("_", "a").replace(".", "a").isalnum() and not name[0].isdigit()


def explorer_html(
    output: Value, inputs: "dict[str, Value] | None" = None, *, title: str = "",
    max_nodes: int = MAX_NODES
) -> str:
    """One HTML page (inline SVG, CSS and JavaScript, nothing fetched) that lets a learner step
    through the graph of `output`: the forward pass, the backward pass with each gradient's
    chain-rule product, and forward mode for each of the named `inputs`.

    `inputs` maps the names the learner uses ("x") to the input Values; left out, the inputs
    are the leaves that have labels, by their labels. Nodes are named by `inputs`, else by their
    label, else ``v<index>`` (constants by their number). Constants get no step of their own,
    as in ``explain``. Each chain-rule step shows the local derivatives it multiplies as their
    rules, then with the numbers in (``∂f/∂u = 2u = 2 × 7 = 14``). Keys: → / ←
    step, Home / End jump, f forward pass, b backward pass, 1-9 forward mode for each input.
    """
    if not isinstance(output, Value):
        raise TypeError(
            f"explorer_html(): output is {output!r} ({type(output).__name__}), not a Value; "
            "pass the Value your expression computed, e.g. explorer_html(f, {'x': x})"
        )
    if inputs is None:
        inputs = _labelled_leaves(output)
    if not isinstance(inputs, dict):
        raise TypeError(
            f"explorer_html(): inputs is {type(inputs).__name__}; pass a dict from names to "
            "input Values, e.g. {'x': x}"
        )
    for name, value in inputs.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"explorer_html(): input name {name!r} must be a non-empty string")
        if not isinstance(value, Value):
            raise TypeError(
                f"explorer_html(): inputs[{name!r}] is {value!r} ({type(value).__name__}), "
                "not a Value; pass the Value the expression was computed from"
            )
    graph = Graph(output)
    if len(graph) > max_nodes:
        raise ValueError(
            f"explorer_html(): the graph has {len(graph)} nodes, more than max_nodes={max_nodes} "
            "that a page can usefully step through by hand; explore a smaller expression, pass a "
            "larger max_nodes, or draw it with tapegrad.viz.to_svg (which truncates)"
        )
    names = _names(graph, inputs)
    out_name = names[graph.index[output]]
    modes = {"forward": _forward_walk(graph, names, output, inputs)}
    modes["backward"] = _backward_walk(graph, names, output, inputs)
    for name, x in inputs.items():
        modes[f"jvp:{name}"] = _tangent_walk(graph, names, output, inputs, name)

    cells = {}
    for i, node in enumerate(graph.nodes):
        label = "" if _is_constant(node, inputs) else names[i]
        third = [f"grad {format_number(modes['backward']['values'][i])}", "grad ?"]
        for name in inputs:
            third.append(f"d/d{name} {format_number(modes[f'jvp:{name}']['values'][i])}")
            third.append(f"d/d{name} ?")
        cells[i] = [label, [f"data {format_number(node.data)}", "data ?"], third]
    svg = render_svg(layout(graph, list(range(len(graph))), cells))
    data = {
        "output": out_name,
        "inputs": list(inputs),
        "nodes": [
            {"id": f"n{i}", "data": f"data {format_number(node.data)}"}
            for i, node in enumerate(graph.nodes)
        ],
        "modes": modes,
    }
    page = _resources.files("tapegrad").joinpath(TEMPLATE).read_text(encoding="utf-8")
    title = title or f"{out_name}: forward, backward and forward mode"
    # Strict JSON (JavaScript has no NaN or Infinity literals), and no "</" inside <script>,
    # or the browser would end the script there.
    payload = _json.dumps(_json_safe(data), ensure_ascii=False, allow_nan=False)
    fill = {"TITLE": _html_escape(title), "SVG": svg, "DATA": payload.replace("</", "<\\/")}
    # One pass, so a label that happens to read {{DATA}} is never filled in itself.
    return _re.sub(r"\{\{(TITLE|SVG|DATA)\}\}", lambda m: fill[m.group(1)], page)


def _labelled_leaves(output: Value) -> dict[str, Value]:
    """The leaves of `output`'s graph that have a label, by label, in the graph's order (the
    inputs when none are named); a label used twice keeps its first leaf."""
    found: dict[str, Value] = {}
    for node in Graph(output).nodes:
        if not node.args and node.label and node.label not in found:
            found[node.label] = node
    return found


def _json_safe(obj):
    """`obj` with every non-finite float written as a string ("inf", "-inf", "nan")."""
    if isinstance(obj, float) and not _math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _is_constant(node: Value, inputs: dict) -> bool:
    return not node.args and not node.label and all(node is not v for v in inputs.values())


def _names(graph: Graph, inputs: dict[str, Value]) -> list[str]:
    """What each node is called in the equations: the user's name for it, its label, its
    number for an unnamed constant, and v<index> for any other node."""
    by_node = {id(v): name for name, v in inputs.items()}
    names = []
    for i, node in enumerate(graph.nodes):
        if id(node) in by_node:
            names.append(by_node[id(node)])
        elif node.label:
            names.append(node.label)
        elif not node.args:
            names.append(number(node.data))
        else:
            names.append(f"v{i}")
    out = graph.index[graph.outputs[0]]
    if not graph.nodes[out].label and id(graph.nodes[out]) not in by_node and "f" not in names:
        names[out] = "f"  # the name the seed and the equations use for the function
    return names


def _d(name: str) -> str:
    """How a variable appears after d or ∂: dx, but d(2) and d(x1*w1)."""
    if _is_identifier(name) or (name.startswith("(") and name.endswith(")")):
        return name
    return f"({name})"


def _formula(node: Value, args: list[str]) -> str:
    """The op applied to `args`, written the way its RULES symbol reads: infix for symbols like
    + and *, a function call for names like tanh, with the constant operand where there is one."""
    rule = RULES[node.op]
    symbol = rule.symbol
    if rule.takes_constant:
        return f"{args[0]} {symbol} {node.k:g}"
    if symbol[:1].isalpha() or len(args) != 2:
        return f"{symbol}({', '.join(args)})"
    return f"{args[0]} {symbol} {args[1]}"


def _node_rules(node: Value, names: list[str], graph: Graph, i: int) -> list:
    """Node i's local derivatives as (rule, rule with the numbers in), one per argument."""
    if not node.args:
        return []
    return node_rules(node, lambda v: names[graph.index[v]])


def _rule_lines(graph: Graph, names: list[str], written: list, edges: list) -> list[str]:
    """``∂u/∂v = <rule> = <numbers> = <value>`` for each (user u, argument v) edge, each once (a
    node used twice by one user, x * x, has one line per use it makes)."""
    lines: list[str] = []
    for i, j in edges:
        node = graph.nodes[i]
        for p, arg in enumerate(graph.arg_indices[i]):
            if arg != j:
                continue
            line = rule_line(_d(names[i]), _d(names[j]), written[i][p], local_partials(node)[p])
            if line not in lines:
                lines.append(line)
    return lines


def _forward_walk(graph: Graph, names: list[str], output: Value, inputs: dict) -> dict:
    steps = []
    for i, node in enumerate(graph.nodes):
        if not node.args:
            if _is_constant(node, inputs):
                continue  # a constant: shown in the drawing, no step (as in explain)
            else:
                kind = "an input" if any(node is v for v in inputs.values()) else "a leaf"
                text = f"{names[i]} = {node.data:.6g}   ({kind}: nothing to compute)"
        else:
            arg_names = [names[graph.index[a]] for a in node.args]
            arg_values = [number(a.data) for a in node.args]
            text = (
                f"{names[i]} = {_formula(node, arg_names)} = {_formula(node, arg_values)}"
                f" = {node.data:.6g}"
            )
        steps.append(
            {"node": i, "text": text, "cell": 1, "show": f"data {format_number(node.data)}"}
        )
    return {
        "title": "Forward pass",
        "about": "Values appear node by node, each computed from its arguments, in array order.",
        "steps": steps,
        "summary": [f"{names[graph.index[output]]} = {output.data:.6g}"],
        "values": [node.data for node in graph.nodes],
    }


def _backward_walk(graph: Graph, names, output: Value, inputs) -> dict:
    nodes, index = graph.nodes, graph.index
    uses: list[list[tuple[int, float]]] = [[] for _ in nodes]
    for i, node in enumerate(nodes):
        for j, partial in zip(graph.arg_indices[i], local_partials(node)):
            uses[j].append((i, partial))
    # The numbers are the engine's own reverse sweep (Graph.vjp, backward() without side
    # effects); the page writes each as the sum of its products. A node that sweep did not
    # reach (behind a zero gradient) has gradient 0, and still gets its step.
    grads = [0.0 if g is None else g for g in graph.vjp({output: 1.0})]
    f = names[index[output]]
    steps = []
    written = [_node_rules(node, names, graph, i) for i, node in enumerate(nodes)]
    for j in range(len(nodes) - 1, -1, -1):
        g = grads[j]
        if g is None or _is_constant(nodes[j], inputs):
            continue
        rules: list[str] = []
        v = _d(names[j])
        if nodes[j] is output:
            text = f"d{f}/d{v} = 1   (the output: its gradient with respect to itself)"
        else:
            symbolic = " + ".join(
                f"d{f}/d{_d(names[i])} × ∂{_d(names[i])}/∂{v}" for i, _ in uses[j]
            )
            numeric = " + ".join(f"{number(grads[i])} × {number(p)}" for i, p in uses[j])
            text = f"d{f}/d{v} = {symbolic} = {numeric} = {g:.6g}"
            rules = _rule_lines(graph, names, written, [(i, j) for i, _ in uses[j]])
        steps.append({"node": j, "text": text, "rules": rules, "cell": 2,
                      "show": f"grad {format_number(g)}"})
    values = [0.0 if g is None else g for g in grads]
    summary = [
        f"d{f}/d{_d(name)} = {values[index[x]] if x in index else 0.0:.6g}"
        for name, x in inputs.items()
    ]
    return {
        "title": "Backward pass",
        "about": (
            "Gradients appear node by node, from the output back to the inputs: each is a sum, over "
            "the nodes that use it, of upstream gradient × local derivative (the chain rule)."
        ),
        "steps": steps,
        "summary": summary,
        "values": values,
    }


def _tangent_walk(graph: Graph, names, output: Value, inputs: dict, name: str) -> dict:
    x = inputs[name]
    tangents = graph.jvp({x: 1.0})
    nodes, arg_indices = graph.nodes, graph.arg_indices
    steps = []
    wrt = _d(name)
    written = [_node_rules(node, names, graph, i) for i, node in enumerate(nodes)]
    for i, node in enumerate(nodes):
        t = tangents[i]
        v = _d(names[i])
        rules: list[str] = []
        if _is_constant(node, inputs):
            continue
        if node is x:
            text = f"d{v}/d{wrt} = 1   (the seed: a nudge of 1 enters at {name})"
        elif t is None:
            if node.args:
                why = f"nothing it uses depends on {name}"
            else:
                why = "a constant" if _is_constant(node, inputs) else "another input, held fixed"
            text = f"d{v}/d{wrt} = 0   ({why})"
        else:
            moving = [
                (j, p)
                for j, p in zip(arg_indices[i], local_partials(node))
                if tangents[j] is not None
            ]
            symbolic = " + ".join(
                f"∂{v}/∂{_d(names[j])} × d{_d(names[j])}/d{wrt}" for j, _ in moving
            )
            numeric = " + ".join(f"{number(p)} × {number(tangents[j])}" for j, p in moving)
            text = f"d{v}/d{wrt} = {symbolic} = {numeric} = {t:.6g}"
            rules = _rule_lines(graph, names, written, [(i, j) for j, _ in moving])
        value = 0.0 if t is None else t
        steps.append({"node": i, "text": text, "rules": rules, "cell": 2,
                      "show": f"d/d{name} {format_number(value)}"})
    out_t = tangents[graph.index[output]]
    out_name = names[graph.index[output]]
    return {
        "title": f"Forward mode, d/d{name}",
        "about": (
            f"Tangents d(node)/d{name} appear node by node in array order: one forward sweep "
            f"gives the derivative of every node with respect to {name} (and only {name})."
        ),
        "steps": steps,
        "summary": [f"d{_d(out_name)}/d{wrt} = {0.0 if out_t is None else out_t:.6g}"],
        "values": [0.0 if t is None else t for t in tangents],
    }


__all__ = ["explorer_html"]
