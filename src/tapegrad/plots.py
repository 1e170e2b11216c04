"""Pictures of a training run, drawn with matplotlib (an optional extra).

Figures are made with matplotlib's object API and its Agg renderer (``Figure.savefig``), never
with pyplot, so drawing needs no display and leaves a notebook's backend alone.
"""

from __future__ import annotations

import math

MISSING = (
    "pictures skipped: matplotlib is not installed; install it with "
    "pip install matplotlib   (or: pip install 'tapegrad[plot]')"
)
CLASS_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def figure(width: float, height: float):
    """A matplotlib Figure, or ImportError with the pip command when matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(MISSING) from None
    return Figure(figsize=(width, height), dpi=100)


def decision_boundary(predict, X, y, path, title: str = "", resolution: int = 80) -> None:
    """The plane coloured by the class ``predict(point)`` gives it, with the data on top.

    ``predict`` maps one point [x0, x1] to a class index; it is called once per grid cell
    (resolution² times), so the picture costs that many forward passes.
    """
    from matplotlib.colors import ListedColormap

    xs = [p[0] for p in X]
    ys = [p[1] for p in X]
    margin = 0.25
    x_lo, x_hi = min(xs) - margin, max(xs) + margin
    y_lo, y_hi = min(ys) - margin, max(ys) + margin
    grid_x = [x_lo + (x_hi - x_lo) * i / (resolution - 1) for i in range(resolution)]
    grid_y = [y_lo + (y_hi - y_lo) * j / (resolution - 1) for j in range(resolution)]
    classes = max(max(y) + 1, 2)
    cells = [[predict([gx, gy]) for gx in grid_x] for gy in grid_y]
    cmap = ListedColormap(CLASS_COLORS[:classes])

    fig = figure(4.2, 4.0)
    ax = fig.add_subplot()
    ax.contourf(grid_x, grid_y, cells, levels=[c - 0.5 for c in range(classes + 1)],
                cmap=cmap, alpha=0.25)
    ax.scatter(xs, ys, c=[CLASS_COLORS[c] for c in y], s=18, edgecolors="k", linewidths=0.4)
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_title(title or "decision boundary", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)


def training_curves(losses, accuracies, path, title: str = "") -> None:
    """Loss (log scale when it stays positive) and accuracy, step by step, side by side."""
    steps = list(range(len(losses)))
    fig = figure(7.0, 3.0)
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(steps, losses, color="#1f77b4", linewidth=1.2)
    if losses and min(losses) > 0 and all(math.isfinite(v) for v in losses):
        ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_title("loss", fontsize=10)
    ax_acc.plot(steps, [100 * a for a in accuracies], color="#2ca02c", linewidth=1.2)
    ax_acc.set_ylim(0, 102)
    ax_acc.set_xlabel("step")
    ax_acc.set_title("accuracy (%)", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)


def digit_predictions(images, labels, predicted, path, count: int = 40) -> None:
    """The first ``count`` test digits as 8×8 pictures, each titled with the model's guess
    (red where it is wrong)."""
    columns = 10
    rows = max(1, math.ceil(min(count, len(images)) / columns))
    fig = figure(columns * 0.75, rows * 0.9)
    for k, (image, label, guess) in enumerate(zip(images[:count], labels, predicted)):
        ax = fig.add_subplot(rows, columns, k + 1)
        ax.imshow([image[r * 8 : r * 8 + 8] for r in range(8)], cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(str(guess), fontsize=9, color="#222222" if guess == label else "#d62728")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("held-out digits and the model's guesses (red: wrong)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


__all__ = ["MISSING", "figure", "decision_boundary", "training_curves", "digit_predictions"]
