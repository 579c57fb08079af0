"""Batched, thread-safe prediction from a loaded bundle."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..bundle import Bundle, load_bundle
from .batches import batched_logits
from .fast_rnn import FastRNN
from .prediction import Prediction, to_predictions
from .windows import combine_logits, split_windows

log = logging.getLogger(__name__)


class Predictor:
    """Predicts labels and class probabilities for lists of texts.

    A text longer than the tokenizer's ``max_length`` is read in overlapping windows of that
    many tokens and their logits averaged (``model.inference.windows``); ``Prediction.windows`` says how
    many. ``predict`` only reads the model (under ``torch.inference_mode``), so one predictor can be
    shared by threads (on the fast path their model calls take turns; see ``__init__``).
    """

    def __init__(self, bundle: Bundle, batch_size: int = 128, fast: bool = True):
        self.bundle = bundle
        self.labels = list(bundle.config.labels)
        self.batch_size = batch_size
        self.temperature = bundle.config.temperature
        model = bundle.model.eval()
        self.model = model
        # The fast path (``FastRNN``) is built on first use: it holds a table of input projections
        # (vocabulary x directions x gates x hidden floats) that a process which never predicts,
        # such as the web server when the model runs in its own process, need not pay for.
        self.fast = fast
        self._fast_model: FastRNN | None = None
        self._lock = threading.Lock()
        # The fast path is many small tensor operations, each handing the interpreter lock over
        # and back: threads running it at once slow each other down (more threads, fewer
        # sentences/s in all), so callers take turns. The nn.LSTM path is one long operation per
        # batch and runs concurrently.
        self._turns = threading.Lock() if self.fast else contextlib.nullcontext()

    def runtime_model(self) -> nn.Module:
        """The module ``predict`` runs: the fast path unless turned off."""
        if not self.fast:
            return self.model
        if self._fast_model is None:
            with self._lock:
                if self._fast_model is None:
                    self._fast_model = FastRNN(self.model)  # its config is the model's
        return self._fast_model

    def warm_up(self) -> None:
        """Build what the first prediction would build, and run one, so that it is not slow."""
        self.predict_proba(["warm up"])

    @classmethod
    def load(cls, path: str | Path, **kwargs) -> Predictor:
        return cls(load_bundle(path), **kwargs)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Every token id of each text, however long (what ``predict_proba_ids`` takes)."""
        if isinstance(texts, str):
            raise TypeError("predict takes a list of texts, not a single string")
        return self.bundle.tokenizer.encode_batch(list(texts), truncate=False) if texts else []

    def predict_proba(self, texts: Sequence[str]) -> torch.Tensor:
        """[len(texts), classes] calibrated probabilities, in input order."""
        return self.predict_proba_ids(self.encode(texts))

    def predict_proba_ids(self, seqs: Sequence[Sequence[int]]) -> torch.Tensor:
        """``predict_proba`` for texts already encoded by ``encode`` (each non-empty)."""
        return self.predict_windows_ids(seqs)[0]

    def predict_windows_ids(self, seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, list[int]]:
        """Probabilities as ``predict_proba_ids``, and how many windows each text was read in.

        Every window of every text goes through one ``batched_logits`` call; each text's logits
        are the mean of its windows', then divided by the temperature, as for a single window.
        """
        windows, counts = split_windows(seqs, self.bundle.tokenizer.max_length)
        with self._turns, torch.inference_mode():
            logits = batched_logits(self.runtime_model(), windows, self.batch_size, self.bundle.config.pad_id)
            return torch.softmax(combine_logits(logits, counts) / self.temperature, dim=1), counts

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        return self.predict_ids(self.encode(texts))

    def predict_ids(self, seqs: Sequence[Sequence[int]]) -> list[Prediction]:
        """``predict`` for texts already encoded (each non-empty), e.g. an explanation's variants."""
        probs, windows = self.predict_windows_ids(seqs)
        return to_predictions(self.labels, probs.tolist(), windows)
