"""The pictures, read back from the Figures that drew them (matplotlib's Agg renderer, no
display): what each shows, not only that a file was written.

- decision boundaries: every painted cell is the model's class at the cell's centre (for three
  sectors by angle, no class 1 between sectors 0 and 2), the border lines lie on the true
  borders, the legend names the classes, the axes are x₁ and x₂; the demo's vectorised model
  paints what its one-point predictions give;
- training curves: steps 1..N as printed, the loss on a log axis when it spans two decades,
  symlog when it reaches 0;
- digits: mistakes among the digits shown whenever there are any, marked in red.
"""

import importlib.util
import io
import math
import random
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
needs_matplotlib = pytest.mark.skipif(not HAVE_MATPLOTLIB,
                                      reason="matplotlib is not installed (pip install matplotlib)")

if HAVE_MATPLOTLIB:
    import numpy as np
    from matplotlib.colors import to_hex

from tapegrad import demo, plots

DOCS_IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
TAU = 2 * math.pi


# ---------------------------------------------------------------------------------------------
# What a drawn boundary shows, read back from its Figure
# ---------------------------------------------------------------------------------------------


def painted_cells(fig):
    """The painted class of every cell (-1: left white) and the cells' centres, from the image."""
    image = fig.axes[0].images[0]
    painted = np.ma.filled(image.get_array(), -1).astype(int)
    x_lo, x_hi, y_lo, y_hi = image.get_extent()
    rows, columns = painted.shape
    c1 = x_lo + (x_hi - x_lo) * (np.arange(columns) + 0.5) / columns
    c2 = y_lo + (y_hi - y_lo) * (np.arange(rows) + 0.5) / rows
    return painted, c1, c2  # painted[j, i] is the cell centred at (c1[i], c2[j])


def boundary_vertices(fig):
    """Every vertex of the drawn border lines, as an (m, 2) array."""
    sets = [c for c in fig.axes[0].collections if type(c).__name__.endswith("ContourSet")]
    paths = [p for c in sets for p in c.get_paths() if len(p.vertices)]
    return np.concatenate([p.vertices for p in paths]) if paths else np.zeros((0, 2))


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def sector(x1, x2):
    """Three sectors of 120° by angle: 0 for [0°, 120°), 1 for [120°, 240°), 2 for the rest;
    the border between sectors 2 and 0 is the positive x1 axis."""
    return int(((math.atan2(x2, x1)) % TAU) // (TAU / 3))


def sector_scores(x1, x2):
    """Per class, cos(θ - θ_c), θ_c the middle of sector c: largest in sector c."""
    theta = np.arctan2(x2, x1)
    return [np.cos(theta - (c + 0.5) * TAU / 3) for c in range(3)]


def ring_of_points(n=60, seed=3):
    rng = random.Random(seed)
    X = []
    for _ in range(n):
        r, t = rng.uniform(0.3, 1.0), rng.uniform(0, TAU)
        X.append([r * math.cos(t), r * math.sin(t)])
    return X, [sector(*p) for p in X]


# ---------------------------------------------------------------------------------------------
# Decision boundaries
# ---------------------------------------------------------------------------------------------


@needs_matplotlib
def test_three_classes_paint_the_model_class_in_every_cell_and_no_strip_between_0_and_2():
    X, y = ring_of_points()
    fig = plots.decision_boundary(sector_scores, X, y)  # the demo's resolution
    painted, c1, c2 = painted_cells(fig)
    assert painted.shape == (300, 300)
    theta = np.arctan2(c2[:, None], c1[None, :]) % TAU
    assert (painted == theta // (TAU / 3)).all()
    for j, i in [(0, 0), (150, 299), (299, 140), (151, 200), (148, 200)]:
        assert painted[j, i] == sector(c1[i], c2[j])
    # The border between sectors 0 and 2 is the positive x1 axis: its neighbouring cells
    # (a contour of class numbers painted class 1 there) are 0 above and 2 below, never 1.
    near = np.abs(c2) < 3 * (c2[1] - c2[0])
    border = painted[near][:, c1 > 0.05]
    assert set(np.unique(border)) == {0, 2}


@needs_matplotlib
def test_three_classes_border_lines_lie_on_the_sector_borders():
    X, y = ring_of_points()
    fig = plots.decision_boundary(sector_scores, X, y, resolution=120)
    vertices = boundary_vertices(fig)
    assert len(vertices) > 100
    cell = (fig.axes[0].images[0].get_extent()[1] - fig.axes[0].images[0].get_extent()[0]) / 120
    # distance from each vertex to the nearest of the three border rays at 0°, 120°, 240°
    theta = np.arctan2(vertices[:, 1], vertices[:, 0])
    radius = np.hypot(vertices[:, 0], vertices[:, 1])
    off = np.min([np.abs(np.angle(np.exp(1j * (theta - b)))) for b in (0, TAU / 3, 2 * TAU / 3)],
                 axis=0)
    assert (radius * np.sin(np.minimum(off, math.pi / 2)) < cell).all()
    # every one of the three borders is drawn
    for b in (0, TAU / 3, 2 * TAU / 3):
        assert (np.abs(np.angle(np.exp(1j * (theta - b)))) < 0.05).sum() > 10


@needs_matplotlib
def test_boundary_axes_legend_and_colours_are_labelled():
    X, y = ring_of_points()
    fig = plots.decision_boundary(sector_scores, X, y, title="three sectors", resolution=40)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x₁", "x₂")
    assert ax.get_title() == "three sectors"
    assert legend_texts(ax) == ["class 0", "class 1", "class 2", "boundary"]
    # each class's region is painted in the colour of its markers (the legend's colour)
    image = ax.images[0]
    markers = [c for c in ax.collections if c.get_label().startswith("class ")]
    for c, scatter in enumerate(markers):
        assert to_hex(image.cmap(image.norm(c))) == to_hex(scatter.get_facecolor()[0])
        points = scatter.get_offsets()
        assert len(points) == y.count(c) and all(sector(*p) == c for p in points)
    # the picture covers all the data
    x_lo, x_hi, y_lo, y_hi = image.get_extent()
    assert x_lo < min(p[0] for p in X) and max(p[0] for p in X) < x_hi
    assert y_lo < min(p[1] for p in X) and max(p[1] for p in X) < y_hi
    assert (fig.get_size_inches() * fig.dpi < 800).all()  # a picture for a page or a slide


@needs_matplotlib
def test_two_classes_from_one_score_by_its_sign_and_the_line_at_zero():
    def wave(x1, x2):
        return x2 - np.sin(3 * x1)

    X = [[a / 10, b / 10] for a in range(-10, 11, 4) for b in range(-10, 11, 4)]
    y = [int(p[1] - math.sin(3 * p[0]) > 0) for p in X]
    fig = plots.decision_boundary(wave, X, y, resolution=100)
    painted, c1, c2 = painted_cells(fig)
    assert (painted == (c2[:, None] - np.sin(3 * c1[None, :]) > 0)).all()
    vertices = boundary_vertices(fig)
    assert len(vertices) > 50
    assert np.abs(vertices[:, 1] - np.sin(3 * vertices[:, 0])).max() < 0.05
    assert legend_texts(fig.axes[0]) == ["class 0", "class 1", "boundary"]


@needs_matplotlib
@pytest.mark.parametrize("shape", ["list of k arrays", "(k, n) array", "one array",
                                   "list of one array", "plain list"])
def test_scores_may_come_in_every_documented_shape(shape):
    def scores(x1, x2):
        if shape == "list of k arrays":
            return [-x1, x1]
        if shape == "(k, n) array":
            return np.stack([-x1, x1])
        if shape == "one array":
            return x1
        if shape == "list of one array":
            return [x1]
        return list(x1)

    fig = plots.decision_boundary(scores, [[-1, 0], [1, 0]], [0, 1], resolution=20)
    painted, c1, _ = painted_cells(fig)
    assert (painted == (c1 > 0)[None, :]).all()


@needs_matplotlib
def test_cells_where_a_score_is_not_finite_are_left_white():
    def scores(x1, x2):
        return np.where(x1 < 0, np.nan, x2)

    fig = plots.decision_boundary(scores, [[-1, -1], [1, 1]], [0, 1], resolution=30)
    painted, c1, c2 = painted_cells(fig)
    assert (painted[:, c1 < 0] == -1).all()
    assert (painted[:, c1 > 0] == (c2 > 0)[:, None]).all()


@needs_matplotlib
def test_more_classes_than_colours_get_colours_of_their_own():
    colours = plots.class_colors(13)
    assert len(set(colours)) == 13
    assert plots.class_colors(3) == plots.CLASS_COLORS[:3]


def _three(x1, x2):
    return [x1, x2, x1 + x2]


BAD_BOUNDARY = [
    ({"X": []}, ValueError, "X is empty"),
    ({"y": [0]}, ValueError, "2 points in X but 1 labels in y"),
    ({"X": [[0, 0, 0], [1, 1]]}, ValueError, "X[0] has 3 coordinates"),
    ({"X": [[0, math.nan], [1, 1]]}, ValueError, "nan or infinite"),
    ({"y": [0, "a"]}, TypeError, "y[1] = 'a' is not a class number"),
    ({"y": [0, 1.5]}, TypeError, "y[1] = 1.5 is not a class number"),
    ({"y": [0, -1]}, ValueError, "y[1] = -1; classes are numbered from 0"),
    ({"resolution": 1}, ValueError, "resolution=1 must be a whole number"),
    ({"resolution": True}, ValueError, "resolution=True"),
    ({"resolution": "300"}, ValueError, "resolution='300'"),
    ({"scores": [1, 2]}, TypeError, "scores=[1, 2] is not a function"),
    ({"scores": lambda a, b: a[:5]}, ValueError, "gave an array of shape (5,) for 400 points"),
    ({"scores": lambda a, b: [[a]]}, ValueError, "gave an array of shape (1, 1, 400)"),
]


@needs_matplotlib
@pytest.mark.parametrize("change, error, message", BAD_BOUNDARY)
def test_bad_boundary_arguments_are_named(change, error, message, tmp_path):
    args = {"scores": _three, "X": [[0, 0], [1, 1]], "y": [0, 1], "resolution": 20,
            "path": tmp_path / "never.png"}
    args.update(change)
    with pytest.raises(error) as raised:
        plots.decision_boundary(**args)
    assert message in str(raised.value) and "decision_boundary" in str(raised.value)
    assert not (tmp_path / "never.png").exists()


# ---------------------------------------------------------------------------------------------
# The demo's pictures: its vectorised model paints what its one-point predictions give
# ---------------------------------------------------------------------------------------------


def _demo_figures(monkeypatch, dataset, tmp_path, **options):
    """Run the demo briefly, keeping the Figures it draws, by name."""
    figures = {}

    def keeping(name, draw):
        def draw_and_keep(*args, **kwargs):
            figures[name] = draw(*args, **kwargs)
            return figures[name]
        return draw_and_keep

    for name in ("decision_boundary", "training_curves", "digit_predictions"):
        monkeypatch.setattr(plots, name, keeping(name, getattr(plots, name)))
    result = demo.run(dataset, out_dir=str(tmp_path), stream=io.StringIO(), **options)
    return result, figures


@needs_matplotlib
@pytest.mark.parametrize("dataset, classes", [("spiral", 3), ("moons", 2)])
def test_demo_pictures_show_the_models_prediction_and_the_steps_as_printed(
        dataset, classes, monkeypatch, tmp_path):
    result, figures = _demo_figures(monkeypatch, dataset, tmp_path, steps=3, hidden=(5, 4))
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{dataset}_boundary.png",
                                                           f"{dataset}_curves.png"]
    painted, c1, c2 = painted_cells(figures["decision_boundary"])
    assert painted.shape == (300, 300)
    # the cells where the painted class changes (a wrong border shows there), and others at random
    edge = np.zeros(painted.shape, bool)
    edge[:, 1:] |= painted[:, 1:] != painted[:, :-1]
    edge[1:, :] |= painted[1:, :] != painted[:-1, :]
    rng = np.random.default_rng(0)
    cells = list(zip(*np.nonzero(edge)))
    cells = [cells[k] for k in rng.permutation(len(cells))[:500]]
    cells += [tuple(rng.integers(0, 300, 2)) for _ in range(200)]
    for j, i in cells:
        assert painted[j, i] == demo._predict(result.model, [c1[i], c2[j]], classes), (j, i)
    ax = figures["decision_boundary"].axes[0]
    assert legend_texts(ax)[:classes] == [f"class {c}" for c in range(classes)]
    assert f"accuracy {100 * result.accuracy:.1f}%" in ax.get_title()
    loss_ax, accuracy_ax = figures["training_curves"].axes
    for ax in (loss_ax, accuracy_ax):
        assert list(ax.lines[0].get_xdata()) == [1, 2, 3]  # "step 1/3" ... "step 3/3"
        assert ax.get_xlim() == (1, 3)
    assert list(loss_ax.lines[0].get_ydata()) == result.losses
    assert f"on {result.batch}, before each step" == accuracy_ax.get_title()  # as the demo says


# ---------------------------------------------------------------------------------------------
# Training curves
# ---------------------------------------------------------------------------------------------


def decades(first, last, n):
    return [first * (last / first) ** (k / (n - 1)) for k in range(n)]


CURVES = [  # losses, the scale of the loss axis, words its label or note must hold
    (decades(1.0, 0.02, 50), "linear", "loss"),  # 1.7 decades
    (decades(1.0, 0.01, 50), "log", "log scale"),  # exactly 2 decades
    (decades(2.4, 1e-5, 100), "log", "log scale"),
    (decades(1.0, 1e-3, 40) + [0.0] * 10, "symlog", "reaches 0"),  # the SVM loss reaching 0
    ([1.0, 1e-6, 1e-300], "symlog", "linear within ±1e-12"),  # an underflow: 12 decades shown
    ([5.0, -0.01, 1.0], "symlog", "reaches 0 and below"),
    ([0.0, 0.0, 0.0], "linear", "loss"),
    ([1.0, math.nan, 0.001, math.inf], "log", "log scale"),  # non-finite steps left out
    ([3.0], "linear", "loss"),
]


@needs_matplotlib
@pytest.mark.parametrize("losses, scale, words", CURVES)
def test_loss_axis_is_log_when_the_loss_spans_two_decades(losses, scale, words):
    fig = plots.training_curves(losses, [0.5] * len(losses), title="run")
    loss_ax, accuracy_ax = fig.axes
    assert loss_ax.get_yscale() == scale
    assert words in loss_ax.get_ylabel() + " " + loss_ax.get_title()
    if scale == "symlog":
        assert "symlog" in loss_ax.get_ylabel()
        sizes = [abs(v) for v in losses if v]
        assert loss_ax.yaxis.get_transform().linthresh == max(min(sizes), max(sizes) * 1e-12)
    n = len(losses)
    assert list(loss_ax.lines[0].get_xdata()) == list(range(1, n + 1))
    assert list(accuracy_ax.lines[0].get_ydata()) == [50.0] * n
    ticks = [t for t in loss_ax.get_xticks()]
    assert ticks[0] == 1 and max(ticks) <= n
    assert fig._suptitle.get_text() == "run"


@needs_matplotlib
def test_steps_whose_loss_is_not_finite_are_gaps_and_said():
    fig = plots.training_curves([1.0, math.nan, 0.5, math.inf], None)
    (ax,) = fig.axes
    drawn = list(ax.lines[0].get_ydata())
    assert drawn[0] == 1.0 and drawn[2] == 0.5 and math.isnan(drawn[1]) and math.isnan(drawn[3])
    assert [t.get_text() for t in ax.texts] == ["not finite at steps 2, 4: not drawn"]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(0.0), st.floats(1e-300, 1e3)),
                min_size=1, max_size=40))
def test_every_finite_loss_is_on_the_axis_at_its_step(losses):
    if not HAVE_MATPLOTLIB:
        pytest.skip("matplotlib is not installed")
    ax = plots.figure(3, 3).add_subplot()
    plots._loss_panel(ax, list(range(1, len(losses) + 1)), losses)  # training_curves' panel
    assert list(ax.lines[0].get_xdata()) == list(range(1, len(losses) + 1))
    assert list(ax.lines[0].get_ydata()) == losses
    low, high = ax.get_ylim()
    assert all(low <= v <= high for v in losses)
    sizes = [abs(v) for v in losses if v]
    spans = bool(sizes) and max(sizes) >= 100 * min(sizes)
    too_wide = bool(sizes) and max(sizes) > 1e12 * min(sizes)
    expected = ("linear" if not spans else "log" if min(losses) > 0 and not too_wide
                else "symlog")
    assert ax.get_yscale() == expected
    if expected == "symlog":  # linear near 0, over at most 12 decades below the largest loss
        linthresh = ax.yaxis.get_transform().linthresh
        assert linthresh == max(min(sizes), max(sizes) * 1e-12)


@pytest.mark.parametrize("n, ticks", [(1, [1]), (3, [1, 2, 3]), (100, [1, 20, 40, 60, 80, 100]),
                                      (150, [1, 25, 50, 75, 100, 125, 150]),
                                      (500, [1, 100, 200, 300, 400, 500])])
@needs_matplotlib
def test_step_ticks_start_at_step_1(n, ticks):
    assert plots.step_ticks(n) == ticks


BAD_CURVES = [
    (([],), ValueError, "losses is empty"),
    (([1.0, "a"],), TypeError, "losses[1] = 'a' is not a number"),
    (([1.0, None],), TypeError, "loss.data"),
    (([1.0, 2.0], [0.5]), ValueError, "2 losses but 1 accuracies"),
    (([1.0, 2.0], [0.5, 91.0]), ValueError, "accuracies[1] = 91.0; pass fractions from 0 to 1"),
]


@needs_matplotlib
@pytest.mark.parametrize("args, error, message", BAD_CURVES)
def test_bad_curve_arguments_are_named(args, error, message):
    with pytest.raises(error, match="training_curves") as raised:
        plots.training_curves(*args)
    assert message in str(raised.value)


# ---------------------------------------------------------------------------------------------
# Digits
# ---------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=80),
       st.integers(1, 50))
def test_digits_shown_include_mistakes_whenever_there_are_any(pairs, count):
    labels, predicted = [p[0] for p in pairs], [p[1] for p in pairs]
    shown = plots.digits_to_show(labels, predicted, count)
    places = min(count, len(pairs))
    assert len(shown) == places and shown == sorted(set(shown))
    wrong = [i for i in range(len(pairs)) if labels[i] != predicted[i]]
    right = [i for i in range(len(pairs)) if labels[i] == predicted[i]]
    wrong_shown = [i for i in shown if i in wrong]
    right_shown = [i for i in shown if i in right]
    # the first mistakes and the first right guesses, half the places (at least one) for mistakes
    assert wrong_shown == wrong[:len(wrong_shown)] and right_shown == right[:len(right_shown)]
    assert len(wrong_shown) >= min(len(wrong), max(1, places // 2))
    assert len(right_shown) >= min(len(right), places - max(1, places // 2))


def fake_digits(n, wrong_at, seed=0):
    rng = random.Random(seed)
    images = [[rng.random() for _ in range(64)] for _ in range(n)]
    labels = [k % 10 for k in range(n)]
    predicted = [(label + 3) % 10 if k in wrong_at else label for k, label in enumerate(labels)]
    return images, labels, predicted


@needs_matplotlib
def test_digits_picture_shows_the_mistakes_marked_in_red(tmp_path):
    # the mistakes come after the first 16 images: drawing the first 16 would show none
    images, labels, predicted = fake_digits(60, wrong_at={25, 30, 57})
    path = tmp_path / "d.png"
    fig = plots.digit_predictions(images, labels, predicted, path, count=16,
                                  title="held-out digits")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    titles = [ax.title for ax in fig.axes]
    assert len(titles) == 16
    red = [t.get_text() for t in titles if to_hex(t.get_color()) == plots.WRONG_COLOR]
    assert red == ["pred 8, true 5", "pred 3, true 0", "pred 0, true 7"]
    plain = [t.get_text() for t in titles if t.get_text() not in red]
    assert plain == [str(k % 10) for k in range(13)]  # the first 13 right guesses, in order
    framed = [ax for ax in fig.axes
              if to_hex(ax.spines["top"].get_edgecolor()) == plots.WRONG_COLOR]
    assert [ax.title.get_text() for ax in framed] == red
    assert fig._suptitle.get_text() == ("held-out digits: 57 of 60 right; in red, 3 of the 3 "
                                        "mistakes")
    # each picture is its image, 8 x 8
    first = fig.axes[0].images[0].get_array()
    assert first.shape == (8, 8) and np.allclose(first.ravel(), images[0])


@needs_matplotlib
def test_digits_picture_without_mistakes_says_so():
    images, labels, predicted = fake_digits(12, wrong_at=set())
    fig = plots.digit_predictions(images, labels, predicted, count=40)
    assert len(fig.axes) == 12
    assert all(to_hex(ax.title.get_color()) != plots.WRONG_COLOR for ax in fig.axes)
    assert fig._suptitle.get_text().endswith("12 of 12 right, no mistakes")


BAD_DIGITS = [
    ({"count": 0}, ValueError, "count=0"),
    ({"images": []}, ValueError, "images is empty"),
    ({"labels": [1]}, ValueError, "2 images, 1 labels and 2 predictions"),
    ({"images": [[0.0] * 64, [0.0] * 63]}, ValueError, "images[1] has 63 pixels"),
]


@needs_matplotlib
@pytest.mark.parametrize("change, error, message", BAD_DIGITS)
def test_bad_digit_arguments_are_named(change, error, message):
    args = {"images": [[0.0] * 64] * 2, "labels": [1, 2], "predicted": [1, 3]}
    args.update(change)
    with pytest.raises(error, match="digit_predictions") as raised:
        plots.digit_predictions(**args)
    assert message in str(raised.value)


# ---------------------------------------------------------------------------------------------
# Without matplotlib; the README's pictures
# ---------------------------------------------------------------------------------------------


def test_without_matplotlib_figure_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install matplotlib .*tapegrad\[plot\]"):
        plots.figure(1, 1)


def test_the_readme_pictures_are_small_pngs():
    for name in ("moons_boundary.png", "moons_curves.png"):
        data = (DOCS_IMAGES / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert 5_000 < len(data) < 150_000, f"{name}: {len(data)} bytes"
