"""Defaults that adapt to the data: ``tokenizer: auto`` and ``pretrained: auto``.

MiniLM's WordPiece vocabulary and vectors are English: they make the bundled model good on English
and are of no use on Chinese (most of a Chinese text's tokens are ``[UNK]``, README "Text in any
language"). So ``auto`` looks at the letters of the training texts (``model/text/scripts.py``) and picks:

- mostly Latin letters (or no letters): ``wordpiece`` with ``minilm`` vectors (the bundled recipe);
- mostly Han, Hiragana or Katakana: ``word`` (each CJK character a token, no spaces needed), random
  vectors;
- mostly another script (Cyrillic, Arabic, Hangul, Thai...): ``bpe`` (an unseen inflection, or a
  word in a space-free phrase, still splits into known pieces), random vectors.

A value the user chose is kept: ``tokenizer: word`` with ``pretrained: auto`` means no vectors,
``pretrained: minilm`` with ``tokenizer: auto`` means ``wordpiece``. What was chosen and why is
returned, and training records it (``TrainResult.resolved``; a job's record, ``result.chosen``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..config import AUTO, TokenizerConfig, TrainConfig
from ..text.scripts import LATIN, script_name, script_shares

CJK = ("han", "hiragana", "katakana")
SAMPLE = 2_000  # texts looked at: the scripts of a data set show in a sample


def resolve_auto(
    tokenizer: TokenizerConfig, train: TrainConfig, texts: Sequence[str]
) -> tuple[TokenizerConfig, TrainConfig, dict]:
    """``tokenizer`` and ``train`` with ``auto`` values replaced, and {name: {"value", "reason"}} for
    each replaced one (empty when nothing was ``auto``)."""
    if tokenizer.tokenizer != AUTO and train.pretrained != AUTO:
        return tokenizer, train, {}
    step = max(1, len(texts) // SAMPLE)
    shares = script_shares(texts[::step])
    latin = shares.get(LATIN, 0.0) if shares else 1.0
    cjk = sum(shares.get(s, 0.0) for s in CJK)
    seen = ", ".join(f"{script_name(s)} {100 * v:.0f}%" for s, v in list(shares.items())[:3]) or "no letters"
    why = f"the training texts' letters: {seen}"
    chosen: dict[str, dict] = {}
    kind = tokenizer.tokenizer
    if kind == AUTO:
        if train.pretrained == "minilm":
            kind, reason = "wordpiece", "pretrained 'minilm' reads MiniLM's WordPiece tokens"
        elif train.pretrained not in (AUTO, None):
            kind, reason = "word", "a word-vector file has one vector per word"
        elif latin >= 0.5:
            kind, reason = "wordpiece", f"mostly Latin script ({why}): MiniLM's English vocabulary"
        elif cjk >= 0.5:
            kind, reason = "word", f"mostly Chinese/Japanese characters ({why}): one token per character"
        else:
            kind, reason = "bpe", f"mostly other scripts ({why}): pieces learnt from the texts"
        chosen["tokenizer"] = {"value": kind, "reason": reason}
        tokenizer = dataclasses.replace(tokenizer, tokenizer=kind)
    if train.pretrained == AUTO:
        vectors = "minilm" if kind == "wordpiece" else None
        reason = (
            "MiniLM's vectors go with its WordPiece tokens"
            if vectors
            else f"no pretrained vectors for a '{kind}' vocabulary learnt from the texts"
        )
        chosen["pretrained"] = {"value": vectors, "reason": reason}
        train = dataclasses.replace(train, pretrained=vectors)
    return tokenizer, train, chosen
