"""What a prediction is: a label, its probability and every label's probability.

Kept apart from ``predictor`` (which needs torch) so that code that only reads predictions, such
as the web server, does not import torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass
class Prediction:
    """The one declaration of a prediction's shape: the CLI prints it, the HTTP API answers with it."""

    label: str
    """the predicted label"""
    score: float
    """probability of the predicted label"""
    probabilities: dict[str, float]
    """every label's probability"""
    windows: int = 1
    """how many overlapping windows of the model's max_length tokens the text was read in (1: it fit)"""
    warnings: list[str] | None = None
    """present when most of the text's letters are in scripts the model was not trained on: its prediction
    may mean little"""

    def to_dict(self) -> dict:
        """The prediction as JSON shows it (the CLI's lines, the API's answers): fields that are None left out."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def to_predictions(
    labels: Sequence[str], rows: Sequence[Sequence[float]], windows: Sequence[int] | None = None
) -> list[Prediction]:
    """One ``Prediction`` per row of class probabilities (in ``labels`` order), with each
    text's window count (None: 1 each)."""
    out = []
    indices = range(len(labels))
    for i, row in enumerate(rows):
        best = max(indices, key=row.__getitem__)
        out.append(Prediction(labels[best], row[best], dict(zip(labels, row)), windows[i] if windows else 1))
    return out
