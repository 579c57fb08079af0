"""Which writing systems (scripts) the letters of a text belong to, and what a model was trained on.

A model answers with confidence whatever it reads: the bundled SST-2 model, given Chinese or
Thai reviews, sees mostly ``[UNK]`` and still answers with high scores, negative reviews called
"positive" among them. So training records the share of the training texts' letters in each script (``training.data.scripts`` in a bundle), and serving
warns when most of a text's letters are in scripts the model did not see (``unseen_script_warning``).

Cheap on the serving path: an ASCII text is Latin (or has no letters) without a look at its
characters; other letters are Latin by code point up to U+024F, else named by their Unicode
character name (cached), and at most the first ``SAMPLE_CHARS`` characters of a text are read.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LATIN = "latin"
SAMPLE_CHARS = 1_000  # enough to tell what a text is mostly written in
KNOWN_SHARE = 0.05  # a script with at least this share of the training letters counts as seen
UNSEEN_SHARE = 0.5  # warn when more than this share of a text's letters are in scripts not seen
# Scripts written without spaces between words: a space-separated "word" there is a whole phrase.
# (model/training/tfidf.py holds the same set for its word n-grams; it should import this one.)
UNSPACED_SCRIPTS = frozenset({"han", "hiragana", "katakana", "thai", "lao", "khmer", "myanmar", "tibetan"})
_ASCII_NON_LETTERS = re.compile(r"[^A-Za-z]+")
_NAMES = {  # how a warning names a script; others are their Unicode name, capitalised
    "latin": "Latin",
    "han": "Han (Chinese characters)",
    "hiragana": "Hiragana (Japanese)",
    "katakana": "Katakana (Japanese)",
    "hangul": "Hangul (Korean)",
    "thai": "Thai",
    "arabic": "Arabic",
    "cyrillic": "Cyrillic",
    "greek": "Greek",
    "hebrew": "Hebrew",
    "devanagari": "Devanagari",
}


@functools.lru_cache(maxsize=4096)
def script_of(letter: str) -> str:
    """The script of one letter: ``latin``, ``han``, ``hiragana``, ``cyrillic``, ``thai``..."""
    if letter < "\u0250":  # Basic Latin to Latin Extended-B
        return LATIN
    words = unicodedata.name(letter, "").replace("-", " ").split()
    if words[:1] in (["FULLWIDTH"], ["HALFWIDTH"]):
        words = words[1:]
    if not words:
        return "unknown"
    return "han" if words[0] == "CJK" else words[0].lower()


def script_name(script: str) -> str:
    return _NAMES.get(script, script.capitalize())


def letter_scripts(text: str) -> Counter[str]:
    """The letters of ``text`` (of its first ``SAMPLE_CHARS`` characters) counted by script."""
    text = text[:SAMPLE_CHARS]
    if text.isascii():
        letters = len(_ASCII_NON_LETTERS.sub("", text))
        return Counter({LATIN: letters} if letters else {})
    counts: Counter[str] = Counter()
    for char, n in Counter(text).items():  # counting characters runs in C; few are distinct
        if char.isalpha():
            counts[script_of(char)] += n
    return counts


_LETTER_RUN = re.compile(r"[^\W\d_]+")
_ASCII_WORD = re.compile(r"(?<![0-9A-Za-z])[A-Za-z]+(?![0-9A-Za-z])")
CHARACTER_SCRIPTS = frozenset({"han", "hiragana", "katakana"})  # one character: about a word's worth


def script_units(text: str) -> Counter[str]:
    """The text's words counted by script, a CJK character counting as one (``text[:SAMPLE_CHARS]``).

    Why not letters, as ``letter_scripts`` counts: a warning weighs how much of a text the model
    cannot read, and a Chinese character carries about what an English word does, not a letter:
    by letters, "支持TF卡（256M）DVMP3" is 70 % Latin, yet its Latin is a product code. So letters
    of an alphabet count once per run, CJK characters one each, and a run of letters touching a
    digit ("256M", "DVMP3", "MP3") is a code, not words, and is not counted."""
    text = text[:SAMPLE_CHARS]
    if text.isascii():
        words = len(_ASCII_WORD.findall(text))
        return Counter({LATIN: words} if words else {})
    counts: Counter[str] = Counter()
    for run in _LETTER_RUN.finditer(text):
        start, end = run.span()
        position = start
        for script, group in itertools.groupby(run.group(), key=script_of):
            length = len(list(group))
            if script in CHARACTER_SCRIPTS:
                counts[script] += length
            elif not ((position == start and start > 0 and text[start - 1].isdigit())
                      or (position + length == end and end < len(text) and text[end].isdigit())):
                counts[script] += 1
            position += length
    return counts


def script_shares(texts: Iterable[str]) -> dict[str, float]:
    """Each script's share of all the letters of ``texts``, largest first (4 decimals; empty: no letters)."""
    total: Counter[str] = Counter()
    for text in texts:
        total.update(letter_scripts(text))
    letters = sum(total.values())
    shares = {script: round(n / letters, 4) for script, n in total.most_common()} if letters else {}
    return {script: share for script, share in shares.items() if share > 0}


def mostly_unspaced(shares: dict[str, float]) -> bool:
    """Whether more than half of the letters (``script_shares``' answer) are in ``UNSPACED_SCRIPTS``:
    then words cannot be counted by spaces, and a length in characters is the one that means something."""
    return 2 * sum(share for script, share in shares.items() if script in UNSPACED_SCRIPTS) > sum(shares.values())


@dataclass(frozen=True)
class TrainedScripts:
    """What a model was trained on: the scripts it saw enough of, and those in words."""

    scripts: frozenset[str]
    description: str  # "English", "Latin-script text", "Han and Latin-script text"


def trained_scripts(training: dict, tokenizer_kind: str, vocabulary: Iterable[str] = ()) -> TrainedScripts | None:
    """What a bundle's model was trained on, from its training metadata (``config.json``'s "training").

    Bundles written since scripts are recorded say it (``data.scripts``). For earlier ones: a
    ``wordpiece`` model reads MiniLM's uncased English vocabulary, as the bundled SST-2 model does:
    English; a ``word``/``bpe`` vocabulary was learnt from the training texts, so its tokens'
    scripts stand in for theirs. None when nothing tells (no warnings then).
    """
    recorded = (training.get("data") or {}).get("scripts")
    if isinstance(recorded, dict):
        seen = sorted((s for s, share in recorded.items() if share >= KNOWN_SHARE), key=lambda s: -recorded[s])
        if not seen:
            return None
        return TrainedScripts(frozenset(seen), " and ".join(script_name(s) for s in seen) + "-script text")
    if tokenizer_kind == "wordpiece":
        return TrainedScripts(frozenset({LATIN}), "English")
    shares = script_shares(
        token.removeprefix("##") for token in vocabulary if not (token[:1] in "<[" and token[-1:] in ">]")
    )  # not <pad>, [UNK]...
    return trained_scripts({"data": {"scripts": shares}}, tokenizer_kind) if shares else None


def unseen_script_warning(text: str, trained: TrainedScripts, model: str) -> str | None:
    """A warning when most of ``text``'s words (``script_units``: a CJK character counting as a word,
    a product code as nothing) are in scripts ``trained`` does not include, else None.

    ``model`` names the model in the message ("the model version 'bundled'").
    """
    if LATIN in trained.scripts and text.isascii():
        return None
    counts = script_units(text)
    units = sum(counts.values())
    unseen = sorted(((n, s) for s, n in counts.items() if s not in trained.scripts), reverse=True)
    if not units or sum(n for n, _ in unseen) <= UNSEEN_SHARE * units:
        return None
    mostly = ", ".join(f"{script_name(s)} {100 * n / units:.0f}%" for n, s in unseen[:3])
    return (
        f"{model} was trained on {trained.description}; this text's words are mostly in other scripts "
        f"({mostly}), so its prediction may mean little"
    )


def may_warn(texts: Sequence[str], trained: TrainedScripts | None) -> bool:
    """False when no text can have a warning: the quick test (ASCII text for a Latin-script model)."""
    return trained is not None and not (LATIN in trained.scripts and all(t.isascii() for t in texts))


def unseen_script_warnings(texts: Sequence[str], trained: TrainedScripts | None, model: str) -> list[str | None]:
    """``unseen_script_warning`` for each text; an empty list when none of them has one."""
    if not may_warn(texts, trained):
        return []
    found = [unseen_script_warning(t, trained, model) for t in texts]
    return found if any(found) else []
