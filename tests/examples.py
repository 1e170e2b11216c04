"""Graphs several test files draw and step through."""

from tapegrad import Value


def seed_example(backward: bool = False):
    """The seed's sanity check, f = (2x + 3)^2 at x = 2, labelled x, u, f; back-propagated when
    asked. Returns (x, u, f)."""
    x = Value(2.0, label="x")
    u = 2 * x + 3
    u.label = "u"
    f = u**2
    f.label = "f"
    if backward:
        f.backward()
    return x, u, f
