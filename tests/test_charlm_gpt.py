"""charlm.GPT and charlm.SequenceBatch: microgpt's model, and its step recorded once per length.

The oracle is the eager model: the same names through ``GPT.forward`` on rows of wte looked up
directly, with ``losses.log_sum_exp``, built afresh and differentiated by ``backward()``. A
recorded batch must give the same loss and the same gradients, whatever names it is fed, padded
or not, on either backend.
"""

import math

import pytest

from tapegrad import charlm, datasets, losses

VOCAB = datasets.Vocab(datasets.names())
BACKENDS = ["python", pytest.param("numpy", marks=pytest.mark.skipif(
    __import__("importlib").util.find_spec("numpy") is None, reason="needs numpy"))]


def small_gpt(seed=3):
    """A GPT small enough to record in a blink: n_embd 8, 2 heads, block size 8."""
    return charlm.GPT(VOCAB.size, n_embd=8, n_head=2, block_size=8, seed=seed)


def eager_loss(model, sequences):
    """The mean cross-entropy over every prediction of `sequences`, built eagerly."""
    terms = []
    for tokens in sequences:
        logits = model.forward([model.wte[t] for t in tokens[:-1]])
        terms += [losses.log_sum_exp(z) - z[y] for z, y in zip(logits, tokens[1:])]
    return sum(terms) * (1.0 / len(terms))


def eager_grads(model, sequences):
    """The eager loss's number, and every parameter's gradient."""
    for p in model.parameters():
        p.grad = 0.0
    loss = eager_loss(model, sequences)
    loss.backward()
    return loss.data, [p.grad for p in model.parameters()]


BATCHES = [  # (names, one batch after another): full, padded, repeated tokens, one name alone
    [["emma", "ava", "olivia"]],
    [["ava", "ava", "bo"], ["zoe", "mia", "al"]],
    [["eve"], ["anna", "x", "lily"]],
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("batches", BATCHES)
def test_a_recorded_batch_gives_the_eager_loss_and_gradients(backend, batches):
    """SequenceBatch.run, then graph.backward(): the eager numbers, batch after batch."""
    model = small_gpt()
    step = charlm.SequenceBatch(model, 3, 7, backend=backend)
    for names in batches:
        sequences = [VOCAB.encode(name) for name in names]
        want, want_grads = eager_grads(model, sequences)
        for p in model.parameters():
            p.grad = 0.0
        got = step.run(sequences)
        step.graph.backward()
        assert got == pytest.approx(want, rel=1e-12)
        for g, w in zip((p.grad for p in model.parameters()), want_grads):
            assert g == pytest.approx(w, rel=1e-9, abs=1e-12)


def test_padding_changes_nothing():
    """A name alone, or with a longer one beside it, or in a longer batch: the same loss."""
    model = small_gpt()
    short = [VOCAB.encode("eve")]
    alone = charlm.SequenceBatch(model, 1, 4).run(short)
    padded = charlm.SequenceBatch(model, 2, 8).run(short)
    assert padded == pytest.approx(alone, rel=1e-12)
    assert alone == pytest.approx(eager_loss(model, short).data, rel=1e-12)


@pytest.mark.parametrize("make, match", [
    (lambda m: charlm.SequenceBatch(m, 2, 9), "block size"),
    (lambda m: charlm.SequenceBatch(m, 2, 0), "length 0"),
    (lambda m: charlm.SequenceBatch(m, 1, 3).feed([VOCAB.encode("olivia")]), "more than"),
    (lambda m: charlm.SequenceBatch(m, 1, 3).feed([]), "0 names"),
    (lambda m: charlm.GPT(VOCAB.size, n_embd=6, n_head=4), "multiple"),
])
def test_bad_shapes_are_refused_in_words(make, match):
    """Lengths past the block size, a name too long for its batch, heads that do not divide."""
    with pytest.raises(ValueError, match=match):
        make(small_gpt())


def test_the_first_loss_is_near_uniform_and_the_parameters_are_microgpts():
    """N(0, 0.08²) weights give near-uniform first predictions; 4,192 parameters at microgpt's
    size (n_embd 16, 4 heads, block 16, 27 tokens)."""
    model = small_gpt()
    loss = eager_loss(model, [VOCAB.encode("olivia")]).data
    assert abs(loss - math.log(VOCAB.size)) < 0.25  # (weights of N(0, 1): about 59)
    assert len(charlm.GPT(VOCAB.size).parameters()) == 4192


def test_generate_with_a_gpt_stays_within_its_block():
    """Names of vocabulary letters, at most block_size - 1 long; the same seed, the same names."""
    model = small_gpt()
    names = charlm.generate(model, VOCAB, count=5, seed=4)
    assert len(names) == 5 and all(len(n) <= 7 and set(n) <= set(VOCAB.chars) for n in names)
    assert charlm.generate(model, VOCAB, count=5, seed=4) == names
