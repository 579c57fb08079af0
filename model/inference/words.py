"""The words an explanation weighs: the tokenizer's tokens grouped into words.

A word is what the tokenizer's pre-tokeniser splits off (``Encoding.word_ids``): a run of letters
or digits, one punctuation mark, one CJK character; a word split into WordPieces is one word. Given
a segmenter's words as character spans (jieba's, for Chinese text: ``model.text.segment``), the
tokens in one span are one word, and where a span would cut a token the words it touches are
merged: a word is always whole tokens, so leaving it out leaves out whole tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Word:
    """One word: ``text[start:end]``, and its tokens ``ids[first:last]``."""

    start: int
    end: int
    first: int
    last: int


def words_of(
    word_ids: Sequence[int | None], offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]] | None = None
) -> list[Word]:
    """Consecutive tokens with the same word id, as words (a token without one, such as a special
    token, belongs to no word and is never left out). With ``spans`` (a segmenter's words, as
    character offsets), tokens in one span are one word, and words a span joins are merged."""
    words: list[Word] = []
    first = 0
    for i in range(1, len(word_ids) + 1):
        if i < len(word_ids) and word_ids[i] == word_ids[first] and word_ids[i] is not None:
            continue
        if word_ids[first] is not None:
            token_spans = offsets[first:i]
            words.append(Word(min(s for s, _ in token_spans), max(e for _, e in token_spans), first, i))
        first = i
    return words if not spans else _merge(words, spans)


def _merge(words: list[Word], spans: Sequence[tuple[int, int]]) -> list[Word]:
    """``words`` joined where one span covers several, or one word covers several spans' characters."""
    span_of = [0] * max((end for _, end in spans), default=0)
    for n, (start, end) in enumerate(spans):
        span_of[start:end] = [n] * (end - start)

    def span_range(word: Word) -> tuple[int, int]:
        last = min(word.end, len(span_of)) - 1
        return (span_of[word.start], span_of[last]) if 0 <= word.start <= last else (-1, -1)

    merged: list[Word] = []
    reach = -1  # the last span the current merged word touches
    for word in words:
        low, high = span_range(word)
        if merged and low != -1 and low <= reach:
            top = merged[-1]
            merged[-1] = Word(top.start, max(top.end, word.end), top.first, word.last)
            reach = max(reach, high)
        else:
            merged.append(word)
            reach = high
    return merged
