"""Backends: other interpreters of a recorded Graph.

- ``numpy``: ``Graph(loss, backend="numpy")`` compiles the Graph into a `NumpyExecutor` whose
  forward() and backward() run each (level, op) group of nodes as one vectorised NumPy call
  (numpy.py). Its leaves then keep their data and grad in NumPy arrays (leaf_store.py), so an
  optimizer updates all parameters at once.

Importing this package registers the backends with tapegrad.graph (``BACKENDS``) without
importing NumPy: that happens when a NumPy graph is first compiled.
"""

from ..graph import BACKENDS
from .leaf_store import ParamBlock, StoredLeaf, param_block


def compile_graph(graph):
    """A NumpyExecutor for `graph` (needs NumPy: ``pip install numpy``)."""
    from .numpy import compile_graph as compile_for_numpy

    return compile_for_numpy(graph)


BACKENDS["numpy"] = compile_graph

__all__ = ["compile_graph", "param_block", "ParamBlock", "StoredLeaf"]
