"""A tiny GPT that learns to invent names, on a scalar autograd engine, in plain Python.

In the style of Karpathy's microgpt: the whole road from a text file to sampled names in one
file, with nothing but the standard library and a `Value` class --

    the data        a list of names, one per line; each name is one training document
    the tokenizer   one token per character, plus BOS, which marks both ends of a name
    the model       token and position embeddings, one transformer block (multi-head causal
                    self-attention with a key/value cache, then an MLP), a linear head
    the training    next-character cross-entropy on one name per step, Adam written by hand
    the sampling    one character at a time, with a temperature

Run it:

    python microgpt.py                     # 1,000 steps, then 20 invented names
    python microgpt.py --steps 100         # a shorter run
    python microgpt.py --names my.txt      # any file with one document per line

The engine is the one import line below. `engine.py` beside this file is a micrograd-style
`Value`, one Python object per number. To train on tapegrad instead, change that line to

    from tapegrad import Value

and nothing else: the program prints the same losses and the same names, faster.
(`--engine tapegrad` does the same without editing the file, for tests and benchmarks.)
"""

from engine import Value  # the autograd engine: change this line to `from tapegrad import Value`

import argparse
import importlib
import importlib.resources
import math
import random
import sys

# The model's shape: tiny, so that a scalar engine in pure Python trains it in minutes.
n_embd = 16  # the width of every token's vector
n_head = 4  # attention heads; each one looks at head_dim of the n_embd numbers
n_layer = 1  # transformer blocks
block_size = 16  # the longest context the model sees (names longer than 15 are cut)
head_dim = n_embd // n_head

# Adam's settings, and the learning rate, which falls linearly to 0 over the run.
learning_rate = 0.01
beta1, beta2, eps_adam = 0.85, 0.99, 1e-8


# -- the data --------------------------------------------------------------------------------


def default_names_path():
    """Where the 32,033 names of makemore's names.txt are: the copy shipped inside tapegrad."""
    try:
        return importlib.resources.files("tapegrad") / "data" / "names.txt"
    except ModuleNotFoundError:
        sys.exit("microgpt.py: tapegrad is not installed, so there is no names.txt to default "
                 "to; give a file with one name per line: --names PATH")


def load_docs(path):
    """The documents in the file at `path`: one per non-empty line, surrounding spaces removed."""
    with open(path, encoding="utf-8") as file:
        return [line.strip() for line in file if line.strip()]


# -- the parameters ----------------------------------------------------------------------------


def matrix(nout, nin, std=0.08):
    """An nout × nin matrix (a list of rows) of fresh Values drawn from a Gaussian.

    Small random numbers: all zeros would make every row compute the same thing (and get the
    same gradient) forever; large ones would saturate the softmaxes from the first step."""
    return [[Value(random.gauss(0, std)) for _ in range(nin)] for _ in range(nout)]


def init_model(vocab_size):
    """Every weight matrix of the model, by name (its 'state dict')."""
    model = {
        "wte": matrix(vocab_size, n_embd),  # token embeddings: one row per token
        "wpe": matrix(block_size, n_embd),  # position embeddings: one row per position
        "lm_head": matrix(vocab_size, n_embd),  # from the last vector to one logit per token
    }
    for layer in range(n_layer):
        model[f"layer{layer}.attn_wq"] = matrix(n_embd, n_embd)  # queries
        model[f"layer{layer}.attn_wk"] = matrix(n_embd, n_embd)  # keys
        model[f"layer{layer}.attn_wv"] = matrix(n_embd, n_embd)  # values
        model[f"layer{layer}.attn_wo"] = matrix(n_embd, n_embd)  # the heads, mixed back
        model[f"layer{layer}.mlp_fc1"] = matrix(4 * n_embd, n_embd)  # the MLP widens 4×...
        model[f"layer{layer}.mlp_fc2"] = matrix(n_embd, 4 * n_embd)  # ...and narrows back
    return model


def parameters(model):
    """All the model's Values in one flat list: what the optimizer updates, in a fixed order."""
    return [p for weights in model.values() for row in weights for p in row]


# -- the building blocks -------------------------------------------------------------------------


def linear(x, w):
    """The matrix-vector product w @ x: one dot product per row of w (no bias)."""
    return [sum(wi * xi for wi, xi in zip(wo, x)) for wo in w]


def softmax(logits):
    """Probabilities from scores: exp(each) / the sum of the exps.

    The largest score is subtracted first, as a plain number: the probabilities are the same,
    but exp never sees a large positive number, so it cannot overflow."""
    largest = max(v.data for v in logits)
    exps = [(v - largest).exp() for v in logits]
    total = sum(exps)
    return [e / total for e in exps]


def rmsnorm(x):
    """x scaled to a root-mean-square of 1, which keeps the numbers in a sane range as they
    pass through the layers (the 1e-5 keeps a zero vector from dividing by zero)."""
    mean_square = sum(xi * xi for xi in x) / len(x)
    scale = (mean_square + 1e-5) ** -0.5
    return [xi * scale for xi in x]


def gpt(model, token_id, pos_id, keys, values):
    """The logits for the token after `token_id`, at position `pos_id`.

    One position at a time: `keys` and `values` hold, per layer, the key and value vectors of
    the positions before this one (the KV cache), and this position's are appended. Attention
    can only look at what is in the cache, which is what makes it causal."""
    token_vector = model["wte"][token_id]
    position_vector = model["wpe"][pos_id]
    x = [t + p for t, p in zip(token_vector, position_vector)]
    x = rmsnorm(x)

    for layer in range(n_layer):
        # Attention: each head compares this position's query with every cached key, and
        # averages the cached values with those similarities (softmaxed) as weights.
        residual = x
        x = rmsnorm(x)
        q = linear(x, model[f"layer{layer}.attn_wq"])
        k = linear(x, model[f"layer{layer}.attn_wk"])
        v = linear(x, model[f"layer{layer}.attn_wv"])
        keys[layer].append(k)
        values[layer].append(v)
        heads = []
        for head in range(n_head):
            start = head * head_dim  # this head's slice of each vector
            q_head = q[start:start + head_dim]
            k_head = [key[start:start + head_dim] for key in keys[layer]]
            v_head = [value[start:start + head_dim] for value in values[layer]]
            # Scaled by 1/sqrt(head_dim) so that the scores do not grow with the head's width.
            scores = [sum(q_head[j] * k_head[t][j] for j in range(head_dim)) / head_dim**0.5
                      for t in range(len(k_head))]
            weights = softmax(scores)
            heads += [sum(weights[t] * v_head[t][j] for t in range(len(v_head)))
                      for j in range(head_dim)]
        x = linear(heads, model[f"layer{layer}.attn_wo"])
        x = [a + b for a, b in zip(x, residual)]  # the residual connection: add, not replace

        # The MLP: widen, relu, narrow, and again add onto what came in.
        residual = x
        x = rmsnorm(x)
        x = linear(x, model[f"layer{layer}.mlp_fc1"])
        x = [xi.relu() for xi in x]
        x = linear(x, model[f"layer{layer}.mlp_fc2"])
        x = [a + b for a, b in zip(x, residual)]

    return linear(x, model["lm_head"])


# -- training ------------------------------------------------------------------------------------


def document_loss(model, tokens):
    """The mean cross-entropy of predicting each next token of `tokens` from the ones before."""
    n = min(block_size, len(tokens) - 1)  # the number of predictions this document gives
    keys, values = [[] for _ in range(n_layer)], [[] for _ in range(n_layer)]
    losses = []
    for pos_id in range(n):
        token_id, target_id = tokens[pos_id], tokens[pos_id + 1]
        probs = softmax(gpt(model, token_id, pos_id, keys, values))
        losses.append(-probs[target_id].log())  # small when the right token was likely
    return (1 / n) * sum(losses)


def adam_step(params, m, v, step, num_steps):
    """Move every parameter against its gradient, Adam's way, then zero the gradient.

    `m` and `v` are running averages of each gradient and of its square: dividing by sqrt(v)
    gives every parameter a step of about the same size, whatever the scale of its gradient.
    Dividing by (1 - beta ** (step + 1)) undoes their bias towards the zeros they start from."""
    lr = learning_rate * (1 - step / num_steps)  # linear decay, to 0 at the end of the run
    for i, p in enumerate(params):
        m[i] = beta1 * m[i] + (1 - beta1) * p.grad
        v[i] = beta2 * v[i] + (1 - beta2) * p.grad**2
        m_hat = m[i] / (1 - beta1 ** (step + 1))
        v_hat = v[i] / (1 - beta2 ** (step + 1))
        p.data -= lr * m_hat / (v_hat**0.5 + eps_adam)
        p.grad = 0  # gradients add up over a backward pass: start the next one from 0


def train_step(model, params, m, v, tokens, step, num_steps):
    """One step on one document: forward, backward, update. The loss, as a Value."""
    loss = document_loss(model, tokens)
    loss.backward()
    adam_step(params, m, v, step, num_steps)
    return loss


# -- sampling ------------------------------------------------------------------------------------


def sample(model, uchars, bos, temperature=0.5):
    """One invented name: start from BOS, and draw each next character from the model's
    probabilities until it draws BOS again (or the context is full).

    Dividing the logits by a temperature below 1 sharpens the distribution: fewer odd names."""
    vocab_size = len(uchars) + 1
    keys, values = [[] for _ in range(n_layer)], [[] for _ in range(n_layer)]
    token_id, name = bos, []
    for pos_id in range(block_size):
        logits = gpt(model, token_id, pos_id, keys, values)
        probs = softmax([logit / temperature for logit in logits])
        token_id = random.choices(range(vocab_size), weights=[p.data for p in probs])[0]
        if token_id == bos:
            break
        name.append(uchars[token_id])
    return "".join(name)


# -- the program -----------------------------------------------------------------------------------


def parse_args(argv):
    """The command line's options."""
    parser = argparse.ArgumentParser(description="Train a tiny GPT on names, then invent some.")
    parser.add_argument("--steps", type=int, default=1000, help="training steps, one name each "
                        "(default: 1000)")
    parser.add_argument("--samples", type=int, default=20, help="names to invent after "
                        "training (default: 20)")
    parser.add_argument("--names", help="a file with one document per line (default: the "
                        "names.txt shipped inside tapegrad)")
    parser.add_argument("--engine", help="a module to take Value from instead of the import at "
                        "the top, e.g. --engine tapegrad (default: that import)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.samples < 0:
        parser.error("--steps must be at least 1 and --samples at least 0")
    return args


def main(argv=None):
    """Load the names, train for --steps steps printing each loss, then print --samples names."""
    global Value
    args = parse_args(argv)
    if args.engine:  # the same as editing the import line at the top, without editing it
        Value = importlib.import_module(args.engine).Value

    random.seed(42)  # the same seed gives the same shuffle, the same weights, the same names
    docs = load_docs(args.names or default_names_path())
    random.shuffle(docs)  # so that consecutive steps see unrelated names
    print(f"num docs: {len(docs)}")

    # The tokenizer: every character in the data is a token, and one more, BOS, the last id.
    uchars = sorted(set("".join(docs)))
    bos = len(uchars)
    vocab_size = len(uchars) + 1
    stoi = {ch: i for i, ch in enumerate(uchars)}
    print(f"vocab size: {vocab_size}")

    model = init_model(vocab_size)
    params = parameters(model)
    print(f"num params: {len(params)}")
    m = [0.0] * len(params)  # Adam's running averages, one per parameter
    v = [0.0] * len(params)

    num_steps = args.steps
    for step in range(num_steps):
        doc = docs[step % len(docs)]
        tokens = [bos] + [stoi[ch] for ch in doc] + [bos]  # BOS marks the start and the end
        loss = train_step(model, params, m, v, tokens, step, num_steps)
        print(f"step {step + 1:4d} / {num_steps:4d} | loss {loss.data:.4f}")

    print("--- inference (new, invented names) ---")
    for i in range(args.samples):
        print(f"sample {i + 1:2d}: {sample(model, uchars, bos)}")


if __name__ == "__main__":
    main()
