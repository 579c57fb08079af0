"""Scoring predictions against gold labels: one report for training, ``evaluate`` and ``compare``.

``classification_report`` works on plain label indices (lists or numpy arrays), so the web server
can score predictions its model process made without importing torch. ``logits_report`` adds what
only logits can say (cross-entropy loss, expected calibration error); it imports torch when called.
The confusion matrix has rows = gold label, columns = predicted label, in the model's label order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..data import DataError, Dataset, load_dataset
from .prediction import Prediction

if TYPE_CHECKING:
    import torch

    from .predictor import Predictor


def classification_report(gold: Sequence[int], predicted: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix (rows = truth)."""
    k = len(labels)
    confusion = [[0] * k for _ in range(k)]
    for g, p in zip(gold, predicted, strict=True):
        confusion[int(g)][int(p)] += 1
    per_class, f1s = {}, []
    for i, label in enumerate(labels):
        tp = confusion[i][i]
        predicted_i, actual_i = sum(row[i] for row in confusion), sum(confusion[i])
        precision = tp / predicted_i if predicted_i else 0.0
        recall = tp / actual_i if actual_i else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": actual_i}
        f1s.append(f1)
    n = sum(map(sum, confusion))
    return {
        "n": n,
        "accuracy": sum(confusion[i][i] for i in range(k)) / n if n else 0.0,
        "macro_f1": sum(f1s) / k,
        "per_class": per_class,
        "labels": list(labels),
        "confusion_matrix": confusion,
    }


def logits_report(logits: torch.Tensor, targets: torch.Tensor, labels: Sequence[str]) -> dict[str, Any]:
    """``classification_report`` of the logits' argmax, plus the mean cross-entropy and the ECE."""
    import torch

    report = classification_report(targets.tolist(), logits.argmax(dim=1).tolist(), labels)
    report["loss"] = torch.nn.functional.cross_entropy(logits, targets).item() if len(targets) else 0.0
    report["ece"] = expected_calibration_error(logits, targets)
    return report


def expected_calibration_error(logits: torch.Tensor, targets: torch.Tensor, bins: int = 15) -> float:
    """Mean |confidence - accuracy| over equal-width confidence bins, weighted by bin size."""
    import torch

    if len(targets) == 0:
        return 0.0
    confidence, preds = torch.softmax(logits.float(), dim=1).max(dim=1)
    correct = (preds == targets).float()
    edges = torch.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            ece += in_bin.float().mean().item() * abs(confidence[in_bin].mean().item() - correct[in_bin].mean().item())
    return ece


def gold_indices(data: Dataset, labels: Sequence[str], label_names: Mapping[str, str], version: str) -> list[int]:
    """Each example's gold label as an index into ``labels``; raw labels are mapped through the
    version's ``label_names`` (``"1"`` -> ``"positive"``)."""
    index = {name: i for i, name in enumerate(labels)}
    out = []
    for i, raw in enumerate(data.labels):
        name = label_names.get(raw, raw)
        if name not in index:
            line = data.lines[i] if data.lines else None
            raise DataError(
                data.source,
                line,
                f"label {raw!r} is not one that model version {version!r} knows ({', '.join(labels)})",
            )
        out.append(index[name])
    return out


def evaluate(predictor: Predictor, data: Dataset) -> dict:
    """Metrics of ``predictor`` on ``data``; raw labels are mapped through the model's label_names."""
    import torch

    config = predictor.config
    index = {name: i for i, name in enumerate(config.labels)}
    targets = []
    for i, raw in enumerate(data.labels):
        name = config.label_names.get(raw, raw)
        if name not in index:
            line = data.lines[i] if data.lines else None
            raise DataError(data.source, line, f"label {raw!r} is not one the model knows {config.labels}")
        targets.append(index[name])
    probs = predictor.predict_proba(data.texts)
    return logits_report(torch.log(torch.from_numpy(probs).clamp_min(1e-12)), torch.tensor(targets), config.labels)


def evaluate_file(predictor: Predictor, path, **kwargs) -> dict:
    return evaluate(predictor, load_dataset(path, **kwargs))


def compare(
    data: Dataset,
    gold: Mapping[str, Sequence[int]],
    predictions: Mapping[str, Sequence[Prediction]],
    labels: Mapping[str, Sequence[str]],
    max_listed: int,
) -> dict[str, Any]:
    """Each version's scores (accuracy, macro-F1, confusion matrix), and the examples where the
    versions' predicted labels differ: the first ``max_listed`` of them in the dataset's order, and
    how many there are in all. Plain Python: the predictions were made elsewhere."""
    versions = list(predictions)
    per_version = {}
    for v in versions:
        index = {name: i for i, name in enumerate(labels[v])}
        report = classification_report(gold[v], [index[p.label] for p in predictions[v]], labels[v])
        per_version[v] = {"examples": report["n"], **{k: report[k] for k in ("accuracy", "macro_f1", "labels",
                                                                              "confusion_matrix")}}
    disagreements, total = [], 0
    first = versions[0]
    for i, text in enumerate(data.texts):
        if all(predictions[v][i].label == predictions[first][i].label for v in versions[1:]):
            continue
        total += 1
        if len(disagreements) < max_listed:
            disagreements.append(
                {
                    "index": i,
                    "text": text,
                    "label": labels[first][gold[first][i]],
                    "predictions": {
                        v: {"label": predictions[v][i].label, "score": predictions[v][i].score} for v in versions
                    },
                }
            )
    return {
        "examples": len(data),
        "versions": per_version,
        "disagreements": disagreements,
        "disagreements_total": total,
    }
