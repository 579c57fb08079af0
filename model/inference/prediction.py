"""What a prediction is: the predicted label or labels, their probabilities and the options' extras.

Kept apart from ``predictor`` (which needs torch) so that code that only reads predictions, such
as the web server, does not import torch.

Two tasks (``model.config.TASKS``), from the model's bundle:

* ``single_label``: each row is a softmax over the labels; ``label`` is the most probable one and
  ``score`` its probability. With ``min_score``, a best probability below it gives ``label`` None
  and ``abstained`` True: a caller that would rather have no answer than a doubtful one says so.
* ``multi_label``: each row holds independent sigmoid probabilities, one per label; ``labels`` are
  those at or above their own threshold (none is a valid answer), most probable first. There is no
  single best label, so ``label`` and ``score`` are None (left out of the JSON).

``top_k`` adds the k most probable labels (``top``) in either task. With no option given,
``to_predictions`` does no more per row than finding the best label: it runs on the HTTP hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from ..config import MULTI_LABEL, SINGLE_LABEL, TASKS

DEFAULT_THRESHOLD = 0.5  # a multi-label model's threshold for a label when its bundle gives none


@dataclass(frozen=True)
class LabelScore:
    """One entry of ``Prediction.top`` (JSON: ``{"label": ..., "score": ...}``)."""

    label: str
    score: float


@dataclass(slots=True)
class Prediction:
    """The one declaration of a prediction's shape: the CLI prints it, the HTTP API answers with it.

    The fields are in the order JSON shows them. ``labels``, ``abstained`` and ``top`` are keyword-only
    (``Prediction(label, score, probabilities)`` reads as before them)."""

    label: str | None
    """the predicted label: single-label only, None when the prediction abstained (``min_score``)"""
    score: float | None
    """probability of the most probable label (given even when abstaining); None for multi-label"""
    labels: list[str] | None = field(default=None, kw_only=True)
    """multi-label: every label whose probability reaches its threshold, most probable first (may be empty)"""
    abstained: bool | None = field(default=None, kw_only=True)
    """single-label with ``min_score``: True when the best probability is below it, else False; None
    (left out) when no ``min_score`` was asked for"""
    top: list[LabelScore] | None = field(default=None, kw_only=True)
    """with ``top_k``: the k most probable labels (every label when there are fewer), best first, equal
    probabilities in label order"""
    probabilities: dict[str, float]
    """every label's probability (multi-label: each independent of the others)"""
    windows: int = 1
    """how many overlapping windows of the model's max_length tokens the text was read in (1: it fit)"""
    warnings: list[str] | None = None
    """present when most of the text's letters are in scripts the model was not trained on: its prediction
    may mean little"""

    def to_dict(self) -> dict:
        """The prediction as JSON shows it (the CLI's lines, the API's answers): fields that are None left out."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def to_predictions(
    labels: Sequence[str],
    rows: Sequence[Sequence[float]],
    windows: Sequence[int] | None = None,
    *,
    task: str = SINGLE_LABEL,
    thresholds: Sequence[float] | None = None,
    top_k: int | None = None,
    min_score: float | None = None,
) -> list[Prediction]:
    """One ``Prediction`` per row of probabilities (in ``labels`` order), with each text's window count
    (None: 1 each). ``task`` is the model's; ``thresholds`` (multi-label: one per label, default
    ``DEFAULT_THRESHOLD`` each) decide which labels a multi-label prediction names; ``top_k`` adds
    the k best labels; ``min_score`` (single-label) abstains below it."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive integer; got {top_k!r}")
    if task == MULTI_LABEL:
        if min_score is not None:
            raise ValueError("min_score is for single-label models; a multi-label model abstains by naming no label")
        return _multi_label(labels, rows, windows, thresholds, top_k)
    if thresholds is not None:
        raise ValueError("thresholds are for multi-label models; a single-label model takes the most probable label")
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise ValueError(f"min_score must be a probability between 0 and 1; got {min_score!r}")
    out = []
    indices = range(len(labels))
    if top_k is None and min_score is None:  # the hot path: as little as possible per row
        for i, row in enumerate(rows):
            best = max(indices, key=row.__getitem__)
            out.append(Prediction(labels[best], row[best], dict(zip(labels, row)), windows[i] if windows else 1))
        return out
    for i, row in enumerate(rows):
        best = max(indices, key=row.__getitem__)
        score = row[best]
        abstained = None if min_score is None else score < min_score
        out.append(
            Prediction(
                None if abstained else labels[best],
                score,
                dict(zip(labels, row)),
                windows[i] if windows else 1,
                abstained=abstained,
                top=None if top_k is None else _top(labels, row, top_k),
            )
        )
    return out


def _multi_label(labels, rows, windows, thresholds, top_k) -> list[Prediction]:
    if thresholds is None:
        thresholds = [DEFAULT_THRESHOLD] * len(labels)
    elif len(thresholds) != len(labels):
        raise ValueError(f"thresholds must give one number per label ({len(labels)}); got {len(thresholds)}")
    out = []
    indices = range(len(labels))
    for i, row in enumerate(rows):
        passed = [j for j in indices if row[j] >= thresholds[j]]
        if len(passed) > 1:
            passed.sort(key=lambda j: -row[j])  # stable: equal probabilities stay in label order
        out.append(
            Prediction(
                None,
                None,
                dict(zip(labels, row)),
                windows[i] if windows else 1,
                labels=[labels[j] for j in passed],
                top=None if top_k is None else _top(labels, row, top_k),
            )
        )
    return out


def _top(labels: Sequence[str], row: Sequence[float], k: int) -> list[LabelScore]:
    """The k most probable labels, best first; equal probabilities in label order (a stable sort)."""
    order = sorted(range(len(labels)), key=lambda j: -row[j])[:k]
    return [LabelScore(labels[j], row[j]) for j in order]
