"""A learner's file with no class named Value, and a class without backward().

Bug: the scalar class is called `Scalar`, so `tapegrad check no_class.py` (which looks for
`Value`) exits with status 2 saying there is no class Value; and `Scalar` has data and grad but
no backward(), so `tapegrad check no_class.py --class Scalar` exits with status 2 too, saying so.

Fix: name the class with `--class Scalar`, and give it a backward() (see correct.py).
"""


class Scalar:
    """A number and its gradient, with addition, but no reverse mode yet."""

    def __init__(self, data: float) -> None:
        self.data = float(data)
        self.grad = 0.0

    def __add__(self, other: "Scalar") -> "Scalar":
        return Scalar(self.data + other.data)
