"""makemore part 1: a model of names by counting pairs of characters.

    python bigram.py

P(next | previous) is how often `next` followed `previous` in the training names, plus one
(so that no pair has probability 0). There is nothing to train: the validation loss it reaches,
about 2.45 nats per character, is the baseline every learned model must beat.
"""

from tapegrad import charlm, datasets

words = datasets.names()
train, val, test = datasets.split(words)  # makemore's 80/10/10 split (seed 42)
vocab = datasets.Vocab(words)  # 26 letters and BOS, which marks a name's start and end

model = charlm.Bigram(train, vocab)
print(f"validation loss {model.loss(val):.4f} nats per character")
for name in charlm.generate(model, vocab, count=10, seed=0):
    print(" ", name)
