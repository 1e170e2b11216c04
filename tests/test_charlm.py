"""Character-level language models of names (tapegrad.charlm): the (context, next) pairs, the
softmax and the seeded sampler against mpmath and against their own frequencies, the bigram's
counts by hand and its validation loss on names() (makemore's 2.45), the MLP's size and
initialisation, the recorded Batch against the eager loss and gradients (and PyTorch) on both
backends as its one-hot inputs flip from batch to batch, and the names generate() draws."""

from __future__ import annotations

import functools
import importlib.util
import math
import random
from collections import Counter
from fractions import Fraction

import mpmath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad import Value, charlm, datasets, losses
from tapegrad.charlm import MLP, Batch, Bigram, examples, generate, sample_token, softmax
from tapegrad.datasets import Vocab

HAVE_NUMPY = importlib.util.find_spec("numpy") is not None

BACKENDS = ["python",
            pytest.param("numpy", marks=pytest.mark.skipif(not HAVE_NUMPY,
                                                             reason="numpy not installed"))]

WORDS = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper"]
VOCAB = Vocab(WORDS)  # 'abehilmoprsv' + BOS: 13 tokens
LETTERS = st.text(alphabet="abc", max_size=6)


@pytest.fixture(autouse=True)
def _random_state_kept():
    """Tests here that seed the random module leave it as they found it."""
    state = random.getstate()
    yield
    random.setstate(state)


def tokens(text: str, vocab: Vocab = VOCAB) -> tuple:
    """'.em' -> (BOS, e, m): a window written with '.' for BOS."""
    return tuple(vocab.BOS if ch == "." else vocab.stoi[ch] for ch in text)


# ---------------------------------------------------------------------------------------------
# examples
# ---------------------------------------------------------------------------------------------

EXAMPLE_ROWS = [
    # word, context, the pairs as "window>next" with '.' for BOS
    ("emma", 3, ["...>e", "..e>m", ".em>m", "emm>a", "mma>."]),  # the docstring's
    ("emma", 1, [".>e", "e>m", "m>m", "m>a", "a>."]),
    ("ava", 2, ["..>a", ".a>v", "av>a", "va>."]),
    ("ava", 5, [".....>a", "....a>v", "...av>a", "..ava>."]),  # longer than the name
    ("mia", 4, ["....>m", "...m>i", "..mi>a", ".mia>."]),
    ("", 3, ["...>."]),  # an empty name is one pair: it ends at once
]


@pytest.mark.parametrize("word, context, expected", EXAMPLE_ROWS)
def test_examples_rows(word, context, expected):
    """examples() gives exactly the (window, next) pairs of a name, its windows starting at BOS."""
    want = [(tokens(w), tokens(t)[0]) for w, t in (pair.split(">") for pair in expected)]
    assert examples([word], VOCAB, context) == want


def test_examples_of_several_words_are_each_words_pairs_in_order():
    """A list's pairs are its words' pairs, one word after the other, each restarting at BOS."""
    assert examples(["emma", "ava"], VOCAB, 3) == (examples(["emma"], VOCAB, 3)
                                                   + examples(["ava"], VOCAB, 3))


@settings(max_examples=40, deadline=None)
@given(words=st.lists(LETTERS, max_size=8), context=st.integers(1, 5))
def test_examples_count_and_sliding_windows(words, context):
    """sum(len(w) + 1) pairs; each window is the last `context` tokens before its target."""
    vocab = Vocab(["abc"])
    pairs = examples(words, vocab, context)
    assert len(pairs) == sum(len(w) + 1 for w in words)
    i = 0
    for word in words:
        ids = vocab.encode(word)  # [BOS] + chars + [BOS]
        padded = [vocab.BOS] * (context - 1) + ids
        for k in range(len(word) + 1):
            window, target = pairs[i]
            assert window == tuple(padded[k:k + context]) and target == ids[k + 1]
            i += 1
    assert all(type(w) is tuple and len(w) == context for w, _ in pairs)


# ---------------------------------------------------------------------------------------------
# softmax and sample_token
# ---------------------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(logits=st.lists(st.floats(-50, 50), min_size=1, max_size=27),
       temperature=st.floats(0.1, 10))
def test_softmax_matches_mpmath(logits, temperature):
    """softmax(z, T) is exp(z/T) / Σ exp(z/T), as mpmath computes it at 50 digits; it sums to 1."""
    probs = softmax(logits, temperature)
    with mpmath.workdps(50):
        exps = [mpmath.exp(mpmath.mpf(z) / mpmath.mpf(temperature)) for z in logits]
        total = mpmath.fsum(exps)
        want = [float(e / total) for e in exps]
    assert probs == pytest.approx(want, rel=1e-12, abs=1e-300)
    assert math.fsum(probs) == pytest.approx(1.0, abs=1e-12)
    assert all(type(p) is float and 0.0 <= p <= 1.0 for p in probs)


def test_softmax_takes_values_and_huge_logits():
    """Values count by their data, and logits in the thousands do not overflow."""
    assert softmax([Value(1.0), 2.0, Value(3.0)]) == pytest.approx(softmax([1.0, 2.0, 3.0]))
    assert softmax([1000.0, 1000.0 + math.log(3)]) == pytest.approx([0.25, 0.75], rel=1e-12)
    assert softmax([-1e4, 0.0]) == [0.0, 1.0]


@settings(max_examples=30, deadline=None)
@given(logits=st.lists(st.floats(-5, 5), min_size=2, max_size=27), seed=st.integers(0, 2**32))
def test_a_small_temperature_always_draws_the_argmax(logits, seed):
    """At T = 0.001 a logit 0.05 above all others is drawn every time (the rest: < e^-50 each)."""
    top = max(range(len(logits)), key=logits.__getitem__)
    logits = [z + 0.05 if i == top else z for i, z in enumerate(logits)]
    rng = random.Random(seed)
    assert {sample_token(logits, 0.001, rng) for _ in range(50)} == {top}


@settings(max_examples=20, deadline=None)
@given(logits=st.lists(st.floats(-3, 3), min_size=2, max_size=27), seed=st.integers(0, 2**32),
       temperature=st.floats(0.2, 5))
def test_a_seeded_rng_draws_the_same_tokens_and_leaves_random_alone(logits, seed, temperature):
    """The same random.Random seed gives the same tokens; the module's generator is not touched."""
    state = random.getstate()
    first = [sample_token(logits, temperature, random.Random(seed)) for _ in range(3)]
    rng_a, rng_b = random.Random(seed), random.Random(seed)
    a = [sample_token(logits, temperature, rng_a) for _ in range(30)]
    b = [sample_token(logits, temperature, rng_b) for _ in range(30)]
    assert a == b and first == [a[0]] * 3
    assert all(type(t) is int and 0 <= t < len(logits) for t in a)
    assert random.getstate() == state


def test_without_an_rng_the_module_generator_is_used():
    """rng=None draws from the random module: random.seed makes the draws repeat."""
    logits = [0.0, 0.5, 1.0, 0.2, -0.3]
    random.seed(123)
    a = [sample_token(logits) for _ in range(40)]
    random.seed(123)
    b = [sample_token(logits) for _ in range(40)]
    assert a == b and len(set(a)) > 1


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_draw_frequencies_match_the_probabilities(temperature):
    """Over 20,000 seeded draws each token's frequency is within 5 sigma of softmax(z / T)."""
    logits = [0.0, 1.0, 2.0, -1.0, 0.5]
    probs = softmax(logits, temperature)
    n, rng = 20_000, random.Random(42)
    counts = Counter(sample_token(logits, temperature, rng) for _ in range(n))
    for token, p in enumerate(probs):
        sigma = math.sqrt(p * (1 - p) / n)
        assert abs(counts[token] / n - p) < 5 * sigma, (token, counts[token] / n, p)
    # and the temperature mattered: at T = 1 the other temperatures' odds are > 10 sigma away
    if temperature != 1.0:
        base = softmax(logits)
        assert max(abs(a - b) for a, b in zip(base, probs)) > 10 * math.sqrt(0.25 / n)


@pytest.mark.parametrize("temperature", [0, 0.0, -1, -0.5, float("nan"), "1", None, [1.0]])
def test_bad_temperatures_are_refused(temperature):
    """A temperature that is not a number > 0 is a ValueError that names temperature."""
    with pytest.raises(ValueError, match="temperature"):
        sample_token([0.0, 1.0], temperature, random.Random(0))


# ---------------------------------------------------------------------------------------------
# Bigram
# ---------------------------------------------------------------------------------------------

TINY = ["ab", "b", "aab"]  # tokens a = 0, b = 1, BOS = 2
# the pairs: .a ab b.  .b b.  .a aa ab b.   -> counts from '.': a 2, b 1;  from a: a 1, b 2;
# from b: '.' 3. P = (count + s) / (row + 3s)
BIGRAM_ROWS = [
    (1.0, ".", "a", Fraction(3, 6)), (1.0, ".", "b", Fraction(2, 6)),
    (1.0, ".", ".", Fraction(1, 6)), (1.0, "a", "a", Fraction(2, 6)),
    (1.0, "a", "b", Fraction(3, 6)), (1.0, "a", ".", Fraction(1, 6)),
    (1.0, "b", "a", Fraction(1, 6)), (1.0, "b", "b", Fraction(1, 6)),
    (1.0, "b", ".", Fraction(4, 6)),
    (0.5, ".", "a", Fraction(5, 9)), (0.5, "b", ".", Fraction(7, 9)),
    (0.5, "b", "a", Fraction(1, 9)), (2.0, "a", "b", Fraction(4, 9)),
    (2.0, ".", ".", Fraction(2, 9)),
]


@pytest.mark.parametrize("smoothing, previous, following, expected", BIGRAM_ROWS)
def test_bigram_probabilities_are_smoothed_counts(smoothing, previous, following, expected):
    """P(next | previous) = (count + s) / (row + s·V), counted by hand on a tiny corpus."""
    vocab = Vocab(TINY)
    model = Bigram(TINY, vocab, smoothing)
    p, n = tokens(previous, vocab)[0], tokens(following, vocab)[0]
    assert model.probs[p][n] == pytest.approx(float(expected), rel=1e-15)


@settings(max_examples=30, deadline=None)
@given(train=st.lists(LETTERS, min_size=1, max_size=10), val=st.lists(LETTERS, min_size=1,
                                                                       max_size=6),
       smoothing=st.sampled_from([1.0, 0.1, 3.0]))
def test_bigram_rows_and_loss_against_an_independent_count(train, val, smoothing):
    """Each row sums to 1, and loss() is the mean -log p of the pairs, counted apart (mpmath)."""
    vocab = Vocab(["abc"])
    model = Bigram(train, vocab, smoothing)
    for row in model.probs:
        assert math.fsum(row) == pytest.approx(1.0, abs=1e-12)
    pair_counts = Counter(pair for w in train for pair in zip("." + w, w + "."))
    row_counts = Counter(a for w in train for a in "." + w)
    with mpmath.workdps(30):
        nll = [-mpmath.log((pair_counts[a, b] + mpmath.mpf(smoothing))
                           / (row_counts[a] + smoothing * vocab.size))
               for w in val for a, b in zip("." + w, w + ".")]
        want = float(mpmath.fsum(nll) / len(nll))
    assert model.loss(val) == pytest.approx(want, rel=1e-12)
    # its logits are the log-probabilities of the last token's row, whatever came before
    assert softmax(model.logits((0, 2, 1))) == pytest.approx(model.probs[1], rel=1e-12)
    assert model.logits((vocab.BOS,)) == pytest.approx([math.log(p)
                                                        for p in model.probs[vocab.BOS]])


def test_bigram_on_names_validation_is_makemores_baseline():
    """On names()' seed-42 split the bigram scores 2.40-2.50 on validation (makemore: ~2.45)."""
    words = datasets.names()
    train, val, _ = datasets.split(words, seed=42)
    vocab = Vocab(words)
    model = Bigram(train, vocab)
    assert vocab.size == 27 and model.context == 1
    loss = model.loss(val)
    assert 2.40 < loss < 2.50
    # 729 counts do not overfit 25,626 names: the training names score the same, to 0.01
    assert model.loss(train) == pytest.approx(loss, abs=0.01)


# ---------------------------------------------------------------------------------------------
# MLP
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("vocab_size, context, embed, hidden", [
    (27, 3, 10, 200),  # the demo's default: 11,897
    (27, 3, 10, 16),   # the demo's short runs: 1,225
    (5, 1, 2, 3),
    (13, 2, 4, 8),
    (27, 4, 3, 1),     # one hidden unit: its layer returns a bare Value
])
def test_mlp_parameter_count_and_shapes(vocab_size, context, embed, hidden):
    """V·embed + (context·embed + 1)·hidden + (hidden + 1)·V parameters, and V logits."""
    model = MLP(vocab_size, context=context, embed=embed, hidden=hidden, seed=1)
    params = model.parameters()
    assert len(params) == (vocab_size * embed + (context * embed + 1) * hidden
                           + (hidden + 1) * vocab_size)
    assert len({id(p) for p in params}) == len(params)
    assert len(model.C) == vocab_size and all(len(row) == embed for row in model.C)
    logits = model.logits((0,) * context)
    assert len(logits) == vocab_size and all(math.isfinite(z.data) for z in logits)
    assert repr(model) == (f"MLP(context {context}, embed {embed}, hidden {hidden}, "
                           f"{vocab_size} tokens)")


def _float_logits(model: MLP, window: tuple) -> list[float]:
    """The MLP's logits recomputed with plain floats from its weights (e, tanh, linear)."""
    e = [x.data for t in window for x in model.C[t]]
    h = [math.tanh(n.b.data + math.fsum(w.data * x for w, x in zip(n.w, e)))
         for n in model.hidden.neurons]
    return [n.b.data + math.fsum(w.data * x for w, x in zip(n.w, h)) for n in model.out.neurons]


def test_mlp_logits_are_tanh_then_linear_on_the_looked_up_embeddings():
    """logits(window) = W2 tanh(W1 [C[c1], C[c2], C[c3]] + b1) + b2, recomputed in floats."""
    model = MLP(VOCAB.size, context=3, embed=4, hidden=8, seed=5)
    for n in model.hidden.neurons + model.out.neurons:  # biases start at 0: make them count
        n.b.data = random.Random(id(n) % 97).uniform(-0.5, 0.5)
    for window in [tokens("..."), tokens(".em"), tokens("mma"), tokens("aaa")]:
        got = [z.data for z in model.logits(window)]
        assert got == pytest.approx(_float_logits(model, window), rel=1e-12, abs=1e-14)


def test_mlp_initialisation_scales():
    """C ~ N(0, 1); hidden weights uniform of sd 5/3/sqrt(fan-in); output weights sd 0.1/sqrt(H)."""
    context, embed, hidden, vocab_size = 3, 10, 200, 27
    model = MLP(vocab_size, context, embed, hidden, seed=3)

    def sd(xs):
        return math.sqrt(math.fsum(x * x for x in xs) / len(xs))

    c = [x.data for row in model.C for x in row]
    w1 = [w.data for n in model.hidden.neurons for w in n.w]
    w2 = [w.data for n in model.out.neurons for w in n.w]
    assert abs(math.fsum(c) / len(c)) < 0.2 and sd(c) == pytest.approx(1.0, rel=0.15)
    fan_in = context * embed
    assert sd(w1) == pytest.approx(5 / 3 / math.sqrt(fan_in), rel=0.05)
    assert max(map(abs, w1)) <= 5 / 3 * math.sqrt(3 / fan_in) + 1e-12  # uniform, rescaled
    assert sd(w2) == pytest.approx(0.1 / math.sqrt(hidden), rel=0.05)
    assert max(map(abs, w2)) <= 0.1 * math.sqrt(3 / hidden) + 1e-12
    assert all(n.b.data == 0 for n in model.hidden.neurons + model.out.neurons)


@pytest.mark.parametrize("seed, hidden", [(0, 8), (1, 16), (2147483647, 16)])
def test_mlp_first_loss_is_near_log_vocab(seed, hidden):
    """With the small output weights the first loss on real pairs is within 0.15 of log V."""
    words = datasets.names()[:30]
    vocab = Vocab(datasets.names())
    pairs = examples(words, vocab, 3)[:120]
    model = MLP(vocab.size, hidden=hidden, seed=seed)
    loss = losses.softmax_cross_entropy([model.logits(w) for w, _ in pairs],
                                        [t for _, t in pairs])
    assert abs(loss.data - math.log(vocab.size)) < 0.15


def test_mlp_same_seed_same_weights_other_seed_others():
    """The seed alone fixes the weights, whatever random's state; another seed gives others."""
    random.seed(1)
    a = [p.data for p in MLP(VOCAB.size, embed=4, hidden=8, seed=7).parameters()]
    random.seed(2)
    b = [p.data for p in MLP(VOCAB.size, embed=4, hidden=8, seed=7).parameters()]
    c = [p.data for p in MLP(VOCAB.size, embed=4, hidden=8, seed=8).parameters()]
    assert a == b
    assert sum(x != y for x, y in zip(a, c)) > len(a) // 2  # (the zero biases agree)


def test_mlp_leaves_the_callers_random_state_unchanged():
    """Building an MLP neither reads nor advances the random module's generator."""
    random.seed(99)
    state = random.getstate()
    MLP(VOCAB.size, embed=4, hidden=8, seed=11)
    assert random.getstate() == state
    expected = random.Random(99).random()
    assert random.random() == expected


# ---------------------------------------------------------------------------------------------
# Batch: the recorded step against the eager one
# ---------------------------------------------------------------------------------------------

SIZE = 4


@functools.lru_cache(maxsize=None)
def recorded(backend: str) -> tuple:
    """A small MLP (13 tokens, embed 4, hidden 8) and its Batch of 4 on ``backend``."""
    model = MLP(VOCAB.size, context=3, embed=4, hidden=8, seed=21)
    return model, Batch(model, SIZE, backend=backend)


def eager(model: MLP, pairs: list) -> tuple:
    """The eager mean loss of ``pairs`` and every parameter's gradient (grads zeroed first)."""
    params = model.parameters()
    for p in params:
        p.grad = 0.0
    loss = losses.softmax_cross_entropy([model.logits(w) for w, _ in pairs],
                                        [t for _, t in pairs])
    loss.backward()
    grads = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    return loss.data, grads


def check_step(model: MLP, step: Batch, pairs: list) -> None:
    """step.run(pairs) and step.graph.backward() agree with the eager loss and gradients."""
    want_loss, want_grads = eager(model, pairs)
    got = step.run(pairs)
    assert got == pytest.approx(want_loss, rel=1e-12)
    assert step.loss.data == got
    for p in model.parameters():
        p.grad = 0.0
    step.graph.backward()
    got_grads = [p.grad for p in model.parameters()]
    assert got_grads == pytest.approx(want_grads, rel=1e-10, abs=1e-10)
    assert any(g != 0.0 for g in got_grads)


def word_pairs(*words: str) -> list:
    return examples(words, VOCAB, 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_matches_eager_as_the_batches_change(backend):
    """Loss and every gradient match eager across batches whose one-hot inputs flip differently."""
    model, step = recorded(backend)
    first = word_pairs("emma")[:4]
    second = word_pairs("sophia")[2:6]  # every slot changes
    repeats = [(tokens("mmm"), tokens("m")[0])] * 4  # one token, in every slot and the target
    shuffled = [second[3], second[0], second[2], second[1]]  # last-but-one's tokens, moved
    partly = [second[3], repeats[0], (tokens("..."), VOCAB.BOS), second[1]]
    for pairs in (first, second, repeats, second, shuffled, partly, first):
        check_step(model, step, pairs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_follows_the_weights_after_an_update(backend):
    """After an SGD update of the parameters the replayed step matches eager at the new weights."""
    model, step = recorded(backend)
    saved = [p.data for p in model.parameters()]
    try:
        pairs = word_pairs("olivia")[:4]
        for _ in range(3):
            check_step(model, step, pairs)
            step.run(pairs)
            for p in model.parameters():
                p.grad = 0.0
            step.graph.backward()
            for p in model.parameters():
                p.data -= 0.5 * p.grad
        check_step(model, step, word_pairs("harper")[1:5])
    finally:
        for p, x in zip(model.parameters(), saved):
            p.data, p.grad = x, 0.0


WINDOW = st.tuples(*[st.integers(0, VOCAB.size - 1)] * 3)
PAIR = st.tuples(WINDOW, st.integers(0, VOCAB.size - 1))


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=8, deadline=None)
@given(batches=st.lists(st.lists(PAIR, min_size=SIZE, max_size=SIZE), min_size=1, max_size=3))
def test_batch_matches_eager_on_any_sequence_of_batches(backend, batches):
    """Any tokens in any slots, batch after batch (the Batch is reused across examples)."""
    model, step = recorded(backend)
    for pairs in batches:
        check_step(model, step, pairs)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("count", [1, 3, 4, 7, 8, 10])
def test_mean_loss_scores_every_pair_then_restores_the_weights(backend, count):
    """mean_loss over pairs not a multiple of the batch is the eager mean; run is right after."""
    model, step = recorded(backend)
    pairs = word_pairs("isabella", "amelia")[:count]
    assert len(pairs) == count
    want, _ = eager(model, pairs)
    assert step.mean_loss(pairs) == pytest.approx(want, rel=1e-12)
    assert all(w.data == 1.0 / SIZE for w in step.weights)
    check_step(model, step, word_pairs("ava", "mia")[:SIZE])  # a full batch weighs 1/4 again


def test_torch_agrees_with_the_batch():
    """PyTorch (float64), given the same weights, computes the Batch's loss and gradients."""
    torch = pytest.importorskip("torch")
    model, step = recorded("python")
    pairs = word_pairs("harper", "mia")[:SIZE]
    C = torch.tensor([[x.data for x in row] for row in model.C], dtype=torch.float64,
                     requires_grad=True)
    W1 = torch.tensor([[w.data for w in n.w] for n in model.hidden.neurons], dtype=torch.float64,
                      requires_grad=True)
    b1 = torch.tensor([n.b.data for n in model.hidden.neurons], dtype=torch.float64,
                      requires_grad=True)
    W2 = torch.tensor([[w.data for w in n.w] for n in model.out.neurons], dtype=torch.float64,
                      requires_grad=True)
    b2 = torch.tensor([n.b.data for n in model.out.neurons], dtype=torch.float64,
                      requires_grad=True)
    windows = torch.tensor([w for w, _ in pairs])
    targets = torch.tensor([t for _, t in pairs])
    h = torch.tanh(C[windows].reshape(len(pairs), -1) @ W1.T + b1)
    loss = torch.nn.functional.cross_entropy(h @ W2.T + b2, targets)
    loss.backward()
    assert step.run(pairs) == pytest.approx(loss.item(), rel=1e-12)
    for p in model.parameters():
        p.grad = 0.0
    step.graph.backward()
    want = (C.grad.flatten().tolist()
            + [g for row, b in zip(W1.grad.tolist(), b1.grad.tolist()) for g in (*row, b)]
            + [g for row, b in zip(W2.grad.tolist(), b2.grad.tolist()) for g in (*row, b)])
    assert [p.grad for p in model.parameters()] == pytest.approx(want, rel=1e-10, abs=1e-12)
    for p in model.parameters():
        p.grad = 0.0


@pytest.mark.parametrize("count", [0, SIZE - 1, SIZE + 1, 2 * SIZE])
def test_run_refuses_a_batch_of_the_wrong_size(count):
    """run() takes exactly `size` pairs (ValueError otherwise; mean_loss scores partial ones)."""
    model, step = recorded("python")
    pairs = (word_pairs("isabella", "olivia") * 2)[:count]
    with pytest.raises(ValueError, match=f"{count} pairs for a batch of {SIZE}"):
        step.run(pairs)
    if count > SIZE or count == 0:
        with pytest.raises(ValueError, match="Batch.feed"):
            step.feed(pairs)


# ---------------------------------------------------------------------------------------------
# generate
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def small_models() -> dict:
    return {"bigram": Bigram(WORDS, VOCAB),
            "mlp": MLP(VOCAB.size, context=3, embed=4, hidden=8, seed=3)}


@pytest.mark.parametrize("kind", ["bigram", "mlp"])
@pytest.mark.parametrize("count, longest, temperature", [(10, 30, 1.0), (5, 4, 1.0), (7, 12, 0.5),
                                                        (3, 1, 2.0), (0, 30, 1.0)])
def test_generate_draws_count_names_of_the_vocabulary(kind, count, longest, temperature):
    """count names, each of the vocabulary's characters and at most `longest` long; seeded."""
    model = small_models()[kind]
    names = generate(model, VOCAB, count, temperature, seed=4, longest=longest)
    assert type(names) is list and len(names) == count
    assert all(type(n) is str and set(n) <= set(VOCAB.chars) and len(n) <= longest
               for n in names)
    assert generate(model, VOCAB, count, temperature, seed=4, longest=longest) == names


@pytest.mark.parametrize("kind", ["bigram", "mlp"])
def test_generate_other_seeds_give_other_names(kind):
    """Another seed (almost surely) gives other names; the random module is not used."""
    model = small_models()[kind]
    state = random.getstate()
    names = {tuple(generate(model, VOCAB, 10, seed=s)) for s in range(4)}
    assert len(names) == 4
    assert random.getstate() == state


def test_generate_follows_a_bigram_that_knows_one_name():
    """A bigram of 'ab' alone (smoothing 1e-12) makes 'ab' every time: BOS starts and ends it."""
    vocab = Vocab(["abc"])
    model = Bigram(["ab"] * 5, vocab, smoothing=1e-12)
    assert generate(model, vocab, 20, seed=0) == ["ab"] * 20
    assert generate(model, vocab, 3, seed=0, longest=1) == ["a"] * 3


class Scripted:
    """A stand-in model that records each name-so-far it is asked about and, after n characters,
    predicts character n % 3 ('a', 'b', 'c') with certainty, or BOS once there are `length`."""

    context = 3

    def __init__(self, vocab: Vocab, length: int) -> None:
        self.vocab, self.length, self.asked = vocab, length, []

    def next_logits(self, tokens: list) -> list:
        self.asked.append(list(tokens))
        n = len(tokens) - 1
        nxt = self.vocab.BOS if n >= self.length else n % 3
        return [100.0 if t == nxt else 0.0 for t in range(self.vocab.size)]


@pytest.mark.parametrize("length, longest, expected", [
    (5, 30, "abcab"), (0, 30, ""), (1, 30, "a"), (40, 7, "abcabca"), (3, 3, "abc")])
def test_generate_grows_each_name_from_bos_and_stops(length, longest, expected):
    """Each name starts from [BOS] and grows by the token drawn; BOS or `longest` ends it."""
    vocab = Vocab(["abc"])
    model = Scripted(vocab, length)
    assert generate(model, vocab, 2, seed=0, longest=longest) == [expected, expected]
    ids = vocab.encode(expected)[:-1]  # BOS and the characters
    calls = len(expected) if len(expected) == longest else len(expected) + 1
    want = [ids[:k + 1] for k in range(calls)]
    assert model.asked == want + want


@pytest.mark.parametrize("word", ["emma", "ab", "", "isabella"])
def test_mlp_generates_from_the_windows_it_trained_on(word):
    """The MLP's next_logits for a name so far are its logits for examples()' window there."""
    model = small_models()["mlp"]
    ids = VOCAB.encode(word)
    for k, (window, target) in enumerate(examples([word], VOCAB, model.context)):
        assert target == ids[k + 1]
        assert ([z.data for z in model.next_logits(ids[:k + 1])]
                == [z.data for z in model.logits(window)])


def test_generate_refuses_a_bad_temperature():
    """generate passes the temperature to sample_token, which refuses 0."""
    with pytest.raises(ValueError, match="temperature"):
        generate(small_models()["bigram"], VOCAB, 1, temperature=0)


def test_charlm_exports():
    """charlm exports the seven names its users call (among any others)."""
    assert {"examples", "softmax", "sample_token", "Bigram", "MLP", "Batch",
            "generate"} <= set(charlm.__all__)
    assert all(hasattr(charlm, name) for name in charlm.__all__)
