"""makemore part 2: an MLP that reads the last three characters, trained with tapegrad.

    python mlp.py                 # 8,000 steps: about 2.15 nats per character, in under a minute
    python mlp.py --steps 1000

The model (tapegrad.charlm.MLP): each character looked up in an embedding table C, the three
embeddings concatenated, a tanh layer of 200, then 27 logits. What makes it fast is how a step
runs: `charlm.Batch` records the graph of one step on 64 examples ONCE, with the characters fed
as one-hot inputs, and every step after that only sets those inputs and replays the recorded
graph (on NumPy, each group of alike nodes is one array operation) -- no graph is built again.
"""

import argparse
import random

from tapegrad import charlm, datasets
from tapegrad.optim import Adam

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=8000)
steps = parser.parse_args().steps

words = datasets.names()
train, val, test = datasets.split(words)
vocab = datasets.Vocab(words)
pairs = charlm.examples(train, vocab, context=3)  # every (three characters, next one)
val_pairs = charlm.examples(val, vocab, context=3)

model = charlm.MLP(vocab.size, context=3, embed=10, hidden=200)
step = charlm.Batch(model, 64, backend="numpy")  # the step's graph, recorded once
opt = Adam(model.parameters(), lr=0.01)
rng = random.Random(1337)

for k in range(steps):
    loss = step.run([rng.choice(pairs) for _ in range(64)])  # new inputs, the same graph
    opt.zero_grad()
    step.graph.backward()
    opt.lr = 0.01 * (1 - 0.9 * k / steps)  # falling linearly to a tenth
    opt.step()
    if k % 1000 == 0:
        print(f"step {k:5d}  loss {loss:.4f}")

print(f"validation loss {step.mean_loss(val_pairs):.4f} nats per character")
for name in charlm.generate(model, vocab, count=10, temperature=1.0, seed=0):
    print(" ", name)
