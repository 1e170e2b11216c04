"""Loss functions: one number that says how wrong a model is, built from Values so that
``loss.backward()`` gives every parameter its gradient.

    scores = [model(x) for x in X]
    loss = hinge(scores, y) + l2(model.parameters(), 1e-4)   # micrograd's demo loss
    loss.backward()

Every loss is the mean over the samples it is given. What a loss is given is checked before any
node is recorded: predictions are Values or numbers (a bool is refused: it is what a comparison
gives, not a score), targets are what the loss says. A nan among them is not refused: it flows
through to a nan loss, as in PyTorch. Two of them are written in the numerically
stable form that picks a branch from the data (never from a Value's gradient): the formula on
each side of the branch is the same smooth function, so its value and its derivative are exact
on both sides, and no intermediate ever overflows.
"""

import _collections_abc as _abc
import math as _math
import numbers as _numbers

from .value import Value


def _is_number(x) -> bool:
    """A plain number: an int or a float, not a bool."""
    return isinstance(x, _numbers.Real) and not isinstance(x, bool)


def _as_list(xs, what: str, name: str) -> list:
    """A single Value or number becomes a list of one, so each loss takes one sample or many.
    A str, a dict or a set is refused: its items are not samples in order."""
    if isinstance(xs, (Value, _numbers.Real)):
        return [xs]
    if isinstance(xs, (str, bytes, dict, set, frozenset)) or not hasattr(xs, "__iter__"):
        raise TypeError(
            f"{what}: {name} is {xs!r} ({type(xs).__name__}); expected a Value, a number or a "
            "list of them"
        )
    return list(xs)


def _check_scores(xs: list, what: str, noun: str) -> None:
    """Each of a model's outputs a Value or a number; `noun` names one in the message."""
    for i, x in enumerate(xs):
        if not (isinstance(x, Value) or _is_number(x)):
            raise TypeError(
                f"{what}: {noun} {i} is {x!r} ({type(x).__name__}); {noun}s are Values (a "
                "model's outputs) or numbers"
            )


def _paired(predictions, targets, what: str, nouns=("prediction", "target")) -> tuple[list, list]:
    """The predictions, checked, and the targets, as lists of the same length (at least 1)."""
    predictions = _as_list(predictions, what, f"{nouns[0]}s")
    targets = _as_list(targets, what, f"{nouns[1]}s")
    if len(predictions) != len(targets):
        raise ValueError(
            f"{what}: {len(predictions)} {nouns[0]}s but {len(targets)} {nouns[1]}s; "
            f"give one {nouns[1]} per {nouns[0]}"
        )
    if not predictions:
        raise ValueError(f"{what}: no samples given; the mean of nothing is undefined")
    _check_scores(predictions, what, nouns[0])
    return predictions, targets


def _mean(terms: list) -> Value:
    """(t_1 + ... + t_n) · (1/n), written as micrograd's demo writes it, so that the demo's loss
    is the very same float."""
    return sum(terms) * (1.0 / len(terms))


def mse(predictions: "_abc.Iterable | Value | float", targets: "_abc.Iterable | float") -> Value:
    """Mean squared error: (1/n) Σ (p_i - t_i)². Targets are numbers (or Values)."""
    predictions, targets = _paired(predictions, targets, "mse")
    for i, t in enumerate(targets):
        if not (isinstance(t, Value) or _is_number(t)):
            raise TypeError(f"mse: target {i} is {t!r} ({type(t).__name__}); targets are numbers, "
                            "e.g. 1.0")
    return _mean([(p - t) ** 2 for p, t in zip(predictions, targets)])


def hinge(scores: "_abc.Iterable | Value | float", labels: "_abc.Iterable | int") -> Value:
    """The SVM max-margin loss: (1/n) Σ relu(1 - y_i · s_i), labels y_i in {-1, +1}.

    Zero once every sample is on its side with a margin of 1. This is micrograd's demo loss,
    written with the same operations in the same order, so it computes the same floats. A label
    may also be a Value (a placeholder of a compiled step, fed -1 or +1 at each run).
    """
    scores, labels = _paired(scores, labels, "hinge", ("score", "label"))
    for i, y in enumerate(labels):
        if isinstance(y, Value):  # a placeholder (backends.compile_step): fed -1 or +1 later
            continue
        if not _is_number(y) or y not in (-1, 1):
            raise ValueError(
                f"hinge: label {i} is {y!r}; the hinge loss needs labels -1 and +1 "
                "(map 0/1 labels with y = 2 * label - 1)"
            )
    return _mean([(1 + -y * s).relu() for y, s in zip(labels, scores)])


def _softplus_of_minus_abs(z: Value, sign: int) -> Value:
    """log(1 + exp(-|z|)), with |z| = sign · z known from the data: exp never sees a positive
    number, so it never overflows, and log's argument is between 1 and 2."""
    return (1 + (z * -sign).exp()).log()


def binary_cross_entropy_with_logits(logits: "_abc.Iterable | Value | float",
                                     targets: "_abc.Iterable | float") -> Value:
    """Binary cross-entropy of sigmoid(z) against targets t in [0, 1], from the logits z:

        ℓ(z, t) = -t·log σ(z) - (1 - t)·log(1 - σ(z))
                = max(z, 0) - z·t + log(1 + exp(-|z|))

    The second line never overflows and never takes log of 0. It is evaluated as
    z·(1 - t) + log(1 + exp(-z)) when z ≥ 0 and as -z·t + log(1 + exp(z)) when z < 0: the same
    analytic function on both sides, so the gradient is σ(z) - t everywhere, also at z = 0
    (where relu and abs would each contribute a kink's 0 and get it wrong).
    """
    what = "binary_cross_entropy_with_logits"
    logits, targets = _paired(logits, targets, what, ("logit", "target"))
    terms = []
    for i, (z, t) in enumerate(zip(logits, targets)):
        if not (_is_number(t) and 0 <= t <= 1):
            raise ValueError(
                f"binary_cross_entropy_with_logits: target {i} is {t!r}; targets are plain "
                "numbers between 0 and 1: probabilities, or the class labels 0 and 1"
            )
        z = z if isinstance(z, Value) else Value(z)
        if z.data >= 0:
            terms.append(z * (1 - t) + _softplus_of_minus_abs(z, 1))
        else:
            terms.append(z * -t + _softplus_of_minus_abs(z, -1))
    return _mean(terms)


def log_sum_exp(logits: "_abc.Iterable | Value | float") -> Value:
    """log Σ exp(z_j), computed as m + log Σ exp(z_j - m) with m = max_j z_j (a constant).

    Shifting by the largest logit keeps every exp in (0, 1], so nothing overflows, and the
    largest term is exactly 1, so the log never sees 0. The shift is a plain number: the
    result does not depend on it, so neither does the gradient (softmax(z)).
    """
    logits = _as_list(logits, "log_sum_exp", "logits")
    _check_scores(logits, "log_sum_exp", "logit")
    logits = [z if isinstance(z, Value) else Value(z) for z in logits]
    if not logits:
        raise ValueError("log_sum_exp: no logits given; it needs at least one")
    shift = max(z.data for z in logits)
    return sum((z + -shift).exp() for z in logits).log() + shift


def softmax_cross_entropy(logits: _abc.Iterable, targets: "_abc.Iterable | int") -> Value:
    """Cross-entropy of softmax(z) against class indices, averaged over the samples:

        ℓ(z, c) = -log softmax(z)_c = log Σ_j exp(z_j) - z_c

    ``logits`` is one row of k scores per sample (or a single row), ``targets`` one class index
    in 0..k-1 per sample. Stable for any logits, via log_sum_exp. The gradient with respect to
    z_j is softmax(z)_j - [j == c].

    A target may instead be a row of k class probabilities t_j (numbers or Values, as PyTorch's
    ``cross_entropy`` takes them): ℓ = log Σ_j exp(z_j) - Σ_j t_j z_j, the dot product one node.
    For a one-hot row it is the same float as the class index's (0 · z_j adds nothing), which is
    how a compiled step (backends.compile_step) feeds new targets to a recorded loss.
    """
    what = "softmax_cross_entropy"
    rows = _as_list(logits, what, "logits")
    if rows and (isinstance(rows[0], Value) or _is_number(rows[0])):
        rows = [rows]  # a single sample's row of logits
    targets = _as_list(targets, what, "targets")
    if len(rows) != len(targets):
        raise ValueError(f"{what}: {len(rows)} samples of logits but {len(targets)} targets; "
                         "give one target (a class index) per sample")
    if not rows:
        raise ValueError(f"{what}: no samples given; the mean of nothing is undefined")
    _check_rows(rows, what)
    terms = []
    for i, (row, c) in enumerate(zip(rows, targets)):
        if isinstance(c, (list, tuple)):
            terms.append(log_sum_exp(row) - Value.dot(row, _probabilities(c, row, i), 0.0))
            continue
        if isinstance(c, bool) or not isinstance(c, _numbers.Integral):
            raise TypeError(f"softmax_cross_entropy: target {i} is {c!r} ({type(c).__name__}); "
                            f"targets are class indices, ints from 0 to {len(row) - 1} "
                            f"(or rows of {len(row)} class probabilities)")
        if not 0 <= c < len(row):
            raise ValueError(
                f"softmax_cross_entropy: target {i} is {c!r}, but sample {i} has {len(row)} "
                f"logits; targets are class indices 0..{len(row) - 1}"
            )
        terms.append(log_sum_exp(row) - row[c])
    return _mean(terms)


def _probabilities(t, row: list, i: int) -> list:
    """Sample i's target row of class probabilities: one number or Value per logit."""
    if len(t) != len(row):
        raise ValueError(f"softmax_cross_entropy: target {i} has {len(t)} probabilities but "
                         f"sample {i} has {len(row)} logits; give one per class")
    for j, p in enumerate(t):
        if not (isinstance(p, Value) or _is_number(p)):
            raise TypeError(f"softmax_cross_entropy: target {i}'s probability {j} is {p!r} "
                            f"({type(p).__name__}); a target row holds numbers or Values")
    return list(t)


def _check_rows(rows: list, what: str) -> None:
    """Each sample a list of logits, one per class: all of the same length, at least 1."""
    for i, row in enumerate(rows):
        if not isinstance(row, (list, tuple)):
            raise TypeError(f"{what}: sample {i}'s logits are {row!r} ({type(row).__name__}); "
                            "each sample is a list of logits, one per class, e.g. [[2.0, -1.0, "
                            "0.5], ...] for 3 classes")
        if not row:
            raise ValueError(f"{what}: sample {i} has no logits; each sample has one per class")
        if len(row) != len(rows[0]):
            raise ValueError(f"{what}: sample {i} has {len(row)} logits but sample 0 has "
                             f"{len(rows[0])}; every sample has one logit per class")
        _check_scores(row, what, f"sample {i}'s logit")


def softmax(logits: "_abc.Iterable | Value | float") -> list[float]:
    """The probabilities exp(z_j) / Σ exp(z_k) as plain floats (for reading a prediction),
    shifted by the largest logit as in log_sum_exp, so no exp overflows."""
    logits = _as_list(logits, "softmax", "logits")
    _check_scores(logits, "softmax", "logit")
    try:
        datas = [z.data if isinstance(z, Value) else float(z) for z in logits]
    except OverflowError:
        raise OverflowError("softmax: a logit is an int too large for a float; scale the logits "
                            "down") from None
    if not datas:
        raise ValueError("softmax: no logits given; it needs at least one")
    shift = max(datas)
    exps = [_math.exp(d - shift) for d in datas]
    total = sum(exps)
    return [e / total for e in exps]


def l2(params: _abc.Iterable, alpha: float) -> Value:
    """The weight-decay penalty alpha · Σ p², written as micrograd's demo writes it.

    ``params`` are Values (``model.parameters()``: a list of numbers would give the penalty no
    gradient), ``alpha`` a finite number >= 0, such as micrograd's 1e-4."""
    alpha = _penalty_weight(alpha)
    return alpha * sum(p * p for p in _parameter_values(params))


def _penalty_weight(alpha) -> float:
    if isinstance(alpha, Value) or not _is_number(alpha):
        hint = " (use its .data)" if isinstance(alpha, Value) else ""
        raise TypeError(f"l2: alpha={alpha!r} ({type(alpha).__name__}) is not a number{hint}; "
                        "pass the penalty's weight, e.g. alpha=1e-4")
    if not (alpha >= 0 and _math.isfinite(alpha)):
        raise ValueError(f"l2: alpha={alpha!r} must be a finite number >= 0, e.g. alpha=1e-4")
    return alpha


def _parameter_values(params) -> list:
    """`params` as a list of Values; the model itself, its unbound method or numbers refused."""
    if callable(getattr(params, "parameters", None)):
        raise TypeError(f"l2 was given the model itself ({type(params).__name__} object); pass "
                        "model.parameters(), the list of its Values")
    if callable(params):
        raise TypeError(f"l2 was given {getattr(params, '__name__', params)!r}, a function (the "
                        "method model.parameters?), not the Values it returns; call it: pass "
                        "model.parameters()")
    params = _as_list(params, "l2", "params")
    for i, p in enumerate(params):
        if not isinstance(p, Value):
            raise TypeError(f"l2: parameter {i} is {p!r} ({type(p).__name__}), not a Value; pass "
                            "model.parameters() (the Values, not their .data: the penalty's "
                            "gradient reaches only Values)")
    return params


__all__ = [
    "mse",
    "hinge",
    "binary_cross_entropy_with_logits",
    "log_sum_exp",
    "softmax_cross_entropy",
    "softmax",
    "l2",
]
