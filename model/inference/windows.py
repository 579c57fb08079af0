"""Reading a text longer than the model's window: overlapping windows, one prediction.

The network was trained on texts of at most ``max_length`` tokens (``TokenizerConfig``), and a
review's verdict often comes last ("... and yet, by the end, I loved it"). So a longer text is
not cut at ``max_length`` but read in windows of ``max_length`` tokens:

* **Where the windows start.** The first window starts at the first token, the last one ends at
  the last token, and the others are spread evenly between them, each step at most half a window
  (the stride). Every window is a full ``max_length`` tokens, so each reads as much context as a
  training example could have; with steps of half a window every token past the first half
  window is read twice, and a sentence shorter than half a window (128 tokens for the bundled
  model: nearly all of them) is whole in at least one window, whichever boundary cuts it. A
  smaller step would read each token more often for little more; no overlap would cut sentences.
* **At most ``MAX_WINDOWS`` per text**, so that one request cannot cost unbounded model time:
  past that, the windows are spread evenly over the whole text with longer steps (the start and
  the end are always read; past ``MAX_WINDOWS`` x ``max_length`` tokens the windows no longer
  touch, and what lies between them is skipped).
* **How they are combined: the mean of the windows' logits**, then the model's temperature and a
  softmax, as for one window. A window whose wording is strong has logits far from zero and
  outweighs windows of neutral plot summary, whose logits sit near zero, where a mean of
  probabilities would pull every verdict towards 0.5 in proportion to the filler around it. In
  probabilities it is the normalised geometric mean of the windows' distributions. All windows
  have the same length, so a length-weighted mean would be the same. A text that fits in one
  window is read exactly as before (same ids, same logits, same probabilities).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # NumPy is imported where logits are combined: the web server counts windows without it
    import numpy as np

# One text of SENTIMENT_MAX_TEXT_CHARS (10,000) characters is at most ~10,000 tokens (one per
# punctuation mark), 78 windows of 256 at half-window steps; ordinary prose needs far fewer.
# 64 windows (the model work of 64 texts of max_length tokens) bound a maximal request
# (256 such texts) to 16,384 windows, and still read every token of any text up to 64 x 256 =
# 16,384 tokens (the windows touch or overlap up to there).
MAX_WINDOWS = 64


def window_starts(length: int, max_length: int, max_windows: int = MAX_WINDOWS) -> list[int]:
    """Where the windows of a text of ``length`` tokens start (``[0]`` when it fits in one)."""
    if length <= max_length:
        return [0]
    span = length - max_length  # the last window starts here
    stride = max(max_length // 2, 1)
    count = min(-(-span // stride) + 1, max_windows)  # ceil(span / stride) steps, plus the first window
    if count == 1:
        return [0]
    return [round(i * span / (count - 1)) for i in range(count)]


def count_windows(lengths: Sequence[int], max_length: int, max_windows: int = MAX_WINDOWS) -> int:
    """How many windows texts of these token ``lengths`` are read in, together (a request's cost)."""
    return sum(1 if n <= max_length else len(window_starts(n, max_length, max_windows)) for n in lengths)


def split_windows(
    seqs: Sequence[Sequence[int]], max_length: int, max_windows: int = MAX_WINDOWS
) -> tuple[list[Sequence[int]], list[int]]:
    """Every text's windows, in order, and how many each text has (texts that fit: themselves, 1)."""
    windows: list[Sequence[int]] = []
    counts: list[int] = []
    for ids in seqs:
        if len(ids) <= max_length:
            windows.append(ids)
            counts.append(1)
            continue
        starts = window_starts(len(ids), max_length, max_windows)
        windows.extend(ids[start : start + max_length] for start in starts)
        counts.append(len(starts))
    return windows, counts


def combine_logits(window_logits: np.ndarray, counts: Sequence[int]) -> np.ndarray:
    """``[texts, classes]``: the mean of each text's consecutive rows of ``window_logits``."""
    import numpy as np

    if len(counts) == window_logits.shape[0]:  # one window each: the logits as they are
        return window_logits
    ends = np.cumsum(counts)
    sums = np.add.reduceat(window_logits, ends - np.asarray(counts), axis=0)
    return sums / np.asarray(counts, dtype=window_logits.dtype)[:, None]
