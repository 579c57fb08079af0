"""Two model versions side by side on an uploaded (held-out) dataset: metrics, and where they disagree.

Each version predicts every example through the same path as a predict request (``inference.py``):
the server tokenises with the version's tokenizer and sends the ids in requests of at most
``SENTIMENT_MAX_BATCH_SIZE`` texts and ``SENTIMENT_MAX_WINDOWS_PER_REQUEST`` windows, one after
the other, so that predict requests arriving meanwhile share the model's calls instead of
waiting behind the whole dataset. A version that is not the served one is loaded next to it
for the comparison and dropped after (``ModelProcess.borrowed``): serving goes on with the served
version throughout, and the model process holds at most one extra version at a time, as the
versions are compared one after the other and one comparison runs at a time per server process.

Bounded: at most ``SENTIMENT_MAX_COMPARE_EXAMPLES`` examples, a text longer than the model's window
counting once per window; a larger dataset is a 422 (compare a held-out sample: a prefix of a file
is rarely a fair one). At most ``MAX_LISTED_DISAGREEMENTS`` disagreements are listed, in the
dataset's order; ``disagreements_total`` counts them all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from model.data import Dataset
from model.inference.prediction import Prediction
from model.inference.scoring import compare, gold_indices
from model.inference.windows import count_windows

from ..errors import InvalidInput, LimitExceeded, NotFound
from .inference import Inference, ServedVersion

MAX_LISTED_DISAGREEMENTS = 100


async def compare_versions(inference: Inference, datasets: Any, dataset_id: str, model: str,
                           versions: list[str]) -> dict[str, Any]:
    """``{"dataset_id", "examples", "versions": {v: scores}, "disagreements", "disagreements_total"}``;
    a version is ``model``'s (``v2``) or another model's (``other/v3``)."""
    settings = inference.settings
    limit = settings.max_compare_examples
    await _run(inference.versions.model_row, model)  # a 404 for an unknown model first
    data = await _run(_load_dataset, datasets, dataset_id, limit)
    loaded: dict[str, ServedVersion] = {}
    for version in versions:  # every version is checked before any model time is spent
        name, _, number = version.rpartition("/")
        name = name or model
        current = inference.models.get(name)
        loaded[version] = current if current is not None and current.version == number else \
            await _run(inference.load, name, number)
    first, *others = versions
    keys = _label_keys({v: loaded[v] for v in versions})
    gold = {v: gold_indices(data, loaded[v].labels, loaded[v].label_names, v) for v in versions}
    ids: dict[str, list[list[int]]] = {}
    for version in versions:
        served = loaded[version]
        ids[version] = await _run(served.encode, data.texts, True)
        windows = count_windows([len(x) for x in ids[version]], served.tokenizer.max_length)
        if windows > limit:
            raise LimitExceeded(f"dataset {dataset_id}'s {len(data)} examples are read in {windows} windows of "
                                f"{served.tokenizer.max_length} tokens by version {version!r}; at most {limit} "
                                "(SENTIMENT_MAX_COMPARE_EXAMPLES, a long text counting once per window): upload "
                                "fewer or shorter texts", code="too_many_windows", field="dataset_id")
    predictions: dict[str, list[Prediction]] = {}
    for version in versions:  # one after the other: at most one version loaded besides the served one
        async with inference.model_process.borrowed(loaded[version]):
            predictions[version] = await inference.predict_all(loaded[version], ids[version], data.texts)
    result = compare(data, gold, predictions, {v: loaded[v].labels for v in versions}, MAX_LISTED_DISAGREEMENTS,
                     keys=keys)
    matched_by = "name" if all(k == label for v in versions for label, k in keys[v].items()) else "label_names"
    return {"dataset_id": dataset_id, **result, "labels_matched_by": matched_by,
            "label_mapping": keys if matched_by == "label_names" else None}


def _label_keys(loaded: dict[str, ServedVersion]) -> dict[str, dict[str, str]]:
    """Each version's labels, each with the key it is matched on across the versions: the label
    itself when every version has the same labels; otherwise the raw dataset label it was named
    from (the inverse of the version's ``label_names``: a version trained on 0/1 data and one
    trained on the same data with ``label_names`` {"0": "negative", "1": "positive"} predict the
    same things under different names). Versions whose labels match neither way: a 422."""
    names = {v: {label: label for label in served.labels} for v, served in loaded.items()}
    if len({frozenset(keys) for keys in names.values()}) == 1:
        return names
    raw = {}
    for v, served in loaded.items():
        inverse = {name: label for label, name in served.label_names.items()}
        raw[v] = {label: inverse.get(label, label) for label in served.labels}
    if len({frozenset(keys.values()) for keys in raw.values()}) == 1 and \
            all(len(set(keys.values())) == len(keys) for keys in raw.values()):
        return raw
    described = "; ".join(f"{v!r}: {', '.join(f'{label} (from {key!r})' if key != label else label for label, key in raw[v].items())}"
                          for v in loaded)
    raise InvalidInput(f"the versions have different labels, by name and through their label_names ({described}): "
                       "their predictions cannot be compared", code="labels_differ", field="versions")


def _load_dataset(datasets: Any, dataset_id: str, limit: int) -> Dataset:
    """The dataset, once its upload summary says it is within ``limit`` examples (a larger one is
    refused without being parsed again)."""
    record = datasets.get(dataset_id)
    if record is None:
        raise NotFound(f"dataset {dataset_id!r} not found")
    if record["summary"].get("task") == "unlabelled":
        raise InvalidInput(f"dataset {dataset_id} has no labels, only texts: a comparison scores the versions "
                           "against each text's label", code="dataset_unlabelled", field="dataset_id")
    examples = record["summary"]["examples"]
    if examples > limit:
        raise LimitExceeded(f"dataset {dataset_id} has {examples} examples; at most {limit} are compared "
                            "(SENTIMENT_MAX_COMPARE_EXAMPLES): upload a held-out sample", code="too_many_examples",
                            field="dataset_id")
    return datasets.load(record)


async def _run(function: Callable, *args):
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)
