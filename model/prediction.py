"""What a prediction is: a label, its probability and every label's probability.

Kept apart from ``predictor`` (which needs torch) so that code that only reads predictions, such
as the web server, does not import torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Prediction:
    label: str
    score: float  # probability of ``label``
    probabilities: dict[str, float]


def to_predictions(labels: Sequence[str], rows: Sequence[Sequence[float]]) -> list[Prediction]:
    """One ``Prediction`` per row of class probabilities (in ``labels`` order)."""
    out = []
    indices = range(len(labels))
    for row in rows:
        best = max(indices, key=row.__getitem__)
        out.append(Prediction(labels[best], row[best], dict(zip(labels, row))))
    return out
