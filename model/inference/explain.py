"""Which words a prediction rests on: occlusion, word by word (no torch here).

An explanation asks the model itself: each word's weight is how much the probability of the
predicted label falls when that word's tokens are left out,
``weight_i = p(label | text) - p(label | text without word i)``. Positive: the word speaks for
the label; negative: against it. The text and its n variants go to the model as n + 1 token-id
sequences in one call (``Occlusion.inputs``), the same call a prediction makes, so the web server
builds them (it tokenises anyway) and its model process runs them like any predict request.

Why occlusion rather than the attention pooling's weights: attention says where the pooling
looked, not what changed the answer, and the bidirectional states it weighs already mix the whole
sentence (Jain & Wallace 2019, "Attention is not Explanation"); gradients need the network (and
torch) at explanation time and are noisy for single words. Occlusion costs n + 1 sequences, one
batched model call: a few plain predictions' worth (``benchmarks/explain_cost.py`` measures it).
And its weights are faithful: deleting the words it weighs highest lowers p(predicted label) far
more than deleting as many at random (ERASER comprehensiveness, ``benchmarks/explain_faithfulness.py``).

A word is what the tokenizer's pre-tokeniser splits off (``Encoding.word_ids``): a run of letters
or digits, one punctuation mark, or one CJK character; a word split into WordPieces
("unbelievably" -> un ##bel ##ie ##va ##bly) is one word, its pieces left out together. Offsets
are characters of the original text (``tokenizers`` maps them through normalisation), so
``text[start:end]`` is the word as the user wrote it.

A multi-label prediction has no single label, and each label's probability is its own: a word may
speak for one label and against another. So each label the prediction names is explained apart
(``Explanation.words_by_label``, the same occlusion for each: one model call still serves them
all), and ``label``, ``score`` and ``words`` are those of the most probable of them, so that a
reader of single-label explanations still finds one label's weights. When no label reaches its
threshold, the most probable label is explained (what the text came closest to).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .prediction import Prediction

if TYPE_CHECKING:
    from ..text.tokenizer import TextTokenizer


@dataclass(frozen=True)
class Word:
    """One word: ``text[start:end]``, and its tokens ``ids[first:last]``."""

    start: int
    end: int
    first: int
    last: int


@dataclass(frozen=True)
class WordWeight:
    """One word's weight: the one declaration of its shape (the HTTP API answers with it)."""

    text: str
    """the word as written: the text's characters start to end"""
    start: int
    """offset of the word's first character in the text (Unicode code points, as Python and JavaScript's
    Array.from count them)"""
    end: int
    """offset just past its last character"""
    weight: float
    """p(label | text) - p(label | text without this word): positive when the word speaks for the predicted
    label, negative when against it"""


@dataclass(frozen=True)
class Explanation:
    """Single-label: the predicted label and each word's weight toward it. Multi-label: the same for
    the most probable explained label, plus ``labels`` and ``words_by_label`` (None for single-label)."""

    label: str  # the explained label (multi-label: the most probable predicted one, or the top label if none)
    score: float  # p(label | text)
    probabilities: dict[str, float]
    windows: int  # windows of max_length tokens the text was read in (1: it fit)
    words: list[WordWeight]  # each word's weight toward ``label``
    labels: list[str] | None = None  # multi-label: the predicted labels, most probable first (may be empty)
    words_by_label: dict[str, list[WordWeight]] | None = None  # multi-label: each explained label's weights


def words_of(word_ids: Sequence[int | None], offsets: Sequence[tuple[int, int]]) -> list[Word]:
    """Consecutive tokens with the same word id, as words (a token without one, such as a special
    token, belongs to no word and is never left out)."""
    words: list[Word] = []
    first = 0
    for i in range(1, len(word_ids) + 1):
        if i < len(word_ids) and word_ids[i] == word_ids[first] and word_ids[i] is not None:
            continue
        if word_ids[first] is not None:
            spans = offsets[first:i]
            words.append(Word(min(s for s, _ in spans), max(e for _, e in spans), first, i))
        first = i
    return words


@dataclass(frozen=True)
class Occlusion:
    """A text, its token ids (all of them, as predict reads them) and its words."""

    text: str
    ids: list[int]
    words: list[Word]
    unk_id: int

    @classmethod
    def of(cls, tokenizer: TextTokenizer, text: str) -> Occlusion:
        encoding = tokenizer.encoding(text)
        return cls(
            text,
            list(encoding.ids) or [tokenizer.unk_id],
            words_of(encoding.word_ids, encoding.offsets),
            tokenizer.unk_id,
        )

    def inputs(self) -> list[list[int]]:
        """The text's ids, then the ids without each word in turn (``[unk]`` if nothing is left,
        as ``TextTokenizer.encode_batch`` gives for a text without tokens)."""
        ids = self.ids
        return [ids, *((ids[: w.first] + ids[w.last :]) or [self.unk_id] for w in self.words)]

    def explain(self, predictions: Sequence[Prediction]) -> Explanation:
        """The explanation from the predictions for ``inputs()``, in that order."""
        if len(predictions) != len(self.words) + 1:
            raise ValueError(
                f"expected {len(self.words) + 1} predictions (the text and each word left out), got {len(predictions)}"
            )
        full, *variants = predictions
        if full.labels is None:  # single-label
            weights = self._weights(full.label, full.score, variants)
            return Explanation(full.label, full.score, dict(full.probabilities), full.windows, weights)
        probabilities = full.probabilities
        explained = full.labels or [max(probabilities, key=probabilities.__getitem__)]
        by_label = {label: self._weights(label, probabilities[label], variants) for label in explained}
        first = explained[0]
        return Explanation(
            first,
            probabilities[first],
            dict(probabilities),
            full.windows,
            by_label[first],
            labels=list(full.labels),
            words_by_label=by_label,
        )

    def _weights(self, label: str, score: float, variants: Sequence[Prediction]) -> list[WordWeight]:
        return [
            WordWeight(self.text[w.start : w.end], w.start, w.end, score - p.probabilities[label])
            for w, p in zip(self.words, variants)
        ]


def explain(predictor: Any, text: str, max_words: int | None = None) -> Explanation:
    """Explain ``predictor``'s (a ``model.Predictor``) prediction for ``text`` in this process."""
    occlusion = Occlusion.of(predictor.tokenizer, text)
    if max_words is not None and len(occlusion.words) > max_words:
        raise ValueError(f"the text has {len(occlusion.words)} words; at most {max_words} are explained")
    return occlusion.explain(predictor.predict_ids(occlusion.inputs()))
