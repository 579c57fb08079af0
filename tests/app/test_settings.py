"""app/settings.py: values that take more than a type check (the environment is cleaned per test)."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from app.settings import Settings


@pytest.mark.parametrize("value", ["auto", "AUTO", " auto ", "0", 0])
def test_training_threads_auto_means_every_core_of_the_process(monkeypatch, value):
    monkeypatch.setenv("SENTIMENT_TRAINING_THREADS", str(value))
    settings = Settings()
    assert settings.training_threads == 0
    assert settings.training_thread_count() == len(os.sched_getaffinity(0))
    assert Settings.from_child(settings.to_child()).training_thread_count() == len(os.sched_getaffinity(0))


def test_training_threads_can_be_a_number_and_nothing_else():
    assert Settings(training_threads=3).training_thread_count() == 3
    for bad in ("many", -1, 257):
        with pytest.raises(ValidationError, match="training_threads"):
            Settings(training_threads=bad)
