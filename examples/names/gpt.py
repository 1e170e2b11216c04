"""microgpt's model -- one transformer block -- trained tapegrad's way.

    python gpt.py                 # 2,000 steps of 16 names: about 2.19 nats per character
    python gpt.py --steps 500

The model (tapegrad.charlm.GPT) is microgpt's: token and position embeddings, causal
self-attention with 4 heads, an MLP, and a head with 27 logits, every row of every matrix one
fused dot product. microgpt itself builds the graph of one name at a time and takes a quarter of
a second for it. Here `charlm.SequenceBatch` records the graph of 16 names once per length
bucket (names up to 7 characters, and up to 15), the characters as one-hot inputs; a name
shorter than its bucket gives the positions after its end a loss weight of 0 (attention is
causal, so they change nothing before them). Every step then sets the inputs and replays.
"""

import argparse
import random

from tapegrad import charlm, datasets
from tapegrad.optim import Adam

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=2000)
steps = parser.parse_args().steps

words = datasets.names()
train, val, test = datasets.split(words)
vocab = datasets.Vocab(words)
model = charlm.GPT(vocab.size, n_embd=16, n_head=4, block_size=16)

buckets = [charlm.SequenceBatch(model, 16, length, backend="numpy") for length in (8, 16)]


def by_bucket(words):
    """The names as token lists, [BOS, ..., BOS], by the bucket that fits their predictions."""
    found = [[], []]
    for word in words:
        tokens = vocab.encode(word)  # len(word) + 1 predictions
        found[0 if len(tokens) - 1 <= 8 else 1].append(tokens)
    return found


train_names, val_names = by_bucket(train), by_bucket(val)
opt = Adam(model.parameters(), lr=0.01, betas=(0.85, 0.99))
rng = random.Random(1337)
for k in range(steps):
    b = rng.choices([0, 1], weights=[len(names) for names in train_names])[0]
    loss = buckets[b].run([rng.choice(train_names[b]) for _ in range(16)])
    opt.zero_grad()
    buckets[b].graph.backward()
    opt.lr = 0.01 * (1 - 0.9 * k / steps)
    opt.step()
    if k % 250 == 0:
        print(f"step {k:5d}  loss {loss:.4f}")

# The validation loss: every prediction of every validation name, 16 names at a time.
total = count = 0
for batch, names in zip(buckets, val_names):
    for start in range(0, len(names), 16):
        chunk = names[start:start + 16]
        n = sum(len(tokens) - 1 for tokens in chunk)
        total += batch.run(chunk) * n  # (run gives the mean over the chunk's predictions)
        count += n
print(f"validation loss {total / count:.4f} nats per character")
for name in charlm.generate(model, vocab, count=10, temperature=1.0, seed=0):
    print(" ", name)
