"""Placeholders: leaf Values that stand for a batch's numbers while a training step is recorded.

    xs = placeholders(32, 64)       # 32 rows of 64 Values: a minibatch of digit images
    ts = placeholders(32, 10)       # and their one-hot targets
    loss = losses.softmax_cross_entropy([model(x) for x in xs], ts)

A placeholder is an ordinary leaf (its data 0.0 until a batch is fed), labelled by where it
sits -- ``x[3][17]`` -- so a drawing or an error names it. `compile_step` (compiled_step.py)
takes them as the step's feeds and writes each new batch into them with one array assignment.
This file needs no NumPy.
"""

from ..value import Value


def _count(name: str, n) -> int:
    if isinstance(n, bool) or not hasattr(n, "__index__") or n < 1:
        raise ValueError(f"placeholders: {name}={n!r} must be a whole number >= 1, e.g. "
                         "placeholders(32, 64) for a batch of 32 rows of 64 numbers")
    return int(n)


def placeholders(rows: int, cols: "int | None" = None, name: str = "x") -> list:
    """``rows`` lists of ``cols`` leaf Values (a batch of rows), or with ``cols`` left out one
    flat list of ``rows`` Values (one number per sample, such as a label)."""
    rows = _count("rows", rows)
    if cols is None:
        return [Value(0.0, label=f"{name}[{r}]") for r in range(rows)]
    cols = _count("cols", cols)
    return [[Value(0.0, label=f"{name}[{r}][{c}]") for c in range(cols)] for r in range(rows)]


__all__ = ["placeholders"]
