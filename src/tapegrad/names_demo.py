"""``tapegrad demo --dataset names``: a character-level model of names, trained in seconds.

makemore's lesson in one run (see tapegrad/charlm.py for the models):

1. the names (32,033 of them) are split as makemore splits them: 80% to train on, 10% to
   validate, 10% to test (`datasets.split`, seed 42);
2. the bigram baseline counts pairs of characters in the training names and scores the
   validation names: about 2.45 nats per character;
3. the MLP (makemore part 2) trains with Adam on minibatches of (three characters, next
   character) pairs; its graph is recorded once for a batch on one-hot inputs and replayed for
   every batch -- on NumPy where it is installed -- so a step costs about 2 ms, not the 150 ms of
   building it again;
4. the validation loss is scored on every validation name, next to the baseline's, and the model
   invents ten names, drawn with a seeded sampler at a temperature.

The default run, 8,000 steps of 64 pairs, reaches a validation loss of about 2.15 in 25-40 s on a
2-core machine (makemore part 2 reports 2.17 for this model).
"""


import math as _math
import random as _random
import sys as _sys
import time as _time
import typing as _typing
from dataclasses import dataclass as _dataclass
from dataclasses import field as _field

from . import charlm, datasets
from .demo import Console, Progress, TrainingStopped, _have_numpy, _smaller_lr, _stopped_at
from .optim import Adam

STEPS = 8000  # of BATCH pairs each: about 3 passes over the training pairs
BATCH = 64
LR = 0.01  # Adam's, falling linearly to LR / 10 over the run (micrograd's schedule)
HIDDEN = 200  # makemore part 2's width
CHECKS = 4  # validation losses reported along the way, besides the last
SAMPLES = 10
SPLIT_SEED = 42  # makemore's split, whatever the run's --seed
GPT_BATCH = 16  # names per step
BUCKETS = (8, 16)  # the GPT's recorded lengths, in predictions; 16 is its block size


@_dataclass
class NamesResult:
    """What a names run leaves behind."""

    model: object  # a charlm.MLP, or the charlm.Bigram for --model bigram
    val_loss: float  # nats per character on every validation pair, after the last step
    bigram_loss: float  # the counting baseline's, on the same pairs
    names: list = _field(default_factory=list)  # sampled at the end
    losses: list = _field(default_factory=list)  # per step, of its batch, before its update
    checks: list = _field(default_factory=list)  # (step, validation loss) along the way
    backend: str = "python"  # where the step's graph was replayed
    seconds: float = 0.0  # loading, counting, recording, training and scoring; not sampling


def _backend() -> "tuple[str, str]":
    """numpy where it is installed, else the python replay, with a line that says so."""
    if not _have_numpy():
        return "python", ("NumPy is not installed, so the step replays on the python backend, "
                          "some 300x slower (minutes per 1,000 steps, not seconds): pip install "
                          "numpy, or give fewer --steps")
    return "numpy", ""


def _check(steps: int, lr: float, batch_size: int, hidden: int, temperature: float) -> None:
    """Every option, before anything is loaded."""
    for name, value in (("--steps", steps), ("--batch-size", batch_size), ("--hidden", hidden)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} {value!r}: give a whole number >= 1")
    for name, value in (("--lr", lr), ("--temperature", temperature)):
        if isinstance(value, bool) or not (isinstance(value, (int, float))
                                           and _math.isfinite(value) and value > 0):
            raise ValueError(f"{name} {value!r}: give a number > 0, e.g. {name} 0.01"
                             if name == "--lr" else f"{name} {value!r}: give a number > 0, "
                             "e.g. --temperature 1.0 (the model's own odds) or 0.5 (bolder)")


def run(steps: "int | None" = None, seed: int = 1337, lr: "float | None" = None,
        batch_size: "int | None" = None, hidden: "int | None" = None, temperature: float = 1.0,
        model: str = "mlp", stream: "_typing.TextIO | None" = None) -> NamesResult:
    """Train a character-level model of names and report on ``stream`` (stdout by default); the
    last lines are the sampled names. ``model`` is "mlp" (the default), "gpt" (microgpt's
    model, trained on minibatches of whole names) or "bigram" (counting only). ``seed`` draws
    the initial weights, the batches and the names."""
    stream = _sys.stdout if stream is None else stream
    steps, lr = STEPS if steps is None else steps, LR if lr is None else lr
    batch_size_given = batch_size is not None
    batch_size = BATCH if batch_size is None else batch_size
    hidden = HIDDEN if hidden is None else hidden
    _check(steps, lr, batch_size, hidden, temperature)
    if model not in ("mlp", "gpt", "bigram"):
        raise ValueError(f"--model {model!r}: choose mlp, gpt or bigram")
    console = Console(stream)
    started = _time.perf_counter()

    words = datasets.names()
    train, val, _ = datasets.split(words, seed=SPLIT_SEED)
    vocab = datasets.Vocab(words)
    bigram = charlm.Bigram(train, vocab)
    val_pairs = charlm.examples(val, vocab, 3)
    bigram_loss = bigram.loss(val)
    console.line(f"tapegrad demo: names, {len(train):,} training names, {len(val):,} to "
                 f"validate ({len(val_pairs):,} characters), {vocab.size} tokens "
                 f"('.' = BOS, start and end)")
    console.line(f"bigram baseline (counting pairs of characters): validation loss "
                 f"{bigram_loss:.4f} nats per character (guessing uniformly: "
                 f"{_math.log(vocab.size):.4f})")
    if model == "bigram":
        result = NamesResult(bigram, bigram_loss, bigram_loss, seconds=_time.perf_counter() - started)
        return _finish(result, vocab, temperature, seed, console, stream)

    backend, note = _backend()
    if note:
        console.line(note)
    recorded = _time.perf_counter()
    if model == "gpt":
        net = charlm.GPT(vocab.size, seed=seed)
        batch_size = batch_size if batch_size_given else GPT_BATCH
        step = _Buckets(net, batch_size, backend, train, val, vocab)
        unit = "names"
        what = "names (a graph for each length: " + ", ".join(
            f"up to {n - 1} characters" for n in BUCKETS) + ")"
    else:
        net = charlm.MLP(vocab.size, context=3, embed=10, hidden=hidden, seed=seed)
        step = _Pairs(charlm.Batch(net, batch_size, backend=backend), train, val_pairs, vocab)
        unit, what = "pairs", "pairs"
    params = net.parameters()
    console.line(f"model: {net}, {len(params):,} parameters; adam lr {lr:g} falling to "
                 f"{lr / 10:g}, {steps} step{'s' * (steps != 1)} of {batch_size} {unit}")
    console.line(f"recorded one training step of {batch_size} {what} once, on one-hot inputs: "
                 f"{step.nodes():,} nodes, {_time.perf_counter() - recorded:.1f} s to record "
                 f"and compile for {backend}; each step replays it on new {unit}")
    result = NamesResult(net, 0.0, bigram_loss, backend=backend)
    try:
        _train(step, params, steps, lr, seed, result, Progress(steps, stream, label=None))
    except ArithmeticError as error:  # (a diverging run: a nan loss, or an exp that overflows)
        raise TrainingStopped(f"{_stopped_at(len(result.losses) + 1, steps)}: {error}; "
                              f"{_smaller_lr(lr)}") from None
    result.val_loss = step.val_loss()
    result.seconds = _time.perf_counter() - started
    console.line(f"trained in {result.seconds:.1f} s: validation loss {result.val_loss:.4f} nats "
                 f"per character, against the bigram baseline's {bigram_loss:.4f}")
    return _finish(result, vocab, temperature, seed, console, stream)


class _Pairs:
    """The MLP's training: random minibatches of (context, next) pairs, one recorded Batch."""

    def __init__(self, batch, train: list, val_pairs: list, vocab) -> None:
        self.batch, self.val_pairs = batch, val_pairs
        self.pairs = charlm.examples(train, vocab, batch.model.context)

    def nodes(self) -> int:
        return len(self.batch.graph)

    def run(self, rng: _random.Random):
        """A minibatch drawn with ``rng``, fed and replayed: its loss, and the graph to
        differentiate."""
        pairs = self.pairs
        return self.batch.run([pairs[rng.randrange(len(pairs))] for _ in range(self.batch.size)]), \
            self.batch.graph

    def val_loss(self) -> float:
        return self.batch.mean_loss(self.val_pairs)


class _Buckets:
    """The GPT's training: minibatches of whole names of about one length, one recorded
    SequenceBatch per length bucket (BUCKETS: a name with n characters makes n + 1 predictions,
    and goes to the shortest bucket that holds them); a step draws its bucket with the odds of
    its share of the names, then its names."""

    def __init__(self, model, size: int, backend: str, train: list, val: list, vocab) -> None:
        self.batches = [charlm.SequenceBatch(model, size, length, backend) for length in BUCKETS]
        self.train, self.val = self._sorted(train, vocab), self._sorted(val, vocab)
        self.odds = [len(names) for names in self.train]

    @staticmethod
    def _sorted(words: list, vocab) -> list:
        found = [[] for _ in BUCKETS]
        for word in words:
            tokens = vocab.encode(word)
            found[next(k for k, n in enumerate(BUCKETS) if len(tokens) - 1 <= n)].append(tokens)
        return found

    def nodes(self) -> int:
        return sum(len(batch.graph) for batch in self.batches)

    def run(self, rng: _random.Random):
        k = rng.choices(range(len(BUCKETS)), weights=self.odds)[0]
        names, batch = self.train[k], self.batches[k]
        return batch.run([names[rng.randrange(len(names))] for _ in range(batch.size)]), \
            batch.graph

    def val_loss(self) -> float:
        """The mean loss over every prediction of every validation name."""
        total = count = 0
        for names, batch in zip(self.val, self.batches):
            for start in range(0, len(names), batch.size):
                chunk = names[start:start + batch.size]
                n = sum(len(tokens) - 1 for tokens in chunk)
                total += batch.run(chunk) * n
                count += n
        return total / count


def _train(step, params: list, steps: int, lr: float, seed: int, result: NamesResult,
           progress) -> None:
    """``steps`` Adam steps on random minibatches; a validation loss noted CHECKS times along
    the way."""
    opt = Adam(params, lr=lr)
    rng = _random.Random(seed)
    every = max(1, steps // (CHECKS + 1))
    with progress:
        for k in range(steps):
            loss, graph = step.run(rng)
            if not _math.isfinite(loss):
                raise ArithmeticError(f"the loss is {loss}")
            opt.zero_grad()
            graph.backward()
            opt.lr = lr * (1.0 - 0.9 * k / steps)
            opt.step()
            result.losses.append(loss)
            progress.update(k, loss)
            if (k + 1) % every == 0 and k + 1 < steps and len(result.checks) < CHECKS:
                result.checks.append((k + 1, step.val_loss()))
                progress.note(f"step {k + 1}: validation loss {result.checks[-1][1]:.4f}")


def _finish(result: NamesResult, vocab, temperature: float, seed: int, console, stream
            ) -> NamesResult:
    """Sample the names, print them, and hand the result back."""
    result.names = charlm.generate(result.model, vocab, SAMPLES, temperature, seed)
    console.line(f"{SAMPLES} names the model made up (temperature {temperature:g}, seed {seed}):")
    for name in result.names:
        console.line(f"  {name}" if name else "  (none: the model ended the name at once)")
    stream.flush()
    return result


__all__ = ["run", "NamesResult"]
