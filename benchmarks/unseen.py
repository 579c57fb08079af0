"""Texts a benchmark has not sent before, so that no cache (the WordPiece tokenizer's per-word cache,
a page cache, a batcher) carries a figure by seeing the same handful of sentences again.

``unseen_texts(n)`` gives ``n`` distinct texts: SST-2's training phrases and dev sentences of at
least ``min_words`` words (10: 25,901 texts of 18 words on average, as long as dev's sentences), de-duplicated and shuffled with a seed; when more are asked for than
there are, copies of them with one word swapped for another word of the corpus are added (each
once; two words when one runs out), so the lengths stay those of the sentences, and the whole
list is shuffled again, so that any slice of it holds the same mixture. Words still repeat across texts,
as they do in real traffic: what must not repeat is the text. Without ``../shared/data/sst2``
the texts are made from a built-in list of sentences, and ``source`` says so (the figure is then
less honest: a few dozen words).

    from unseen import unseen_texts
    texts, source = unseen_texts(50_000)
"""

from __future__ import annotations

import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SST2 = ROOT.parent / "shared" / "data" / "sst2"
FALLBACK_SENTENCES = [
    "a gorgeous , witty , seductive movie .",
    "the plot is a mess and the jokes fall flat .",
    "one of the most exciting and inventive films of the year .",
    "it 's a boring , self-indulgent two hours .",
    "the performances are uniformly excellent , and the script is sharp .",
    "i could n't wait for it to end .",
    "a warm , funny and moving portrait of an unusual friendship .",
    "the characters are thin and the dialogue is painfully stilted .",
    "an utterly charming and hilarious film that will stay with you .",
    "tedious , predictable and far too long .",
    "the director 's confident hand keeps the story moving briskly .",
    "a dull , lifeless adaptation of a much better book .",
]


def _read_texts(path: Path) -> list[str]:
    texts = []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        text = line.split("\t")[-1].strip()
        if text and all(ch.isprintable() for ch in text):
            texts.append(text)
    return texts


def unseen_texts(n: int, *, seed: int = 0, min_words: int = 10, data_dir: Path = SST2) -> tuple[list[str], str]:
    """``n`` distinct texts in a seeded random order, and where they came from."""
    files = [data_dir / "train.tsv", data_dir / "dev.tsv"]
    if all(f.is_file() for f in files):
        base = [t for f in files for t in _read_texts(f) if len(t.split()) >= min_words]
        source = f"SST-2 train and dev texts of >= {min_words} words ({data_dir})"
    else:
        base, source = list(FALLBACK_SENTENCES), "the built-in list of 12 sentences (no SST-2 beside the checkout)"
    rng = random.Random(seed)
    base = list(dict.fromkeys(base))
    rng.shuffle(base)
    texts, seen = base[:n], set(base)
    if len(texts) < n:
        source += "; then copies of them with a word swapped for another of theirs"
    words = sorted({w for t in base for w in t.split()})
    swaps, misses = 1, 0
    while len(texts) < n:
        variant = rng.choice(base).split()
        for _ in range(swaps):
            variant[rng.randrange(len(variant))] = rng.choice(words)
        text = " ".join(variant)
        if text in seen:
            misses += 1
            if misses > 1000:  # one swap has run out of new texts (the built-in list): two, and so on
                swaps, misses = swaps + 1, 0
            continue
        seen.add(text)
        texts.append(text)
    if len(texts) > len(base):
        rng.shuffle(texts)  # the variants mixed in evenly: every slice of the list is alike
    return texts, source
