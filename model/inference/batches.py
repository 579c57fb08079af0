"""Turning token-id lists into padded batches and logits; shared by training and prediction."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import torch
from torch import nn


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``[batch, longest]`` ids padded with ``pad_id``, and the lengths (one tensor op per batch, not per row)."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    ids = torch.full((len(seqs), int(lengths.max())), pad_id, dtype=torch.long)
    ids[torch.arange(ids.shape[1]) < lengths.unsqueeze(1)] = torch.tensor(
        list(chain.from_iterable(seqs)), dtype=torch.long
    )
    return ids, lengths


def batched_logits(
    model: nn.Module, seqs: Sequence[Sequence[int]], batch_size: int, pad_id: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Logits for every sequence, in input order, computed in length-sorted batches.

    Sorting by length keeps padding (wasted work) small; the caller decides train/eval mode and
    grad mode.
    """
    if not seqs:
        return torch.empty(0, model.config.num_classes)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out = torch.empty(len(seqs), model.config.num_classes)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        ids, lengths = pad_batch([seqs[i] for i in idx], pad_id)
        out[idx] = model(ids.to(device), lengths).float().cpu()
    return out
