"""The job's TF-IDF baseline as a served model: hashed n-gram features and a linear layer, NumPy only.

Why NumPy: the model process serves it beside the RNN on either backend, and the API image has
neither scikit-learn nor (on the NumPy backend) torch. The features are ``HashedTfidf``'s own
(``model.text.tfidf``, torch-free for this), rebuilt from what training saw: the hash columns
seen in training and their idf. So a text gets the very features it got at training time, and
the same logits to float rounding (a test holds served and training-time probabilities within 1e-6).

Files: ``linear.safetensors`` (``seen``, ``idf``, ``weight`` [features, labels], ``bias``) and the
n-gram settings in JSON (``settings()``; a bundle keeps them in ``config.json``'s ``"linear"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..bundle import LINEAR_FILE
from ..text.tfidf import HashedTfidf

__all__ = ["LINEAR_FILE", "LinearModel", "blend_log_probs", "log_softmax"]


class LinearModel:
    """Texts -> logits: ``HashedTfidf`` features times ``weight`` plus ``bias``."""

    def __init__(self, vectorizer: HashedTfidf, weight: np.ndarray, bias: np.ndarray):
        if weight.shape != (len(vectorizer.idf), len(bias)):
            raise ValueError(f"weight is {weight.shape}; expected ({len(vectorizer.idf)}, {len(bias)})")
        self.vectorizer = vectorizer
        self.weight = np.ascontiguousarray(weight, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)

    @property
    def num_classes(self) -> int:
        return len(self.bias)

    def logits(self, texts: list[str]) -> np.ndarray:
        """[len(texts), labels] float32 logits (the whole text is read: no windows)."""
        crow, cols, values = self.vectorizer.transform_arrays(list(texts))
        rows = np.repeat(np.arange(len(texts)), np.diff(crow))
        out = np.empty((len(texts), self.num_classes), dtype=np.float32)
        for j in range(self.num_classes):  # one weighted bincount per label: a sparse-dense product in NumPy
            out[:, j] = np.bincount(rows, weights=values * self.weight[cols, j], minlength=len(texts))
        return out + self.bias

    def settings(self) -> dict[str, Any]:
        v = self.vectorizer
        return {"word_ngrams": list(v.word_ngrams), "char_ngrams": list(v.char_ngrams), "buckets": v.buckets}

    def tensors(self) -> dict[str, np.ndarray]:
        seen, idf = self.vectorizer.state()
        return {"seen": seen, "idf": idf, "weight": self.weight, "bias": self.bias}

    def save(self, path: str | Path) -> None:
        """The tensors to ``path`` (safetensors); the caller keeps ``settings()`` in JSON."""
        from safetensors.numpy import save_file

        save_file(self.tensors(), str(path))

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray], settings: dict[str, Any]) -> LinearModel:
        try:
            vectorizer = HashedTfidf.fitted(settings["word_ngrams"], settings["char_ngrams"], settings["buckets"],
                                            tensors["seen"], tensors["idf"])
            return cls(vectorizer, tensors["weight"], tensors["bias"])
        except KeyError as exc:
            raise ValueError(f"missing {exc.args[0]!r} (a linear model has seen, idf, weight, bias and its "
                             "word_ngrams, char_ngrams, buckets)") from None

    @classmethod
    def load(cls, path: str | Path, settings: dict[str, Any]) -> LinearModel:
        from safetensors.numpy import load_file

        return cls.from_tensors(load_file(str(path)), settings)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True) if len(logits) else logits
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def blend_log_probs(rnn_log_probs: np.ndarray, linear_log_probs: np.ndarray, rnn_weight: float) -> np.ndarray:
    """The blend's log-probabilities: ``rnn_weight`` x the RNN's + (1 - ``rnn_weight``) x the linear
    model's, renormalised (a weighted geometric mean of the two distributions). Log-probabilities
    rather than probabilities: a confident model can overrule an unsure one, as its evidence adds up."""
    return log_softmax(rnn_weight * rnn_log_probs + (1.0 - rnn_weight) * linear_log_probs)
