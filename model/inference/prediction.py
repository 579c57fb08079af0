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

    label: str | None
    """the predicted label (None: the model abstained, or a multi-label model: see ``labels``)"""
    score: float | None
    """probability of the predicted label"""
    probabilities: dict[str, float]
    """every label's probability"""
    windows: int = 1
    """how many overlapping windows of the model's max_length tokens the text was read in (1: it fit)"""
    warnings: list[str] | None = None
    """present when most of the text's letters are in scripts the model was not trained on: its prediction
    may mean little"""
    labels: list[str] | None = None
    """multi-label models: every label whose probability reaches its threshold, most probable first"""
    abstained: bool | None = None
    """present when a min_score was asked for: true when the best probability is below it (label is then null)"""
    top: list[dict] | None = None
    """the top_k labels asked for, most probable first: [{"label", "score"}]"""

    def to_dict(self) -> dict:
        """The prediction as JSON shows it (the CLI's lines, the API's answers): fields that are None left out."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def to_predictions(
    labels: Sequence[str], rows: Sequence[Sequence[float]], windows: Sequence[int] | None = None, *,
    task: str = "single_label", thresholds: Sequence[float] | None = None, top_k: int | None = None,
    min_score: float | None = None,
) -> list[Prediction]:
    """One ``Prediction`` per row of probabilities (in ``labels`` order), with each text's window
    count (None: 1 each). ``top_k``: the k most probable labels too; ``min_score``: abstain (label
    None) when the best probability is below it; ``task="multi_label"``: rows are independent
    probabilities and ``labels`` those reaching their ``thresholds`` (0.5 each by default)."""
    out = []
    indices = range(len(labels))
    multi = task == "multi_label"
    for i, row in enumerate(rows):
        best = max(indices, key=row.__getitem__)
        prediction = Prediction(labels[best], row[best], dict(zip(labels, row)), windows[i] if windows else 1)
        if multi:
            limits = thresholds or [0.5] * len(labels)
            prediction.label = prediction.score = None
            prediction.labels = [labels[j] for j in sorted(indices, key=lambda j: -row[j]) if row[j] >= limits[j]]
        elif min_score is not None:
            prediction.abstained = row[best] < min_score
            if prediction.abstained:
                prediction.label = None
        if top_k is not None:
            prediction.top = [{"label": labels[j], "score": row[j]}
                              for j in sorted(indices, key=lambda j: (-row[j], j))[:top_k]]
        out.append(prediction)
    return out
