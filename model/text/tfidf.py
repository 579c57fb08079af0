"""Hashed TF-IDF features: texts -> a sparse torch matrix (training), or NumPy CSR arrays (serving: no torch).

Character 1-3-grams of the lowercased, whitespace-collapsed text, and word 1-2-grams of the texts
written in a script that puts spaces between words. Characters need no word segmentation, so
Chinese works as well as English; words are skipped for a text whose letters are mostly Han, Kana,
Thai, Lao, Khmer, Myanmar or Tibetan (``UNSPACED_SCRIPTS``), because ``\\w+`` reads a whole unspaced
clause there as one "word", a feature no other text shares and that takes half of the row's weight
(each kind's part is normalised on its own). ``baseline.py`` says how the ranges were chosen. Each n-gram is hashed into ``buckets`` columns per kind with a sign
(collisions then cancel on average rather than add up); only the columns seen in training are
kept. The hash is a stable 64-bit one, the same in every process, unlike Python's salted
``hash()``: blake2b for each distinct word, then FNV-1a over the word hashes or code points with
MurmurHash3's finaliser, vectorised in numpy (faster than ``zlib.crc32`` and a ``Counter`` per text in Python). Weights:
sublinear TF (1 + ln tf) times smoothed IDF from the training texts, each kind's part of a row
L2-normalised (what a ``FeatureUnion`` of a word and a character ``TfidfVectorizer`` gives).

The matrix is float32 CSR with 32-bit indices where they fit: torch then multiplies it through MKL,
faster than with 64-bit indices. An entry costs 12 bytes once built (two int32 indices and a float32
weight); the peak while building grows with the characters of text.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from typing import TYPE_CHECKING

import numpy as np

from .scripts import UNSPACED_SCRIPTS, letter_scripts

# Words, and each punctuation mark on its own ("!" matters); public so that a reference vectorizer can use it.
TOKEN = re.compile(r"\w+|[^\w\s]")
_FNV_OFFSET, _FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3
_KEY_BITS = 47  # bits of an n-gram's key, kept beside its text's index in one uint64
_KEY_MASK = (1 << _KEY_BITS) - 1
_CHUNK = 1 << 13  # texts hashed at a time (their index fits the other 17 bits; small arrays stay in cache)
WORD, CHAR = 0, 1

if TYPE_CHECKING:
    import torch


class HashedTfidf:
    """Texts -> L2-normalised sublinear TF-IDF rows over hashed word and character n-grams (CSR).

    Columns are the hash buckets seen in training (word buckets, then character buckets), so the
    classifier's weights are as many as the distinct features rather than ``2 * buckets``."""

    def __init__(
        self, word_ngrams: tuple[int, int] = (1, 2), char_ngrams: tuple[int, int] = (1, 3), buckets: int = 1 << 20
    ):
        for name, (lo, hi) in (("word_ngrams", word_ngrams), ("char_ngrams", char_ngrams)):
            if not 1 <= lo <= hi:
                raise ValueError(f"{name} must be (min, max) with 1 <= min <= max; got {(lo, hi)}")
        if not 2 <= buckets <= 1 << 30 or buckets & (buckets - 1):
            raise ValueError(f"buckets must be a power of two from 2 to 2**30; got {buckets}")
        self.word_ngrams, self.char_ngrams, self.buckets = word_ngrams, char_ngrams, buckets
        self.index: np.ndarray | None = None  # hash column -> matrix column, -1 if unseen in training
        self.idf: np.ndarray | None = None
        self.kind: np.ndarray | None = None  # WORD or CHAR, per matrix column

    def fit_transform(self, texts: list[str]) -> torch.Tensor:
        rows, cols, values = self._signed_tf(texts)
        df = np.bincount(cols, minlength=2 * self.buckets)  # (text, column) pairs are distinct
        seen = np.flatnonzero(df)
        self.index = np.full(2 * self.buckets, -1, dtype=np.int32)
        self.index[seen] = np.arange(len(seen))
        self.idf = (np.log((1 + len(texts)) / (1 + df[seen])) + 1).astype(np.float32)  # sklearn's smooth_idf
        self.kind = (seen >= self.buckets).astype(np.int32)
        return self._matrix(rows, self.index[cols], values, len(texts))

    def transform(self, texts: list[str]) -> torch.Tensor:
        return csr(*self.transform_arrays(texts), (len(texts), len(self.idf)))

    def transform_arrays(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``transform``'s matrix as NumPy CSR arrays (row starts, columns, values), without torch: what
        a served linear model reads (``model.inference.linear``), the same numbers as in training."""
        if self.index is None:
            raise RuntimeError("HashedTfidf.transform called before fit_transform")
        rows, cols, values = self._signed_tf(texts)
        cols = self.index[cols]
        known = cols >= 0  # columns never seen in training carry no weight
        return self._arrays(rows[known], cols[known], values[known], len(texts))

    @classmethod
    def fitted(cls, word_ngrams, char_ngrams, buckets: int, seen: np.ndarray, idf: np.ndarray) -> HashedTfidf:
        """A fitted vectorizer from what ``state`` gives: the hash columns seen in training (sorted) and their idf."""
        vectorizer = cls(tuple(word_ngrams), tuple(char_ngrams), int(buckets))
        seen = np.asarray(seen, dtype=np.int64)
        if len(seen) != len(idf) or (len(seen) and (seen.min() < 0 or seen.max() >= 2 * buckets)):
            raise ValueError(f"{len(seen)} seen columns and {len(idf)} idf values do not fit {buckets} buckets")
        vectorizer.index = np.full(2 * vectorizer.buckets, -1, dtype=np.int32)
        vectorizer.index[seen] = np.arange(len(seen))
        vectorizer.idf = np.asarray(idf, dtype=np.float32)
        vectorizer.kind = (seen >= vectorizer.buckets).astype(np.int32)
        return vectorizer

    def state(self) -> tuple[np.ndarray, np.ndarray]:
        """(the hash columns seen in training, their idf): what ``fitted`` rebuilds the vectorizer from
        (the full column index is 2 x buckets entries; these are as many as the features)."""
        if self.index is None:
            raise RuntimeError("HashedTfidf.state called before fit_transform")
        return np.flatnonzero(self.index >= 0).astype(np.int32), self.idf

    def _matrix(self, rows, cols, values, n_rows: int) -> torch.Tensor:
        return csr(*self._arrays(rows, cols, values, n_rows), (n_rows, len(self.idf)))

    def _arrays(self, rows, cols, values, n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        values *= self.idf[cols]
        part = rows.astype(np.int64) * 2 + self.kind[cols]  # each kind's part of a row is normalised on its own
        norms = np.sqrt(np.bincount(part, weights=values**2, minlength=2 * n_rows)).astype(np.float32)
        values /= np.maximum(norms[part], 1e-12)
        del part
        crow = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=crow[1:])
        return crow, cols, values

    def _signed_tf(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, hash column, signed sublinear tf) per distinct (text, column), sorted by row then column."""
        parts = [list(self._chunk(texts[i : i + _CHUNK], i)) for i in range(0, len(texts), _CHUNK)]
        if not parts:
            return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32)
        joined = []
        for k in range(3):  # one array at a time, each chunk's copy freed once it is joined
            joined.append(np.concatenate([p[k] for p in parts]))
            for p in parts:
                p[k] = None
        return tuple(joined)  # type: ignore[return-value]

    def _chunk(self, texts: list[str], first_row: int):
        normal = [" ".join(t.lower().split()) for t in texts]
        bucket_bits = self.buckets.bit_length() - 1
        docs, keys = zip(
            _ngram_keys(*_char_symbols(normal), self.char_ngrams, CHAR, bucket_bits),
            _ngram_keys(*_word_symbols([t if spaced(t) else "" for t in normal]), self.word_ngrams, WORD, bucket_bits),
        )
        # One uint64 per occurrence, the text's index above the n-gram's key: sorting them counts each
        # n-gram in each text and leaves them in (text, column) order, as the key starts with the column.
        occurrence, tf = np.unique(
            (np.concatenate(docs) << np.uint64(_KEY_BITS)) | np.concatenate(keys), return_counts=True
        )
        rows = (occurrence >> np.uint64(_KEY_BITS)).astype(np.int64) + first_row
        cols = ((occurrence & np.uint64(_KEY_MASK)) >> np.uint64(_KEY_BITS - 1 - bucket_bits)).astype(np.int64)
        weight = np.where(occurrence & np.uint64(1), -1.0, 1.0) * (1 + np.log(tf))
        # n-grams sharing a column in one text add up (signed): one entry per (text, column)
        start = np.flatnonzero(np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])])
        weight = np.add.reduceat(weight, start) if len(start) else weight
        # 12 bytes an entry (row, column, weight): what the memory peak is made of
        return rows[start].astype(np.int32), cols[start].astype(np.int32), weight.astype(np.float32)


def spaced(text: str) -> bool:
    """Whether ``text`` is written with spaces between words: fewer than half of its letters are in
    ``UNSPACED_SCRIPTS`` (a text without letters counts as spaced)."""
    if text.isascii():
        return True
    counts = letter_scripts(text)
    unspaced = sum(n for script, n in counts.items() if script in UNSPACED_SCRIPTS)
    return 2 * unspaced < sum(counts.values())


def _fmix(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: every input bit moves every output bit."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def _ngram_keys(symbols: np.ndarray, lengths: np.ndarray, span: tuple[int, int], kind: int, bucket_bits: int):
    """(text, key) for every n-gram of consecutive ``symbols`` (code points or word hashes) inside one
    text. The 47-bit key reads, from its top bit: the kind, the bucket, more hash bits, the sign (bit
    0). n and the kind seed the hash, so "ab" as a word or as characters, a 1-gram or a 2-gram, differ."""
    doc = np.repeat(np.arange(len(lengths), dtype=np.uint64), lengths)
    end = np.repeat(np.cumsum(lengths), lengths)
    position = np.arange(len(symbols))
    rest_bits = _KEY_BITS - 1 - bucket_bits
    docs, keys = [], []
    for n in range(span[0], span[1] + 1):
        starts = position[position + n <= end]
        h = np.full(len(starts), _FNV_OFFSET ^ (n * 2 + kind), dtype=np.uint64)
        for j in range(n):
            h = (h ^ symbols[starts + j]) * np.uint64(_FNV_PRIME)
        h = _fmix(h)
        bucket = h >> np.uint64(64 - bucket_bits)
        keys.append(
            np.uint64(kind << (_KEY_BITS - 1))
            | (bucket << np.uint64(rest_bits))
            | (h & np.uint64((1 << rest_bits) - 1))
        )
        docs.append(doc[starts])
    return np.concatenate(docs), np.concatenate(keys)


def _char_symbols(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(t) for t in texts], dtype=np.int64)
    code_points = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    return code_points, lengths


def _word_symbols(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    vocabulary: dict[str, int] = {}
    tokens = [[vocabulary.setdefault(w, len(vocabulary)) for w in TOKEN.findall(t)] for t in texts]
    word_hash = np.array(
        [int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little") for w in vocabulary],
        dtype=np.uint64,
    )
    ids = np.fromiter((i for t in tokens for i in t), dtype=np.int64)
    lengths = np.array([len(t) for t in tokens], dtype=np.int64)
    return word_hash[ids] if len(ids) else np.zeros(0, np.uint64), lengths


def csr(crow: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> torch.Tensor:
    """A float32 CSR tensor, with 32-bit indices where they fit (MKL's path for products)."""
    import torch  # (here: a served linear model reads the NumPy arrays and has no torch)

    index = np.int32 if len(values) < 2**31 and max(shape) < 2**31 else np.int64
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the one product used here is not
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(crow.astype(index)),
            torch.from_numpy(cols.astype(index)),
            torch.from_numpy(values),
            shape,
            check_invariants=False,
        )
