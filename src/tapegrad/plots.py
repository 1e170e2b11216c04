"""Pictures of a training run, drawn with matplotlib (an optional extra).

- `decision_boundary`: the plane painted with the class a model gives each point, the borders
  between classes, the data on top, a legend of the classes, axes x₁ and x₂;
- `training_curves`: loss and accuracy against the step numbers 1..N that training printed, the
  loss on a log axis when it spans two decades or more;
- `digit_predictions`: test digits with the model's guesses, its mistakes among them.

Figures are made with matplotlib's object API and its Agg renderer (``Figure.savefig``), never
with pyplot, so drawing needs no display and leaves a notebook's backend alone. Each function
returns its Figure, saved first when given a path: a notebook shows it, a test reads it.
matplotlib is imported only here, and only when a picture is drawn; NumPy, which matplotlib
needs, is there whenever matplotlib is.
"""

import collections.abc as _abc
import math as _math
import operator as _operator
import os as _os
import textwrap as _textwrap
import typing as _typing

if _typing.TYPE_CHECKING:  # for the annotations only: matplotlib is imported when drawing
    import numpy as _np
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_Path = _typing.Union[str, _os.PathLike, None]  # where to save a picture; None: not saved

MISSING = (
    "pictures skipped: matplotlib is not installed; install it with "
    "pip install matplotlib   (or: pip install 'tapegrad[plot]')"
)
CLASS_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
WRONG_COLOR = "#d62728"
BOUNDARY_COLOR = "#222222"
DPI = 100  # the pictures' pixels per inch, on screen and saved
LOG_DECADES = 2.0  # the loss gets a log axis when its largest / smallest magnitude >= 10 ** this
MAX_DECADES = 12  # and shows at most this many decades, linear below (see loss_axis)


def figure(width: float, height: float) -> "Figure":
    """A matplotlib Figure of ``width`` × ``height`` inches, or ImportError with the pip
    command when matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(MISSING) from None
    return Figure(figsize=(width, height), dpi=DPI)


def _save(fig: "Figure", path: _Path) -> "Figure":
    """Save `fig` to `path` (a PNG, SVG, PDF... by its suffix), unless path is None."""
    if path is not None:
        fig.savefig(path, dpi=DPI)
    return fig


def class_colors(classes: int) -> list[str]:
    """One colour per class 0..classes-1: matplotlib's ten category colours, then evenly
    spaced hues when there are more classes than that."""
    if classes <= len(CLASS_COLORS):
        return CLASS_COLORS[:classes]
    from matplotlib.colors import hsv_to_rgb, to_hex

    return [to_hex(hsv_to_rgb((c / classes, 0.75, 0.85))) for c in range(classes)]


# ---------------------------------------------------------------------------------------------
# Decision boundaries
# ---------------------------------------------------------------------------------------------


def _check_points(X: _abc.Sequence, y: _abc.Sequence
                  ) -> tuple[list[float], list[float], list[int]]:
    """The data's x₁ and x₂ coordinates and labels, or an error naming what is wrong."""
    if len(X) == 0:
        raise ValueError(
            "decision_boundary: X is empty; pass the points to draw, e.g. X, y = moons()"
        )
    if len(X) != len(y):
        raise ValueError(
            f"decision_boundary: {len(X)} points in X but {len(y)} labels in y; "
            "give one class label per point"
        )
    xs, ys, labels = [], [], []
    for i, (point, label) in enumerate(zip(X, y)):
        if len(point) != 2:
            raise ValueError(
                f"decision_boundary: X[{i}] has {len(point)} coordinates; the plane needs "
                "points of 2, [x1, x2]"
            )
        try:
            labels.append(_operator.index(label))
        except TypeError:
            raise TypeError(
                f"decision_boundary: y[{i}] = {label!r} is not a class number; pass whole "
                "numbers 0, 1, 2, ..."
            ) from None
        if labels[-1] < 0:
            raise ValueError(f"decision_boundary: y[{i}] = {label!r}; classes are numbered from 0")
        xs.append(float(point[0]))
        ys.append(float(point[1]))
    if not all(_math.isfinite(v) for v in xs + ys):
        raise ValueError(
            "decision_boundary: X has a nan or infinite coordinate; pass finite points"
        )
    return xs, ys, labels


def plane_cells(xs: _abc.Sequence[float], ys: _abc.Sequence[float], resolution: int
                ) -> tuple[tuple[float, float, float, float], "_np.ndarray", "_np.ndarray"]:
    """The rectangle drawn, ``(x1_lo, x1_hi, x2_lo, x2_hi)``, and its resolution × resolution
    cells' centres along each axis.

    The rectangle is the data's bounding box grown on each side by a tenth of its larger side
    (by 1 when all points coincide); cell (i, j) spans a (x1_hi - x1_lo) / resolution wide
    column, its centre x1_lo + (i + ½) · width.
    """
    import numpy as np

    span = max(max(xs) - min(xs), max(ys) - min(ys))
    margin = 0.1 * span if span > 0 else 1.0
    box = (min(xs) - margin, max(xs) + margin, min(ys) - margin, max(ys) + margin)
    centres = [lo + (hi - lo) * (np.arange(resolution) + 0.5) / resolution
               for lo, hi in (box[:2], box[2:])]
    return box, centres[0], centres[1]


def _score_table(scores: _abc.Callable, x1: "_np.ndarray", x2: "_np.ndarray") -> "_np.ndarray":
    """``scores(x1, x2)`` as a (k, n) float array: k = 1 for one score per point (two classes,
    by sign), k >= 2 for one score per class."""
    import numpy as np

    n = len(x1)
    given = np.asarray(scores(x1, x2), dtype=float)
    table = given[None, :] if given.ndim == 1 else given
    if table.ndim != 2 or table.shape[1] != n:
        raise ValueError(
            f"decision_boundary: scores(x1, x2) gave an array of shape {given.shape} for "
            f"{n} points; return one array of {n} scores (two classes: class 1 where > 0), or "
            f"a list of k arrays of {n} scores, one per class"
        )
    return table


def painted_classes(table: "_np.ndarray") -> "_np.ndarray":
    """The class of each point from its scores (a (k, n) array): for k = 1, class 1 where the
    score is > 0 and 0 elsewhere (micrograd's sign convention); for k >= 2, the class with the
    largest score, argmax_c s_c (the first on a tie). -1 where a score is nan or infinite."""
    import numpy as np

    if len(table) == 1:
        winners = (table[0] > 0).astype(int)
    else:
        winners = np.argmax(table, axis=0)
    return np.where(np.isfinite(table).all(axis=0), winners, -1)


def class_margins(table: "_np.ndarray") -> "_np.ndarray":
    """Per class c, its margin over the best other class, m_c = s_c - max_{j≠c} s_j: > 0
    exactly where c wins, so the zero lines of m_0..m_{k-2} are every border between classes
    (each border has a class below k - 1 on one side). For one score per point (two classes),
    the score itself. Nan where a score is not finite."""
    import numpy as np

    with np.errstate(invalid="ignore"):
        if len(table) == 1:
            margins = table.copy()
        else:
            margins = np.array([table[c] - np.delete(table, c, axis=0).max(axis=0)
                                for c in range(len(table) - 1)])
        margins[:, ~np.isfinite(table).all(axis=0)] = np.nan
    return margins


def decision_boundary(scores: _abc.Callable, X: _abc.Sequence, y: _abc.Sequence,
                      path: _Path = None, title: str = "", resolution: int = 300) -> "Figure":
    """The plane painted with the class the model gives each point, the borders between the
    classes drawn, and the data (X, y) on top, one legend entry per class.

    ``scores(x1, x2)`` is called once, with the centres of all resolution² cells as two NumPy
    arrays of equal length n, and returns the model's scores there, elementwise:

    - one array of n scores, for two classes: class 1 where the score is > 0, else class 0;
    - or k arrays of n scores (k >= 2), one per class: the class is the one scoring highest.

    Each cell is painted with the class at its centre, so two classes never blend into a third
    (a contour of class *numbers* would paint class 1 between classes 0 and 2). The borders are
    the zero lines of the class margins m_c = s_c - max_{j≠c} s_j (for two classes, of the score
    itself), found by linear interpolation between cell centres: smooth even where the cells
    show steps. Cells where a score is nan or infinite are left white.

    Saved to ``path`` when one is given; returns the Figure. ``resolution``: cells along each
    axis; the default 300 makes cells about a pixel wide at the saved 100 DPI.
    """
    if type(resolution) is not int or not 2 <= resolution <= 2000:
        raise ValueError(
            f"decision_boundary: resolution={resolution!r} must be a whole number of cells per "
            "axis from 2 to 2000, e.g. resolution=300"
        )
    if not callable(scores):
        raise TypeError(
            f"decision_boundary: scores={scores!r} is not a function; pass one that maps the "
            "arrays x1, x2 to the model's scores there"
        )
    xs, ys, labels = _check_points(X, y)
    import numpy as np

    box, c1, c2 = plane_cells(xs, ys, resolution)
    grid1, grid2 = np.meshgrid(c1, c2)  # row j, column i: the cell at (c1[i], c2[j])
    table = _score_table(scores, grid1.ravel(), grid2.ravel())
    classes = max(2, len(table), max(labels) + 1)
    fig = _boundary_figure(box)
    ax = fig.axes[0]
    _paint_classes(ax, painted_classes(table).reshape(grid1.shape), box, classes)
    for margin in class_margins(table):
        if np.nanmin(margin, initial=np.inf) < 0 < np.nanmax(margin, initial=-np.inf):
            ax.contour(c1, c2, margin.reshape(grid1.shape), levels=[0.0],
                       colors=BOUNDARY_COLOR, linewidths=1.1)
    _scatter_classes(ax, xs, ys, labels, classes)
    # a long title wraps within the figure instead of running off its edges
    ax.set_title(_textwrap.fill(title or "decision boundary", 64), fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _boundary_figure(box: tuple[float, float, float, float]) -> "Figure":
    """A figure whose axes show `box` at equal scale on x₁ and x₂, with room for the legend."""
    width, height = box[1] - box[0], box[3] - box[2]
    plot_width = 4.0  # inches
    plot_height = min(4.6, max(2.2, plot_width * height / width))
    fig = figure(plot_width + 1.7, plot_height + 0.9)
    ax = fig.add_subplot()
    ax.set_xlim(box[0], box[1])
    ax.set_ylim(box[2], box[3])
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    return fig


def _paint_classes(ax: "Axes", painted: "_np.ndarray", box: tuple[float, float, float, float],
                   classes: int) -> None:
    """Each cell in its class's colour, pale; cells of class -1 (a score not finite) white."""
    import numpy as np
    from matplotlib.colors import ListedColormap

    ax.imshow(np.ma.masked_less(painted, 0), origin="lower", extent=box, aspect="auto",
              cmap=ListedColormap(class_colors(classes)), vmin=-0.5, vmax=classes - 0.5,
              interpolation="nearest", alpha=0.3, zorder=0)


def _scatter_classes(ax: "Axes", xs: list[float], ys: list[float], labels: list[int],
                     classes: int) -> None:
    """The data, one scatter (and legend entry) per class, and the legend beside the axes."""
    from matplotlib.lines import Line2D

    colors = class_colors(classes)
    for c in sorted(set(labels)):
        ax.scatter([x for x, label in zip(xs, labels) if label == c],
                   [v for v, label in zip(ys, labels) if label == c],
                   color=colors[c], s=18, edgecolors="k", linewidths=0.4, label=f"class {c}",
                   zorder=3)
    handles = ax.get_legend_handles_labels()[0]
    handles.append(Line2D([], [], color=BOUNDARY_COLOR, linewidth=1.1, label="boundary"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.03, 1.0), borderaxespad=0.0,
              fontsize=8, frameon=False)


# ---------------------------------------------------------------------------------------------
# Training curves
# ---------------------------------------------------------------------------------------------


def _as_floats(name: str, values: _abc.Iterable) -> list[float]:
    """`values` as floats, or a TypeError naming the entry that is not a number."""
    floats = []
    for i, v in enumerate(values):
        if isinstance(v, (str, bytes)) or not hasattr(v, "__float__"):
            raise TypeError(
                f"training_curves: {name}[{i}] = {v!r} is not a number; record plain numbers, "
                f"e.g. {name}.append(loss.data)"
            )
        floats.append(float(v))
    return floats


def loss_axis(losses: _abc.Sequence[float]) -> tuple[str, dict, str, str]:
    """How `training_curves` draws the loss axis: (scale, its options, the axis label, a note
    on the scale for above the panel, or '').

    With the finite losses' magnitudes running from b = min |loss| > 0 to t = max |loss|:
    - t / b < 10²  (or no loss is nonzero): ``"linear"``;
    - t / b >= 10² and every loss > 0: ``"log"``;
    - t / b >= 10² and some loss is 0 or negative (the SVM loss reaches 0): ``"symlog"``, linear
      between -b and b and logarithmic beyond, so 0 is drawn and the rest still reads in decades.
    An axis shows at most 10¹² (t / b beyond that is an underflow, not learning): below
    t · 10⁻¹² the axis is linear ("symlog" again), so every loss is still drawn.
    """
    finite = [v for v in losses if _math.isfinite(v)]
    sizes = [abs(v) for v in finite if v != 0]
    if not sizes or max(sizes) < min(sizes) * 10 ** LOG_DECADES:
        return "linear", {}, "loss", ""
    floor = max(min(sizes), max(sizes) * 10.0 ** -MAX_DECADES)
    if all(v > 0 for v in finite) and floor == min(sizes):
        return "log", {}, "loss (log scale)", ""
    note = f"linear within ±{floor:.2g}"
    if not all(v > 0 for v in finite):
        note += ": the loss reaches " + ("0" if all(v >= 0 for v in finite) else "0 and below")
    return "symlog", {"linthresh": floor}, "loss (symlog scale)", note


def _not_finite_note(losses: _abc.Sequence[float]) -> str:
    """'' if every loss is finite, else which steps are not (they are left out of the plot)."""
    bad = [step for step, v in enumerate(losses, start=1) if not _math.isfinite(v)]
    if not bad:
        return ""
    shown = ", ".join(map(str, bad[:3])) + (", ..." if len(bad) > 3 else "")
    return f"not finite at step{'s' if len(bad) > 1 else ''} {shown}: not drawn"


def training_curves(losses: _abc.Sequence, accuracies: _abc.Sequence | None = None,
                    path: _Path = None, title: str = "",
                    accuracy_on: str = "") -> "Figure":
    """Loss and accuracy of each step, side by side, against the step numbers 1..N that
    training prints (step k is the k-th update).

    ``losses``: one number per step; the loss axis is logarithmic when the losses span two
    decades or more (see `loss_axis`), and says so. ``accuracies``: fractions 0..1, one per
    step, drawn in percent (None: the loss alone); ``accuracy_on``, what it was measured on, is
    written above its panel (e.g. "on each step's batch"). Saved to ``path`` when one is given;
    returns the Figure.
    """
    losses = _as_floats("losses", losses)
    if not losses:
        raise ValueError("training_curves: losses is empty; pass one loss per training step")
    if accuracies is not None:
        accuracies = _as_floats("accuracies", accuracies)
        if len(accuracies) != len(losses):
            raise ValueError(
                f"training_curves: {len(losses)} losses but {len(accuracies)} accuracies; "
                "pass one of each per step (or accuracies=None)"
            )
        for i, a in enumerate(accuracies):
            if not 0.0 <= a <= 1.0 and not _math.isnan(a):
                raise ValueError(
                    f"training_curves: accuracies[{i}] = {a!r}; pass fractions from 0 to 1 "
                    "(0.91 for 91%)"
                )
    steps = list(range(1, len(losses) + 1))
    fig = figure(7.0 if accuracies is not None else 3.8, 3.0)
    axes = fig.subplots(1, 2 if accuracies is not None else 1, squeeze=False)[0]
    _loss_panel(axes[0], steps, losses)
    if accuracies is not None:
        axes[1].plot(steps, [100 * a for a in accuracies], color="#2ca02c", linewidth=1.2)
        axes[1].set_ylim(0, 102)
        axes[1].set_ylabel("accuracy (%)")
        if accuracy_on:
            axes[1].set_title(accuracy_on, fontsize=9)
        _step_axis(axes[1], steps)
    if title:
        fig.suptitle(_textwrap.fill(title, 90), fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _loss_panel(ax: "Axes", steps: list[int], losses: list[float]) -> None:
    """The loss against the steps, on the axis `loss_axis` chooses; gaps where it is not finite."""
    scale, options, label, note = loss_axis(losses)
    drawn = [v if _math.isfinite(v) else _math.nan for v in losses]
    ax.plot(steps, drawn, color="#1f77b4", linewidth=1.2)
    ax.set_yscale(scale, **options)
    ax.set_ylabel(label)
    if note:
        ax.set_title(note, fontsize=8)
    missing = _not_finite_note(losses)
    if missing:
        ax.text(0.98, 0.96, missing, transform=ax.transAxes, ha="right", va="top", fontsize=8,
                color=WRONG_COLOR)
    _step_axis(ax, steps)


def step_ticks(n: int) -> list[int]:
    """Where an axis of steps 1..n has its ticks: step 1, then round whole numbers up to n
    (1, 20, 40, ..., 100 for n = 100), leaving out a round number too close to 1 to be read."""
    from matplotlib.ticker import MaxNLocator

    if n <= 1:
        return [1]
    ticks = [int(t) for t in MaxNLocator(nbins=6, integer=True).tick_values(1, n) if 1 < t <= n]
    return [1] + [t for t in ticks if t - 1 >= (n - 1) / 12]


def _step_axis(ax: "Axes", steps: list[int]) -> None:
    """x axis from step 1 to step N, ticks at `step_ticks`."""
    if len(steps) > 1:
        ax.set_xlim(steps[0], steps[-1])
    else:  # one step: a point in the middle, not an axis of zero width
        ax.set_xlim(0.5, 1.5)
    ax.set_xticks(step_ticks(len(steps)))
    ax.set_xlabel("step")


# ---------------------------------------------------------------------------------------------
# Digits
# ---------------------------------------------------------------------------------------------


def digits_to_show(labels: _abc.Sequence, predicted: _abc.Sequence, count: int) -> list[int]:
    """Which of the test images to draw, in test order: ``min(count, n)`` of them, mistakes
    included. Up to half the places (at least one) go to the first mistakes, the rest to the
    first right guesses; places left over on either side go to the other."""
    wrong = [i for i, (t, p) in enumerate(zip(labels, predicted)) if t != p]
    right = [i for i, (t, p) in enumerate(zip(labels, predicted)) if t == p]
    places = min(count, len(wrong) + len(right))
    n_wrong = min(len(wrong), max(1, places // 2))
    n_right = min(len(right), places - n_wrong)
    n_wrong = places - n_right
    return sorted(wrong[:n_wrong] + right[:n_right])


def _check_digits(images: _abc.Sequence, labels: _abc.Sequence, predicted: _abc.Sequence,
                  count: int) -> int:
    """The side of the square images, or an error naming the argument that is wrong."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(
            f"digit_predictions: count={count!r}; pass how many digits to draw, e.g. 40"
        )
    if not len(images):
        raise ValueError("digit_predictions: images is empty; pass the test images")
    if not len(images) == len(labels) == len(predicted):
        raise ValueError(
            f"digit_predictions: {len(images)} images, {len(labels)} labels and "
            f"{len(predicted)} predictions; pass one label and one prediction per image"
        )
    side = _math.isqrt(len(images[0]))
    for i, image in enumerate(images):
        if len(image) != side * side or side == 0:
            raise ValueError(
                f"digit_predictions: images[{i}] has {len(image)} pixels; pass square images "
                f"read row by row, all of {len(images[0])} pixels (8×8 = 64 for digits)"
            )
    return side


def digit_predictions(images: _abc.Sequence, labels: _abc.Sequence, predicted: _abc.Sequence,
                      path: _Path = None, count: int = 40, title: str = "test digits") -> "Figure":
    """Some test images with the model's guesses: ``count`` of them, ten to a row, in test
    order, the model's mistakes among them whenever it made any (see `digits_to_show`).

    A right guess is titled with the digit; a wrong one in red, "pred 3, true 8", in a red
    frame. The heading counts the right guesses over all the images given. ``images``: rows of
    pixels (8×8 = 64 for digits), scaled to 0..1. Saved to ``path`` when one is given; returns
    the Figure.
    """
    side = _check_digits(images, labels, predicted, count)
    shown = digits_to_show(labels, predicted, count)
    columns = min(10, len(shown))
    rows = _math.ceil(len(shown) / columns)
    height = rows * 1.05 + 0.5  # inches: a row is a title over a picture; the heading on top
    fig = figure(max(4.0, columns * 0.95), height)
    low = min(0.0, min(min(images[i]) for i in shown))
    high = max(1.0, max(max(images[i]) for i in shown))
    for place, i in enumerate(shown):
        ax = fig.add_subplot(rows, columns, place + 1)
        ax.imshow([images[i][r * side:(r + 1) * side] for r in range(side)], cmap="gray_r",
                  vmin=low, vmax=high)
        _title_guess(ax, labels[i], predicted[i])
    fig.suptitle(_digits_heading(title, labels, predicted, shown), fontsize=9)
    # fixed margins, not tight_layout: the same room for any digits, and ten times faster
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.45 / height, wspace=0.15,
                        hspace=0.35)
    return _save(fig, path)


def _title_guess(ax: "Axes", label: int, guess: int) -> None:
    """The guess above the image: plain when right; red, with the truth, in a red frame, when
    wrong."""
    ax.set_xticks([])
    ax.set_yticks([])
    if guess == label:
        ax.set_title(str(guess), fontsize=9, color="#222222")
        return
    ax.set_title(f"pred {guess}, true {label}", fontsize=7, color=WRONG_COLOR)
    for spine in ax.spines.values():
        spine.set_color(WRONG_COLOR)
        spine.set_linewidth(2.0)


def _digits_heading(title: str, labels: _abc.Sequence, predicted: _abc.Sequence,
                    shown: list[int]) -> str:
    """'test digits: 341 of 359 right; in red 18 of the 18 mistakes'."""
    wrong = sum(t != p for t, p in zip(labels, predicted))
    head = f"{title}: {len(labels) - wrong} of {len(labels)} right"
    if not wrong:
        return head + ", no mistakes"
    wrong_shown = sum(labels[i] != predicted[i] for i in shown)
    return head + f"; in red, {wrong_shown} of the {wrong} mistake{'s' if wrong > 1 else ''}"


__all__ = ["MISSING", "CLASS_COLORS", "WRONG_COLOR", "BOUNDARY_COLOR", "DPI", "LOG_DECADES",
           "MAX_DECADES", "figure", "class_colors",
           "decision_boundary", "plane_cells", "painted_classes", "class_margins",
           "training_curves", "loss_axis", "step_ticks", "digit_predictions", "digits_to_show"]
