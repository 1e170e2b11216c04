"""Small datasets to train on, as plain Python lists: ``X`` is a list of rows (lists of
floats), ``y`` a list of integer class labels 0..k-1.

The toy 2-D sets are generated with Python's own ``random.Random(seed)``, so the same seed
gives the same points on every machine, with nothing installed. ``digits()`` is a real dataset:
the 1,797 8×8 handwritten digits that ship inside scikit-learn. ``names()`` is makemore's and
microgpt's dataset, 32,033 first names, shipped inside tapegrad (with its MIT notice,
``data/names.LICENSE``), for character-level language models.

    X, y = moons(100, noise=0.1, seed=1337)
    X, y = digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_fraction=0.2, seed=0)
    train, val, test = split(names(), seed=42)      # 80% / 10% / 10%, makemore's way
    vocab = Vocab(names())                           # 26 letters and the start/end token
    tokens = vocab.encode("emma")                    # [BOS, e, m, m, a, BOS]
"""

import _collections_abc as _abc
import math as _math
import numbers as _numbers
import random as _random


def _linspace(start: float, stop: float, n: int, endpoint: bool = True) -> list[float]:
    if n == 1:
        return [float(start)]
    step = (stop - start) / (n - 1 if endpoint else n)
    return [start + i * step for i in range(n)]


def _check_size(what: str, n, minimum: int = 1) -> None:
    """n, a number of points: a whole number from `minimum` (every class gets a point) up to
    what fits in memory."""
    if isinstance(n, bool) or not isinstance(n, _numbers.Integral):
        raise TypeError(f"{what}: n={n!r} ({type(n).__name__}) must be a whole number of points "
                        f">= {minimum}, e.g. n=100")
    if n < minimum:
        raise ValueError(f"{what}: n={n!r} must be a whole number of points >= {minimum}")
    if n > 10_000_000:
        raise ValueError(f"{what}: n={n!r} points would not fit in memory as Python lists")


def _check_number(what: str, name: str, x, example: str) -> None:
    """x must be a plain number (an int or a float, not a bool)."""
    if isinstance(x, bool) or not isinstance(x, _numbers.Real):
        raise TypeError(f"{what}: {name}={x!r} ({type(x).__name__}) is not a number; e.g. "
                        f"{name}={example}")


def _check_noise(what: str, noise) -> None:
    """noise, a standard deviation: a finite number >= 0."""
    _check_number(what, "noise", noise, "0.1")
    if not (noise >= 0 and _math.isfinite(noise)):
        raise ValueError(f"{what}: noise={noise!r} must be a number >= 0 (0 means no noise)")


def _seeded(what: str, seed) -> _random.Random:
    """The generator for `seed`: a whole number (the same seed gives the same data), or None
    for a fresh, unrepeatable draw."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, _numbers.Integral)):
        raise TypeError(f"{what}: seed={seed!r} ({type(seed).__name__}) must be an int (the same "
                        "seed gives the same data) or None, e.g. seed=0")
    return _random.Random(None if seed is None else int(seed))


def _shuffled_with_noise(points, labels, noise: float, rng: _random.Random):
    """Shuffle points and labels together, then add Gaussian noise N(0, noise²) to each
    coordinate -- the order scikit-learn uses."""
    order = list(range(len(points)))
    rng.shuffle(order)
    X = [[c + rng.gauss(0.0, noise) if noise else c for c in points[i]] for i in order]
    y = [labels[i] for i in order]
    return X, y


def moons(n: int = 100, noise: float = 0.1,
          seed: int | None = 0) -> tuple[list[list[float]], list[int]]:
    """Two interleaving half circles (scikit-learn's ``make_moons`` formula).

    Class 0: the upper half circle (cos θ, sin θ), θ in [0, π], n // 2 points.
    Class 1: the lower one shifted, (1 - cos θ, 1/2 - sin θ), the remaining points.
    Then shuffled, and Gaussian noise of standard deviation ``noise`` added to every coordinate.
    """
    _check_size("moons", n, 2)
    _check_noise("moons", noise)
    rng = _seeded("moons", seed)
    n_out = n // 2
    n_in = n - n_out
    pi, cos, sin = _math.pi, _math.cos, _math.sin
    outer = [[cos(t), sin(t)] for t in _linspace(0.0, pi, n_out)]
    inner = [[1.0 - cos(t), 1.0 - sin(t) - 0.5] for t in _linspace(0.0, pi, n_in)]
    return _shuffled_with_noise(outer + inner, [0] * n_out + [1] * n_in, noise, rng)


def circles(n: int = 100, noise: float = 0.05, factor: float = 0.5,
            seed: int | None = 0) -> tuple[list[list[float]], list[int]]:
    """A circle inside another (scikit-learn's ``make_circles`` formula).

    Class 0: n // 2 points evenly around the unit circle; class 1: the rest, around a circle of
    radius ``factor`` (0 < factor < 1). Shuffled, then Gaussian noise added.
    """
    _check_size("circles", n, 2)
    _check_noise("circles", noise)
    _check_number("circles", "factor", factor, "0.5")
    if not 0 < factor < 1:
        raise ValueError(f"circles: factor={factor!r} is the inner radius, between 0 and 1")
    rng = _seeded("circles", seed)
    n_out = n // 2
    n_in = n - n_out
    pi, cos, sin = _math.pi, _math.cos, _math.sin
    outer = [[cos(t), sin(t)] for t in _linspace(0.0, 2 * pi, n_out, False)]
    inner = [[factor * cos(t), factor * sin(t)] for t in _linspace(0.0, 2 * pi, n_in, False)]
    return _shuffled_with_noise(outer + inner, [0] * n_out + [1] * n_in, noise, rng)


def spiral(n: int = 300, classes: int = 3, noise: float = 0.2,
           seed: int | None = 0) -> tuple[list[list[float]], list[int]]:
    """``classes`` arms of a spiral (the CS231n toy set), n points shared among them.

    Arm j: radius r from 0 to 1, angle θ = 4j + 4r + noise·N(0, 1) (so the noise jitters along
    the arm), point (r sin θ, r cos θ). Labels are the arm numbers 0..classes-1.
    """
    _check_size("spiral", n, 1)
    _check_noise("spiral", noise)
    if isinstance(classes, bool) or not isinstance(classes, _numbers.Integral):
        raise TypeError(f"spiral: classes={classes!r} ({type(classes).__name__}) must be a whole "
                        "number >= 2, e.g. classes=3")
    if classes < 2:
        raise ValueError(f"spiral: classes={classes!r} must be a whole number >= 2")
    if n < classes:
        raise ValueError(f"spiral: n={n} points cannot cover {classes} classes; use n >= classes")
    rng = _seeded("spiral", seed)
    points, labels = [], []
    for j in range(classes):
        count = n // classes + (1 if j < n % classes else 0)
        for r in _linspace(0.0, 1.0, count):
            theta = 4.0 * j + 4.0 * r + (rng.gauss(0.0, noise) if noise else 0.0)
            points.append([r * _math.sin(theta), r * _math.cos(theta)])
            labels.append(j)
    return _shuffled_with_noise(points, labels, 0.0, rng)


def xor(n: int = 200, noise: float = 0.3,
        seed: int | None = 0) -> tuple[list[list[float]], list[int]]:
    """The XOR problem: points around the four corners (±1, ±1), label 1 where the two
    coordinates' signs differ (the corner's a XOR b), 0 where they agree.

    Corners take turns, so each gets n // 4 points (the first n % 4 one more); each point is
    its corner plus Gaussian noise. No straight line separates the classes. n >= 2, so that
    both classes have a point.
    """
    _check_size("xor", n, 2)
    _check_noise("xor", noise)
    rng = _seeded("xor", seed)
    corners = [(-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0)]
    points = [list(corners[i % 4]) for i in range(n)]
    labels = [int((p[0] > 0) != (p[1] > 0)) for p in points]
    return _shuffled_with_noise(points, labels, noise, rng)


def digits() -> tuple[list[list[float]], list[int]]:
    """The 1,797 handwritten digits that ship with scikit-learn (8×8 images, 10 classes).

    Returns ``X``, a list of 1,797 rows of 64 floats -- each pixel's ink from 0 to 16, scaled to
    [0, 1] -- read row by row, and ``y``, the digits 0..9. Needs scikit-learn (the data are
    files inside its package; nothing is downloaded).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError(
            "tapegrad.datasets.digits() needs scikit-learn, which ships the digits data; "
            "install it with: pip install scikit-learn   (or: pip install 'tapegrad[digits]')"
        ) from None
    data = load_digits()
    X = [[float(v) / 16.0 for v in row] for row in data.data.tolist()]
    y = [int(label) for label in data.target.tolist()]
    return X, y


def train_test_split(X: _abc.Iterable, y: _abc.Iterable, test_fraction: float = 0.2,
                     seed: int | None = 0) -> tuple[list, list, list, list]:
    """Shuffle the samples and hold out ``test_fraction`` of them for testing.

    Returns ``X_train, X_test, y_train, y_test`` (scikit-learn's order). The test part has
    round(test_fraction · n) samples, at least one, and so does the training part.
    """
    X, y = _samples("X", X, "samples"), _samples("y", y, "labels")
    if len(X) != len(y):
        raise ValueError(
            f"train_test_split: {len(X)} samples in X but {len(y)} labels in y; "
            "give one label per sample"
        )
    if len(X) < 2:
        raise ValueError("train_test_split: need at least 2 samples to split into two parts")
    _check_number("train_test_split", "test_fraction", test_fraction, "0.2")
    if not 0 < test_fraction < 1:
        raise ValueError(
            f"train_test_split: test_fraction={test_fraction!r} must be between 0 and 1, "
            "e.g. 0.2 to hold out a fifth"
        )
    rng = _seeded("train_test_split", seed)
    n_test = min(max(1, round(test_fraction * len(X))), len(X) - 1)
    order = list(range(len(X)))
    rng.shuffle(order)
    test, train = order[:n_test], order[n_test:]
    return [X[i] for i in train], [X[i] for i in test], [y[i] for i in train], [y[i] for i in test]


def names() -> list[str]:
    """makemore's ``names.txt``: 32,033 lowercase first names, in the file's order (``emma``,
    ``olivia``, ``ava``, ...). A new list each call, so shuffling it harms nothing."""
    from importlib.resources import files

    text = (files(__package__) / "data" / "names.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def split(items: _abc.Iterable, fractions: tuple = (0.8, 0.1), seed: int | None = 42
          ) -> tuple[list, list, list]:
    """Shuffle ``items`` with ``random.Random(seed)`` and cut them into (train, validation, test):
    the first ``fractions[0]`` of them, the next ``fractions[1]``, and the rest -- makemore's
    80% / 10% / 10% by default: with seed 42, the very split makemore's lessons make (they
    shuffle with random.seed(42)). The same seed gives the same split on every machine; the parts
    never share an item's position, and together they are all of ``items``."""
    items = _samples("items", items, "items", "split")
    if not isinstance(fractions, tuple) or len(fractions) != 2:
        raise TypeError(f"split: fractions={fractions!r} must be a pair (train, validation), "
                        "e.g. (0.8, 0.1): the test part is the rest")
    for name, f in zip(("train", "validation"), fractions):
        _check_number("split", f"fractions' {name} part", f, "0.8")
        if not 0 <= f <= 1:
            raise ValueError(f"split: the {name} fraction {f!r} must be between 0 and 1")
    if fractions[0] + fractions[1] > 1:
        raise ValueError(f"split: fractions {fractions!r} add up to more than 1; "
                         "the test part is what they leave, e.g. (0.8, 0.1)")
    rng = _seeded("split", seed)
    shuffled = list(items)
    rng.shuffle(shuffled)
    n1 = int(fractions[0] * len(shuffled))
    n2 = int((fractions[0] + fractions[1]) * len(shuffled))
    return shuffled[:n1], shuffled[n1:n2], shuffled[n2:]


class Vocab:
    """The characters of some texts as token ids, and one more token, ``BOS``, that marks where
    a text begins and ends (microgpt's convention: the characters, sorted, are 0..n-1, and BOS
    is n, the last id).

    >>> vocab = Vocab(["emma", "ava"])
    >>> vocab.chars, vocab.BOS, vocab.size
    ('aemv', 4, 5)
    >>> vocab.encode("ava"), vocab.decode([0, 3, 0])
    ([4, 0, 3, 0, 4], 'ava')
    """

    def __init__(self, texts: _abc.Iterable) -> None:
        """The vocabulary of ``texts``: every character that occurs in one of them."""
        texts = _samples("texts", texts, "texts", "Vocab")
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"Vocab: texts[{i}] is {text!r} ({type(text).__name__}); "
                                "give strings, e.g. Vocab(names())")
        self.chars = "".join(sorted(set("".join(texts))))
        self.stoi = {ch: i for i, ch in enumerate(self.chars)}
        self.itos = dict(enumerate(self.chars))
        self.BOS = len(self.chars)
        self.itos[self.BOS] = ""
        self.size = len(self.chars) + 1

    def encode(self, text: str) -> list[int]:
        """``[BOS] + [stoi[c] for c in text] + [BOS]``: a text as the model reads it."""
        unknown = sorted(set(text) - self.stoi.keys())
        if unknown:
            raise ValueError(f"Vocab.encode({text!r}): {''.join(unknown)!r} not in the "
                             f"vocabulary {self.chars!r}")
        return [self.BOS] + [self.stoi[c] for c in text] + [self.BOS]

    def decode(self, ids: _abc.Iterable) -> str:
        """The text of token ids; BOS tokens are left out."""
        try:
            return "".join(self.itos[i] for i in ids)
        except KeyError as error:
            raise ValueError(f"Vocab.decode: {error.args[0]!r} is not a token id "
                             f"(0..{self.BOS})") from None

    def __repr__(self) -> str:
        return f"Vocab({self.chars!r} + BOS={self.BOS})"


def _samples(name: str, xs, what: str, caller: str = "train_test_split") -> list:
    """`caller`'s argument `name` as a list: any iterable of samples, but not a str or a dict."""
    if isinstance(xs, (str, bytes, dict)) or not hasattr(xs, "__iter__"):
        example = {"train_test_split": "X, y = moons(100), then train_test_split(X, y)",
                   "split": "train, val, test = split(names())",
                   "Vocab": "Vocab(names())"}[caller]
        raise TypeError(f"{caller}: {name}={xs!r} ({type(xs).__name__}) is not a list "
                        f"of {what}; e.g. {example}")
    return list(xs)


__all__ = ["moons", "circles", "spiral", "xor", "digits", "train_test_split", "names", "split",
           "Vocab"]
