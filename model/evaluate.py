"""Scoring a bundle on a labelled file."""

from __future__ import annotations

import torch

from .data import DataError, Dataset, load_dataset
from .metrics import classification_report
from .predictor import Predictor


def evaluate(predictor: Predictor, data: Dataset) -> dict:
    """Metrics of ``predictor`` on ``data``; raw labels are mapped through the model's label_names."""
    config = predictor.bundle.config
    index = {name: i for i, name in enumerate(config.labels)}
    targets = []
    for i, raw in enumerate(data.labels):
        name = config.label_names.get(raw, raw)
        if name not in index:
            line = data.lines[i] if data.lines else None
            raise DataError(data.source, line, f"label {raw!r} is not one the model knows {config.labels}")
        targets.append(index[name])
    probs = predictor.predict_proba(data.texts)
    return classification_report(torch.log(probs.clamp_min(1e-12)), torch.tensor(targets), config.labels)


def evaluate_file(predictor: Predictor, path, **kwargs) -> dict:
    return evaluate(predictor, load_dataset(path, **kwargs))
