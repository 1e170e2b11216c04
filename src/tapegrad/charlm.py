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

import math as _math
import random as _random
from collections import abc as _abc

from .datasets import Vocab
from .graph import Graph
from .losses import log_sum_exp
from .losses import softmax as _softmax
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
    """exp(z_j / T) / Σ_k exp(z_k / T) as plain floats, from logits (Values or numbers):
    `losses.softmax` of the logits divided by the temperature."""
    return _softmax([(z.data if isinstance(z, Value) else z) / temperature for z in logits])


def sample_token(logits: list, temperature: float = 1.0, rng: "_random.Random | None" = None
                 ) -> int:
    """A token drawn from softmax(logits / ``temperature``), with ``rng`` (a random.Random; the
    module's own generator if None). A temperature below 1 sharpens the distribution (0.5: the
    likely tokens more likely still), above 1 flattens it; it must be > 0."""
    if isinstance(temperature, bool) or not (isinstance(temperature, (int, float))
                                             and _math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"sample_token: temperature={temperature!r} must be a finite number "
                         "> 0, e.g. 1.0 (the model's own probabilities) or 0.5 (sharper)")
    probs = softmax(logits, temperature)
    return (rng or _random).choices(range(len(probs)), weights=probs)[0]


class Bigram:
    """P(next | previous) = (count(previous, next) + smoothing) / (count(previous) + smoothing · V):
    makemore part 1, counted over ``words``; ``smoothing`` (add-one by default) keeps a pair never
    seen from having probability 0, so no validation name scores an infinite loss."""

    def __init__(self, words: _abc.Iterable, vocab: Vocab, smoothing: float = 1.0) -> None:
        if isinstance(smoothing, bool) or not (isinstance(smoothing, (int, float))
                                               and _math.isfinite(smoothing) and smoothing > 0):
            raise ValueError(f"Bigram: smoothing={smoothing!r} must be a number > 0 (1.0 is "
                             "add-one): with 0, a pair never seen has probability 0, and a "
                             "name holding it an infinite loss")
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

    def next_logits(self, tokens: list) -> list[float]:
        """The log-probabilities of the token after ``tokens`` (a name so far, from BOS)."""
        return self.logits(tokens)

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

    def next_logits(self, tokens: list) -> list[Value]:
        """The logits of the token after ``tokens`` (a name so far, from BOS): of its last
        ``context`` tokens, BOS filling in before the start, as `examples` does."""
        window = (tokens[0],) * (self.context - len(tokens)) + tuple(tokens[-self.context:])
        return self.logits(window)

    def head(self, embedded: list) -> list[Value]:
        """The logits from the concatenated embeddings."""
        return self.out(self.hidden(embedded))

    def __repr__(self) -> str:
        return (f"MLP(context {self.context}, embed {self.embed}, hidden "
                f"{len(self.hidden.neurons)}, {self.vocab_size} tokens)")


class OneHot:
    """A token as a graph's input: ``size`` leaves, the token's 1.0 and the others 0.0. Setting
    another token writes two leaves, whatever the size."""

    def __init__(self, size: int) -> None:
        self.leaves = [Value(0.0) for _ in range(size)]
        self.token = None

    def set(self, token: int) -> None:
        """Make ``token`` the hot one."""
        if token != self.token:
            if self.token is not None:
                self.leaves[self.token].data = 0.0
            self.leaves[token].data = 1.0
            self.token = token


def _cross_entropy(logits: list, target: OneHot, zero: Value) -> Value:
    """log Σ_j exp(z_j) - Σ_j y_j z_j, the cross-entropy of softmax(z) against the one-hot y.
    log_sum_exp's shift is a constant of the recording, which the loss does not depend on: it
    only keeps the exps in range while the logits stay within some hundreds of it."""
    return log_sum_exp(logits) - Value.dot(target.leaves, logits, zero)


class Batch:
    """One training step of an `MLP` on ``size`` examples, recorded once as a Graph and replayed
    for every batch (see the module docstring): its inputs are `OneHot` leaves, so the graph's
    structure is the same whatever the characters.

        step = Batch(model, 64, backend="numpy")
        loss = step.run(pairs)      # feed 64 (context, next) pairs, forward: the mean loss
        opt.zero_grad(); step.graph.backward(); opt.step()

    The loss is Σ_b w_b · cross-entropy_b with w_b = 1/size, each w_b a leaf too: `mean_loss`
    sets some to 0 to score a last, partial batch."""

    def __init__(self, model: MLP, size: int, backend: str = "python") -> None:
        self.model, self.size = model, size
        zero = Value(0.0)  # the bias of the lookups' dot products: not a parameter
        columns = [[row[j] for row in model.C] for j in range(model.embed)]
        self.inputs = [[OneHot(model.vocab_size) for _ in range(model.context)]
                       for _ in range(size)]
        self.targets = [OneHot(model.vocab_size) for _ in range(size)]
        self.weights = [Value(1.0 / size) for _ in range(size)]
        terms = []
        for inputs, target, weight in zip(self.inputs, self.targets, self.weights):
            embedded = [Value.dot(column, onehot.leaves, zero) for onehot in inputs
                        for column in columns]
            terms.append(weight * _cross_entropy(model.head(embedded), target, zero))
        self.loss = sum(terms)
        self.graph = Graph(self.loss, backend=backend)

    def feed(self, pairs: list) -> None:
        """Set the inputs to ``pairs``, at most ``size`` (context, next) pairs."""
        if not 0 < len(pairs) <= self.size:
            raise ValueError(f"Batch.feed: {len(pairs)} pairs for a batch of {self.size}")
        for inputs, target, (window, token) in zip(self.inputs, self.targets, pairs):
            for onehot, t in zip(inputs, window):
                onehot.set(t)
            target.set(token)

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
        if not pairs:
            raise ValueError("Batch.mean_loss: no pairs given; the mean of nothing is undefined")
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


def _rmsnorm(x: list) -> list:
    """x / sqrt(mean(x²) + 1e-5): the vector scaled to a root-mean-square of 1."""
    scale = (sum(xi * xi for xi in x) * (1.0 / len(x)) + 1e-5) ** -0.5
    return [xi * scale for xi in x]


def _softmax_nodes(scores: list) -> list:
    """softmax(scores) as nodes. The largest score at recording is subtracted first, a constant:
    the weights do not depend on it, and it keeps each exp in range."""
    shift = max(s.data for s in scores)
    exps = [(s - shift).exp() for s in scores]
    inverse = sum(exps) ** -1.0
    return [e * inverse for e in exps]


class GPT(Module):
    """microgpt's model, tapegrad's way: token and position embeddings, one transformer block
    (causal multi-head self-attention, then an MLP of 4 × n_embd ReLUs, each with a residual
    connection and RMS normalisation first), and a linear head with one logit per token. Every
    row of every matrix is applied as one fused ``Value.dot`` node.

    For the token at position t, with x_t its embedding plus position t's:

        q, k_t, v_t = Wq x, Wk x, Wv x                           (per head, a slice of each)
        a_ts = softmax_s(q · k_s / sqrt(head size)),  s <= t     (only the past: causal)
        x = x + Wo [Σ_s a_ts v_s  for each head]
        x = x + W2 relu(W1 rmsnorm(x)),   logits = W_head x

    Weights start from N(0, 0.08²), as in microgpt."""

    def __init__(self, vocab_size: int, n_embd: int = 16, n_head: int = 4,
                 block_size: int = 16, seed: int = 42) -> None:
        if n_embd % n_head:
            raise ValueError(f"GPT: n_embd={n_embd} must be a multiple of n_head={n_head}")
        rng = _random.Random(seed)

        def matrix(rows: int, cols: int) -> list:
            return [[Value(rng.gauss(0.0, 0.08)) for _ in range(cols)] for _ in range(rows)]

        self.vocab_size, self.n_embd, self.n_head, self.block_size = (
            vocab_size, n_embd, n_head, block_size)
        self.wte, self.wpe = matrix(vocab_size, n_embd), matrix(block_size, n_embd)
        self.wq, self.wk, self.wv, self.wo = (matrix(n_embd, n_embd) for _ in range(4))
        self.fc1, self.fc2 = matrix(4 * n_embd, n_embd), matrix(n_embd, 4 * n_embd)
        self.lm_head = matrix(vocab_size, n_embd)
        self.zero = Value(0.0)  # the bias of every dot product: not a parameter

    def matrices(self) -> list:
        """The weight matrices, in the order of `parameters`."""
        return [self.wte, self.wpe, self.wq, self.wk, self.wv, self.wo, self.fc1, self.fc2,
                self.lm_head]

    def parameters(self) -> list[Value]:
        """Every weight, matrix by matrix, row by row."""
        return [p for matrix in self.matrices() for row in matrix for p in row]

    def _linear(self, matrix: list, x: list) -> list:
        return [Value.dot(row, x, self.zero) for row in matrix]

    def forward(self, embedded: list) -> list:
        """The logits at every position, from each position's token embedding (a list of
        n_embd Values: a row of wte, or a one-hot input's dot products with its columns)."""
        head_size = self.n_embd // self.n_head
        scale = 1.0 / _math.sqrt(head_size)
        keys, values, logits = [], [], []
        for pos, token in enumerate(embedded):
            x = _rmsnorm([t + p for t, p in zip(token, self.wpe[pos])])
            residual, x = x, _rmsnorm(x)
            q, k, v = (self._linear(w, x) for w in (self.wq, self.wk, self.wv))
            keys.append(k)
            values.append(v)
            heads = []
            for h in range(0, self.n_embd, head_size):
                weights = _softmax_nodes([Value.dot(q[h:h + head_size], key[h:h + head_size],
                                                    self.zero) * scale for key in keys])
                heads += [Value.dot(weights, [value[j] for value in values], self.zero)
                          for j in range(h, h + head_size)]
            x = [a + b for a, b in zip(self._linear(self.wo, heads), residual)]
            hidden = [y.relu() for y in self._linear(self.fc1, _rmsnorm(x))]
            x = [a + b for a, b in zip(self._linear(self.fc2, hidden), x)]
            logits.append(self._linear(self.lm_head, x))
        return logits

    def next_logits(self, tokens: list) -> list[Value]:
        """The logits of the token after ``tokens`` (a name so far, from BOS; at most
        block_size of them): rows of wte are looked up directly, eagerly."""
        return self.forward([self.wte[t] for t in tokens[-self.block_size:]])[-1]

    def __repr__(self) -> str:
        return (f"GPT(n_embd {self.n_embd}, {self.n_head} heads, 1 block, block size "
                f"{self.block_size}, {self.vocab_size} tokens)")


class SequenceBatch:
    """One training step of a `GPT` on ``size`` names of up to ``length`` predictions each,
    recorded once on `OneHot` inputs and replayed: a shorter name fills the positions after its
    end with whatever was there and gives them a loss weight of 0 -- attention is causal, so
    later positions never change earlier ones' numbers. The loss is the mean cross-entropy over
    the real predictions of the batch (each weight 1 / their number)."""

    def __init__(self, model: GPT, size: int, length: int, backend: str = "python") -> None:
        if not 0 < length <= model.block_size:
            raise ValueError(f"SequenceBatch: length {length} must be 1..{model.block_size}, "
                             "the model's block size")
        self.model, self.size, self.length = model, size, length
        columns = [[row[j] for row in model.wte] for j in range(model.n_embd)]
        self.inputs = [[OneHot(model.vocab_size) for _ in range(length)] for _ in range(size)]
        self.targets = [[OneHot(model.vocab_size) for _ in range(length)] for _ in range(size)]
        self.weights = [[Value(0.0) for _ in range(length)] for _ in range(size)]
        terms = []
        for inputs, targets, weights in zip(self.inputs, self.targets, self.weights):
            embedded = [[Value.dot(column, onehot.leaves, model.zero) for column in columns]
                        for onehot in inputs]
            for logits, target, weight in zip(model.forward(embedded), targets, weights):
                terms.append(weight * _cross_entropy(logits, target, model.zero))
        self.loss = sum(terms)
        self.graph = Graph(self.loss, backend=backend)

    def feed(self, sequences: list) -> int:
        """Set the inputs to ``sequences`` (at most ``size`` token lists, BOS, the name's
        tokens, BOS; at most length + 1 tokens each); the number of predictions they make."""
        if not 0 < len(sequences) <= self.size:
            raise ValueError(f"SequenceBatch.feed: {len(sequences)} names for a batch of "
                             f"{self.size}")
        count = sum(len(tokens) - 1 for tokens in sequences)
        for b, inputs in enumerate(self.inputs):
            tokens = sequences[b] if b < len(sequences) else ()
            if len(tokens) - 1 > self.length:
                raise ValueError(f"SequenceBatch.feed: {len(tokens) - 1} predictions in "
                                 f"{tokens!r}, more than the batch's length {self.length}")
            for pos, weight in enumerate(self.weights[b]):
                real = pos < len(tokens) - 1
                weight.data = 1.0 / count if real else 0.0
                if real:
                    inputs[pos].set(tokens[pos])
                    self.targets[b][pos].set(tokens[pos + 1])
        return count

    def run(self, sequences: list) -> float:
        """Feed ``sequences`` and replay the forward pass: their mean loss."""
        self.feed(sequences)
        self.graph.forward()
        return self.loss.data


def generate(model, vocab: Vocab, count: int = 10, temperature: float = 1.0, seed: int = 0,
             longest: int = 30) -> list[str]:
    """``count`` names drawn from ``model`` (a `Bigram`, an `MLP` or a `GPT`), one character at
    a time from BOS until it draws BOS again (or ``longest`` characters; a GPT's block size is
    its own limit), with `sample_token` at ``temperature``. The same seed gives the same names."""
    rng = _random.Random(seed)
    longest = min(longest, getattr(model, "block_size", longest + 1) - 1)
    words = []
    for _ in range(count):
        tokens = [vocab.BOS]
        while len(tokens) <= longest:
            token = sample_token(model.next_logits(tokens), temperature, rng)
            if token == vocab.BOS:
                break
            tokens.append(token)
        words.append(vocab.decode(tokens))
    return words


__all__ = ["examples", "softmax", "sample_token", "Bigram", "MLP", "OneHot", "Batch", "GPT", "SequenceBatch",
           "generate"]
