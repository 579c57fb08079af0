"""A made-up multi-label task: a text has a label when it holds one of that label's keywords.

Three labels; a text has none, one or two of them, its keywords hidden among filler words.
"""

from __future__ import annotations

import random

from model import Dataset

KEYWORDS = {
    "food": ["pizza", "bread", "soup"],
    "music": ["guitar", "drums", "song"],
    "sport": ["goal", "match", "race"],
}
LABEL_SETS = [(), ("food",), ("music",), ("sport",), ("food", "music"), ("music", "sport")]
FILLER = "the a of and it was then we they some very day night long short old new here there".split()


def multi_label_dataset(n: int, seed: int) -> Dataset:
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        chosen = LABEL_SETS[i % len(LABEL_SETS)]
        words = [rng.choice(FILLER) for _ in range(rng.randint(4, 9))]
        for label in chosen:
            words.insert(rng.randrange(len(words) + 1), rng.choice(KEYWORDS[label]))
        texts.append(" ".join(words))
        labels.append(chosen)
    return Dataset(texts, labels, f"<multi-label {seed}>", list(range(2, n + 2)), task="multi_label")
