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

Every setting is checked when it is set, in the constructor and later (``opt.lr = nan`` raises),
and a step checks what it reads before it writes anything: an optimizer that raises leaves every
parameter and its own state as they were. What flows through a step is not refused: a nan
gradient makes a nan update, as in PyTorch.
"""

import _collections_abc as _abc
import math as _math
import numbers as _numbers

from .value import Value

# What the messages suggest for each setting (PyTorch's defaults where it has one).
_EXAMPLES = {"lr": "0.1", "momentum": "0.9", "weight_decay": "1e-4", "eps": "1e-8",
             "betas": "(0.9, 0.999)", "betas[0]": "0.9", "betas[1]": "0.999"}


# ---------------------------------------------------------------------------------------------
# Settings: each one checked whenever it is set.
# ---------------------------------------------------------------------------------------------


def _number(opt, name: str, value) -> float:
    """`value` as a float; a TypeError naming `name` for anything that is not a plain number."""
    if type(value) is float:
        return value
    example = _EXAMPLES.get(name, "0.1")
    if isinstance(value, bool):
        problem = "is a bool"
    elif isinstance(value, Value):
        problem = "is a Value; settings are plain numbers (use its .data)"
    elif isinstance(value, _numbers.Real):
        try:
            return float(value)
        except OverflowError:  # an int beyond any float: refused as the infinity it would be
            return _math.inf
    else:
        problem = f"({type(value).__name__}) is not a number"
    raise TypeError(f"{type(opt).__name__}: {name}={value!r} {problem}; pass a number, e.g. "
                    f"{name}={example}")


def _shown(value) -> str:
    """`value` for a message: its repr, but not hundreds of digits of it."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:12]}... ({len(text)} characters)"


def _non_negative(opt, name: str, value) -> float:
    """A finite number >= 0 (lr, weight_decay)."""
    x = _number(opt, name, value)
    if not (x >= 0 and _math.isfinite(x)):  # (nan fails both comparisons)
        raise ValueError(f"{type(opt).__name__}: {name}={_shown(value)} must be a finite number "
                         f">= 0, e.g. {name}={_EXAMPLES[name]}")
    return x


def _positive(opt, name: str, value) -> float:
    """A finite number > 0: eps, which Adam adds to sqrt(v) before dividing by it -- and v is 0
    for a parameter whose gradients have all been 0 so far."""
    x = _number(opt, name, value)
    if not (x > 0 and _math.isfinite(x)):
        raise ValueError(
            f"{type(opt).__name__}: {name}={_shown(value)} must be a finite number > 0: the "
            f"update divides by sqrt(v) + {name}, and v is 0 while a parameter's gradient has "
            f"been 0; pass a small positive number, e.g. {name}={_EXAMPLES[name]} (the default)")
    return x


def _fraction(opt, name: str, value) -> float:
    """A number in [0, 1): a decay rate (momentum, Adam's betas)."""
    x = _number(opt, name, value)
    if not 0 <= x < 1:
        raise ValueError(f"{type(opt).__name__}: {name}={_shown(value)} must be in [0, 1), "
                         f"e.g. {name}={_EXAMPLES[name]}")
    return x


def _pair_of_fractions(opt, name: str, value) -> tuple[float, float]:
    """Adam's (β1, β2): two decay rates in [0, 1)."""
    try:
        if isinstance(value, (str, bytes)):
            raise TypeError
        beta1, beta2 = value
    except (TypeError, ValueError):
        raise TypeError(
            f"{type(opt).__name__}: {name}={_shown(value)} must be a pair, e.g. "
            f"{name}=(0.9, 0.999): the decay rates of the gradient's running mean and of its "
            "square's"
        ) from None
    return _fraction(opt, f"{name}[0]", beta1), _fraction(opt, f"{name}[1]", beta2)


class _Setting:
    """An optimizer's setting, checked by ``check(opt, name, value)`` each time it is set -- in
    the constructor and between steps alike -- so a bad value never reaches a step."""

    def __init__(self, check):
        self.check = check

    def __set_name__(self, owner, name: str) -> None:
        self.name, self.slot = name, f"_{name}"

    def __get__(self, opt, owner=None):
        return self if opt is None else getattr(opt, self.slot)

    def __set__(self, opt, value) -> None:
        setattr(opt, self.slot, self.check(opt, self.name, value))


# ---------------------------------------------------------------------------------------------
# Parameters: a list of leaves, each once.
# ---------------------------------------------------------------------------------------------


def _parameter_list(opt, params) -> list:
    """`params` as a list, refusing what is not a collection of Values with a message that says
    what to pass instead (the mistakes: the model, its unbound method, a single Value)."""
    name = type(opt).__name__
    if isinstance(params, Value):
        raise TypeError(f"{name}: params is a single Value, {params!r}; pass a list of the Values "
                        "to optimize, e.g. [w, b], or model.parameters()")
    if callable(getattr(params, "parameters", None)):  # a Module, or anything like one
        raise TypeError(f"{name} was given the model itself ({type(params).__name__} object); "
                        "pass model.parameters(), the list of its Values")
    if callable(params):
        if getattr(params, "__name__", "") == "parameters":
            raise TypeError(f"{name} was given model.parameters, the method, not the list it "
                            "returns; call it: pass model.parameters()")
        raise TypeError(f"{name} was given the function {params!r}, not a list of Values; pass "
                        "model.parameters()")
    if isinstance(params, (str, bytes, dict)) or not hasattr(params, "__iter__"):
        raise TypeError(f"{name}: params={params!r} ({type(params).__name__}) is not a list of "
                        "Values; pass model.parameters()")
    return list(params)


def _check_parameters(opt, params: list) -> None:
    """Every entry a leaf Value (the kind whose data the next forward pass reads), listed once."""
    name = type(opt).__name__
    if not params:
        raise ValueError(f"{name} got no parameters to optimize; pass model.parameters()")
    first_seen: dict[int, int] = {}
    for i, p in enumerate(params):
        if not isinstance(p, Value):
            raise TypeError(f"{name}: parameter {i} is {p!r} ({type(p).__name__}), not a Value; "
                            "pass model.parameters()")
        if p._rec is not None:  # a node of a recorded computation, not a leaf of its own
            raise TypeError(f"{name}: parameter {i} is {_computed(p)}; an optimizer updates "
                            "leaves, the Values you made with Value(...) and compute from, such "
                            "as a model's weights: pass model.parameters()")
        j = first_seen.setdefault(id(p), i)
        if j != i:
            raise ValueError(f"{name}: parameter {i} is parameter {j} again ({p!r}); a Value "
                             "listed twice would be updated twice a step: list each one once")


def _computed(p: Value) -> str:
    """How a refused parameter came to be, for the message."""
    if not p.args:  # a number used as an operand: a constant entry of the record
        return (f"the constant {p.data!r} of an expression (a number written in a computation, "
                "like the 2 of 2 * x)")
    return f"{p!r}, computed by {p._op!r} from {len(p.args)} other Value(s)"


# ---------------------------------------------------------------------------------------------
# The optimizers.
# ---------------------------------------------------------------------------------------------


class Optimizer:
    """What every optimizer shares: the parameter list, ``lr`` and ``zero_grad()``.

    ``params`` is an iterable of leaf Values, each listed once (``model.parameters()``); ``lr``
    the learning rate, a finite number >= 0, which can be set again between steps.
    """

    lr = _Setting(_non_negative)

    def __init__(self, params: _abc.Iterable, lr: float) -> None:
        params = _parameter_list(self, params)
        _check_parameters(self, params)
        self.lr = lr
        self.params = params
        self._checked = list(params)  # what step() compares self.params with
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

    def _check_unchanged(self, caller: str) -> None:
        """The state lists are indexed like ``self.params``: a list changed since construction
        would pair parameters with another's state (or run off its end), so it is refused."""
        # (Values compare by node, so this is a comparison of identities, in C)
        if self.params != self._checked:
            raise ValueError(
                f"{type(self).__name__}.{caller}(): opt.params has changed since the optimizer "
                f"was made ({len(self._checked)} Values then, {len(self.params)} now), and its "
                "state belongs to the parameters it was given; make a new optimizer for the new "
                "list, e.g. opt = " + type(self).__name__ + "(model.parameters(), ...)")

    def _read(self) -> tuple[list, list]:
        """Every parameter's (data, grad) as floats, checked before a step writes anything."""
        datas = [p.data for p in self.params]
        grads = [p.grad for p in self.params]
        if {*map(type, datas), *map(type, grads)} != {float}:  # (all floats: checked in C)
            for i, (data, grad) in enumerate(zip(datas, grads)):
                datas[i] = self._as_float(i, "data", data)
                grads[i] = self._as_float(i, "grad", grad)
        return datas, grads

    def _as_float(self, i: int, field: str, x) -> float:
        """Parameter i's data or grad as a float; a TypeError if it is not a number."""
        if isinstance(x, _numbers.Real) and not isinstance(x, Value):
            return float(x)
        raise TypeError(f"{type(self).__name__}.step(): parameter {i}'s {field} is {x!r} "
                        f"({type(x).__name__}), not a number, so nothing was updated; a "
                        f"parameter's {field} is a plain number (assign p.{field} = v.data, "
                        "not a Value v)")

    def zero_grad(self) -> None:
        """Set every parameter's grad to 0 (gradients accumulate across backward() calls)."""
        self._check_unchanged("zero_grad")
        if self._arrays() is not None:
            return self._block.zero_grad()
        for p in self.params:
            p.grad = 0.0

    def step(self) -> None:
        """Update every parameter from its gradient (each optimizer's formula)."""
        raise NotImplementedError(f"{type(self).__name__} must define step()")


class SGD(Optimizer):
    """Stochastic gradient descent, with PyTorch's momentum and weight decay:

        g = p.grad + weight_decay · p
        b = g                   on the first step,
        b = momentum · b + g    after that          (only when momentum > 0)
        p = p - lr · b          (b = g without momentum)

    ``momentum`` is in [0, 1), ``weight_decay`` a finite number >= 0.
    """

    momentum = _Setting(_fraction)
    weight_decay = _Setting(_non_negative)

    def __init__(self, params: _abc.Iterable, lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.velocity: list[float | None] = [None] * len(self.params)

    def _has_state(self) -> bool:
        return any(b is not None for b in self.velocity)

    def step(self) -> None:
        """One update of every parameter (the class docstring's formula)."""
        self._check_unchanged("step")
        if self._arrays() is not None:
            return self._block.sgd_step(self.lr, self.momentum, self.weight_decay)
        datas, grads = self._read()
        lr, momentum, decay, velocity = self.lr, self.momentum, self.weight_decay, self.velocity
        for i, p in enumerate(self.params):
            g = grads[i] + decay * datas[i] if decay else grads[i]
            if momentum:
                g = g if velocity[i] is None else momentum * velocity[i] + g
                velocity[i] = g
            p.data = datas[i] - lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba), as PyTorch computes it; step t counts from 1:

        g = p.grad + weight_decay · p          (L2 decay folded into the gradient)
        m = β1 · m + (1 - β1) · g              (running mean of the gradient)
        v = β2 · v + (1 - β2) · g²             (running mean of its square)
        p = p - lr · (m / (1 - β1^t)) / (sqrt(v / (1 - β2^t)) + eps)

    ``betas`` = (β1, β2), each in [0, 1); ``eps`` > 0 (v is 0 wherever the gradients have been);
    ``weight_decay`` >= 0.
    """

    decoupled = False  # AdamW sets this: decay the weights directly instead of via the gradient
    betas = _Setting(_pair_of_fractions)
    eps = _Setting(_positive)
    weight_decay = _Setting(_non_negative)

    def __init__(
        self,
        params: _abc.Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.t = 0
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)

    def _has_state(self) -> bool:
        return any(self.m) or any(self.v)

    def step(self) -> None:
        """One update of every parameter (the class docstring's formula); t counts it."""
        self._check_unchanged("step")
        if self._arrays() is not None:
            self.t += 1
            args = (self.lr, self.betas, self.eps, self.weight_decay, self.decoupled, self.t)
            return self._block.adam_step(*args)
        datas, grads = self._read()
        self.t += 1
        lr, eps, decay = self.lr, self.eps, self.weight_decay
        beta1, beta2 = self.betas
        step_size = lr / (1.0 - beta1**self.t)
        bias2_sqrt = _math.sqrt(1.0 - beta2**self.t)
        m, v = self.m, self.v
        for i, p in enumerate(self.params):
            g, data = grads[i], datas[i]
            if decay:
                if self.decoupled:
                    data -= lr * decay * data
                else:
                    g = g + decay * data
            m[i] = beta1 * m[i] + (1.0 - beta1) * g
            v[i] = beta2 * v[i] + (1.0 - beta2) * g * g
            # sqrt(v / (1 - β2^t)) written as PyTorch writes it, so the floats agree closely
            p.data = data - step_size * m[i] / (_math.sqrt(v[i]) / bias2_sqrt + eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as PyTorch's AdamW:

        p = p - lr · weight_decay · p          (first, and not through m and v)
        then Adam's update with g = p.grad.

    PyTorch's default weight_decay for AdamW is 0.01; so is ours.
    """

    decoupled = True

    def __init__(self, params: _abc.Iterable, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]
