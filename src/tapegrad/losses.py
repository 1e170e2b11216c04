"""Loss functions: one number that says how wrong a model is, built from Values so that
``loss.backward()`` gives every parameter its gradient.

    scores = [model(x) for x in X]
    loss = hinge(scores, y) + l2(model.parameters(), 1e-4)   # micrograd's demo loss
    loss.backward()

Every loss is the mean over the samples it is given. Two of them are written in the numerically
stable form that picks a branch from the data (never from a Value's gradient): the formula on
each side of the branch is the same smooth function, so its value and its derivative are exact
on both sides, and no intermediate ever overflows.
"""

from __future__ import annotations

import math
import numbers

from .value import Value


def _as_list(xs, what: str) -> list:
    """A single Value or number becomes a list of one, so each loss takes one sample or many."""
    if isinstance(xs, (Value, numbers.Real)):
        return [xs]
    try:
        return list(xs)
    except TypeError:
        raise TypeError(
            f"{what}: expected a Value, a number or a list of them, got {xs!r} "
            f"({type(xs).__name__})"
        ) from None


def _paired(predictions, targets, what: str) -> tuple[list, list]:
    predictions = _as_list(predictions, what)
    targets = _as_list(targets, what)
    if len(predictions) != len(targets):
        raise ValueError(
            f"{what}: {len(predictions)} predictions but {len(targets)} targets; "
            "give one target per prediction"
        )
    if not predictions:
        raise ValueError(f"{what}: no samples given; the mean of nothing is undefined")
    return predictions, targets


def _mean(terms: list) -> Value:
    """(t_1 + ... + t_n) · (1/n), written as micrograd's demo writes it, so that the demo's loss
    is the very same float."""
    return sum(terms) * (1.0 / len(terms))


def mse(predictions, targets) -> Value:
    """Mean squared error: (1/n) Σ (p_i - t_i)²."""
    predictions, targets = _paired(predictions, targets, "mse")
    return _mean([(p - t) ** 2 for p, t in zip(predictions, targets)])


def hinge(scores, labels) -> Value:
    """The SVM max-margin loss: (1/n) Σ relu(1 - y_i · s_i), labels y_i in {-1, +1}.

    Zero once every sample is on its side with a margin of 1. This is micrograd's demo loss,
    written with the same operations in the same order, so it computes the same floats.
    """
    scores, labels = _paired(scores, labels, "hinge")
    for i, y in enumerate(labels):
        if y not in (-1, 1):
            raise ValueError(
                f"hinge: label {i} is {y!r}; the hinge loss needs labels -1 and +1 "
                "(map 0/1 labels with y = 2 * label - 1)"
            )
    return _mean([(1 + -y * s).relu() for y, s in zip(labels, scores)])


def _softplus_of_minus_abs(z: Value, sign: int) -> Value:
    """log(1 + exp(-|z|)), with |z| = sign · z known from the data: exp never sees a positive
    number, so it never overflows, and log's argument is between 1 and 2."""
    return (1 + (z * -sign).exp()).log()


def binary_cross_entropy_with_logits(logits, targets) -> Value:
    """Binary cross-entropy of sigmoid(z) against targets t in [0, 1], from the logits z:

        ℓ(z, t) = -t·log σ(z) - (1 - t)·log(1 - σ(z))
                = max(z, 0) - z·t + log(1 + exp(-|z|))

    The second line never overflows and never takes log of 0. It is evaluated as
    z·(1 - t) + log(1 + exp(-z)) when z ≥ 0 and as -z·t + log(1 + exp(z)) when z < 0: the same
    analytic function on both sides, so the gradient is σ(z) - t everywhere, also at z = 0
    (where relu and abs would each contribute a kink's 0 and get it wrong).
    """
    logits, targets = _paired(logits, targets, "binary_cross_entropy_with_logits")
    terms = []
    for i, (z, t) in enumerate(zip(logits, targets)):
        if not (isinstance(t, numbers.Real) and 0 <= t <= 1):
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


def log_sum_exp(logits) -> Value:
    """log Σ exp(z_j), computed as m + log Σ exp(z_j - m) with m = max_j z_j (a constant).

    Shifting by the largest logit keeps every exp in (0, 1], so nothing overflows, and the
    largest term is exactly 1, so the log never sees 0. The shift is a plain number: the
    result does not depend on it, so neither does the gradient (softmax(z)).
    """
    logits = [z if isinstance(z, Value) else Value(z) for z in _as_list(logits, "log_sum_exp")]
    if not logits:
        raise ValueError("log_sum_exp: no logits given; it needs at least one")
    shift = max(z.data for z in logits)
    return sum((z + -shift).exp() for z in logits).log() + shift


def softmax_cross_entropy(logits, targets) -> Value:
    """Cross-entropy of softmax(z) against class indices, averaged over the samples:

        ℓ(z, c) = -log softmax(z)_c = log Σ_j exp(z_j) - z_c

    ``logits`` is one row of k scores per sample (or a single row), ``targets`` one class index
    in 0..k-1 per sample. Stable for any logits, via log_sum_exp. The gradient with respect to
    z_j is softmax(z)_j - [j == c].
    """
    rows = _as_list(logits, "softmax_cross_entropy")
    if rows and not isinstance(rows[0], (list, tuple)):
        rows = [rows]  # a single sample's row of logits
    rows, targets = _paired(rows, targets, "softmax_cross_entropy")
    terms = []
    for i, (row, c) in enumerate(zip(rows, targets)):
        if not (isinstance(c, numbers.Integral) and 0 <= c < len(row)):
            raise ValueError(
                f"softmax_cross_entropy: target {i} is {c!r}, but sample {i} has {len(row)} "
                f"logits; targets are class indices 0..{len(row) - 1}"
            )
        terms.append(log_sum_exp(row) - row[c])
    return _mean(terms)


def softmax(logits) -> list[float]:
    """The probabilities exp(z_j) / Σ exp(z_k) as plain floats (for reading a prediction),
    shifted by the largest logit as in log_sum_exp, so no exp overflows."""
    datas = [z.data if isinstance(z, Value) else float(z) for z in _as_list(logits, "softmax")]
    if not datas:
        raise ValueError("softmax: no logits given; it needs at least one")
    shift = max(datas)
    exps = [math.exp(d - shift) for d in datas]
    total = sum(exps)
    return [e / total for e in exps]


def l2(params, alpha: float) -> Value:
    """The weight-decay penalty alpha · Σ p², written as micrograd's demo writes it."""
    return alpha * sum(p * p for p in params)


__all__ = [
    "mse",
    "hinge",
    "binary_cross_entropy_with_logits",
    "log_sum_exp",
    "softmax_cross_entropy",
    "softmax",
    "l2",
]
