"""Text to token ids, built on Hugging Face ``tokenizers`` and saved as one JSON file.

Three tokenizers share one normaliser and pre-tokeniser (NFKC, optional lowercasing, punctuation split
off, English contractions kept as ``n't`` / ``'s``, each CJK character its own token, emoji kept):

* ``word``: a word-level vocabulary built from the training texts (min frequency, max size);
* ``bpe``: a byte-pair-encoding model trained on the training texts, so unseen words still split
  into known pieces;
* ``wordpiece``: a pretrained WordPiece vocabulary (for example MiniLM's), used with its own BERT
  normaliser so that pretrained embeddings line up with their tokens.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import BPE, WordLevel
from tokenizers.trainers import BpeTrainer, WordLevelTrainer

from ..config import TokenizerConfig

PAD, UNK = "<pad>", "<unk>"

_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"
_WORD = rf"[[\p{{L}}\p{{M}}\p{{N}}_]&&[^{_CJK}]]"
# One token per match: contractions, single CJK characters, words (stopping before "n't"),
# and any other non-space character (punctuation, emoji) on its own.
TOKEN_PATTERN = (
    r"n't|'(?:s|re|ve|ll|d|m)(?![\p{L}\p{N}])"
    rf"|[{_CJK}]|{_WORD}+?(?=n't)|{_WORD}+|[^\p{{L}}\p{{M}}\p{{N}}_\s]"
)


def _normalizer(lowercase: bool) -> normalizers.Normalizer:
    steps = [normalizers.NFKC(), normalizers.Replace("\u2019", "'"), normalizers.Replace("`", "'")]
    if lowercase:
        steps.append(normalizers.Lowercase())
    return normalizers.Sequence(steps)


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(TOKEN_PATTERN), "isolated")]
    )


class TextTokenizer:
    """A ``tokenizers.Tokenizer`` plus the few settings the model needs (pad/unk ids, max length)."""

    def __init__(self, tokenizer: Tokenizer, max_length: int):
        # One pipeline, never truncating: training's first ``max_length`` ids are a slice of all of
        # them (no post-processor adds tokens), so no second copy of the vocabulary is held for the
        # untruncated ids that prediction and explanations read.
        self.tokenizer = tokenizer
        self.max_length = max_length
        tokenizer.no_padding()
        tokenizer.no_truncation()
        # User text that spells a special token ("<pad>", "[UNK]") is text, not that token.
        tokenizer.encode_special_tokens = True
        self.pad_id = self._special_id(PAD, "[PAD]")
        self.unk_id = self._special_id(UNK, "[UNK]")
        self._ascii = AsciiBertWordPiece.for_tokenizer(tokenizer, max_length)

    def _special_id(self, *names: str) -> int:
        for name in names:
            token_id = self.tokenizer.token_to_id(name)
            if token_id is not None:
                return token_id
        raise ValueError(f"tokenizer has none of the special tokens {names}")

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def tokenize(self, text: str) -> list[str]:
        return self.tokenizer.encode(text).tokens[: self.max_length]

    def encode_batch(self, texts: Sequence[str], library_only: bool = False, truncate: bool = True) -> list[list[int]]:
        """Token ids per text; a text with no tokens becomes ``[unk]`` so every length is >= 1.

        ``truncate``: keep the first ``max_length`` ids of each text (what training reads);
        ``False`` gives every id, for prediction, which reads a longer text in overlapping
        windows of ``max_length`` (``model.inference.windows``).

        ``library_only``: skip the pure-Python ASCII path. The library (Rust) releases the
        interpreter lock while it works, so a big batch encoded in a thread this way leaves the
        calling process's other threads (an event loop) running; the ids are the same.
        """
        # encode_batch_fast (tokenizers >= 0.21) skips character offsets, which are never used here
        # (less work); the token ids are the same.
        texts = list(texts)
        out: list[list[int] | None] = [None] * len(texts)
        rest = []  # indices of the texts the tokenizers library encodes
        if self._ascii is not None and not library_only:
            for i, text in enumerate(texts):
                if text.isascii():
                    out[i] = self._ascii.encode(text, truncate)
                else:
                    rest.append(i)
        else:
            rest = range(len(texts))
        if rest:
            encode = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)
            limit = self.max_length if truncate else None
            for i, enc in zip(rest, encode([texts[i] for i in rest])):
                out[i] = enc.ids[:limit]
        return [ids or [self.unk_id] for ids in out]

    def encoding(self, text: str):
        """The library's ``Encoding`` of ``text``, every token (not truncated): the ids
        ``encode_batch(..., truncate=False)`` gives (for a text with tokens), each token's
        character offsets into ``text`` and its word (``word_ids``), for explanations."""
        return self.tokenizer.encode(text)

    def save(self, path: str | Path) -> None:
        self.tokenizer.save(str(path))

    @classmethod
    def load(cls, path: str | Path, max_length: int) -> TextTokenizer:
        return cls(Tokenizer.from_file(str(path)), max_length)

    @classmethod
    def from_str(cls, data: str, max_length: int) -> TextTokenizer:
        return cls(Tokenizer.from_str(data), max_length)


_ASCII_PUNCT = re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


class AsciiBertWordPiece:
    """The BERT WordPiece pipeline for ASCII text, in a few Python steps and a per-word cache.

    For the pretrained WordPiece tokenizer (NFKC + BERT normaliser, BERT pre-tokeniser), on ASCII
    text the normalisers only drop control characters and lowercase, and the pre-tokeniser splits
    on whitespace and isolates each ASCII punctuation mark. Those two steps are one regex each;
    each resulting word's WordPiece ids come from the library's own model (``model.tokenize``),
    cached. Same ids as the library for every ASCII text (the tests compare them on random text),
    several times faster than the library's path, which matters when the server tokenises
    every request. Other text, and other tokenizers, take the
    library's path.
    """

    SPLIT = re.compile(rf"[^\s{_ASCII_PUNCT}]+|[{_ASCII_PUNCT}]")
    # BERT's clean_text drops Cc characters other than \t \n \r (which become spaces)
    CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
    # Bounded, whatever the input: the frequent words of a language fit (a dev set's sentences use
    # a few thousand distinct words), and a server fed made-up words keeps a bounded cache instead
    # of growing with every new word (benchmarks/soak.py feeds it such words).
    MAX_CACHED_WORDS = 8_192

    def __init__(self, model, lowercase: bool, max_length: int):
        self.model = model
        self.lowercase = lowercase
        self.max_length = max_length
        self.cache: dict[str, list[int]] = {}

    @classmethod
    def for_tokenizer(cls, tokenizer: Tokenizer, max_length: int) -> AsciiBertWordPiece | None:
        """An instance when ``tokenizer`` is exactly that pipeline, else None."""
        spec = json.loads(tokenizer.to_str())
        normalizer, pre = spec.get("normalizer") or {}, spec.get("pre_tokenizer") or {}
        steps = normalizer.get("normalizers", []) if normalizer.get("type") == "Sequence" else [normalizer]
        kinds = [step.get("type") for step in steps]
        bert = steps[-1] if kinds in (["BertNormalizer"], ["NFKC", "BertNormalizer"]) else None
        if (
            bert is None
            or not bert.get("clean_text")
            or spec["model"].get("type") != "WordPiece"
            or pre.get("type") != "BertPreTokenizer"
            or spec.get("post_processor") is not None
            or not all(t.get("special") for t in spec.get("added_tokens", []))
        ):
            return None
        return cls(tokenizer.model, bool(bert.get("lowercase")), max_length)

    def encode(self, text: str, truncate: bool = True) -> list[int]:
        """The ids of ``text``: its first ``max_length`` ones, or with ``truncate=False`` all."""
        limit = self.max_length if truncate else sys.maxsize
        text = self.CONTROL.sub("", text)
        if self.lowercase:
            text = text.lower()
        ids: list[int] = []
        cache = self.cache
        for word in self.SPLIT.findall(text):
            word_ids = cache.get(word)
            if word_ids is None:
                word_ids = [token.id for token in self.model.tokenize(word)]
                if len(cache) >= self.MAX_CACHED_WORDS:
                    cache.clear()  # bounded, whatever the input
                cache[word] = word_ids
            ids.extend(word_ids)
            if len(ids) >= limit:
                break
        return ids[:limit]


def build_tokenizer(
    config: TokenizerConfig, texts: Iterable[str], wordpiece_file: str | Path | None = None
) -> TextTokenizer:
    """Train a word or BPE tokenizer on ``texts``, or load a pretrained WordPiece one."""
    config.validate()
    if config.tokenizer == "wordpiece":
        if wordpiece_file is None:
            raise ValueError("tokenizer 'wordpiece' needs a pretrained tokenizer.json")
        tok = Tokenizer.from_file(str(wordpiece_file))
        tok.post_processor = None  # no [CLS]/[SEP]: the RNN reads the plain token sequence
        tok.normalizer = normalizers.Sequence(
            [normalizers.NFKC(), normalizers.BertNormalizer(lowercase=config.lowercase)]
        )
        return TextTokenizer(tok, config.max_length)
    special = [PAD, UNK]
    if config.tokenizer == "word":
        tok = Tokenizer(WordLevel(unk_token=UNK))
        trainer = WordLevelTrainer(
            vocab_size=config.max_vocab_size,
            min_frequency=config.min_frequency,
            special_tokens=special,
            show_progress=False,
        )
    else:
        tok = Tokenizer(BPE(unk_token=UNK, continuing_subword_prefix="##"))
        trainer = BpeTrainer(
            vocab_size=config.max_vocab_size,
            min_frequency=config.min_frequency,
            special_tokens=special,
            continuing_subword_prefix="##",
            show_progress=False,
        )
    tok.normalizer = _normalizer(config.lowercase)
    tok.pre_tokenizer = _pre_tokenizer()
    tok.train_from_iterator(texts, trainer=trainer)
    return TextTokenizer(tok, config.max_length)


def count_tokens(texts: Sequence[str]) -> list[int]:
    """Tokens per text as the ``word`` and ``bpe`` tokenizers split text before their vocabulary
    applies (the shared pre-tokeniser): words and punctuation marks, each CJK character one, each
    emoji one. No vocabulary is needed, so a dataset can be measured before anything trains on it;
    unlike counting space-separated words, Chinese and Japanese text counts its characters."""
    encode = getattr(_token_counter(), "encode_batch_fast", _token_counter().encode_batch)
    return [len(enc.ids) for enc in encode(list(texts))]


@functools.cache
def _token_counter() -> Tokenizer:
    counter = Tokenizer(WordLevel({UNK: 0}, unk_token=UNK))  # every token is <unk>: only the count matters
    counter.normalizer = _normalizer(False)
    counter.pre_tokenizer = _pre_tokenizer()
    return counter
