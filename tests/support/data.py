"""The synthetic task the tests train on: no test reads a real dataset."""

from __future__ import annotations

import random

from model.data import Dataset

FILLER = tuple(f"w{i}" for i in range(12))
LABEL_NAMES = {"0": "negative", "1": "positive"}


def negation_examples(n: int, seed: int, filler: tuple[str, ...] = FILLER) -> tuple[list[str], list[str]]:
    """Texts with one of "good"/"bad", negated when "not" comes right before it.

    Label "1" when the sentiment word is "good" xor negated. Half the un-negated texts end in a
    stray "not", so counting words gets about 75%: a model must read the order to do better.
    """
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        good, negated = rng.random() < 0.5, rng.random() < 0.5
        words = rng.choices(filler, k=rng.randint(2, 6))
        at = rng.randint(0, len(words))
        words[at:at] = (["not"] if negated else []) + ["good" if good else "bad"]
        if not negated and rng.random() < 0.5:
            words.append("not")
        texts.append(" ".join(words))
        labels.append("1" if good != negated else "0")
    return texts, labels


def negation_dataset(n: int, seed: int, source: str = "<memory>", **kwargs) -> Dataset:
    texts, labels = negation_examples(n, seed, **kwargs)
    return Dataset(texts, labels, source, lines=list(range(2, n + 2)))


POSITIVE_WORDS = ("good", "great", "superb", "lovely", "fun")
NEGATIVE_WORDS = ("bad", "awful", "dull", "boring", "poor")


def keyword_examples(n: int, seed: int, filler: tuple[str, ...] = FILLER) -> tuple[list[str], list[str]]:
    """Filler words and one sentiment word that alone decides the label ("1": a positive word):
    a bag-of-words model learns it from a few hundred examples."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        positive = rng.random() < 0.5
        words = rng.choices(filler, k=rng.randint(2, 6))
        words.insert(rng.randint(0, len(words)), rng.choice(POSITIVE_WORDS if positive else NEGATIVE_WORDS))
        texts.append(" ".join(words))
        labels.append("1" if positive else "0")
    return texts, labels


def order_examples(n: int, seed: int, filler: tuple[str, ...] = FILLER) -> tuple[list[str], list[str]]:
    """Both "x" and "y" in every text, with filler around and between them; label "1" when "x" comes
    first. Every text has the same kinds of word and character n-grams whatever its label, so a
    bag-of-n-grams model is at chance; a recurrent network reads the order."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        x_first = rng.random() < 0.5
        first, second = ("x", "y") if x_first else ("y", "x")
        words = [*rng.choices(filler, k=rng.randint(1, 3)), first, *rng.choices(filler, k=rng.randint(1, 3)),
                 second, *rng.choices(filler, k=rng.randint(1, 3))]
        texts.append(" ".join(words))
        labels.append("1" if x_first else "0")
    return texts, labels


def csv_bytes(n: int = 200, seed: int = 3, examples=negation_examples) -> bytes:
    """A task (the negation task unless told) as a CSV upload, labels "pos"/"neg"."""
    texts, labels = examples(n, seed)
    rows = ["text,label"] + [f'"{t}",{"pos" if y == "1" else "neg"}' for t, y in zip(texts, labels)]
    return ("\n".join(rows) + "\n").encode()
