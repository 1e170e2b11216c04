"""Character-level language models of names: makemore's road, on tapegrad's tools.

A language model of names predicts each next character from the ones before it. Its quality is
the *negative log-likelihood* it gives text it never trained on: the mean, over every character
of the validation names (the end of each name counts as one more, BOS), of

    -log P(next character | the characters before it)        in nats per character.

Guessing uniformly among 27 tokens scores log 27 = 3.30. Two models here, in makemore's order:

- `Bigram`: P(next | previous) by counting pairs in the training names. No gradients; about
  2.45 on names' validation split: the baseline anything learned must beat.
- `MLP`: makemore part 2 (Bengio et al. 2003). The last ``context`` characters are looked up in
  an embedding table C (one learned vector of ``embed`` numbers per token), concatenated, fed to
  a tanh layer and then to a linear layer with one logit per token:

      e = [C[c1], C[c2], C[c3]],   h = tanh(W1 e + b1),   logits = W2 h + b2.

  It is trained by minimising the cross-entropy of softmax(logits) against the true next
  character, log Σ_j exp(z_j) - z_next.

What makes the MLP fast is `Batch`: one training step's graph, recorded once, for a batch of
examples whose characters are *one-hot inputs* (27 leaves per character, one of them 1.0): the
lookup C[c] becomes e_j = Σ_t onehot_t · C[t][j], a dot product whose structure never changes.
Each step then only flips the one-hot leaves that changed and replays the graph -- on NumPy,
each group of alike nodes as one array operation -- instead of building it again.
"""

from __future__ import annotations

import math as _math
import random as _random
from collections import abc as _abc

from .datasets import Vocab
from .graph import Graph
from .losses import log_sum_exp
from .nn import Layer, Module
from .value import Value


def examples(words: _abc.Iterable, vocab: Vocab, context: int) -> list[tuple[tuple, int]]:
    """Every (context, next) pair of ``words``: for ``emma`` with a context of 3 and BOS written
    ``.``, ``(...) -> e``, ``(..e) -> m``, ``(.em) -> m``, ``(emm) -> a``, ``(mma) -> .``. A
    context starts filled with BOS, as the model sees the start of a name."""
    pairs = []
    for word in words:
        window = (vocab.BOS,) * context
        for token in vocab.encode(word)[1:]:
            pairs.append((window, token))
            window = window[1:] + (token,)
    return pairs


def softmax(logits: list, temperature: float = 1.0) -> list[float]:
    """exp(z_j / T) / Σ_k exp(z_k / T) as plain floats, from logits (Values or numbers)."""
    zs = [(z.data if isinstance(z, Value) else z) / temperature for z in logits]
    top = max(zs)
    exps = [_math.exp(z - top) for z in zs]
    total = sum(exps)
    return [e / total for e in exps]


def sample_token(logits: list, temperature: float = 1.0, rng: "_random.Random | None" = None
                 ) -> int:
    """A token drawn from softmax(logits / ``temperature``), with ``rng`` (a random.Random; the
    module's own generator if None). A temperature below 1 sharpens the distribution (0.5: the
    likely tokens more likely still), above 1 flattens it; it must be > 0."""
    if not (isinstance(temperature, (int, float)) and temperature > 0):
        raise ValueError(f"sample_token: temperature={temperature!r} must be a number > 0, "
                         "e.g. 1.0 (the model's own probabilities) or 0.5 (sharper)")
    probs = softmax(logits, temperature)
    return (rng or _random).choices(range(len(probs)), weights=probs)[0]


class Bigram:
    """P(next | previous) = (count(previous, next) + smoothing) / (count(previous) + smoothing · V):
    makemore part 1, counted over ``words``; ``smoothing`` (add-one by default) keeps a pair never
    seen from having probability 0, so no validation name scores an infinite loss."""

    def __init__(self, words: _abc.Iterable, vocab: Vocab, smoothing: float = 1.0) -> None:
        self.vocab = vocab
        counts = [[smoothing] * vocab.size for _ in range(vocab.size)]
        for (previous,), token in examples(words, vocab, 1):
            counts[previous][token] += 1
        self.probs = [[c / sum(row) for c in row] for row in counts]

    def loss(self, words: _abc.Iterable) -> float:
        """The mean negative log-likelihood of ``words``, in nats per character."""
        pairs = examples(words, self.vocab, 1)
        return -sum(_math.log(self.probs[p][t]) for (p,), t in pairs) / len(pairs)

    def logits(self, window: tuple) -> list[float]:
        """The log-probabilities of each next token after ``window`` (its last token counts)."""
        return [_math.log(p) for p in self.probs[window[-1]]]

    context = 1


class MLP(Module):
    """makemore part 2's model (see the module docstring): an embedding table ``C``, then
    ``hidden``, a tanh `nn.Layer` on the ``context · embed`` concatenated embeddings, then
    ``out``, a linear `nn.Layer` with one logit per token.

    Initialised so that training starts well (makemore part 3): C from N(0, 1); the hidden
    weights scaled by 5/3 / sqrt(fan-in) (tanh's gain), so the tanh units start unsaturated; the
    output weights small (0.1×), so the first predictions are near uniform and the first loss
    near log(vocab size)."""

    def __init__(self, vocab_size: int, context: int = 3, embed: int = 10, hidden: int = 128,
                 seed: int = 2147483647) -> None:
        rng = _random.Random(seed)
        self.vocab_size, self.context, self.embed = vocab_size, context, embed
        self.C = [[Value(rng.gauss(0.0, 1.0)) for _ in range(embed)] for _ in range(vocab_size)]
        state = _random.getstate()  # nn draws its weights from the module's generator:
        _random.seed(rng.random())  # seed it from ours, and leave the caller's as it was
        try:
            self.hidden = Layer(context * embed, hidden, act="tanh")
            self.out = Layer(hidden, vocab_size, act="linear")
        finally:
            _random.setstate(state)
        # nn's weights are uniform(-1, 1), of standard deviation 1/sqrt(3): rescale to the
        # standard deviations above
        for layer, gain in ((self.hidden, 5 / 3), (self.out, 0.1)):
            scale = gain * _math.sqrt(3 / len(layer.neurons[0].w))
            for neuron in layer.neurons:
                for w in neuron.w:
                    w.data *= scale

    def parameters(self) -> list[Value]:
        """The embeddings (token by token), then the hidden layer's, then the output layer's."""
        return [p for row in self.C for p in row] + self.hidden.parameters() + self.out.parameters()

    def logits(self, window: tuple) -> list[Value]:
        """The logits of the next token after the ``context`` token ids of ``window``: C[c] is
        looked up directly (eagerly, the lookup records nothing)."""
        return self.head([x for token in window for x in self.C[token]])

    def head(self, embedded: list) -> list[Value]:
        """The logits from the concatenated embeddings."""
        return self.out(self.hidden(embedded))

    def __repr__(self) -> str:
        return (f"MLP(context {self.context}, embed {self.embed}, hidden "
                f"{len(self.hidden.neurons)}, {self.vocab_size} tokens)")


class Batch:
    """One training step of ``model`` on ``size`` examples, recorded once as a Graph and replayed
    for every batch (see the module docstring): its inputs are one-hot leaves, so the graph's
    structure is the same whatever the characters.

        step = Batch(model, 64, backend="numpy")
        loss = step.run(pairs)      # feed 64 (context, next) pairs, forward: the mean loss
        opt.zero_grad(); step.graph.backward(); opt.step()

    The loss is Σ_b w_b · (log Σ_j exp(z_bj) - Σ_j y_bj z_bj), with y_b the one-hot target and
    w_b = 1/size, each w_b a leaf too: `mean_loss` sets some to 0 to score a last, partial batch.
    log_sum_exp's shift is a constant of the recording, which the loss does not depend on: it
    only keeps the exps in range while the logits stay within some hundreds of it."""

    def __init__(self, model: MLP, size: int, backend: str = "python") -> None:
        self.model, self.size = model, size
        vocab = model.vocab_size
        zero = Value(0.0)  # the bias of the lookups' dot products: not a parameter
        columns = [[row[j] for row in model.C] for j in range(model.embed)]
        self.inputs = [[[Value(0.0) for _ in range(vocab)] for _ in range(model.context)]
                       for _ in range(size)]
        self.targets = [[Value(0.0) for _ in range(vocab)] for _ in range(size)]
        self.weights = [Value(1.0 / size) for _ in range(size)]
        self._hot = [[None] * (model.context + 1) for _ in range(size)]  # the 1.0 in each
        terms = []
        for inputs, targets, weight in zip(self.inputs, self.targets, self.weights):
            embedded = [Value.dot(column, onehot, zero) for onehot in inputs for column in columns]
            logits = model.head(embedded)
            terms.append(weight * (log_sum_exp(logits) - Value.dot(targets, logits, zero)))
        self.loss = sum(terms)
        self.graph = Graph(self.loss, backend=backend)

    def feed(self, pairs: list) -> None:
        """Set the one-hot inputs to ``pairs``, at most ``size`` (context, next) pairs: only the
        leaves that change are written, two per character at most."""
        if not 0 < len(pairs) <= self.size:
            raise ValueError(f"Batch.feed: {len(pairs)} pairs for a batch of {self.size}")
        for b, (window, token) in enumerate(pairs):
            hot = self._hot[b]
            for slot, (leaves, t) in enumerate(zip((*self.inputs[b], self.targets[b]),
                                                   (*window, token))):
                if hot[slot] != t:
                    if hot[slot] is not None:
                        leaves[hot[slot]].data = 0.0
                    leaves[t].data = 1.0
                    hot[slot] = t

    def run(self, pairs: list) -> float:
        """Feed a full batch of ``pairs`` and replay the forward pass: the mean loss."""
        if len(pairs) != self.size:
            raise ValueError(f"Batch.run: {len(pairs)} pairs for a batch of {self.size}; "
                             "score a partial batch with mean_loss")
        self.feed(pairs)
        self.graph.forward()
        return self.loss.data

    def mean_loss(self, pairs: list) -> float:
        """The mean loss over all of ``pairs``, in batches (no gradient, no update): the last,
        partial batch weighs only its own pairs."""
        total = 0.0
        for start in range(0, len(pairs), self.size):
            chunk = pairs[start:start + self.size]
            if len(chunk) < self.size:
                for b, weight in enumerate(self.weights):
                    weight.data = 1.0 if b < len(chunk) else 0.0
                self.feed(chunk)
                self.graph.forward()
                total += self.loss.data
                for weight in self.weights:
                    weight.data = 1.0 / self.size
            else:
                total += self.run(chunk) * self.size
        return total / len(pairs)


def generate(model, vocab: Vocab, count: int = 10, temperature: float = 1.0, seed: int = 0,
             longest: int = 30) -> list[str]:
    """``count`` names drawn from ``model`` (a `Bigram` or an `MLP`), one character at a time
    from BOS until it draws BOS again (or ``longest`` characters), with `sample_token` at
    ``temperature``. The same seed gives the same names."""
    rng = _random.Random(seed)
    words = []
    for _ in range(count):
        window, word = (vocab.BOS,) * model.context, []
        while len(word) < longest:
            token = sample_token(model.logits(window), temperature, rng)
            if token == vocab.BOS:
                break
            word.append(token)
            window = window[1:] + (token,)
        words.append(vocab.decode(word))
    return words


__all__ = ["examples", "softmax", "sample_token", "Bigram", "MLP", "Batch", "generate"]
