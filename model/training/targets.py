"""Soft targets for the student: a teacher's logits, one row per training example.

The loss (Tang et al. 2019, eq. 3): ``alpha * cross_entropy(student, hard) + (1 - alpha) *
mse(student logits, teacher logits)``. Mean squared error between logits rather than KL between
softened probabilities: it keeps what the teacher's logit scale says (how far from the boundary
an example is) without a temperature to tune, as Tang et al. do. ``hard`` is the gold label where there is one, and the teacher's argmax for an
augmented text (which has none), as they do; ``alpha`` is the ``distill_alpha`` hyperparameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class SoftTargets:
    """``logits[i]`` is the teacher's view of training example ``i``; ``labels`` names its columns
    (raw labels, as in the data files), in whatever order the teacher used."""

    logits: torch.Tensor  # [examples, classes], float32
    labels: list[str]

    def aligned(self, examples: int, label_index: dict[str, int]) -> torch.Tensor:
        """The logits with columns in the student's class order (``label_index``: raw -> column)."""
        if self.logits.dim() != 2 or self.logits.shape[0] != examples:
            raise ValueError(
                f"soft targets have shape {tuple(self.logits.shape)}; expected ({examples}, "
                f"{len(self.labels)}): one row per training example"
            )
        if self.logits.shape[1] != len(self.labels) or sorted(self.labels) != sorted(label_index):
            raise ValueError(f"soft targets are for labels {self.labels}; the training data has {sorted(label_index)}")
        order = [self.labels.index(raw) for raw in sorted(label_index, key=label_index.get)]
        return self.logits[:, order].float().contiguous()


def distillation_loss(
    logits: torch.Tensor, hard: torch.Tensor, soft: torch.Tensor, alpha: float, hard_loss: torch.nn.Module
) -> torch.Tensor:
    """``alpha`` of the hard-label loss plus ``1 - alpha`` of the MSE to the teacher's logits."""
    soft_term = F.mse_loss(logits, soft)
    if alpha == 0.0:
        return soft_term
    return alpha * hard_loss(logits, hard) + (1.0 - alpha) * soft_term
