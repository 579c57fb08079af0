"""Feedback: corrections people send for a model's predictions, kept as training data.

``POST /v1/models/{name}/feedback`` stores items ``{"text", "label" | "labels", "prediction_id"?}``,
checked against the model's labels and task, one per model and text: a later correction of the same
text replaces the earlier one (in one request, the last item wins). ``GET`` gives their counts and a
``dataset_id``: the corrections as a dataset (stored like an upload, content-addressed, so asking
twice without new feedback gives the same one), which a training job takes like any other, e.g.
warm-started from the active version and promoted if better. This module is the one owner of the
``feedback`` table.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..errors import InvalidInput
from ..store import Store, Transaction, now
from ..versions import Versions
from .datasets import DatasetStore


class Feedback:
    def __init__(self, store: Store, versions: Versions, datasets: DatasetStore):
        self.store, self.versions, self.datasets = store, versions, datasets

    @staticmethod
    def forget(db: Transaction, model: str) -> None:
        """Remove ``model``'s feedback in ``db``'s transaction (the model is being deleted:
        ``Versions.delete_model``), so that a new model of the same name starts without it."""
        db.execute("DELETE FROM feedback WHERE model = ?", (model,))

    def add(self, model: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Store ``items`` for ``model`` (all or none: every item is checked first)."""
        row = self.versions.model_row(model)  # a 404 naming an unknown model
        known, multi = set(row["labels"]), row["task"] == "multi_label"
        latest: dict[str, tuple[str, list[str], str | None]] = {}  # sha256 -> (text, labels, prediction_id)
        for i, item in enumerate(items):
            text = item["text"].strip()
            if not text:
                raise InvalidInput("text is empty", code="empty_text", field=f"items[{i}].text")
            if multi != (item.get("labels") is not None):
                want = "'labels' (a list, possibly empty)" if multi else "'label'"
                raise InvalidInput(f"{model!r} is {row['task'].replace('_', '-')}: give {want}",
                                   code="wrong_task", field=f"items[{i}]")
            labels = list(item["labels"]) if multi else [item["label"]]
            unknown = [label for label in labels if label not in known]
            if unknown:
                raise InvalidInput(f"label {unknown[0]!r} is not one of {model!r}'s labels "
                                   f"({', '.join(sorted(known))})", code="unknown_label",
                                   field=f"items[{i}].{'labels' if multi else 'label'}")
            latest[hashlib.sha256(text.encode()).hexdigest()] = (text, sorted(set(labels)), item.get("prediction_id"))
        with self.store.connect("storing feedback") as db:
            for digest, (text, labels, prediction_id) in latest.items():
                db.execute("INSERT INTO feedback (model, text_sha256, text, labels, prediction_id, created_at) "
                           "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (model, text_sha256) DO UPDATE SET "
                           "labels = excluded.labels, prediction_id = excluded.prediction_id, "
                           "created_at = excluded.created_at",
                           (model, digest, text, json.dumps(labels), prediction_id, now()))
        return {"model": model, "stored": len(latest), "items": self._count(model)}

    def _count(self, model: str) -> int:
        return self.store.one("SELECT COUNT(*) AS n FROM feedback WHERE model = ?", model)["n"]

    def summary(self, model: str) -> dict[str, Any]:
        """Counts, label counts, and the corrections as a dataset (None while there are none)."""
        row = self.versions.model_row(model)
        rows = self.store.all("SELECT text, labels FROM feedback WHERE model = ? ORDER BY created_at, text_sha256",
                              model)
        counts: dict[str, int] = {}
        for r in rows:
            for label in r["labels"]:
                counts[label] = counts.get(label, 0) + 1
        dataset_id = None
        if rows:
            multi = row["task"] == "multi_label"
            raw = "".join(json.dumps({"text": r["text"], "labels": r["labels"]} if multi else
                                     {"text": r["text"], "label": r["labels"][0]}) + "\n" for r in rows).encode()
            record, _ = self.datasets.add(raw, f"feedback-{model}.jsonl", "jsonl", "text", "label")
            dataset_id = record["id"]
        return {"model": model, "items": len(rows), "label_counts": dict(sorted(counts.items())),
                "dataset_id": dataset_id}

    def texts(self, model: str) -> set[str]:
        """The SHA-256 of every text ``model`` has feedback for (what to label next skips them)."""
        return {r["text_sha256"] for r in self.store.all("SELECT text_sha256 FROM feedback WHERE model = ?", model)}
