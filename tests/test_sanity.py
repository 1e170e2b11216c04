"""The seed's sanity check, f = (2x + 3)^2 at x = 2, by every route the README shows."""

from tapegrad import Graph, Value, jvp


def test_reverse_mode():
    x = Value(2.0)
    u = 2 * x + 3
    f = u**2
    f.backward()
    assert (u.data, f.data, x.grad) == (7.0, 49.0, 28.0)


def test_forward_mode():
    assert jvp(lambda x: (2.0 * x + 3.0) ** 2, (2.0,), (1.0,)) == (49.0, 28.0)


def test_replay():
    x = Value(2.0)
    f = (2 * x + 3) ** 2
    g = Graph(f)
    g.backward()
    x.data, x.grad = 3.0, 0.0
    g.forward()
    g.backward()
    assert (f.data, x.grad) == (81.0, 36.0)


def test_second_backward_does_not_double_count():
    x = Value(1.0)
    y = x * 2
    z = y * 3
    z.backward()
    z.backward()
    assert (x.grad, y.grad) == (12.0, 3.0)
