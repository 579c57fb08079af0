"""Classification metrics and probability calibration (temperature scaling)."""

from __future__ import annotations

import torch


def classification_report(logits: torch.Tensor, targets: torch.Tensor, labels: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix (rows = truth)."""
    k = len(labels)
    preds = logits.argmax(dim=1)
    confusion = torch.zeros(k, k, dtype=torch.long)
    confusion.index_put_((targets, preds), torch.ones_like(targets), accumulate=True)
    per_class, f1s = {}, []
    for i, label in enumerate(labels):
        tp = confusion[i, i].item()
        predicted, actual = confusion[:, i].sum().item(), confusion[i].sum().item()
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
        f1s.append(f1)
    n = len(targets)
    return {
        "n": n,
        "accuracy": (preds == targets).sum().item() / n if n else 0.0,
        "macro_f1": sum(f1s) / k,
        "per_class": per_class,
        "labels": list(labels),
        "confusion_matrix": confusion.tolist(),
        "loss": torch.nn.functional.cross_entropy(logits, targets).item() if n else 0.0,
        "ece": expected_calibration_error(logits, targets),
    }


def expected_calibration_error(logits: torch.Tensor, targets: torch.Tensor, bins: int = 15) -> float:
    """Mean |confidence - accuracy| over equal-width confidence bins, weighted by bin size."""
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


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """The temperature T minimising dev NLL of softmax(logits / T) (Guo et al. 2017)."""
    logits = logits.detach().float()
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), targets)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.exp().clamp(0.05, 20.0).item())
