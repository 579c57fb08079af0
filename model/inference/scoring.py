"""Scoring predictions against gold labels: one report for training, ``evaluate`` and ``compare``.

``classification_report`` works on plain label indices (lists or numpy arrays), so the web server
can score predictions its model process made without importing torch. ``logits_report`` adds what
only logits can say (cross-entropy loss, expected calibration error); it imports torch when called.
The confusion matrix has rows = gold label, columns = predicted label, in the model's label order.

A multi-label model is scored by ``multi_label_report`` instead: micro- and macro-averaged F1,
subset accuracy (every label of the text right) and each label's precision, recall, F1, support and
threshold. It has no accuracy or confusion matrix: a text may have several labels or none.
``best_thresholds`` chooses each label's threshold on the dev set after training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..data import DataError, Dataset, load_dataset
from .prediction import Prediction

if TYPE_CHECKING:
    import numpy as np
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


THRESHOLD_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05, 0.10, ..., 0.95


def multi_label_report(
    probs: np.ndarray, gold: np.ndarray, labels: Sequence[str], thresholds: Sequence[float]
) -> dict[str, Any]:
    """Scores of multi-label predictions: ``probs`` [texts, labels] sigmoid probabilities, ``gold`` the
    same shape, true where the text has the label; a label is predicted at or above its threshold."""
    import numpy as np

    gold = np.asarray(gold, dtype=bool)
    predicted = np.asarray(probs) >= np.asarray(thresholds, dtype=np.float64)[None, :]
    tp = (predicted & gold).sum(axis=0)
    fp = (predicted & ~gold).sum(axis=0)
    fn = (~predicted & gold).sum(axis=0)
    per_label = {}
    for j, label in enumerate(labels):
        precision, recall, f1 = _precision_recall_f1(int(tp[j]), int(fp[j]), int(fn[j]))
        per_label[label] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": int(gold[:, j].sum()),
            "threshold": float(thresholds[j]),
        }
    n = len(gold)
    return {
        "task": "multi_label",
        "n": n,
        "micro_f1": _precision_recall_f1(int(tp.sum()), int(fp.sum()), int(fn.sum()))[2],
        "macro_f1": sum(v["f1"] for v in per_label.values()) / len(labels),
        "subset_accuracy": float((predicted == gold).all(axis=1).mean()) if n else 0.0,
        "per_label": per_label,
        "labels": list(labels),
    }


def multi_label_logits_report(
    logits: torch.Tensor, targets: torch.Tensor, labels: Sequence[str], thresholds: Sequence[float]
) -> dict[str, Any]:
    """``multi_label_report`` of sigmoid(logits), plus the mean binary cross-entropy (``loss``)."""
    import torch

    report = multi_label_report(torch.sigmoid(logits.float()).numpy(), targets.bool().numpy(), labels, thresholds)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), targets.float())
    report["loss"] = loss.item() if len(targets) else 0.0
    return report


def best_thresholds(probs: np.ndarray, gold: np.ndarray, grid: Sequence[float] = THRESHOLD_GRID) -> list[float]:
    """Each label's threshold from ``grid`` with the best F1 on (``probs``, ``gold``): a rare label often
    needs a lower one than 0.5, a noisy one a higher. Equal F1s go to the threshold nearest 0.5; a
    label without positives here keeps 0.5 (nothing to choose by)."""
    import numpy as np

    probs, gold = np.asarray(probs), np.asarray(gold, dtype=bool)
    chosen = []
    by_distance = sorted(grid, key=lambda t: (abs(t - 0.5), t))
    for j in range(probs.shape[1]):
        if not gold[:, j].any():
            chosen.append(0.5)
            continue
        scores = {}
        for t in by_distance:
            predicted = probs[:, j] >= t
            tp = int((predicted & gold[:, j]).sum())
            scores[t] = _precision_recall_f1(tp, int(predicted.sum()) - tp, int(gold[:, j].sum()) - tp)[2]
        chosen.append(max(by_distance, key=scores.__getitem__))  # the first best: nearest 0.5
    return chosen


def _precision_recall_f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def multi_hot(data: Dataset, labels: Sequence[str], label_names: Mapping[str, str], known_by: str) -> list[list[int]]:
    """Each example's labels as 0/1 per label of ``labels``; raw labels are mapped through ``label_names``.
    A single-label dataset is read as one label per text. ``known_by`` names what knows ``labels``
    (for the error on a label it does not know)."""
    index = {name: i for i, name in enumerate(labels)}
    out = []
    for i, raw in enumerate(data.labels):
        row = [0] * len(labels)
        for name in raw if isinstance(raw, tuple) else (raw,):
            j = index.get(label_names.get(name, name))
            if j is None:
                line = data.lines[i] if data.lines else None
                raise DataError(data.source, line, f"label {name!r} is not one {known_by} knows ({', '.join(labels)})")
            row[j] = 1
        out.append(row)
    return out


def gold_indices(data: Dataset, labels: Sequence[str], label_names: Mapping[str, str], version: str) -> list[int]:
    """Each example's gold label as an index into ``labels``; raw labels are mapped through the
    version's ``label_names`` (``"1"`` -> ``"positive"``). Single-label data only: ``compare`` scores
    one predicted label per text."""
    if data.task == "multi_label":
        raise DataError(
            data.source, None, "has a 'labels' column (multi-label): comparing versions is for single-label data"
        )
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
    """Metrics of ``predictor`` on ``data``; raw labels are mapped through the model's label_names.
    A multi-label model is scored with ``multi_label_report`` at its thresholds (a single-label
    dataset reads as one label per text); a single-label model cannot score multi-label data."""
    import torch

    config = predictor.config
    if config.task == "multi_label":
        gold = torch.tensor(multi_hot(data, config.labels, config.label_names, "the model"), dtype=torch.float32)
        probs = torch.from_numpy(predictor.predict_proba(data.texts)).double().clamp(1e-12, 1 - 1e-12)
        return multi_label_logits_report(torch.logit(probs).float(), gold, config.labels, predictor.thresholds)
    if data.task == "multi_label":
        raise DataError(
            data.source, None, "has a 'labels' column (multi-label) but the model is single-label: it names one label"
        )
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
    keys: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """Each version's scores (accuracy, macro-F1, confusion matrix), and the examples where the
    versions' predicted labels differ: the first ``max_listed`` of them in the dataset's order, and
    how many there are in all. ``keys``: each version's labels -> what they are matched on across
    versions (by default the label itself; versions naming the same labels differently map them
    to their raw dataset labels). Plain Python: the predictions were made elsewhere."""
    versions = list(predictions)
    keys = keys or {v: {label: label for label in labels[v]} for v in versions}
    per_version = {}
    for v in versions:
        index = {name: i for i, name in enumerate(labels[v])}
        report = classification_report(gold[v], [index[p.label] for p in predictions[v]], labels[v])
        per_version[v] = {"examples": report["n"], **{k: report[k] for k in ("accuracy", "macro_f1", "labels",
                                                                              "confusion_matrix")}}
    disagreements, total = [], 0
    first = versions[0]
    for i, text in enumerate(data.texts):
        if all(keys[v][predictions[v][i].label] == keys[first][predictions[first][i].label] for v in versions[1:]):
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
