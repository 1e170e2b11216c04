"""Optimizers: turn the gradients in ``p.grad`` into updates of ``p.data``, as PyTorch's do.

    opt = Adam(model.parameters(), lr=0.01)
    for step in range(100):
        loss = ...
        opt.zero_grad()
        loss.backward()
        opt.step()

Each optimizer keeps its parameters in ``self.params`` (a list) and any per-parameter state in
plain lists indexed like ``self.params``, so the update is one short loop that reads like its
formula. ``lr`` is an attribute: set it between steps for a learning-rate schedule.
"""

from __future__ import annotations

import math

from .value import Value


class Optimizer:
    """What every optimizer shares: the parameter list, ``lr`` and ``zero_grad()``."""

    def __init__(self, params, lr: float):
        self.params = list(params)
        for i, p in enumerate(self.params):
            if not isinstance(p, Value):
                raise TypeError(
                    f"{type(self).__name__}: parameter {i} is {p!r} ({type(p).__name__}), not a "
                    "Value; pass model.parameters()"
                )
        if not self.params:
            raise ValueError(
                f"{type(self).__name__} got no parameters to optimize; pass model.parameters()"
            )
        _check_non_negative(self, "lr", lr)
        self.lr = lr
        self._block = None  # the parameters' arrays, once a NumPy-backend Graph holds them all

    def _arrays(self):
        """A ParamBlock when every parameter lives in a NumPy-backend Graph, else None.

        NOTE: a ParamBlock keeps its own momentum and moments, starting from zero. So it is
        taken only while this optimizer's state is still zero; one that has built up state
        before its parameters moved into a Graph goes on updating them Value by Value (slower,
        but its state carries on and the updates stay exact)."""
        if self._block is None:
            # Leaves that live in a NumPy-backend Graph's arrays can be updated together.
            together = getattr(type(self.params[0]), "update_together", None)
            block = together(self.params) if together is not None else None
            if block is not None:
                self._block = False if self._has_state() else block  # False: decided, per Value
        return self._block or None

    def _has_state(self) -> bool:
        """Whether the per-parameter state differs from its starting zeros."""
        return False

    def zero_grad(self) -> None:
        """Set every parameter's grad to 0 (gradients accumulate across backward() calls)."""
        if self._arrays() is not None:
            return self._block.zero_grad()
        for p in self.params:
            p.grad = 0.0

    def step(self) -> None:
        raise NotImplementedError


def _check_non_negative(opt, name: str, value) -> None:
    if not (isinstance(value, (int, float)) and value >= 0 and math.isfinite(value)):
        raise ValueError(
            f"{type(opt).__name__}: {name}={value!r} must be a finite number >= 0"
        )


def _check_beta(opt, name: str, value) -> None:
    if not (isinstance(value, (int, float)) and 0 <= value < 1):
        raise ValueError(f"{type(opt).__name__}: {name}={value!r} must be in [0, 1)")


class SGD(Optimizer):
    """Stochastic gradient descent, with PyTorch's momentum and weight decay:

        g = p.grad + weight_decay · p
        b = g                   on the first step,
        b = momentum · b + g    after that          (only when momentum > 0)
        p = p - lr · b          (b = g without momentum)
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params, lr)
        _check_beta(self, "momentum", momentum)
        _check_non_negative(self, "weight_decay", weight_decay)
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.velocity: list[float | None] = [None] * len(self.params)

    def _has_state(self) -> bool:
        return any(b is not None for b in self.velocity)

    def step(self) -> None:
        if self._arrays() is not None:
            return self._block.sgd_step(self.lr, self.momentum, self.weight_decay)
        lr, momentum, decay, velocity = self.lr, self.momentum, self.weight_decay, self.velocity
        for i, p in enumerate(self.params):
            g = p.grad + decay * p.data if decay else p.grad
            if momentum:
                g = g if velocity[i] is None else momentum * velocity[i] + g
                velocity[i] = g
            p.data -= lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba), as PyTorch computes it; step t counts from 1:

        g = p.grad + weight_decay · p          (L2 decay folded into the gradient)
        m = β1 · m + (1 - β1) · g              (running mean of the gradient)
        v = β2 · v + (1 - β2) · g²             (running mean of its square)
        p = p - lr · (m / (1 - β1^t)) / (sqrt(v / (1 - β2^t)) + eps)
    """

    decoupled = False  # AdamW sets this: decay the weights directly instead of via the gradient

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, lr)
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise ValueError(
                f"{type(self).__name__}: betas={betas!r} must be a pair, e.g. (0.9, 0.999): "
                "the decay rates of the gradient's running mean and of its square's"
            ) from None
        _check_beta(self, "betas[0]", beta1)
        _check_beta(self, "betas[1]", beta2)
        _check_non_negative(self, "eps", eps)
        _check_non_negative(self, "weight_decay", weight_decay)
        self.betas = (beta1, beta2)
        self.eps = eps
        self.weight_decay = weight_decay
        self.t = 0
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)

    def _has_state(self) -> bool:
        return any(self.m) or any(self.v)

    def step(self) -> None:
        self.t += 1
        if self._arrays() is not None:
            args = (self.lr, self.betas, self.eps, self.weight_decay, self.decoupled, self.t)
            return self._block.adam_step(*args)
        lr, eps, decay = self.lr, self.eps, self.weight_decay
        beta1, beta2 = self.betas
        step_size = lr / (1.0 - beta1**self.t)
        bias2_sqrt = math.sqrt(1.0 - beta2**self.t)
        m, v = self.m, self.v
        for i, p in enumerate(self.params):
            g = p.grad
            if decay:
                if self.decoupled:
                    p.data -= lr * decay * p.data
                else:
                    g = g + decay * p.data
            m[i] = beta1 * m[i] + (1.0 - beta1) * g
            v[i] = beta2 * v[i] + (1.0 - beta2) * g * g
            # sqrt(v / (1 - β2^t)) written as PyTorch writes it, so the floats agree closely
            p.data -= step_size * m[i] / (math.sqrt(v[i]) / bias2_sqrt + eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as PyTorch's AdamW:

        p = p - lr · weight_decay · p          (first, and not through m and v)
        then Adam's update with g = p.grad.

    PyTorch's default weight_decay for AdamW is 0.01; so is ours.
    """

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]
