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

from __future__ import annotations

import math as _math
import random as _random
import sys as _sys
import time as _time
import typing as _typing
from dataclasses import dataclass as _dataclass
from dataclasses import field as _field

from . import charlm, datasets
from .optim import Adam

STEPS = 8000  # of BATCH pairs each: about 3 passes over the training pairs
BATCH = 64
LR = 0.01  # Adam's, falling linearly to LR / 10 over the run (micrograd's schedule)
HIDDEN = 200  # makemore part 2's width
CHECKS = 4  # validation losses reported along the way, besides the last
SAMPLES = 10
SPLIT_SEED = 42  # makemore's split, whatever the run's --seed


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
    try:
        import numpy  # noqa: F401  (only whether it is there)
    except ImportError:
        return "python", ("NumPy is not installed, so the step replays on the python backend, "
                          "about 50x slower: pip install numpy (or fewer --steps)")
    return "numpy", ""


def _check(steps: int, lr: float, batch_size: int, hidden: int, temperature: float) -> None:
    """Every option, before anything is loaded."""
    for name, value in (("--steps", steps), ("--batch-size", batch_size), ("--hidden", hidden)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} {value!r}: give a whole number >= 1")
    for name, value in (("--lr", lr), ("--temperature", temperature)):
        if not (isinstance(value, (int, float)) and _math.isfinite(value) and value > 0):
            raise ValueError(f"{name} {value!r}: give a number > 0, e.g. {name} 0.01"
                             if name == "--lr" else f"{name} {value!r}: give a number > 0, "
                             "e.g. --temperature 1.0 (the model's own odds) or 0.5 (bolder)")


def run(steps: "int | None" = None, seed: int = 1337, lr: "float | None" = None,
        batch_size: "int | None" = None, hidden: "int | None" = None, temperature: float = 1.0,
        model: str = "mlp", stream: "_typing.TextIO | None" = None) -> NamesResult:
    """Train a character-level model of names and report on ``stream`` (stdout by default); the
    last lines are the sampled names. ``model`` is "mlp" (the default) or "bigram" (counting
    only). ``seed`` draws the initial weights, the batches and the names."""
    from .demo import Console, Progress, loss_text

    stream = _sys.stdout if stream is None else stream
    steps, lr = STEPS if steps is None else steps, LR if lr is None else lr
    batch_size, hidden = batch_size or BATCH, hidden or HIDDEN
    _check(steps, lr, batch_size, hidden, temperature)
    if model not in ("mlp", "bigram"):
        raise ValueError(f"--model {model!r}: choose mlp or bigram")
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

    net = charlm.MLP(vocab.size, context=3, embed=10, hidden=hidden, seed=seed)
    params = net.parameters()
    backend, note = _backend()
    if note:
        console.line(note)
    recorded = _time.perf_counter()
    step = charlm.Batch(net, batch_size, backend=backend)
    console.line(f"model: {net}, {len(params):,} parameters; adam lr {lr:g} falling to "
                 f"{lr / 10:g}, {steps} steps of {batch_size} pairs")
    console.line(f"recorded one training step of {batch_size} pairs once, on one-hot inputs: "
                 f"{len(step.graph):,} nodes, {_time.perf_counter() - recorded:.1f} s to record "
                 f"and compile for {backend}; each step replays it on new pairs")
    result = NamesResult(net, 0.0, bigram_loss, backend=backend)
    _train(step, params, charlm.examples(train, vocab, 3), val_pairs, steps, lr, seed, result,
           Progress(steps, stream, label=None), loss_text)
    result.val_loss = step.mean_loss(val_pairs)
    result.seconds = _time.perf_counter() - started
    console.line(f"trained in {result.seconds:.1f} s: validation loss {result.val_loss:.4f} nats "
                 f"per character, against the bigram baseline's {bigram_loss:.4f}")
    return _finish(result, vocab, temperature, seed, console, stream)


def _train(step, params: list, pairs: list, val_pairs: list, steps: int, lr: float, seed: int,
           result: NamesResult, progress, loss_text) -> None:
    """``steps`` Adam steps on random minibatches of ``pairs``; a validation loss noted CHECKS
    times along the way."""
    opt = Adam(params, lr=lr)
    rng = _random.Random(seed)
    every = max(1, steps // (CHECKS + 1))
    with progress:
        for k in range(steps):
            loss = step.run([pairs[rng.randrange(len(pairs))] for _ in range(step.size)])
            if not _math.isfinite(loss):
                raise ArithmeticError(f"step {k + 1} of {steps}: the loss is {loss}; try a "
                                      f"smaller --lr (it was {lr:g})")
            opt.zero_grad()
            step.graph.backward()
            opt.lr = lr * (1.0 - 0.9 * k / steps)
            opt.step()
            result.losses.append(loss)
            progress.update(k, loss)
            if (k + 1) % every == 0 and k + 1 < steps and len(result.checks) < CHECKS:
                result.checks.append((k + 1, step.mean_loss(val_pairs)))
                progress.note(f"step {k + 1}: validation loss {result.checks[-1][1]:.4f}")


def _finish(result: NamesResult, vocab, temperature: float, seed: int, console, stream
            ) -> NamesResult:
    """Sample the names, print them, and hand the result back."""
    result.names = charlm.generate(result.model, vocab, SAMPLES, temperature, seed)
    console.line(f"{SAMPLES} names the model made up (temperature {temperature:g}, seed {seed}):")
    for name in result.names:
        console.line(f"  {name}")
    stream.flush()
    return result


__all__ = ["run", "NamesResult"]
