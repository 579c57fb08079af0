"""Probability calibration: temperature scaling fitted on the dev set after training."""

from __future__ import annotations

import torch


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
