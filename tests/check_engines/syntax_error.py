"""A learner's engine that does not parse: a syntax error on line 17.

Bug: `def backward(self)` lacks its colon, so Python cannot even compile the file; `tapegrad check`
exits with status 2 and says where (line 17). Fix: `def backward(self) -> None:`.
"""


class Value:
    """The start of a scalar class, cut short by the error below."""

    def __init__(self, data: float) -> None:
        self.data = float(data)
        self.grad = 0.0
        self._prev = ()

    # BUG: the colon at the end of the next line is missing
    def backward(self) -> None
        self.grad = 1.0
