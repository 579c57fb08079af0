"""How a batch of token-id sequences is laid out for a step-by-step recurrence (``model/numpy_rnn.py``).

NumPy only: no torch, so that the torch-free forward pass stays torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np


class PackedLayout:
    """Where each token of a batch goes in the recurrence: sorted by length, step by step.

    Sequences are sorted longest first (``order``: None when already so), so the ones running at
    step ``t`` are the first ``active[t]``; packed entry ``offsets[t] + b`` is token ``t`` of
    sorted sequence ``b`` (``ids``) for the forward direction. The backward direction reads
    sequence ``b`` from its end: at its entry ``k`` the token of forward entry ``reversed[k]``.
    ``cells``: where each packed entry sits in a ``[T, B]`` grid, flat (None when every sequence
    has ``T`` tokens: the packed entries are then the whole grid, in order).

    Arrays of per-entry rows are stored "in blocks": step ``t`` holds ``blocks`` consecutive
    blocks of ``active[t]`` rows (block ``j`` for gate ``j // D`` of direction ``j % D``), so that
    a step reads and writes contiguous ``[G, D, width, H]`` and ``[D, width, H]`` arrays.
    """

    def __init__(self, seqs: Sequence[Sequence[int]]):
        n = len(seqs)
        self.single = n == 1
        if self.single:  # one sequence: nothing to sort or mask
            self.ids = np.array(seqs[0], dtype=np.intp)
            steps = len(self.ids)
            if steps == 0:
                raise ValueError("every sequence needs at least one token id")
            self.order, self.cells, self.lengths = None, None, np.array([steps])
            self.active, self.offsets = [1] * steps, np.arange(steps)
            self.reversed = self.offsets[::-1]
            self.widths, self.seq = None, None
            return
        lengths = np.fromiter(map(len, seqs), dtype=np.intp, count=n)
        if lengths.min() < 1:
            raise ValueError("every sequence needs at least one token id")
        tokens = np.fromiter(chain.from_iterable(seqs), dtype=np.intp, count=int(lengths.sum()))
        order = np.argsort(-lengths, kind="stable")
        starts = (np.cumsum(lengths) - lengths)[order]  # where each sorted sequence's tokens begin
        self.order = None if (order[1:] > order[:-1]).all() else order
        self.lengths = lengths = lengths[order]
        steps = int(lengths[0])
        valid = np.arange(steps)[:, None] < lengths[None, :]  # [T, B]
        active = valid.sum(axis=1)
        self.offsets = np.zeros(steps, dtype=np.intp)
        np.cumsum(active[:-1], out=self.offsets[1:])
        step_pos, self.seq = np.nonzero(valid)  # step-major
        self.reversed = self.offsets[lengths[self.seq] - 1 - step_pos] + self.seq
        self.ids = tokens[starts[self.seq] + step_pos]
        self.widths = active[step_pos]
        self.active = active.tolist()
        self.cells = None if lengths[-1] == steps else step_pos * n + self.seq

    def blocks(self, blocks: int) -> np.ndarray:
        """``[N, blocks]``: the row, in blocks, of block ``j`` of packed entry ``k``."""
        n = len(self.ids)
        if self.single:
            return np.arange(n * blocks).reshape(n, blocks)
        start = np.arange(n) - self.seq  # offsets[t] of each entry's step
        return (start * blocks + self.seq)[:, None] + np.arange(blocks) * self.widths[:, None]

    def in_blocks(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` [N, blocks] (per packed entry and block) rearranged in blocks, flat."""
        if self.single:
            return rows.reshape(-1)
        arranged = np.empty(rows.size, dtype=np.intp)
        arranged[self.blocks(rows.shape[1]).reshape(-1)] = rows.reshape(-1)
        return arranged

    def runs(self, projected: np.ndarray, out: np.ndarray | None, gates: int, directions: int):
        """``(width, inputs, outputs)`` for each run of steps of one width: views of the arrays in
        blocks, ``inputs`` [steps, G, D, width, H] and ``outputs`` [steps, D, width, H] (None without ``out``)."""
        h_size, step, steps = projected.shape[1], 0, len(self.active)
        while step < steps:
            width, end = self.active[step], step + 1
            while end < steps and self.active[end] == width:
                end += 1
            first, last = int(self.offsets[step]), int(self.offsets[step]) + width * (end - step)
            inputs = projected[first * gates * directions : last * gates * directions]
            outputs = None if out is None else out[first * directions : last * directions]
            yield (
                width,
                inputs.reshape(end - step, gates, directions, width, h_size),
                None if outputs is None else outputs.reshape(end - step, directions, width, h_size),
            )
            step = end
