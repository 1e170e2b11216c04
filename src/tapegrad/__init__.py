"""tapegrad: a tiny, fast autograd engine whose graph is an array of nodes tagged with Ops.

    from tapegrad import Value
    x = Value(2.0)
    f = (2 * x + 3) ** 2
    f.backward()            # f.data == 49.0, x.grad == 28.0
"""

from .value import Value  # first: value.py and record.py import each other
from .graph import Graph
from .ops import RULES, Op
from .transforms import grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp
from .gradcheck import GradcheckError, gradcheck

__version__ = "0.1.0"
__all__ = [
    "Value", "Op", "RULES", "Graph",
    "grad", "value_and_grad", "vjp", "jvp", "hvp", "jacobian", "hessian",
    "gradcheck", "GradcheckError",
]
