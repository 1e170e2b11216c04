"""``tapegrad demo``: train a small network on a small dataset, show it learning, draw pictures.

The default is micrograd's demo, step for step: 100 moons with noise 0.1, ``MLP(2, [16, 16, 1])``,
the SVM max-margin loss plus 1e-4 · Σ p² built exactly as micrograd's notebook builds it, and
SGD whose learning rate falls linearly from 1.0 to 0.1 over the 100 steps.

Every dataset has defaults that train well in seconds to a minute; the options override them:

    dataset  classes  loss                     optimizer  lr    steps  hidden  batch
    moons    2        hinge + 1e-4 L2          sgd        1.0   100    16,16   all 100
    circles  2        hinge + 1e-4 L2          sgd        1.0   100    16,16   all 100
    xor      2        hinge + 1e-4 L2          sgd        1.0   100    16,16   all 100
    spiral   3        softmax cross-entropy    adam       0.05  150    16,16   all 150
    digits   10       softmax cross-entropy    adam       0.01  500    32      32 of 1,438

For every optimizer the learning rate falls linearly to a tenth of ``lr`` over the run
(micrograd's schedule). Digits are scored on a held-out fifth of the data (359 images) the
model never trains on; the 2-D sets, as in micrograd's demo, on the points they train on.

A step is eager, pure-Python Values: the graph is rebuilt every step. For digits a step of 32
images records about 8,400 nodes -- 2,048 pixels and 2,410 parameters as leaves, and 3,500
computed nodes: 32 × 42 fused neurons, their ReLUs, and the loss -- in 40-60 ms, so the 500
steps take 20-45 s on a 2-core machine (95% on the held-out digits).
"""

from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import dataclass, field

from . import datasets, losses, serialize
from .nn import MLP
from .ops import FLOATS, RULES, Op
from .optim import SGD, Adam, AdamW
from .value import Value

OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


@dataclass(frozen=True)
class Task:
    """A dataset and the settings that train it well."""

    load: object  # seed -> (X, y)
    classes: int
    steps: int
    hidden: tuple
    optimizer: str
    lr: float
    batch_size: int | None = None  # None: the whole training set every step
    test_fraction: float | None = None  # hold out this much for scoring, or score on training


TASKS = {
    "moons": Task(lambda seed: datasets.moons(100, 0.1, seed), 2, 100, (16, 16), "sgd", 1.0),
    "circles": Task(lambda seed: datasets.circles(100, 0.08, 0.5, seed), 2, 100, (16, 16),
                    "sgd", 1.0),
    "xor": Task(lambda seed: datasets.xor(100, 0.25, seed), 2, 100, (16, 16), "sgd", 1.0),
    "spiral": Task(lambda seed: datasets.spiral(150, 3, 0.2, seed), 3, 150, (16, 16),
                   "adam", 0.05),
    "digits": Task(lambda seed: datasets.digits(), 10, 500, (32,), "adam", 0.01,
                   batch_size=32, test_fraction=0.2),
}


@dataclass
class Result:
    """What a demo run leaves behind."""

    model: MLP
    accuracy: float  # on the held-out split for digits, on the training points otherwise
    scored_on: str
    losses: list = field(default_factory=list)  # per step
    accuracies: list = field(default_factory=list)  # per step, on that step's batch
    pictures: list = field(default_factory=list)  # paths written
    seconds: float = 0.0  # loading the data, training and scoring; not drawing


def parse_hidden(text: str) -> tuple:
    """'16,16' -> (16, 16); '' -> () (no hidden layer: a linear model)."""
    text = text.strip()
    if not text:
        return ()
    sizes = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= 1024:
            raise ValueError(
                f"--hidden {text!r}: each layer width must be a whole number from 1 to 1024, "
                "separated by commas, e.g. --hidden 16,16"
            )
        sizes.append(int(part))
    return tuple(sizes)


class Progress:
    """One line per update: redrawn in place (carriage return) on a terminal, plain lines
    (about ten per run) when the output is a file or a pipe."""

    def __init__(self, steps: int, stream):
        self.steps = steps
        self.stream = stream
        self.live = hasattr(stream, "isatty") and stream.isatty()
        self.every = max(1, steps // 10)

    def update(self, step: int, loss: float, accuracy: float) -> None:
        done = step + 1
        text = f"step {done:>{len(str(self.steps))}}/{self.steps}  loss {loss:.4f}  " \
               f"accuracy {100 * accuracy:5.1f}%"
        if self.live:
            width = 24
            filled = round(width * done / self.steps)
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r[{bar}] {text}")
            if done == self.steps:
                self.stream.write("\n")
        elif done % self.every == 0 or done == self.steps or step == 0:
            self.stream.write(text + "\n")
        self.stream.flush()


_ACTIVATION_OPS = {"relu": Op.RELU, "tanh": Op.TANH, "sigmoid": Op.SIGMOID, "linear": None}


def forward_floats(model: MLP, x) -> list[float]:
    """The model's outputs as plain floats, from the rule table's formulas, recording nothing.

    The same numbers as ``model(x)``, several times faster: for the pictures, which evaluate
    the model at thousands of grid points and need no gradients.
    """
    dot = RULES[Op.DOT].forward
    for layer in model.layers:
        outputs = []
        for neuron in layer.neurons:
            act = dot(FLOATS, *[w.data for w in neuron.w], *x, neuron.b.data)
            op = _ACTIVATION_OPS[neuron.activation]
            outputs.append(RULES[op].forward(FLOATS, act) if op else act)
        x = outputs
    return x


def _predict(model, x, classes: int) -> int:
    out = forward_floats(model, x)
    if classes == 2:
        return int(out[0] > 0)
    return max(range(classes), key=lambda c: out[c])


def _batch_loss(model, X, y, classes: int, params):
    """The loss of one batch and the fraction of it classified right (before the update)."""
    inputs = [list(map(Value, row)) for row in X]
    scores = list(map(model, inputs))
    if classes == 2:
        # micrograd's demo, operation for operation: labels -1/+1, hinge, plus 1e-4 L2.
        signs = [2 * label - 1 for label in y]
        loss = losses.hinge(scores, signs) + losses.l2(params, 1e-4)
        right = [(s > 0) == (score.data > 0) for s, score in zip(signs, scores)]
    else:
        loss = losses.softmax_cross_entropy(scores, y)
        right = [max(range(classes), key=lambda c: row[c].data) == label
                 for row, label in zip(scores, y)]
    return loss, sum(right) / len(right)


def run(dataset: str = "moons", steps: int | None = None, hidden=None, optimizer: str | None = None,
        lr: float | None = None, seed: int = 1337, batch_size: int | None = None,
        out_dir: str | None = ".", save: str | None = None, stream=None) -> Result:
    """Train on ``dataset`` and report progress on ``stream`` (stdout by default); the last line
    written is ``accuracy NN.N%``. Pictures go to ``out_dir`` (None: no pictures)."""
    stream = sys.stdout if stream is None else stream
    if dataset not in TASKS:
        raise ValueError(f"--dataset {dataset!r}: choose one of {', '.join(TASKS)}")
    task = TASKS[dataset]
    steps = task.steps if steps is None else steps
    hidden = task.hidden if hidden is None else tuple(hidden)
    optimizer = task.optimizer if optimizer is None else optimizer
    lr0 = task.lr if lr is None else lr
    batch_size = task.batch_size if batch_size is None else batch_size
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"--optimizer {optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"--steps {steps!r}: train for at least 1 step")
    if not lr0 > 0:
        raise ValueError(f"--lr {lr0!r}: the learning rate must be > 0")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"--batch-size {batch_size!r}: a batch needs at least 1 sample")
    if save:
        serialize.check_save_path(save)  # a mistyped --save fails now, not after the training

    started = time.perf_counter()
    X, y = task.load(seed)
    if task.test_fraction:
        X_train, X_test, y_train, y_test = datasets.train_test_split(X, y, task.test_fraction,
                                                                     seed)
        scored_on = f"the {len(X_test)} held-out test samples"
    else:
        X_train, X_test, y_train, y_test = X, X, y, y
        scored_on = f"the {len(X)} training points, as in micrograd's demo"
    random.seed(seed)  # micrograd seeds Python's random right before building the model
    outputs = 1 if task.classes == 2 else task.classes
    model = MLP(len(X[0]), [*hidden, outputs])
    params = model.parameters()
    opt = OPTIMIZERS[optimizer](params, lr=lr0)
    stream.write(f"tapegrad demo: {dataset}, {len(X_train)} training samples, "
                 f"{model_summary(model)}, {optimizer} lr {lr0:g}, {steps} steps\n")

    result = Result(model=model, accuracy=0.0, scored_on=scored_on)
    progress = Progress(steps, stream)
    order: list[int] = []
    shuffler = random.Random(seed)
    for k in range(steps):
        if batch_size is None or batch_size >= len(X_train):
            batch_X, batch_y = X_train, y_train
        else:  # minibatches: walk a fresh shuffle of the training set, epoch after epoch
            if len(order) < batch_size:
                order = list(range(len(X_train)))
                shuffler.shuffle(order)
            picked, order = order[:batch_size], order[batch_size:]
            batch_X, batch_y = [X_train[i] for i in picked], [y_train[i] for i in picked]
        loss, accuracy = _batch_loss(model, batch_X, batch_y, task.classes, params)
        opt.zero_grad()
        loss.backward()
        opt.lr = lr0 * (1.0 - 0.9 * k / steps)  # micrograd's schedule: lr0 down to lr0 / 10
        opt.step()
        result.losses.append(loss.data)
        result.accuracies.append(accuracy)
        progress.update(k, loss.data, accuracy)

    predicted = [_predict(model, x, task.classes) for x in X_test]
    result.accuracy = sum(p == t for p, t in zip(predicted, y_test)) / len(y_test)
    result.seconds = time.perf_counter() - started
    stream.write(f"trained in {result.seconds:.1f} s; scored on {scored_on}\n")
    if save:
        serialize.save(model, save)
        stream.write(f"model saved to {save}\n")
    if out_dir is not None:
        result.pictures = _draw(dataset, model, task, X_train, y_train, X_test, y_test, predicted,
                                result, out_dir, stream)
    stream.write(f"accuracy {100 * result.accuracy:.1f}%\n")
    stream.flush()
    return result


def model_summary(model: MLP) -> str:
    sizes = [len(model.layers[0].neurons[0].w)] + [len(layer.neurons) for layer in model.layers]
    return f"MLP({sizes[0]}, {list(sizes[1:])}) with {len(model.parameters())} parameters"


def _draw(dataset: str, model: MLP, task: Task, X_train: list, y_train: list, X_test: list,
          y_test: list, predicted: list, result: Result, out_dir: str, stream) -> "list[str]":
    """Draw the run's pictures into ``out_dir`` and return their paths: the training curves;
    the decision boundary over the training points (2-D data); some test digits with the
    model's guesses, its mistakes among them (digits). Without matplotlib, say how to get it."""
    import os as _os  # here, not at the top: only the pictures need it

    from . import plots

    try:
        plots.figure(1, 1)
    except ImportError as error:
        stream.write(f"{error}\n")
        return []
    _os.makedirs(out_dir, exist_ok=True)
    written = []
    curves = _os.path.join(out_dir, f"{dataset}_curves.png")
    plots.training_curves(result.losses, result.accuracies, curves,
                          title=f"tapegrad demo: {dataset}",
                          accuracy_on="on each step's batch, before its update")
    written.append(curves)
    if len(X_train[0]) == 2:

        def scores_at(x1, x2) -> list:  # NumPy arrays in, one array per output out
            """The model's outputs at many points at once: forward_floats's formulas from the
            rule table, run on NumPy arrays (one element per point) instead of floats -- the
            same numbers, a few milliseconds for the whole grid instead of seconds."""
            from .backends.numpy_math import NUMPY_MATH

            dot, x = RULES[Op.DOT].forward, [x1, x2]
            for layer in model.layers:
                outputs = []
                for neuron in layer.neurons:
                    act = dot(NUMPY_MATH, *[w.data for w in neuron.w], *x, neuron.b.data)
                    op = _ACTIVATION_OPS[neuron.activation]
                    outputs.append(RULES[op].forward(NUMPY_MATH, act) if op else act)
                x = outputs
            return x

        boundary = _os.path.join(out_dir, f"{dataset}_boundary.png")
        plots.decision_boundary(scores_at, X_train, y_train, boundary,
                                title=f"{dataset}: accuracy {100 * result.accuracy:.1f}% on "
                                      f"{result.scored_on}")
        written.append(boundary)
    elif dataset == "digits":
        guesses = _os.path.join(out_dir, "digits_predictions.png")
        plots.digit_predictions(X_test, y_test, predicted, guesses, title="held-out digits")
        written.append(guesses)
    stream.write("pictures: " + ", ".join(written) + "\n")
    return written


__all__ = ["TASKS", "OPTIMIZERS", "Result", "run", "parse_hidden", "Progress", "forward_floats"]
