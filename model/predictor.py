"""Batched, thread-safe prediction from a loaded bundle."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .bundle import Bundle, load_bundle
from .inference import batched_logits

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    label: str
    score: float  # probability of ``label``
    probabilities: dict[str, float]


def quantize_dynamic(model: nn.Module) -> nn.Module:
    """int8 dynamic quantisation of the recurrent and linear layers (CPU inference only)."""
    from torch.ao.quantization import quantize_dynamic as _quantize

    return _quantize(model, {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8)


class Predictor:
    """Predicts labels and class probabilities for lists of texts.

    ``predict`` only reads the model (under ``torch.inference_mode``), so one predictor can serve
    many threads at once.
    """

    def __init__(self, bundle: Bundle, batch_size: int = 128, quantize: bool = False):
        self.bundle = bundle
        self.labels = list(bundle.config.labels)
        self.batch_size = batch_size
        self.temperature = bundle.config.temperature
        model = bundle.model.eval()
        self.model = quantize_dynamic(model) if quantize else model
        self.model.config = bundle.config

    @classmethod
    def load(cls, path: str | Path, **kwargs) -> Predictor:
        return cls(load_bundle(path), **kwargs)

    def predict_proba(self, texts: Sequence[str]) -> torch.Tensor:
        """[len(texts), classes] calibrated probabilities, in input order."""
        if isinstance(texts, str):
            raise TypeError("predict takes a list of texts, not a single string")
        seqs = self.bundle.tokenizer.encode_batch(list(texts)) if texts else []
        with torch.inference_mode():
            logits = batched_logits(self.model, seqs, self.batch_size, self.bundle.config.pad_id)
            return torch.softmax(logits / self.temperature, dim=1)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        probs = self.predict_proba(texts)
        out = []
        for row in probs.tolist():
            best = max(range(len(row)), key=row.__getitem__)
            out.append(Prediction(self.labels[best], row[best], dict(zip(self.labels, row))))
        return out
