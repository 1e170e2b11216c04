"""Backends: other interpreters of a recorded Graph.

- ``numpy``: `compile_graph(graph)` turns a Graph into a `NumpyExecutor` whose forward() and
  backward() run each (level, op) group of nodes as one vectorised NumPy call (numpy.py). Its
  leaves then keep their data and grad in NumPy arrays (leaf_store.py), so an optimizer updates
  all parameters at once through `param_block(params)`.

This package imports NumPy only when a NumPy graph is compiled: ``param_block`` and
``StoredLeaf`` are plain Python, cheap to call from an optimizer on every step.
"""

from __future__ import annotations

from .leaf_store import ParamBlock, StoredLeaf, param_block


def compile_graph(graph):
    """A NumpyExecutor for `graph` (needs NumPy: ``pip install numpy``)."""
    from .numpy import compile_graph as compile_for_numpy

    return compile_for_numpy(graph)


__all__ = ["compile_graph", "param_block", "ParamBlock", "StoredLeaf"]
