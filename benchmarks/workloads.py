"""The four training workloads of issue #15, each written for tapegrad and for its peers, all
starting from the same weights and computing the same losses:

    name     network              data                         loss
    demo     MLP(2, [16, 16, 1])  micrograd's 100 moons         hinge + 1e-4 Σ p²
    mlp32    MLP(2, [32, 32, 1])  300 moons (noise 0.1)         hinge + 1e-4 Σ p²
    mlp64    MLP(2, [64, 64, 1])  1,000 moons (noise 0.1)       hinge + 1e-4 Σ p²
    digits   MLP(64, [32, 10])    256 of the 8×8 digits         softmax cross-entropy

A training step is forward, backward and one SGD update (lr 1.0 - 0.9·k/100 for the hinge
workloads, micrograd's schedule; 0.1 for digits). Each ``make_*`` returns a step function
``step(k) -> loss``; a peer that is not installed raises `peers.Missing`.

- tapegrad compiled: the step recorded once on placeholders (tapegrad.backends.compile_step)
  and run on the batch each step, SGD from tapegrad.optim;
- tapegrad replay: the loss recorded on the data itself, replayed with Graph(backend="numpy");
- tapegrad eager: the graph rebuilt every step;
- PyTorch batched (one thread), JAX jit (the whole step jitted), and the floor: forward and
  backward written by hand in NumPy.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import peers


UNSET_BLAS = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE"  # (both together: see blas_kernels)


def blas_kernels() -> list[str]:
    """What NumPy's matrix products run on -- every NumPy row's time (the floor's, tapegrad's)
    is mostly its products -- and, when the environment chose the kernels, how to run without.

    OpenBLAS picks its kernels for the CPU it finds, unless OPENBLAS_CORETYPE names them; some
    machines set it (with OPENBLAS_L2_SIZE) because old OpenBLAS builds crash on their CPUs.
    Forced to Haswell's (AVX2) on a CPU with AVX-512, NumPy's 64-wide products take about 1.6×
    as long, while JAX's XLA compiles for the CPU it runs on: the rows would compare kernels,
    not engines."""
    try:
        import numpy as np
    except ImportError:
        return ["NumPy: not installed"]
    try:
        from threadpoolctl import threadpool_info

        found = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:  # (threadpoolctl comes with scikit-learn)
        found = []
    if found:
        blas = found[0]
        line = (f"NumPy {np.__version__}'s BLAS: {blas['internal_api']} {blas['version']}, "
                f"{blas.get('architecture') or 'its default'} kernels, "
                f"{os.environ.get('OPENBLAS_NUM_THREADS', blas['num_threads'])} thread(s)")
    else:
        line = f"NumPy {np.__version__}'s BLAS: kernels unknown (pip install threadpoolctl)"
    forced = os.environ.get("OPENBLAS_CORETYPE")
    if not forced:
        return [line]
    return [line + f" -- named by OPENBLAS_CORETYPE={forced}, not found for this CPU",
            f"  JAX compiles for this CPU: to compare engines, not kernels, run `{UNSET_BLAS} "
            "python3 ...` (tests and CI keep the machine's setting)"]


@dataclass(frozen=True)
class Workload:
    name: str
    sizes: tuple  # (inputs, hidden..., outputs)
    samples: int
    title: str

    @property
    def classes(self) -> int:
        return 2 if self.sizes[-1] == 1 else self.sizes[-1]


WORKLOADS = {
    "demo": Workload("demo", (2, 16, 16, 1), 100, "micrograd's demo, MLP(2,[16,16,1]), 100 points"),
    "mlp32": Workload("mlp32", (2, 32, 32, 1), 300, "MLP(2,[32,32,1]), 300 points"),
    "mlp64": Workload("mlp64", (2, 64, 64, 1), 1000, "MLP(2,[64,64,1]), 1,000 points"),
    "digits": Workload("digits", (64, 32, 10), 256, "digits, MLP(64,[32,10]), 256 samples"),
}
L2 = 1e-4


def data(w: Workload):
    """(X rows, labels): -1/+1 signs for the hinge workloads, class indices for digits."""
    from tapegrad import datasets

    if w.name == "demo":
        ref = peers.reference()
        return ref["X"], [int(v) for v in ref["y"]]
    if w.name == "digits":
        X, y = datasets.digits()
        return X[: w.samples], y[: w.samples]
    X, y = datasets.moons(w.samples, 0.1, seed=0)
    return X, [2 * v - 1 for v in y]


def learning_rate(w: Workload, k: int) -> float:
    return 0.1 if w.classes > 2 else peers.learning_rate(k)


def initial_weights(w: Workload):
    """[(W rows, b)] per layer, as micrograd's MLP draws them from random.seed(1337)."""
    random.seed(1337)
    return [([[random.uniform(-1, 1) for _ in range(nin)] for _ in range(nout)], [0.0] * nout)
            for nin, nout in zip(w.sizes, w.sizes[1:])]


def one_hot(labels, classes: int):
    return [[float(c == label) for c in range(classes)] for label in labels]


# -------------------------------------------------------------------------------------------
# tapegrad
# -------------------------------------------------------------------------------------------


def tapegrad_loss(w: Workload, model, X, y):
    """The workload's loss on rows X (numbers or Values) and targets y (for hinge: signs; for
    digits: one-hot rows), with tapegrad's losses."""
    from tapegrad import losses

    scores = list(map(model, X))
    if w.classes > 2:
        return losses.softmax_cross_entropy(scores, y)
    return losses.hinge(scores, y) + losses.l2(model.parameters(), L2)


def _model(w: Workload):
    from tapegrad.nn import MLP

    random.seed(1337)
    return MLP(w.sizes[0], list(w.sizes[1:]))


def _targets(w: Workload, y):
    return one_hot(y, w.classes) if w.classes > 2 else y


def _sgd_steps(w: Workload, model, forward_backward):
    """step(k): zero the gradients, forward_backward() (returns the loss), SGD at step k's
    learning rate through tapegrad.optim."""
    from tapegrad.optim import SGD

    opt = SGD(model.parameters(), lr=1.0)

    def step(k):
        opt.zero_grad()
        loss = forward_backward()
        opt.lr = learning_rate(w, k)
        opt.step()
        return loss

    return step


def make_tapegrad_compiled(w: Workload):
    """Recorded once on placeholders; each step feeds the batch (arrays) in one call."""
    import numpy as np

    from tapegrad.backends import compile_step, placeholders

    X, y = data(w)
    model = _model(w)
    xs = placeholders(len(X), w.sizes[0])
    ts = placeholders(len(X), w.classes) if w.classes > 2 else placeholders(len(X))
    compiled = compile_step(tapegrad_loss(w, model, xs, ts), feeds=(xs, ts),
                            params=model.parameters())
    X, targets = np.array(X, dtype=float), np.array(_targets(w, y), dtype=float)
    step = _sgd_steps(w, model, lambda: compiled.run(X, targets))
    step.compiled = compiled
    return step


def make_tapegrad_replay(w: Workload):
    """The loss recorded on the data itself and replayed with Graph(backend="numpy")."""
    from tapegrad import Graph, Value

    X, y = data(w)
    model = _model(w)
    loss = tapegrad_loss(w, model, [list(map(Value, row)) for row in X], _targets(w, y))
    graph = Graph(loss, backend="numpy")

    def forward_backward():
        graph.forward()
        graph.backward()
        return loss.data

    return _sgd_steps(w, model, forward_backward)


def make_tapegrad_eager(w: Workload):
    from tapegrad import Value

    X, y = data(w)
    model = _model(w)
    targets = _targets(w, y)

    def forward_backward():
        loss = tapegrad_loss(w, model, [list(map(Value, row)) for row in X], targets)
        loss.backward()
        return loss.data

    return _sgd_steps(w, model, forward_backward)


# -------------------------------------------------------------------------------------------
# The floor and the peers
# -------------------------------------------------------------------------------------------


def make_floor(w: Workload):
    """Forward and backward by hand with NumPy matrices, in place where it can be."""
    try:
        import numpy as np
    except ImportError:
        raise peers.Missing("numpy not installed (pip install numpy)") from None
    layers = [(np.array(rows), np.array(bias)) for rows, bias in initial_weights(w)]
    Xl, yl = data(w)
    X, n = np.array(Xl, dtype=float), len(Xl)
    if w.classes > 2:
        T = np.array(one_hot(yl, w.classes))
    else:
        y = np.array(yl, dtype=float)

    def step(k):
        hs = [X]
        for i, (W, b) in enumerate(layers):
            z = hs[-1] @ W.T
            z += b
            if i + 1 < len(layers):
                np.maximum(z, 0.0, out=z)
            hs.append(z)
        out = hs[-1]
        if w.classes > 2:
            m = out.max(axis=1, keepdims=True)
            e = np.exp(out - m)
            s = e.sum(axis=1, keepdims=True)
            loss = float(((np.log(s[:, 0]) + m[:, 0]) - (out * T).sum(axis=1)).sum() / n)
            e /= s
            e -= T
            e *= 1.0 / n
            dz = e
        else:
            margins = 1 - y * out[:, 0]
            loss = float(np.maximum(margins, 0.0).sum() / n
                         + L2 * sum(np.vdot(W, W) + np.vdot(b, b) for W, b in layers))
            dz = ((margins > 0) * (-y / n))[:, None]
        lr = learning_rate(w, k)
        for i in range(len(layers) - 1, -1, -1):
            W, b = layers[i]
            dW, db = dz.T @ hs[i], dz.sum(axis=0)
            if i:
                dz = dz @ W
                dz *= hs[i] > 0
            if w.classes == 2:
                dW += 2 * L2 * W
                db += 2 * L2 * b
            W -= lr * dW
            b -= lr * db
        return loss

    return step


def make_torch(w: Workload):
    try:
        import torch
    except ImportError:
        raise peers.Missing("torch not installed (pip install torch)") from None
    torch.set_num_threads(1)
    f64 = torch.float64
    params = []
    for rows, bias in initial_weights(w):
        params += [torch.tensor(rows, dtype=f64, requires_grad=True),
                   torch.tensor(bias, dtype=f64, requires_grad=True)]
    Xl, yl = data(w)
    X = torch.tensor(Xl, dtype=f64)
    y = torch.tensor(yl)
    yf = y.to(f64)

    def step(k):
        h = peers.torch_mlp(torch, X, params)
        if w.classes > 2:
            loss = torch.nn.functional.cross_entropy(h, y)
        else:
            loss = torch.relu(1 - yf * h[:, 0]).mean() + L2 * sum((p * p).sum() for p in params)
        for p in params:
            p.grad = None
        loss.backward()
        lr = learning_rate(w, k)
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
        return loss.item()

    return step


def make_jax(w: Workload):
    """The whole step -- loss, gradient and update -- as one jitted function, float64."""
    try:
        import jax
    except ImportError:
        raise peers.Missing("jax not installed (pip install jax)") from None
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    import jax.numpy as jnp

    params = [(jnp.array(rows, dtype=jnp.float64), jnp.array(bias, dtype=jnp.float64))
              for rows, bias in initial_weights(w)]
    Xl, yl = data(w)
    X = jnp.array(Xl, dtype=jnp.float64)
    T = jnp.array(one_hot(yl, w.classes)) if w.classes > 2 else jnp.array(yl, dtype=jnp.float64)

    def loss_of(params):
        h = X
        for i, (W, b) in enumerate(params):
            h = h @ W.T + b
            if i + 1 < len(params):
                h = jnp.maximum(h, 0.0)
        if w.classes > 2:
            return jnp.mean(jax.nn.logsumexp(h, axis=1) - (h * T).sum(axis=1))
        data_loss = jnp.mean(jnp.maximum(1 - T * h[:, 0], 0.0))
        return data_loss + L2 * sum((W * W).sum() + (b * b).sum() for W, b in params)

    @jax.jit
    def update(params, lr):
        loss, grads = jax.value_and_grad(loss_of)(params)
        return loss, [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params, grads)]

    state = [params]

    def step(k):
        loss, state[0] = update(state[0], learning_rate(w, k))
        return float(loss)

    return step


MAKERS = {
    "tapegrad compiled": make_tapegrad_compiled,
    "tapegrad replay": make_tapegrad_replay,
    "PyTorch batched": make_torch,
    "JAX jit": make_jax,
    "floor": make_floor,
}
