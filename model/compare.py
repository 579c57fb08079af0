"""Two or more model versions on the same labelled texts: metrics each, and where they disagree.

Plain Python (no torch), so the web server can score predictions its model process made. The
metrics are those of ``model.metrics.classification_report`` (accuracy, macro-F1, the confusion
matrix with rows = gold label and columns = predicted label, in the version's label order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .data import DataError, Dataset
from .prediction import Prediction


def gold_indices(data: Dataset, labels: Sequence[str], label_names: Mapping[str, str], version: str) -> list[int]:
    """Each example's gold label as an index into ``labels``; raw labels are mapped through the
    version's ``label_names`` (``"1"`` -> ``"positive"``), as ``model.evaluate`` does."""
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


def scores(gold: Sequence[int], predicted: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and the confusion matrix (rows: gold, columns: predicted)."""
    k = len(labels)
    confusion = [[0] * k for _ in range(k)]
    for g, p in zip(gold, predicted, strict=True):
        confusion[g][p] += 1
    f1s = []
    for i in range(k):
        tp = confusion[i][i]
        predicted_i, actual_i = sum(row[i] for row in confusion), sum(confusion[i])
        precision = tp / predicted_i if predicted_i else 0.0
        recall = tp / actual_i if actual_i else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    n = len(gold)
    return {
        "examples": n,
        "accuracy": sum(confusion[i][i] for i in range(k)) / n if n else 0.0,
        "macro_f1": sum(f1s) / k,
        "labels": list(labels),
        "confusion_matrix": confusion,
    }


def compare(
    data: Dataset,
    gold: Mapping[str, Sequence[int]],
    predictions: Mapping[str, Sequence[Prediction]],
    labels: Mapping[str, Sequence[str]],
    max_listed: int,
) -> dict[str, Any]:
    """Each version's scores, and the examples where the versions' predicted labels differ: the
    first ``max_listed`` of them in the dataset's order, and how many there are in all."""
    versions = list(predictions)
    per_version = {}
    for v in versions:
        index = {name: i for i, name in enumerate(labels[v])}
        per_version[v] = scores(gold[v], [index[p.label] for p in predictions[v]], labels[v])
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
