"""Predictions for token ids the server built itself (explanations, comparisons).

The same model call as a predict request: to the model process as one ``P`` request (it reads a
text longer than ``max_length`` in windows, and merges the request with whatever else waits for
it), or, when the model runs in this process, to the version's ``Predictor`` in a thread. The
caller checks the windows first (``model.windows.count_windows``), as predict does.
"""

from __future__ import annotations

import asyncio

from model.inference.prediction import Prediction

from .model_process.client import ModelProcess
from .registry import ServedVersion


async def predict_ids(model_process: ModelProcess | None, loaded: ServedVersion,
                      ids: list[list[int]]) -> list[Prediction]:
    """One prediction per id sequence (each non-empty), in order, by ``loaded``."""
    if model_process is not None:
        return await model_process.predict_ids(loaded, ids)
    return await asyncio.get_running_loop().run_in_executor(None, loaded.predictor.predict_ids, ids)
