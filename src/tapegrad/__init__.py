"""tapegrad: a tiny, fast autograd engine whose graph is an array of nodes tagged with Ops.

    from tapegrad import Value
    x = Value(2.0)
    f = (2 * x + 3) ** 2
    f.backward()            # f.data == 49.0, x.grad == 28.0
"""

from .ops import RULES, Op
from .value import Value
from .graph import Graph
from .transforms import grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp
from .gradcheck import GradcheckError, gradcheck
from . import backends as _backends  # registers Graph(..., backend="numpy")
from . import memory as _memory  # registers the watch for graphs kept alive by mistake


def _repr_svg_(self) -> str:
    """Jupyter shows a Value or a Graph as a drawing of its graph (the nodes nearest the output,
    at a readable size: viz.notebook_svg); repr stays text."""
    from .viz import notebook_svg

    if isinstance(self, Graph):
        self.publish()
        return notebook_svg(*self.outputs)
    return notebook_svg(self)


# The drawing hooks, attached here: the engine never imports the tools that draw it.
Value._repr_svg_ = Graph._repr_svg_ = _repr_svg_

__version__ = "0.1.0"
__all__ = [
    "Value", "Op", "RULES", "Graph",
    "grad", "value_and_grad", "vjp", "jvp", "hvp", "jacobian", "hessian",
    "gradcheck", "GradcheckError",
]
