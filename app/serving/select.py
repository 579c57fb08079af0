"""What to label next: ``POST /v1/models/{name}/select`` picks ``k`` texts of a dataset to label.

The model's served version predicts every text through the prediction path (as a comparison does:
``compare.py``, requests of ``SENTIMENT_MAX_BATCH_SIZE`` texts, so online predictions go on), then:

- ``uncertainty``: the texts it is least sure of: the smallest margin between its two most probable
  labels (multi-label: the label closest to its threshold). Labelling them teaches it most where
  it errs, usually; ``benchmarks/select_loop.py`` measures whether it beats random on data the model
  was not trained on, and docs/http-api.md says what it found.
- ``random``: a seeded uniform sample: the honest baseline, and an unbiased estimate of accuracy.
- ``diverse``: the most uncertain, spread over the labels they are predicted as (in turn, each
  label's most uncertain first), so that one confusing region does not take all ``k``.

Texts the model already has feedback for are skipped. At most ``SENTIMENT_MAX_COMPARE_EXAMPLES``
texts are read (a larger dataset is a 422: select from a sample).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from typing import Any

from model.inference.prediction import Prediction
from model.inference.windows import count_windows

from ..errors import LimitExceeded, NotFound
from .inference import Inference

STRATEGIES = ("uncertainty", "random", "diverse")


def uncertainty(prediction: Prediction, thresholds: list[float] | None) -> float:
    """How unsure a prediction is, 0 (sure) to 1: one minus the margin between the two most
    probable labels; multi-label: one minus twice the distance of the closest label to its threshold."""
    values = list(prediction.probabilities.values())
    if prediction.labels is not None:  # multi-label
        limits = thresholds or [0.5] * len(values)
        return 1.0 - min(2 * abs(p - t) for p, t in zip(values, limits))
    top = sorted(values, reverse=True)
    return 1.0 - (top[0] - (top[1] if len(top) > 1 else 0.0))


def choose(scored: list[tuple[float, int, Prediction]], k: int, strategy: str, seed: int = 0) -> list:
    """``k`` of ``scored`` (uncertainty, index, prediction) by ``strategy``; the benchmark of the
    labelling loop (``benchmarks/select_loop.py``) calls this too."""
    if strategy == "random":
        return random.Random(seed).sample(scored, min(k, len(scored)))
    scored = sorted(scored, key=lambda s: (-s[0], s[1]))
    if strategy == "uncertainty":
        return scored[:k]
    by_label: dict[str, list] = {}  # diverse: in turn over the predicted labels, each label's most uncertain first
    for entry in scored[: 5 * k]:
        p = entry[2]
        by_label.setdefault(p.label if p.label is not None else "|".join(p.labels or []), []).append(entry)
    queues = sorted(by_label.values(), key=lambda q: -q[0][0])
    chosen: list = []
    while len(chosen) < k and any(queues):
        for queue in queues:
            if queue and len(chosen) < k:
                chosen.append(queue.pop(0))
    return chosen


async def select(inference: Inference, datasets: Any, skip: set[str], model: str, dataset_id: str, k: int,
                 strategy: str, seed: int) -> dict[str, Any]:
    served = await inference.served(model)
    record = await asyncio.to_thread(datasets.get, dataset_id)
    if record is None:
        raise NotFound(f"dataset {dataset_id!r} not found", field="dataset_id")
    limit = inference.settings.max_compare_examples
    if record["summary"]["examples"] > limit:
        raise LimitExceeded(f"dataset {dataset_id} has {record['summary']['examples']} texts; at most {limit} are "
                            "read (SENTIMENT_MAX_COMPARE_EXAMPLES): select from a sample", code="too_many_examples",
                            field="dataset_id")
    texts = (await asyncio.to_thread(datasets.load, record)).texts
    candidates = [i for i, t in enumerate(texts) if hashlib.sha256(t.encode()).hexdigest() not in skip]
    ids = await inference.model_process.in_tokenizing_thread(served.encode, [texts[i] for i in candidates], True)
    windows = count_windows([len(x) for x in ids], served.tokenizer.max_length)
    if windows > limit:
        raise LimitExceeded(f"dataset {dataset_id}'s texts are read in {windows} windows; at most {limit}",
                            code="too_many_windows", field="dataset_id")
    predictions = await inference.predict_all(served, ids, [texts[i] for i in candidates])
    chosen = choose([(uncertainty(p, served.thresholds), i, p) for i, p in zip(candidates, predictions)], k,
                    strategy, seed)
    items = []
    for score, i, p in chosen:
        item = {"index": i, "text": texts[i], "uncertainty": round(score, 6), "probabilities": p.probabilities}
        item |= {"labels": p.labels} if p.labels is not None else {"label": p.label, "score": p.score}
        items.append(item)
    return {"model": served.model, "model_version": served.version, "strategy": strategy,
            "candidates": len(candidates), "items": items}
