"""Words of Chinese text, for explanations: jieba's segmentation, as character offsets.

Our tokenizers read CJK text one character per token, so an explanation that weighs tokens'
words weighs characters: 苹果 (apple) becomes 苹 and 果, each left out alone, and neither means
much without the other. Chinese has no spaces to say where words end; a segmenter trained on a
dictionary does (jieba: a prefix dictionary of ~350,000 words and an HMM for words it lacks; the
most used Chinese segmenter in Python, pure Python, MIT). ``explain.py`` then leaves out each
of jieba's words whole.

jieba is the ``cjk`` extra (``pip install sentiment-rnn[cjk]``; both images install it, without the
parts its word cutting never imports: 8 of its 42 MB). Without it, ``segments`` answers None and a
CJK character stays one word, as the tokenizer splits it.

Its dictionary is loaded on the first Chinese text, once per process, not at import or start-up:
loading takes ~1 s (~2 s the first time on a machine, when jieba writes its cache) and ~70 MB of
memory, which a process that never explains Chinese text should not pay. jieba's own tokenizer
instance is used (not its module-level default), so nothing else in the process shares its state.
"""

from __future__ import annotations

import functools
import logging
import re
import threading

log = logging.getLogger(__name__)

# CJK Unified Ideographs, Extension A, and the compatibility block: the characters jieba segments
HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

_lock = threading.Lock()


def has_han(text: str) -> bool:
    """Whether ``text`` has a Chinese (Han) character: only then is it segmented."""
    return HAN.search(text) is not None


@functools.cache
def _jieba():
    """jieba's tokenizer, its dictionary loaded; None when jieba is not installed (said once, in the log)."""
    try:
        import jieba
    except ImportError:
        log.warning("jieba is not installed (the 'cjk' extra): Chinese text is explained one character at a time")
        return None
    jieba.setLogLevel(logging.WARNING)  # not its "Building prefix dict..." lines on stderr
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def segmenter():
    """jieba's tokenizer, loaded on first use (thread-safe: one load per process); None without jieba."""
    with _lock:
        return _jieba()


def segmenter_loaded() -> bool:
    """Whether ``segments`` will answer without loading anything (a caller on an event loop asks)."""
    return _jieba.cache_info().currsize > 0


def segments(text: str) -> list[tuple[int, int]] | None:
    """jieba's words of ``text`` as ``(start, end)`` offsets into it (``text[start:end]`` is the word),
    whitespace included; None when the text has no Han character or jieba is not installed."""
    if not has_han(text):
        return None
    jieba = segmenter()
    if jieba is None:
        return None
    return [(start, end) for _, start, end in jieba.tokenize(text)]
