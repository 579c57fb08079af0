"""Texts longer than the model's window: where the windows go, how they are combined, and that a
review whose verdict comes last is judged by it (with the bundled model)."""

from __future__ import annotations

import numpy as np
import pytest

from model import Predictor
from model.inference.windows import MAX_WINDOWS, combine_logits, split_windows, window_starts
from tests.support.long_reviews import BUNDLED, ENDING_MATTERS


@pytest.mark.parametrize("length", [1, 10, 64])
def test_a_text_that_fits_is_one_window(length):
    assert window_starts(length, 64) == [0]


@pytest.mark.parametrize("length", [65, 96, 97, 100, 300, 1000, 64 + 63 * 32])  # the last: MAX_WINDOWS windows
def test_windows_cover_the_text_in_steps_of_at_most_half_a_window(length):
    starts = window_starts(length, 64)
    assert starts[0] == 0 and starts[-1] == length - 64  # the start and the end are read
    steps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(1 <= step <= 32 for step in steps)
    assert len(starts) == -(-(length - 64) // 32) + 1  # no more windows than that needs


def test_the_windows_per_text_are_capped_and_spread_over_the_whole_text():
    starts = window_starts(100_000, 256)
    assert len(starts) == MAX_WINDOWS == 64
    assert starts[0] == 0 and starts[-1] == 100_000 - 256
    assert window_starts(1000, 64, max_windows=3) == [0, 468, 936]


def test_split_keeps_texts_that_fit_as_they_are():
    short, long = [1, 2, 3], list(range(100))
    windows, counts = split_windows([short, long, short], 64)
    assert counts == [1, 3, 1]
    assert windows == [short, long[0:64], long[18:82], long[36:100], short]


def test_combination_is_the_mean_of_each_texts_logits():
    logits = np.array([[1.0, 2.0], [0.0, 4.0], [2.0, 0.0], [-6.0, 3.0]], dtype=np.float32)
    assert np.array_equal(combine_logits(logits, [1, 2, 1]), np.array([[1.0, 2.0], [1.0, 2.0], [-6.0, 3.0]]))
    assert combine_logits(logits, [1, 1, 1, 1]) is logits  # one window each: untouched


@pytest.fixture(scope="module")
def bundled() -> Predictor:
    return Predictor.load(BUNDLED)


@pytest.mark.parametrize(("text", "label"), ENDING_MATTERS)
def test_a_review_is_judged_by_its_ending(bundled, text, label):
    (ids,) = bundled.encode([text])
    assert len(ids) > 300 and bundled.bundle.tokenizer.max_length == 256
    (prediction,) = bundled.predict([text])
    assert prediction.label == label and prediction.windows >= 2
    # read as before, cut at max_length, the verdict is never seen and the plot summary decides
    (truncated,) = bundled.bundle.tokenizer.encode_batch([text])
    assert truncated == ids[:256]
    first_window = dict(zip(bundled.labels, bundled.predict_proba_ids([truncated])[0].tolist()))
    assert first_window[label] < 0.5
