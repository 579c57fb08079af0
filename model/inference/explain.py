"""Which words a prediction rests on: occlusion in log-odds, word by word (no torch here).

An explanation asks the model itself: each word's weight is how much the log-odds of the explained
label fall when that word's tokens are left out,
``weight_i = logodds(label | text) - logodds(label | text without word i)``, where
``logodds(l) = log p(l) - log(1 - p(l))``. Positive: the word speaks for the label; negative:
against it. The text's windows and the variants go to the model as token-id sequences in one call,
the same call a prediction makes, so the web server builds them (it tokenises anyway) and its
model process runs them like any predict request, answering with logits instead of probabilities.

Why log-odds rather than the fall of the probability (what this module computed before): near
p = 1 the probability saturates. A confident prediction rests on several words, each of which
alone would keep p above 0.99, so each word's probability fall is ~0 and every weight read +0.00
("a gorgeous, witty film that never drags": only "never" was shaded). Log-odds do not saturate:
a word that moves the logit by 2 gets weight 2 whether p goes from 0.5 to 0.88 or from 0.999 to
0.99986. They are computed from the logits (``logodds = z_l - logsumexp(z_others)`` for a
softmax, the logit itself for a sigmoid), never from float probabilities, where p = 1.0 gives
log(0). ``benchmarks/explain_faithfulness.py`` measures both on the same model outputs.

Why occlusion rather than the attention pooling's weights: attention says where the pooling
looked, not what changed the answer, and the bidirectional states it weighs already mix the whole
sentence (Jain & Wallace 2019, "Attention is not Explanation"); gradients need the network (and
torch) at explanation time and are noisy for single words. Occlusion costs one sequence per word,
one batched model call: a few plain predictions' worth (``benchmarks/explain_cost.py``).

A word is what the tokenizer's pre-tokeniser splits off (``Encoding.word_ids``): a run of letters
or digits, one punctuation mark; a word split into WordPieces is one word, its pieces left out
together. Text with Chinese characters is segmented by jieba (``model.text.segment``), so 苹果 is
one word, not two characters; each word is whole tokens (``words.py``). Offsets are characters of the original text (the
tokenizers library maps them through normalisation), so ``text[start:end]`` is the word as written.

A text longer than the model's window is explained by its windows, as a prediction reads it: the
text's logits are the mean of its windows' logits (``model.inference.windows``), and leaving a
word out leaves its tokens out of each window that reads it, the windows' other tokens unmoved.
So each variant costs the windows that read the word (one, or two or three where windows
overlap), not the whole text again. At most ``max_words`` words are explained (each costs model
work), and at most ``max_sequences`` sequences go to the model; a text with more words than fit
is explained in its most decisive window (the one whose own log-odds for the label are highest),
the answer's ``excerpt`` giving its span; the prediction is still the whole text's.

A multi-label prediction has no single label, and each label's probability is its own: a word may
speak for one label and against another. So each label the prediction names is explained apart
(``Explanation.words_by_label``, from the same model call), and ``label``, ``score`` and ``words``
are those of the most probable of them. When no label reaches its threshold, the most probable
label is explained (what the text came closest to). A sigmoid's log-odds are its logit.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config import MULTI_LABEL, SINGLE_LABEL
from ..text.segment import segments
from .prediction import Prediction, to_predictions
from .windows import window_starts
from .words import Word, words_of

if TYPE_CHECKING:
    from ..text.tokenizer import TextTokenizer

METHOD = "occlusion-log-odds"  # the answer's ``method``: what a weight is


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
    """logodds(label | text) - logodds(label | text without this word), logodds(l) = log(p(l) / (1 - p(l))):
    positive when the word speaks for the label, negative when against it; not bounded (+2: without the word,
    the odds of the label are e^2 = 7.4 times lower)"""


@dataclass(frozen=True)
class Explanation:
    """Single-label: the predicted label and each word's weight toward it. Multi-label: the same for
    the most probable explained label, plus ``labels`` and ``words_by_label`` (None for single-label)."""

    label: str  # the explained label (multi-label: the most probable predicted one, or the top label if none)
    score: float  # p(label | text)
    probabilities: dict[str, float]
    windows: int  # windows of max_length tokens the text was read in (1: it fit)
    words: list[WordWeight]  # each explained word's weight toward ``label``
    labels: list[str] | None = None  # multi-label: the predicted labels, most probable first (may be empty)
    words_by_label: dict[str, list[WordWeight]] | None = None  # multi-label: each explained label's weights
    excerpt: tuple[int, int] | None = None  # (start, end) of the words explained when not all are; None: all


def log_odds(row: Sequence[float], k: int, task: str = SINGLE_LABEL) -> float:
    """log(p / (1 - p)) of label ``k`` from a row of logits: a softmax's ``z_k - logsumexp(z_j, j != k)``
    (stable: never exp of a large number, never the log of a saturated probability), or a sigmoid's logit."""
    if task == MULTI_LABEL:
        return row[k]
    rest = [z for j, z in enumerate(row) if j != k]
    top = max(rest)
    return row[k] - top - math.log(math.fsum(math.exp(z - top) for z in rest))


def probabilities(row: Sequence[float], task: str = SINGLE_LABEL) -> list[float]:
    """The probabilities of a row of logits: a softmax, or (multi-label) each label's sigmoid."""
    if task == MULTI_LABEL:
        return [1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z)) for z in row]
    top = max(row)
    e = [math.exp(z - top) for z in row]
    total = math.fsum(e)
    return [x / total for x in e]


@dataclass(frozen=True)
class Occlusion:
    """A text, its token ids (all of them, as predict reads them), its words and its windows."""

    text: str
    ids: list[int]
    words: list[Word]
    unk_id: int
    max_length: int | None = None  # the model's window (None: the text is one window, however long)

    @classmethod
    def of(cls, tokenizer: TextTokenizer, text: str) -> Occlusion:
        encoding = tokenizer.encoding(text)
        return cls(
            text,
            list(encoding.ids) or [tokenizer.unk_id],
            words_of(encoding.word_ids, encoding.offsets, segments(text)),
            tokenizer.unk_id,
            tokenizer.max_length,
        )

    @functools.cached_property  # (read for every word; a frozen dataclass still caches it in its __dict__)
    def starts(self) -> list[int]:
        """Where the windows the text is read in start (``model.inference.windows``)."""
        return [0] if self.max_length is None else window_starts(len(self.ids), self.max_length)

    def windows(self) -> list[list[int]]:
        """The ids of each window, as a prediction reads the text."""
        if self.max_length is None:
            return [self.ids]
        return [self.ids[start : start + self.max_length] for start in self.starts]

    def variants(self, chosen: Sequence[int]) -> list[tuple[int, int]]:
        """(word, window) for each chosen word and each window that reads any of its tokens."""
        size = len(self.ids) if self.max_length is None else self.max_length
        return [(i, w) for i in chosen for w, start in enumerate(self.starts)
                if self.words[i].first < start + size and self.words[i].last > start]

    def variant_inputs(self, chosen: Sequence[int]) -> list[list[int]]:
        """Each of ``variants``' windows without its word's tokens (``[unk]`` if nothing is left, as
        ``TextTokenizer.encode_batch`` gives for a text without tokens)."""
        size = len(self.ids) if self.max_length is None else self.max_length
        out = []
        for i, w in self.variants(chosen):
            start, word = self.starts[w], self.words[i]
            window = self.ids[start : start + size]
            cut_from, cut_to = max(word.first - start, 0), min(word.last - start, len(window))
            out.append((window[:cut_from] + window[cut_to:]) or [self.unk_id])
        return out

    def variant_texts(self, chosen: Sequence[int]) -> list[str]:
        """The text without each of ``variants``' words, aligned with ``variant_inputs``: what a model
        with a linear part (a baseline or blended version) reads beside the ids, since it reads whole
        texts. (A window of a text read in several is given the whole text: the linear part's
        log-probabilities are then the same in every window, and log-odds ignore a constant per row.)"""
        return [self.text[: self.words[i].start] + self.text[self.words[i].end :] for i, _ in self.variants(chosen)]

    def input_texts(self, chosen: Sequence[int] | None = None) -> list[str]:
        """The texts aligned with ``inputs(chosen)``: the text for each window, then ``variant_texts``."""
        return [self.text] * len(self.starts) + self.variant_texts(range(len(self.words)) if chosen is None else chosen)

    def inputs(self, chosen: Sequence[int] | None = None) -> list[list[int]]:
        """The windows, then ``variant_inputs`` (of every word by default): one model call's sequences."""
        return self.windows() + self.variant_inputs(range(len(self.words)) if chosen is None else chosen)

    def chosen(self, max_words: int | None = None, max_sequences: int | None = None) -> list[int] | None:
        """Every word when all fit the limits (words, and sequences for one model call); None when they
        do not, and the most decisive window is explained (``decisive``, given the windows' logits)."""
        everything = range(len(self.words))
        if max_words is not None and len(self.words) > max_words:
            return None
        if max_sequences is not None and len(self.starts) + len(self.variants(everything)) > max_sequences:
            return None
        return list(everything)

    def decisive(self, window_logits: Sequence[Sequence[float]], labels: Sequence[str], *, task: str = SINGLE_LABEL,
                 thresholds: Sequence[float] | None = None, max_words: int | None = None,
                 max_sequences: int | None = None) -> list[int]:
        """The words of the window whose own log-odds for the explained label are highest, in order,
        as many as the limits allow (at least one)."""
        k = labels.index(self._explained(window_logits, labels, task, thresholds)[1][0])
        best = max(range(len(window_logits)), key=lambda w: log_odds(window_logits[w], k, task))
        start = self.starts[best]
        size = len(self.ids) if self.max_length is None else self.max_length
        inside = [i for i, word in enumerate(self.words) if word.first < start + size and word.last > start]
        chosen: list[int] = []
        cost = len(self.starts)
        for i in inside:
            cost += len(self.variants([i]))
            if chosen and ((max_words is not None and len(chosen) >= max_words)
                           or (max_sequences is not None and cost > max_sequences)):
                break
            chosen.append(i)
        return chosen

    def _explained(self, window_logits, labels, task, thresholds) -> tuple[Prediction, list[str], list[float]]:
        """The text's prediction, the labels to explain (first: ``Explanation.label``) and its mean logits."""
        count = len(window_logits)
        mean = [math.fsum(column) / count for column in zip(*window_logits)]
        full = to_predictions(labels, [probabilities(mean, task)], [count], task=task, thresholds=thresholds)[0]
        if full.labels is None:
            return full, [full.label], mean
        probs = full.probabilities
        return full, full.labels or [max(probs, key=probs.__getitem__)], mean

    def explain(self, logits: Sequence[Sequence[float]], labels: Sequence[str], *, task: str = SINGLE_LABEL,
                thresholds: Sequence[float] | None = None, chosen: Sequence[int] | None = None) -> Explanation:
        """The explanation from the logits (as probabilities are computed from them: calibrated) of
        ``inputs(chosen)``, in that order: each window's, then each variant's."""
        chosen = range(len(self.words)) if chosen is None else chosen
        count, variants = len(self.starts), self.variants(chosen)
        if len(logits) != count + len(variants):
            raise ValueError(f"expected {count + len(variants)} rows of logits (the text's {count} windows and each "
                             f"word left out of each window reading it), got {len(logits)}")
        windows, rest = logits[:count], logits[count:]
        full, explained, mean = self._explained(windows, labels, task, thresholds)
        sums = [math.fsum(column) for column in zip(*windows)]
        without = {i: list(sums) for i in chosen}  # each word's text-level logits (as sums over windows)
        for (i, w), row in zip(variants, rest):
            without[i] = [s + z - old for s, z, old in zip(without[i], row, windows[w])]
        by_label = {}
        for label in explained:
            k = labels.index(label)
            before = log_odds(mean, k, task)
            by_label[label] = [
                WordWeight(self.text[self.words[i].start : self.words[i].end], self.words[i].start, self.words[i].end,
                           before - log_odds([s / count for s in without[i]], k, task))
                for i in chosen
            ]
        excerpt = None
        if len(chosen) < len(self.words):
            excerpt = (self.words[chosen[0]].start, self.words[chosen[-1]].end) if chosen else (0, 0)
        first = explained[0]
        multi = full.labels is not None
        return Explanation(first, full.probabilities[first], dict(full.probabilities), count, by_label[first],
                           labels=list(full.labels) if multi else None, words_by_label=by_label if multi else None,
                           excerpt=excerpt)


Request = tuple[list[list[int]], list[str] | None]  # sequences for one model call, and their texts (or None)


def plan(occlusion: Occlusion, labels: Sequence[str], *, task: str = SINGLE_LABEL,
         thresholds: Sequence[float] | None = None, max_words: int | None = None, max_sequences: int | None = None,
         with_texts: bool = False) -> Generator[Request, Sequence[Sequence[float]], Explanation]:
    """The explanation's model calls, as a generator: it yields each call's sequences (and, ``with_texts``
    for a model with a linear part, their texts: ``input_texts``), is sent back their calibrated
    logits, and returns the explanation. One call, or two when not every word fits the limits (the
    windows first, to find the most decisive one). The same plan serves the server, which awaits
    its model process (``app/serving/inference.py``), and ``explain`` here, which calls the predictor
    (``occlude`` drives it)."""
    options = {"task": task, "thresholds": thresholds}
    chosen = occlusion.chosen(max_words, max_sequences)
    if chosen is not None:
        logits = yield occlusion.inputs(chosen), occlusion.input_texts(chosen) if with_texts else None
        return occlusion.explain(logits, labels, chosen=chosen, **options)
    windows = occlusion.windows()
    window_logits = list((yield windows, [occlusion.text] * len(windows) if with_texts else None))
    chosen = occlusion.decisive(window_logits, labels, max_words=max_words, max_sequences=max_sequences, **options)
    variants = yield occlusion.variant_inputs(chosen), occlusion.variant_texts(chosen) if with_texts else None
    return occlusion.explain(window_logits + list(variants), labels, chosen=chosen, **options)


def occlude(steps: Generator[Request, Sequence[Sequence[float]], Explanation],
            run: Callable[[list[list[int]], list[str] | None], Sequence[Sequence[float]]]) -> Explanation:
    """``plan``'s explanation, each of its calls made with ``run`` (sequences, texts -> calibrated logits)."""
    request = next(steps)
    while True:
        try:
            request = steps.send(run(*request))
        except StopIteration as done:
            return done.value


def explain(predictor: Any, text: str, max_words: int | None = None, max_sequences: int | None = None) -> Explanation:
    """Explain ``predictor``'s (a ``model.Predictor``) prediction for ``text`` in this process."""
    def run(seqs: list[list[int]], texts: list[str] | None) -> list[list[float]]:
        return predictor.calibrated_logits_ids(seqs, texts)[0].tolist()

    steps = plan(Occlusion.of(predictor.tokenizer, text), predictor.labels, task=predictor.task,
                 thresholds=predictor.thresholds, max_words=max_words, max_sequences=max_sequences,
                 with_texts=predictor.reads_text)
    return occlude(steps, run)
