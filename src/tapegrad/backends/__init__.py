"""Backends: other interpreters of a recorded Graph.

- ``numpy``: ``Graph(loss, backend="numpy")`` compiles the Graph into a `NumpyExecutor` whose
  forward() and backward() run each (level, op) group of nodes as one vectorised NumPy call
  (numpy.py). Its leaves then keep their data and grad in NumPy arrays (leaf_store.py), so an
  optimizer updates all parameters at once.
- compiled steps: ``compile_step(loss, feeds=(xs, ys))`` compiles a training step recorded on
  `placeholders`, and ``step.run(X, Y)`` trains on each new batch (compiled_step.py).

Importing this package registers the backends with tapegrad.graph (``BACKENDS``) without
importing NumPy: that happens when a NumPy graph or step is first compiled.
"""

from ..graph import BACKENDS
from .leaf_store import ParamBlock, StoredLeaf, param_block


def compile_graph(graph):
    """A NumpyExecutor for `graph` (needs NumPy: ``pip install numpy``)."""
    from .numpy import compile_graph as compile_for_numpy

    return compile_for_numpy(graph)


def placeholders(rows, cols=None, name="x"):
    """``rows`` lists of ``cols`` leaf Values for a batch to be fed, or one flat list of ``rows``
    (feeds.py); loaded when first used, so ``import tapegrad`` stays cheap."""
    from .feeds import placeholders as make

    return make(rows, cols, name)


def compile_step(loss, feeds, params=None):
    """A CompiledStep: `loss` recorded on the placeholders `feeds`, compiled for NumPy; each
    ``step.run(*batches)`` trains on new batches (compiled_step.py; needs NumPy)."""
    from .compiled_step import compile_step as compile_for_numpy

    return compile_for_numpy(loss, feeds, params)


def _numpy_unless_narrow(graph):
    """What Graph(..., backend="numpy") runs on: a NumpyExecutor, or None (the python
    interpreters) for a deep, narrow graph, which they run faster (numpy.too_narrow)."""
    from .numpy import compile_unless_narrow

    return compile_unless_narrow(graph)


BACKENDS["numpy"] = _numpy_unless_narrow

__all__ = ["compile_graph", "compile_step", "placeholders", "param_block", "ParamBlock",
           "StoredLeaf"]
