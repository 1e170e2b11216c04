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
(micrograd's schedule).

What each figure is measured on. The loss and accuracy shown at each step are those of that
step's batch -- every training sample for the 2-D sets, a minibatch of 32 for digits -- taken
from the forward pass, so before that step's update. The closing ``accuracy`` line is measured
after the last update: for digits on the held-out fifth of the data (359 images) the model never
trains on, with the training-set accuracy on the line above it; for the 2-D sets, as in
micrograd's demo, on the points they train on.

A run that goes wrong says so. A loss that grows -- at two steps running over ten times the
first step's, or rising at each of ten steps running -- prints one warning, "loss is growing: try
a smaller --lr"; a loss or a gradient that is nan or inf, or a step that overflows a float, stops
the training with ``TrainingStopped``, naming the step.

A step is recorded once, on placeholders for a batch (tapegrad.backends.compile_step), and
each step feeds its batch in and runs the compiled graph with NumPy: the same losses as
rebuilding the graph, step for step. ``--eager`` (``run(..., eager=True)``, and the fallback
without NumPy) rebuilds the graph every step as micrograd does: for digits a step of 32 images
records about 8,400 nodes -- 2,048 pixels and 2,410 parameters as leaves, and 3,500 computed
nodes: 32 × 42 fused neurons, their ReLUs, and the loss -- in 40-60 ms, so the 500 steps take
20-45 s on a 2-core machine, where the compiled step takes well under a millisecond (95% on the
held-out digits either way).
"""

import math as _math
import os as _os
import random as _random
import re as _re
import shutil as _shutil
import sys as _sys
import textwrap as _textwrap
import time as _time
import typing as _typing
from dataclasses import dataclass as _dataclass
from dataclasses import field as _field

from . import datasets, losses, serialize
from .nn import MLP
from .ops import FLOATS, RULES, Op
from .optim import SGD, Adam, AdamW
from .value import Value

OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW}
INSTALL_BAR = 'for a live progress bar: pip install "tapegrad[demo]"'
GROWTH_FACTOR = 10.0  # a loss this many times the first step's, at two steps running, is growing
RISING_STEPS = 10  # ... and so is one that rose at each of this many steps running


@_dataclass(frozen=True)
class Task:
    """A dataset and the settings that train it well."""

    load: object  # seed -> (X, y)
    classes: int
    steps: int
    hidden: tuple
    optimizer: str
    lr: float
    batch_size: "int | None" = None  # None: the whole training set every step
    test_fraction: "float | None" = None  # hold out this much for scoring, or score on training


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


@_dataclass
class Result:
    """What a demo run leaves behind."""

    model: MLP
    accuracy: float  # after the last update: on the held-out split for digits, else training
    scored_on: str  # what ``accuracy`` was measured on, in words
    train_accuracy: float = 0.0  # after the last update, on the whole training set
    losses: list = _field(default_factory=list)  # per step, of that step's batch
    accuracies: list = _field(default_factory=list)  # per step, on its batch, before its update
    batch: str = "each step's batch"  # what each step's loss and accuracy are measured on, in words
    pictures: list = _field(default_factory=list)  # paths written
    seconds: float = 0.0  # loading the data, training and scoring; not drawing


class TrainingStopped(ArithmeticError):
    """Training could not go on: a loss or a gradient became nan or inf, or a step overflowed a
    float. The message names the step and says what to try."""


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


# ---------------------------------------------------------------------------------------------
# What a person sees: lines that fit the terminal, and the progress of the training
# ---------------------------------------------------------------------------------------------


def _is_terminal(stream: _typing.TextIO) -> bool:
    """Whether ``stream`` is a terminal a person watches (not a file, a pipe, a closed stream)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def terminal_columns() -> int:
    """The terminal's width in columns: $COLUMNS if set, else the terminal's own, else 80
    (``shutil.get_terminal_size``, read afresh each time, so a resized terminal is followed)."""
    return max(1, _shutil.get_terminal_size().columns)


def fit_lines(text: str, columns: int) -> str:
    """``text`` with each of its lines wrapped at spaces to ``columns`` characters, continuation
    lines indented by two; a word longer than the line (a long path) is kept whole.

    So the terminal, which would break a line anywhere, never has to; and ``MLP(2, [16, 16, 1])``
    stays together (spaces inside short brackets do not break)."""
    wrapper = _textwrap.TextWrapper(width=max(columns, 20), subsequent_indent="  ",
                                    break_long_words=False, break_on_hyphens=False)
    fitted = []
    for line in text.split("\n"):
        glued = _glue_brackets(line)
        fitted.extend(part.replace("\xa0", " ") for part in wrapper.wrap(glued) or [""])
    return "\n".join(fitted)


_SHORT_GROUP = _re.compile(r"\([^()]{0,24}\)|\[[^\[\]]{0,24}\]")  # (2, [16, 16, 1]), not a clause


def _glue_brackets(line: str) -> str:
    """The spaces inside short (...) and [...] groups made non-breaking, as textwrap breaks at
    ASCII spaces only: a parenthesised clause longer than that may still break."""
    return _SHORT_GROUP.sub(lambda group: group[0].replace(" ", "\xa0"), line)


class Console:
    """Whole lines for a person, on ``stream``: on a terminal each is wrapped to the terminal's
    width (so the terminal never wraps one mid-word); elsewhere written as they are, one per
    line, as a log wants them. Has ``write`` and ``flush``, so it can stand for the stream."""

    def __init__(self, stream: _typing.TextIO) -> None:
        """Write to ``stream``; wrap only if it is a terminal."""
        self.stream = stream
        self.live = _is_terminal(stream)

    def write(self, text: str) -> int:
        """Write ``text`` (one or more lines), wrapped if on a terminal; return its length."""
        self.stream.write(fit_lines(text, terminal_columns()) if self.live else text)
        return len(text)

    def line(self, text: str) -> None:
        """Write ``text`` as a line of its own."""
        self.write(text + "\n")

    def flush(self) -> None:
        """Flush the stream."""
        self.stream.flush()


def loss_text(loss: float) -> str:
    """A loss in at most 9 characters: 0.9094 for an everyday loss, 1.235e+05 for a huge one,
    nan and inf as they are -- never the 40 digits of a diverging run's float."""
    if _math.isfinite(loss) and abs(loss) < 1e4:
        return f"{loss:.4f}"
    return f"{loss:.3e}"


class Progress:
    """The training's progress on ``stream``, one ``update`` per step.

    On a terminal, with tqdm installed: one live line, redrawn in place -- step, loss and
    accuracy, the bar, elapsed time, time left and rate -- that fits the terminal's width (read
    again at every step): as the terminal narrows, the words shorten and the rate goes before
    anything wraps. Anywhere else -- a file, a pipe, a terminal without tqdm (told once how to
    get the bar) -- plain lines: the first step, every tenth of the run, and the last.

    Use it as a context manager: the bar is closed, and its line ended, however training ends --
    finished, stopped, or interrupted with Ctrl-C.
    """

    LINES = 10  # plain lines per run, about
    MIN_BAR = 8  # narrowest bar worth drawing, in characters
    SPARE = 2  # columns left free at the right: a typed ^C is echoed there, not onto a new line
    MININTERVAL = 0.1  # seconds between redraws, at most ten a second whatever the step rate

    def __init__(self, steps: int, stream: _typing.TextIO, label: str = "train acc") -> None:
        """Show the progress of ``steps`` steps on ``stream``; ``label`` names the accuracy
        (``train acc``: on every training sample; ``batch acc``: on the step's minibatch), or
        is None where there is none to show (a language model's loss says it all)."""
        self.steps = steps
        self.stream = stream
        self.label = label
        self.every = max(1, steps // self.LINES)
        self.console = Console(stream)
        self._started = _time.perf_counter()
        self._bar = None
        if self.console.live:
            try:
                from tqdm import tqdm
            except ImportError:
                self.console.line(INSTALL_BAR)
            else:
                self._bar = tqdm(total=steps, file=stream, leave=True, unit="step",
                                 ncols=self._columns(), bar_format=self._layouts(0, None, 0)[0],
                                 mininterval=self.MININTERVAL, dynamic_ncols=False,
                                 disable=False)

    @property
    def live(self) -> bool:
        """Whether a live bar is drawn (a terminal, and tqdm installed)."""
        return self._bar is not None

    def update(self, step: int, loss: float, accuracy: float = 0.0) -> None:
        """Show that step ``step`` (counted from 0) is done, with its loss and accuracy."""
        done = step + 1
        if self._bar is not None:
            self._bar.ncols = self._columns()
            self._bar.bar_format = self._fitting_layout(done, loss, accuracy)
            self._bar.update(1)
        elif done % self.every == 0 or done == self.steps or step == 0:
            seconds = _time.perf_counter() - self._started
            shown = f"  {self.label} {100 * accuracy:5.1f}%" if self.label else ""
            self.console.line(f"step {self._count(done)}  loss {loss_text(loss)}{shown}  "
                              f"({seconds:.1f} s)")
        self.stream.flush()

    def note(self, text: str) -> None:
        """A line of its own among the progress (above the bar, which is redrawn below it)."""
        if self._bar is not None:
            self._bar.write(fit_lines(text, terminal_columns()), file=self.stream)
        else:
            self.console.line(text)

    def close(self) -> None:
        """End the bar's line (the bar stays, showing the last step); plain lines need nothing."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Progress":
        """The progress itself."""
        return self

    def __exit__(self, *exc_info) -> None:
        """Close the bar, whether training finished or not; exceptions go on."""
        self.close()

    def _columns(self) -> int:
        """The width the bar may take."""
        return max(1, terminal_columns() - self.SPARE)

    def _count(self, done: int) -> str:
        """' 7/100': the step count, padded so the line does not shift as it grows."""
        return f"{done:>{len(str(self.steps))}}/{self.steps}"

    def _layouts(self, done: int, loss: "float | None", accuracy: float) -> list[str]:
        """The bar's formats for tqdm, richest first; tqdm fills in {bar} (the bar, as wide as
        the rest of the line leaves), {elapsed}, {remaining} (the ETA) and {rate_fmt}."""
        count, lost = self._count(done), loss_text(loss) if loss is not None else "-"
        if self.label is None:  # the loss alone
            return [f"step {count}  loss {lost} |{{bar}}| {{elapsed}}<{{remaining}}, {{rate_fmt}}",
                    f"{count} loss {lost} |{{bar}}| {{elapsed}}<{{remaining}}",
                    f"{count} {lost} {{remaining}}", f"{count} {lost}", f"{count}"]
        word = self.label.split()[0]
        acc = f"{100 * accuracy:5.1f}%" if loss is not None else "-"
        return [
            f"step {count}  loss {lost}  {self.label} {acc} |{{bar}}| "
            "{elapsed}<{remaining}, {rate_fmt}",
            f"step {count} loss {lost} {self.label} {acc} |{{bar}}| {{elapsed}}<{{remaining}}",
            f"{count} loss {lost} {word} {acc} |{{bar}}| {{elapsed}}<{{remaining}} {{rate_fmt}}",
            f"{count} loss {lost} {word} {acc} |{{bar}}| {{elapsed}}<{{remaining}}",
            f"{count} loss {lost} {word} {acc} {{elapsed}}<{{remaining}}",
            f"{count} {lost} {acc} {{remaining}}",
            f"{count} {lost} {acc}",
            f"{count} {lost}",
            f"{count}",  # (and tqdm cuts what is still too long: a count, never a number's digits)
        ]

    def _fitting_layout(self, done: int, loss: float, accuracy: float) -> str:
        """The richest layout that fits the bar's width with a bar of at least MIN_BAR."""
        columns = self._bar.ncols
        fields = dict(self._bar.format_dict, n=done, ncols=None)
        layouts = self._layouts(done, loss, accuracy)
        for layout in layouts:
            rest = self._bar.format_meter(**dict(fields, bar_format=layout.replace("{bar}", "")))
            needed = len(rest) + (self.MIN_BAR if "{bar}" in layout else 0)
            if needed <= columns:
                return layout
        return layouts[-1]


# ---------------------------------------------------------------------------------------------
# The model, its loss and its scores
# ---------------------------------------------------------------------------------------------


_ACTIVATION_OPS = {"relu": Op.RELU, "tanh": Op.TANH, "sigmoid": Op.SIGMOID, "linear": None}


def forward_floats(model: MLP, x: list, m: object = FLOATS) -> list:
    """The model's outputs as plain floats, from the rule table's formulas, recording nothing.

    The same numbers as ``model(x)``, several times faster: for scoring and the pictures, which
    evaluate the model at many points and need no gradients. With ``m`` the NumPy arithmetic
    (``backends.numpy_math.NUMPY_MATH``) and ``x`` arrays, one element per point, it gives the
    outputs at all those points at once.
    """
    dot = RULES[Op.DOT].forward
    for layer in model.layers:
        outputs = []
        for neuron in layer.neurons:
            act = dot(m, *[w.data for w in neuron.w], *x, neuron.b.data)
            op = _ACTIVATION_OPS[neuron.activation]
            outputs.append(RULES[op].forward(m, act) if op else act)
        x = outputs
    return x


def _predict(model: MLP, x: list, classes: int) -> int:
    """The class the model gives ``x``: the sign of its one score for two classes, else the
    index of its largest score."""
    out = forward_floats(model, x)
    if classes == 2:
        return int(out[0] > 0)
    return max(range(classes), key=lambda c: out[c])


def _batch_loss(model: MLP, X: list, y: list, classes: int, params: list,
                scores_out: "list | None" = None) -> tuple:
    """The loss of one batch (a Value, to back-propagate) and the fraction of it classified
    right, both from the forward pass, so before the update. `scores_out`, if given, receives
    each point's scores (for the training explorer)."""
    inputs = [list(map(Value, row)) for row in X]
    scores = list(map(model, inputs))
    if scores_out is not None:
        scores_out.extend(scores)
    if classes == 2:
        signs = [2 * label - 1 for label in y]
        loss = _loss(scores, signs, classes, params)
        right = [(s > 0) == (score.data > 0) for s, score in zip(signs, scores)]
    else:
        loss = _loss(scores, y, classes, params)
        right = [max(range(classes), key=lambda c: row[c].data) == label
                 for row, label in zip(scores, y)]
    return loss, sum(right) / len(right)


def _loss(scores: list, targets: list, classes: int, params: list) -> Value:
    """Two classes: micrograd's demo, operation for operation -- targets -1/+1, hinge, plus 1e-4
    L2. More: softmax cross-entropy (targets class indices, or one-hot rows)."""
    if classes == 2:
        return losses.hinge(scores, targets) + losses.l2(params, 1e-4)
    return losses.softmax_cross_entropy(scores, targets)


def _have_numpy() -> bool:
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


def _eager_steps(model: MLP, opt, classes: int, params: list, keep_scores: bool = False):
    """micrograd's way, ``--eager``: each step builds its batch's graph anew and
    back-propagates it. A function (batch_X, batch_y) -> (loss, accuracy, finite): finite is
    None, for "check every gradient". With ``keep_scores`` (for the training explorer), the
    function's ``scores`` is the latest batch's scores, Values of its graph."""

    def forward_backward(batch_X: list, batch_y: list) -> tuple:
        forward_backward.scores = scores = []
        extra = (scores,) if keep_scores else ()
        loss, accuracy = _batch_loss(model, batch_X, batch_y, classes, params, *extra)
        opt.zero_grad()
        loss.backward()
        return loss.data, accuracy, None

    return forward_backward


def _compiled_steps(model: MLP, opt, classes: int, params: list, size: int):
    """The default: the step's loss recorded once, on placeholders for a batch of ``size``
    samples (the pixels, and the labels as -1/+1 signs or one-hot rows), compiled for NumPy
    (tapegrad.backends.compile_step); each step feeds its batch in and runs forward and
    backward. The same losses as eager, step for step. A function like _eager_steps', whose
    finite says whether the loss and all the gradients are finite (one array operation)."""
    import numpy as np

    from .backends import compile_step, placeholders

    xs = placeholders(size, len(model.layers[0].neurons[0].w))
    ts = placeholders(size) if classes == 2 else placeholders(size, classes, name="t")
    outputs = [model(x) for x in xs]
    step = compile_step(_loss(outputs, ts, classes, params), feeds=(xs, ts), params=params)
    scores = step.reader(outputs)
    eye = np.eye(classes)

    def forward_backward(batch_X: list, batch_y: list) -> tuple:
        labels = np.asarray(batch_y)
        targets = 2.0 * labels - 1.0 if classes == 2 else eye[labels]
        opt.zero_grad()
        loss = step.run(np.asarray(batch_X, dtype=float), targets)
        if classes == 2:
            right = (scores() > 0) == (targets > 0)
        else:
            right = scores().argmax(axis=1) == labels
        return loss, float(right.mean()), step.finite()

    return forward_backward


def _batches(X: list, y: list, batch_size: "int | None", seed: int):
    """One (X, y) batch per step, forever: the whole set every step when ``batch_size`` is None
    or covers it; else minibatches that walk a fresh shuffle of the set, epoch after epoch."""
    if batch_size is None or batch_size >= len(X):
        while True:
            yield X, y
    order: list[int] = []
    shuffler = _random.Random(seed)
    while True:
        if len(order) < batch_size:
            order = list(range(len(X)))
            shuffler.shuffle(order)
        picked, order = order[:batch_size], order[batch_size:]
        yield [X[i] for i in picked], [y[i] for i in picked]


def loss_is_growing(losses: list) -> bool:
    """Whether the losses so far (one per step) look like a run that diverges: the last two are
    both over GROWTH_FACTOR times the first, or each of the last RISING_STEPS rose above the one
    before it and the latest is above the first."""
    if len(losses) >= 2 and min(losses[-2:]) > GROWTH_FACTOR * losses[0]:
        return True
    recent = losses[-RISING_STEPS - 1:]
    return (len(recent) == RISING_STEPS + 1 and recent[-1] > losses[0]
            and all(a < b for a, b in zip(recent, recent[1:])))


def _stop_unless_finite(step: int, steps: int, loss: float, params: list, lr0: float) -> None:
    """TrainingStopped, naming step ``step``, if the loss or a parameter's gradient is not
    finite (nan or inf)."""
    if not _math.isfinite(loss):
        raise TrainingStopped(f"{_stopped_at(step, steps)}: the loss is {loss}; "
                              f"{_smaller_lr(lr0)}")
    for i, p in enumerate(params):
        if not _math.isfinite(p.grad):
            raise TrainingStopped(f"{_stopped_at(step, steps)}: the gradient of parameter {i} "
                                  f"(of {len(params)}) is {p.grad}; {_smaller_lr(lr0)}")


def _stopped_at(step: int, steps: int) -> str:
    """'training stopped at step 7 of 100'."""
    return f"training stopped at step {step} of {steps}"


def _smaller_lr(lr0: float) -> str:
    """The usual cure, in the command line's words."""
    return f"try a smaller --lr (this run's: {lr0:g})"


def _accuracy(model: MLP, X: list, y: list, classes: int) -> "tuple[float, list[int]]":
    """The fraction of ``X`` the model classifies right, and its predictions: with NumPy, the
    rule table's formulas on arrays of all the samples at once (the same numbers, elementwise)."""
    if _have_numpy():
        import numpy as np

        from .backends.numpy_math import NUMPY_MATH

        scores = forward_floats(model, list(np.asarray(X, dtype=float).T), NUMPY_MATH)
        picked = scores[0] > 0 if classes == 2 else np.argmax(np.stack(scores), axis=0)
        predicted = [int(p) for p in picked]
    else:
        predicted = [_predict(model, x, classes) for x in X]
    return sum(p == t for p, t in zip(predicted, y)) / len(y), predicted


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def _check_save(save: str) -> None:
    """ValueError or OSError, saying what to pass, if ``--save`` cannot be written: a folder
    (``--save runs/``), or a file in a folder that does not exist. Checked before training, so a
    mistake costs nothing."""
    if save.endswith(("/", _os.sep)) or _os.path.isdir(save):
        name = _os.path.join(save, "model.json")
        raise ValueError(f"--save {save!r} is a folder; name the file to write, e.g. "
                         f"--save {name}")
    serialize.check_save_path(save)


def _check_out_dir(out_dir: str) -> None:
    """ValueError, saying what to pass, if ``--out`` is a file, or a file stands where one of its
    folders would be made (the folders that are missing are made when the pictures are drawn)."""
    path = _os.path.abspath(out_dir)
    while not _os.path.exists(path):
        path = _os.path.dirname(path)
    if not _os.path.isdir(path):
        raise ValueError(f"--out {out_dir!r}: {path!r} is a file, not a folder; pass a folder "
                         "for the pictures (it is made if missing), or --no-pictures")


def _check_options(steps, optimizer: str, lr0, batch_size) -> None:
    """ValueError naming the option and what to pass, for a setting training cannot use."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"--optimizer {optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
    if isinstance(steps, bool) or not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"--steps {steps!r}: train for at least 1 step")
    if isinstance(lr0, bool) or not isinstance(lr0, (int, float)) or not lr0 > 0:
        raise ValueError(f"--lr {lr0!r}: the learning rate must be > 0")
    if not _math.isfinite(lr0):
        raise ValueError(f"--lr {lr0!r}: the learning rate must be a finite number, e.g. --lr 0.1")
    if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
        raise ValueError(f"--batch-size {batch_size!r}: a batch needs at least 1 sample")


def run(dataset: str = "moons", steps: "int | None" = None, hidden: "tuple | None" = None,
        optimizer: "str | None" = None, lr: "float | None" = None, seed: int = 1337,
        batch_size: "int | None" = None, out_dir: "str | None" = ".", save: "str | None" = None,
        stream: "_typing.TextIO | None" = None, html: "str | None" = None,
        eager: bool = False) -> Result:
    """Train on ``dataset`` and report on ``stream`` (stdout by default); the last line written
    is ``accuracy NN.N% on ...``, measured after the last update. Pictures go to ``out_dir``
    (None: no pictures); ``save`` names a JSON file for the trained model. None for any other
    setting takes the dataset's default (see the table above). ``html`` names a file for the
    training explorer (`tapegrad.training_explorer`), a page that replays the run step by step.
    ``eager`` rebuilds each step's graph, as micrograd does, instead of running a step compiled
    once (which needs NumPy: without it, training is eager); with ``html`` training is eager
    too, since the explorer reads each step's own graph.

    Every setting is checked before anything is loaded or trained (ValueError or OSError naming
    the option). Training stops with TrainingStopped if a loss or a gradient becomes nan or inf.
    """
    stream = _sys.stdout if stream is None else stream
    if dataset not in TASKS:
        raise ValueError(f"--dataset {dataset!r}: choose one of {', '.join(TASKS)}")
    task = TASKS[dataset]
    steps = task.steps if steps is None else steps
    hidden = task.hidden if hidden is None else tuple(hidden)
    optimizer = task.optimizer if optimizer is None else optimizer
    lr0 = task.lr if lr is None else lr
    batch_size = task.batch_size if batch_size is None else batch_size
    _check_options(steps, optimizer, lr0, batch_size)
    if save:
        _check_save(save)  # a mistyped --save fails now, not after the training
    if out_dir is not None:
        _check_out_dir(out_dir)
    if html:
        serialize.check_save_path(html)  # a mistyped --html fails now, not after the training

    console = Console(stream)
    if not eager and not _have_numpy():
        eager = True
        console.line("NumPy is not installed, so each step is built eagerly; for the compiled "
                     "step: pip install numpy")
    started = _time.perf_counter()
    X, y = task.load(seed)
    if task.test_fraction:
        X_train, X_test, y_train, y_test = datasets.train_test_split(X, y, task.test_fraction,
                                                                     seed)
        scored_on, aside = f"the {len(X_test)} held-out test samples", ""
    else:
        X_train, X_test, y_train, y_test = X, X, y, y
        scored_on = f"the {len(X)} training samples"
        aside = " (micrograd's demo scores there too)"
    _random.seed(seed)  # micrograd seeds Python's random right before building the model
    outputs = 1 if task.classes == 2 else task.classes
    model = MLP(len(X[0]), [*hidden, outputs])
    opt = OPTIMIZERS[optimizer](model.parameters(), lr=lr0)
    minibatch = batch_size is not None and batch_size < len(X_train)
    label = "batch acc" if minibatch else "train acc"
    console.line(f"tapegrad demo: {dataset}, {len(X_train)} training samples, "
                 f"{model_summary(model)}, {optimizer} lr {lr0:g}, {steps} step"
                 + "s" * (steps != 1))
    measured = (f"the step's minibatch of {batch_size} training samples" if minibatch
                else f"all {len(X_train)} training samples")
    console.line(f"each step: loss and {label} on {measured}, before the step's update")

    result = Result(model=model, accuracy=0.0, scored_on=scored_on,
                    batch=f"minibatches of {batch_size}" if minibatch else f"all {len(X_train)} samples")
    watch = _watcher(dataset, model, opt, X_train, y_train, task.classes, steps) if html else None
    with Progress(steps, stream, label=label) as progress:
        _train(model, opt, task.classes, _batches(X_train, y_train, batch_size, seed), steps,
               lr0, progress, result, eager, watch)

    result.train_accuracy, predicted = _accuracy(model, X_train, y_train, task.classes)
    if task.test_fraction:
        result.accuracy, predicted = _accuracy(model, X_test, y_test, task.classes)
    else:
        result.accuracy = result.train_accuracy
    result.seconds = _time.perf_counter() - started
    console.line(f"trained in {result.seconds:.1f} s")
    if save:
        serialize.save(model, save)
        console.line(f"model saved to {save}")
    if html:
        from .files import write_all

        write_all([(html, watch.html())])  # (all or nothing, as --save: no half-written page)
        console.line(f"training explorer written to {html}: open it in a browser")
    if out_dir is not None:
        result.pictures = _draw(dataset, model, task, X_train, y_train, X_test, y_test, predicted,
                                result, out_dir, console)
    if task.test_fraction:
        console.line(f"training-set accuracy {100 * result.train_accuracy:.1f}% on all "
                     f"{len(X_train)} training samples, after the last step")
    console.line(f"accuracy {100 * result.accuracy:.1f}% on {scored_on}, after the last "
                 f"step{aside}")
    stream.flush()
    return result


def _watcher(dataset: str, model: MLP, opt, X: list, y: list, classes: int, steps: int):
    """The training explorer's Recorder for this run, its boundary drawn with NumPy when it is
    installed (else on plain floats, a few seconds more)."""
    from .training_explorer import Recorder

    try:
        from .backends.numpy_math import NUMPY_MATH

        import numpy as np

        def grid_scores(x1, x2):
            return forward_floats(model, [np.array(x1), np.array(x2)], NUMPY_MATH)
    except ImportError:
        def grid_scores(x1, x2):
            rows = [forward_floats(model, [a, b]) for a, b in zip(x1, x2)]
            return [list(column) for column in zip(*rows)]

    words = "the hinge loss + 1e-4 L2, a mean over the batch" if classes == 2 else \
        "softmax cross-entropy, a mean over the batch"
    return Recorder(dataset, model, opt, X, y, classes, steps, words, grid_scores)


def _train(model: MLP, opt, classes: int, batches, steps: int, lr0: float, progress: Progress,
           result: Result, eager: bool = False, watch=None) -> None:
    """``steps`` steps of training, one batch each, compiled once (or rebuilt each step when
    ``eager`` or ``watch``, the training explorer's recorder); each step's loss and accuracy
    (its batch's, before its update) go to ``result`` and ``progress``. The learning rate falls
    linearly from ``lr0`` to ``lr0 / 10``, micrograd's schedule. Says once if the loss is growing; raises
    TrainingStopped, naming the step, if it or a gradient is not finite."""
    params = model.parameters()
    warned = False
    forward_backward = None
    for k in range(steps):
        batch_X, batch_y = next(batches)
        if forward_backward is None:
            forward_backward = (_eager_steps(model, opt, classes, params, watch is not None)
                                if eager or watch else
                                _compiled_steps(model, opt, classes, params, len(batch_X)))
        try:
            loss, accuracy, finite = forward_backward(batch_X, batch_y)
            if not finite:  # (then find the culprit) before it reaches p
                _stop_unless_finite(k + 1, steps, loss, params, lr0)
            opt.lr = lr0 * (1.0 - 0.9 * k / steps)
            if watch:
                watch.before_update(k, batch_X, forward_backward.scores, loss, accuracy)
            opt.step()
            if watch:
                watch.after_update(k)
        except OverflowError as error:
            raise TrainingStopped(f"{_stopped_at(k + 1, steps)}: a number overflowed a float "
                                  f"({error}); {_smaller_lr(lr0)}") from None
        result.losses.append(loss)
        result.accuracies.append(accuracy)
        progress.update(k, loss, accuracy)
        if not warned and loss_is_growing(result.losses):
            warned = True
            progress.note(f"warning: loss is growing: try a smaller --lr (the loss went from "
                          f"{loss_text(result.losses[0])} at step 1 to {loss_text(loss)} "
                          f"at step {k + 1}; --lr was {lr0:g})")


def model_summary(model: MLP) -> str:
    """'MLP(2, [16, 16, 1]) with 337 parameters': the layer sizes and the parameter count."""
    sizes = [len(model.layers[0].neurons[0].w)] + [len(layer.neurons) for layer in model.layers]
    return f"MLP({sizes[0]}, {list(sizes[1:])}) with {len(model.parameters())} parameters"


def _draw(dataset: str, model: MLP, task: Task, X_train: list, y_train: list, X_test: list,
          y_test: list, predicted: list, result: Result, out_dir: str, stream) -> "list[str]":
    """Draw the run's pictures into ``out_dir`` and return their paths: the training curves;
    the decision boundary over the training points (2-D data); some test digits with the
    model's guesses, its mistakes among them (digits). Without matplotlib, say how to get it."""
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
                          accuracy_on=f"on {result.batch}, before each step")
    written.append(curves)
    if len(X_train[0]) == 2:

        def scores_at(x1, x2) -> list:  # NumPy arrays in, one array per output out
            """The model's outputs at many points at once: forward_floats on NumPy arrays (one
            element per point) instead of floats -- the same numbers, a few milliseconds for
            the whole grid instead of seconds."""
            from .backends.numpy_math import NUMPY_MATH

            return forward_floats(model, [x1, x2], NUMPY_MATH)

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


__all__ = ["TASKS", "OPTIMIZERS", "Result", "TrainingStopped", "run", "parse_hidden", "Progress",
           "Console", "forward_floats", "fit_lines", "loss_text", "loss_is_growing",
           "terminal_columns", "model_summary"]
