"""The transfer set: the training texts plus augmented variants, for the teacher to label.

Tang et al. 2019 (section 3.3) make variants of each sentence with three rules, applied to its
whitespace-separated words: each word, with probability ``p_mask``, becomes ``MASK``; else with
``p_replace`` it is replaced by another word; then, with ``p_ngram``, only a random n-gram of the
result is kept (n from 1 to ``max_ngram``). They replace a word by one of the same part of speech,
drawn from the corpus's unigram distribution of that part of speech. We have no tagger (and add
none: it would be another model to ship, for English only), so the replacement is drawn from the
corpus's unigram distribution of all words: the variants are a little less grammatical, which
matters less than it seems, since the teacher labels each variant by what it now says.

``MASK`` stays in the text as ``[MASK]``: the teacher reads it as its own mask token (``transfer``
substitutes the tokenizer's), the student as a token like any other, which it learns to read as
"a word is missing here". Each sentence gets ``per_text`` draws; a variant equal to its sentence,
to a training text or to an earlier variant is dropped, so the set holds no duplicates and may
have fewer than ``per_text`` variants per sentence (short sentences have few). One seed decides
everything: the same texts and config give the same transfer set.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections import Counter

from .config import AugmentConfig

MASK = "[MASK]"  # also in AugmentConfig's help


class _Unigrams:
    """Words drawn with their corpus frequency (ties broken by first occurrence: deterministic)."""

    def __init__(self, texts: list[str]):
        counts = Counter(word for text in texts for word in text.split())
        self.words = list(counts)
        self.cumulative = list(itertools.accumulate(counts[w] for w in self.words))

    def draw(self, rng: random.Random) -> str:
        return self.words[bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])]


def variant(words: list[str], config: AugmentConfig, unigrams: _Unigrams, rng: random.Random) -> str:
    """One augmented version of a sentence's words."""
    out = []
    for word in words:
        x = rng.random()
        if x < config.p_mask:
            out.append(MASK)
        elif x < config.p_mask + config.p_replace:
            out.append(unigrams.draw(rng))
        else:
            out.append(word)
    if rng.random() < config.p_ngram:
        n = rng.randint(1, min(config.max_ngram, len(out)))
        start = rng.randint(0, len(out) - n)
        out = out[start : start + n]
    return " ".join(out)


def augment(texts: list[str], config: AugmentConfig | None = None) -> list[tuple[int, str]]:
    """The new variants as ``(index of the text it came from, variant)``, in a fixed order."""
    config = (config or AugmentConfig()).validate()
    if config.per_text == 0 or not texts:
        return []
    rng = random.Random(config.seed)
    unigrams = _Unigrams(texts)
    seen = set(texts)
    variants = []
    for index, text in enumerate(texts):
        words = text.split()
        if not words:
            continue
        for _ in range(config.per_text):
            new = variant(words, config, unigrams, rng)
            if new not in seen:
                seen.add(new)
                variants.append((index, new))
    return variants
