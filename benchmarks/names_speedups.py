"""What each speed-up buys, on `tapegrad demo --dataset names`' training step (issue 13).

    python3 benchmarks/names_speedups.py            # the demo's model and batch
    python3 benchmarks/names_speedups.py --hidden 64 --batch 32

One training step -- forward, backward, Adam -- of makemore's MLP (context 3, embeddings of 10,
a tanh layer of --hidden, 27 logits) on --batch (context, next) pairs, taken four ways, each one
trick more than the one before:

1. eager, micrograd's way: every neuron is ``sum(w * x for ...) + b``, 2n + 1 nodes, and the
   graph is built again every step;
2. eager, fused: every neuron is one ``Value.dot`` node (what ``tapegrad.nn`` does), still
   built every step;
3. replayed on the python backend: the step is recorded once on one-hot inputs
   (``charlm.Batch``) and each step only flips the inputs that changed and re-runs the graph;
4. replayed on the NumPy backend: the same graph, each group of alike nodes one array operation.

It prints ms per step, each row's speed-up over the row before and over the first, and the
one-off cost of recording and compiling the replayed graph. All four compute the same loss
(printed, to show it). Absolute times on a shared machine are noise; read the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))  # a clean clone works

from tapegrad import charlm, datasets, losses  # noqa: E402
from tapegrad.optim import Adam  # noqa: E402


def unfused_logits(model: charlm.MLP, window: tuple) -> list:
    """model.logits(window) as micrograd writes a neuron: b + Σ w x as 2n + 1 nodes."""
    x = [v for token in window for v in model.C[token]]
    for layer, act in ((model.hidden, "tanh"), (model.out, None)):
        x = [sum((w * xi for w, xi in zip(n.w, x)), n.b) for n in layer.neurons]
        x = [v.tanh() for v in x] if act else x
    return x


def eager_step(logits_of):
    """A step that builds the graph every time: logits per pair, the loss, backward, Adam."""

    def step(model, opt, pairs):
        loss = losses.softmax_cross_entropy([logits_of(model, w) for w, _ in pairs],
                                            [t for _, t in pairs])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.data

    return step


def replayed(backend: str):
    """A step that replays a charlm.Batch recorded once (built on first use, timed apart)."""
    made = {}

    def step(model, opt, pairs):
        if "batch" not in made:
            started = time.perf_counter()
            made["batch"] = charlm.Batch(model, len(pairs), backend=backend)
            made["seconds"] = time.perf_counter() - started
        batch = made["batch"]
        loss = batch.run(pairs)
        opt.zero_grad()
        batch.graph.backward()
        opt.step()
        return loss

    step.made = made
    return step


WAYS = [
    ("eager, micrograd's 2n + 1 nodes a neuron", eager_step(unfused_logits)),
    ("eager, one fused dot node a neuron", eager_step(lambda model, w: model.logits(w))),
    ("replayed on the python backend", replayed("python")),
    ("replayed on the NumPy backend", replayed("numpy")),
]


def main(argv=None) -> None:
    """Time each way's steps on the same batches, from the same starting weights."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=200, help="hidden width (default 200)")
    parser.add_argument("--batch", type=int, default=64, help="pairs per step (default 64)")
    parser.add_argument("--steps", type=int, default=3,
                        help="timed steps of the slowest way; faster ways run more, to about "
                             "the same time (default 3)")
    args = parser.parse_args(argv)
    try:
        import numpy  # noqa: F401
    except ImportError:
        WAYS.pop()
        print("(NumPy is not installed: no NumPy row)")

    words = datasets.names()
    train = datasets.split(words, seed=42)[0]
    vocab = datasets.Vocab(words)
    pairs = charlm.examples(train, vocab, 3)
    batches = [pairs[k * args.batch:(k + 1) * args.batch] for k in range(2000)]
    print(f"one training step of charlm.MLP(context 3, embed 10, hidden {args.hidden}) on "
          f"{args.batch} pairs: forward, backward, Adam\n")
    print(f"{'':<44}{'ms a step':>10}{'x last':>8}{'x first':>9}   first loss   one-off")
    first = last = None
    for k, (name, step) in enumerate(WAYS):
        model = charlm.MLP(vocab.size, hidden=args.hidden, seed=1)
        opt = Adam(model.parameters(), lr=0.01)
        loss = step(model, opt, batches[0])  # (a replayed way records its graph here)
        times, n = [], 0
        budget = None if first is None else first * args.steps
        while n < (args.steps if first is None else 1000) and (budget is None or sum(times) < budget):
            started = time.perf_counter()
            step(model, opt, batches[1 + n])
            times.append(time.perf_counter() - started)
            n += 1
        ms = 1000 * statistics.median(times)
        first = first or ms / 1000
        once = f"{step.made['seconds']:.1f} s to record + compile" if hasattr(step, "made") else ""
        print(f"{k + 1}. {name:<41}{ms:>10.2f}{(last or ms) / ms:>7.1f}x{1000 * first / ms:>8.1f}x"
              f"   {loss:.6f}   {once}")
        last = ms


if __name__ == "__main__":
    main()
