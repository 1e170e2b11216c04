"""Datasets (tapegrad.datasets): deterministic given a seed, plain lists, the documented
shapes, and the same points as scikit-learn's generators where it is installed."""

from __future__ import annotations

import math
import random
from pathlib import Path
import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad import datasets
from tapegrad.datasets import circles, digits, moons, spiral, train_test_split, xor

GENERATORS = [
    ("moons", lambda n, noise, seed: moons(n, noise, seed), 2),
    ("circles", lambda n, noise, seed: circles(n, noise, 0.5, seed), 2),
    ("spiral", lambda n, noise, seed: spiral(n, 3, noise, seed), 3),
    ("xor", lambda n, noise, seed: xor(n, noise, seed), 2),
]


@pytest.mark.parametrize("name, make, classes", GENERATORS)
@settings(max_examples=15, deadline=None)
@given(n=st.integers(3, 60), noise=st.floats(0, 0.5), seed=st.integers(0, 2**32))
def test_shapes_types_and_determinism(name, make, classes, n, noise, seed):
    X, y = make(n, noise, seed)
    assert type(X) is list and type(y) is list
    assert len(X) == len(y) == n
    assert all(type(row) is list and len(row) == 2 for row in X)
    assert all(type(c) is float and math.isfinite(c) for row in X for c in row)
    assert all(type(label) is int and 0 <= label < classes for label in y)
    assert make(n, noise, seed) == (X, y)  # same seed, same data
    counts = [y.count(c) for c in range(classes)]
    assert max(counts) - min(counts) <= 1  # balanced classes


@pytest.mark.parametrize("name, make, classes", GENERATORS)
def test_seeds_give_different_data(name, make, classes):
    assert make(50, 0.1, 1) != make(50, 0.1, 2)


def test_moons_without_noise_lie_on_the_two_half_circles():
    X, y = moons(41, noise=0.0, seed=0)
    for (a, b), label in zip(X, y):
        if label == 0:  # (cos t, sin t)
            assert a * a + b * b == pytest.approx(1.0) and b >= -1e-12
        else:  # (1 - cos t, 1/2 - sin t)
            assert (a - 1) ** 2 + (b - 0.5) ** 2 == pytest.approx(1.0) and b <= 0.5 + 1e-12
    assert y.count(0) == 20 and y.count(1) == 21  # n // 2 on the outer moon, as scikit-learn


def test_circles_without_noise_have_radius_1_and_factor():
    X, y = circles(30, noise=0.0, factor=0.3, seed=0)
    for (a, b), label in zip(X, y):
        assert math.hypot(a, b) == pytest.approx(1.0 if label == 0 else 0.3)


def test_spiral_arms_without_noise():
    X, y = spiral(30, classes=3, noise=0.0, seed=0)
    for (a, b), j in zip(X, y):
        r = math.hypot(a, b)
        assert r <= 1 + 1e-12
        if r > 1e-9:  # θ = 4j + 4r, up to whole turns
            theta = math.atan2(a, b)
            turns = (theta - (4 * j + 4 * r)) / (2 * math.pi)
            assert turns == pytest.approx(round(turns), abs=1e-9)


def test_xor_labels_without_noise():
    X, y = xor(8, noise=0.0, seed=0)
    assert sorted(map(tuple, X)) == sorted([(-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0)] * 2)
    for (a, b), label in zip(X, y):
        assert label == int((a > 0) != (b > 0))


@pytest.mark.parametrize("n", [2, 7, 100])
def test_moons_and_circles_are_scikit_learns_points(n):
    sk = pytest.importorskip("sklearn.datasets")
    for ours, theirs in [
        (moons(n, 0.0, seed=0), sk.make_moons(n, shuffle=False, noise=None)),
        (circles(n, 0.0, 0.5, seed=0), sk.make_circles(n, shuffle=False, noise=None, factor=0.5)),
    ]:
        ours_sorted = sorted((round(a, 12), round(b, 12), c) for (a, b), c in zip(*ours))
        theirs_sorted = sorted(
            (round(a, 12), round(b, 12), int(c)) for (a, b), c in zip(theirs[0].tolist(), theirs[1])
        )
        assert len(ours_sorted) == len(theirs_sorted)
        for mine, sklearn_point in zip(ours_sorted, theirs_sorted):
            assert mine[2] == sklearn_point[2]
            assert mine[:2] == pytest.approx(sklearn_point[:2], abs=1e-11)


def test_noise_has_the_requested_spread():
    X0, y0 = moons(2000, 0.0, seed=4)
    X1, y1 = moons(2000, 0.2, seed=4)  # the same shuffle, then noise
    assert y0 == y1
    diffs = [c1 - c0 for r0, r1 in zip(X0, X1) for c0, c1 in zip(r0, r1)]
    mean = sum(diffs) / len(diffs)
    std = math.sqrt(sum((d - mean) ** 2 for d in diffs) / len(diffs))
    assert abs(mean) < 0.02 and std == pytest.approx(0.2, rel=0.05)


# ---------------------------------------------------------------------------------------------
# digits and the split
# ---------------------------------------------------------------------------------------------


def test_digits_are_scikit_learns_digits_scaled():
    sk = pytest.importorskip("sklearn.datasets")
    X, y = digits()
    assert len(X) == len(y) == 1797
    assert all(len(row) == 64 for row in X)
    assert all(0.0 <= v <= 1.0 for row in X for v in row)
    assert sorted(set(y)) == list(range(10))
    raw = sk.load_digits()
    assert X[5] == [v / 16 for v in raw.data[5].tolist()]
    assert y == raw.target.tolist()


def test_digits_without_scikit_learn_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=re.escape("pip install scikit-learn")):
        digits()


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 200), fraction=st.floats(0.01, 0.99), seed=st.integers(0, 1000))
def test_split_is_a_partition(n, fraction, seed):
    X = [[float(i)] for i in range(n)]
    y = list(range(n))
    X_train, X_test, y_train, y_test = train_test_split(X, y, fraction, seed)
    assert sorted(y_train + y_test) == y  # every sample exactly once
    assert [row[0] for row in X_train] == y_train and [row[0] for row in X_test] == y_test
    assert 1 <= len(y_test) <= n - 1
    assert len(y_test) == min(max(1, round(fraction * n)), n - 1)
    assert train_test_split(X, y, fraction, seed) == (X_train, X_test, y_train, y_test)


# (Each bad argument and its message is a row of tests/test_bad_input.py.)


def test_samples_may_come_from_any_iterable_and_whole_numbers_of_any_type():
    X, y = moons(20, seed=3)
    assert train_test_split(iter(X), (label for label in y), 0.25, 3) == train_test_split(
        X, y, 0.25, 3
    )
    np = pytest.importorskip("numpy")
    assert moons(np.int64(20), seed=np.int64(3)) == (X, y)
    assert spiral(np.int32(9), classes=np.int64(3)) == spiral(9, classes=3)


def test_seed_none_draws_fresh_data():
    assert moons(50, seed=None) != moons(50, seed=None)


def test_everything_is_exported():
    assert set(datasets.__all__) == {"moons", "circles", "spiral", "xor", "digits",
                                     "train_test_split", "names", "split", "Vocab"}


# -- names: makemore's dataset ---------------------------------------------------------------------

def test_names_are_makemores_32033_in_the_files_order():
    from tapegrad.datasets import names

    words = names()
    assert len(words) == 32_033 and words[:3] == ["emma", "olivia", "ava"] and words[-1] == "zzyzx"
    assert all(w.isalpha() and w.islower() and w.isascii() for w in words)
    words.append("changed")  # a new list each call
    assert len(names()) == 32_033


def test_names_ship_with_their_licence_beside_them():
    from importlib.resources import files

    data = files("tapegrad") / "data"
    assert "MIT License" in (data / "names.LICENSE").read_text()
    assert "Andrej Karpathy" in (data / "names.LICENSE").read_text()
    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert '"data/names.txt"' in pyproject and '"data/names.LICENSE"' in pyproject


def test_split_is_makemores_split():
    """makemore's lessons: random.seed(42); random.shuffle(words); cut at 80% and 90%."""
    from tapegrad.datasets import names, split

    words = names()
    state = random.getstate()
    try:
        random.seed(42)
        random.shuffle(words)
    finally:
        random.setstate(state)
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
    assert split(names()) == (words[:n1], words[n1:n2], words[n2:])


@given(n=st.integers(0, 300), seed=st.integers(0, 10**6),
       train=st.floats(0, 1), val=st.floats(0, 1))
def test_split_cuts_every_item_into_exactly_one_part(n, seed, train, val):
    from tapegrad.datasets import split

    if train + val > 1:
        with pytest.raises(ValueError, match="add up to more than 1"):
            split(range(n), (train, val), seed)
        return
    parts = split(range(n), (train, val), seed)
    assert sorted(parts[0] + parts[1] + parts[2]) == list(range(n))
    assert len(parts[0]) == int(train * n) and len(parts[0]) + len(parts[1]) == int((train + val) * n)
    assert parts == split(range(n), (train, val), seed)  # the same seed, the same split


def test_vocab_is_microgpts_letters_then_bos():
    from tapegrad.datasets import Vocab, names

    vocab = Vocab(names())
    assert vocab.chars == "abcdefghijklmnopqrstuvwxyz" and vocab.BOS == 26 and vocab.size == 27
    name = "emma"
    assert vocab.encode(name) == [vocab.BOS] + [vocab.stoi[c] for c in name] + [vocab.BOS]
    assert vocab.encode(name) == [26, 4, 12, 12, 0, 26]


@given(st.sampled_from(range(32_033)))
def test_vocab_round_trips_every_name(i):
    from tapegrad.datasets import Vocab, names

    words = _NAMES.setdefault("words", names())
    vocab = _NAMES.setdefault("vocab", Vocab(words))
    assert vocab.decode(vocab.encode(words[i])) == words[i]


_NAMES: dict = {}


@pytest.mark.parametrize("call, error, says", [
    (lambda V: V(["ab"]).encode("abc"), ValueError, "'c' not in the vocabulary"),
    (lambda V: V(["ab"]).decode([0, 7]), ValueError, "7 is not a token id"),
    (lambda V: V(["ab", 3]), TypeError, "texts[1] is 3"),
    (lambda V: V("abc"), TypeError, "Vocab: texts='abc'"),
])
def test_vocab_says_what_is_wrong(call, error, says):
    from tapegrad.datasets import Vocab

    with pytest.raises(error) as raised:
        call(Vocab)
    assert says in str(raised.value)
