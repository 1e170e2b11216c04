"""The ``tapegrad`` command line."""

from __future__ import annotations

import argparse

from .graph import Graph
from .transforms import jvp
from .value import Value


def sanity_check() -> str:
    """The seed's sanity check, f = (2x + 3)^2 at x = 2, by reverse mode, forward mode and replay."""
    x = Value(2.0, label="x")
    u = 2 * x + 3
    u.label = "u"
    f = u**2
    f.label = "f"
    graph = Graph(f)
    graph.backward()
    lines = [
        "f(x) = (2x + 3)^2 at x = 2",
        "",
        str(graph),
        "",
        f"reverse mode:  u = {u.data:g}, f = {f.data:g}, df/dx = {x.grad:g}",
    ]
    value, tangent = jvp(lambda x: (2.0 * x + 3.0) ** 2, (2.0,), (1.0,))
    lines.append(f"forward mode:  f = {value:g}, df/dx = {tangent:g}")
    x.data, x.grad = 3.0, 0.0
    graph.forward()
    graph.backward()
    lines.append(f"replay at x=3: f = {f.data:g}, df/dx = {x.grad:g}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tapegrad", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("sanity", help="the seed's sanity check, f = (2x+3)^2 at x = 2")
    args = parser.parse_args(argv)
    if args.command in (None, "sanity"):
        print(sanity_check())
    return 0
