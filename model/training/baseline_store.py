"""Fitted baselines kept on disk, so that a second job on the same data reuses the first one's.

A baseline depends on nothing but the training and evaluation examples, the label names, its
settings and its code, and it draws no random numbers beyond a seeded sample: the same inputs
give the same fit. So its result (weights, chosen C, grid, metrics) is stored under a key that
hashes exactly those (``baseline_key``), and a job that finds the key reuses it instead of fitting
again. The code's part of the key is the SHA-256 of the source files the fit and the features are
made of: an edit to them is a new key, never a stale result read by new code.

Each entry is a folder ``<key>/`` of ``linear.safetensors`` (``LinearModel.tensors``), its
log-count-ratio scaled twin's ``nb_linear.safetensors`` where one was fitted, and ``result.json`` (``BaselineResult.to_dict`` and the n-gram settings), written aside and renamed
into place (``model.files.publishing``), so that a reader finds a whole entry or none. Two jobs
storing the same key at once store the same thing: the second rename loses, and that is fine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

from ..data import Dataset
from ..files import publishing, sweep
from ..inference.linear import LINEAR_FILE, LinearModel

log = logging.getLogger(__name__)
RESULT_FILE = "result.json"
KEEP = 16  # stored baselines kept, the most recently used (BaselineStore.prune)
NB_LINEAR_FILE = "nb_linear.safetensors"
_CODE = ("training/baseline.py", "training/sparse_linear.py", "text/tfidf.py", "inference/linear.py",
         "inference/scoring.py")


def code_version() -> str:
    """SHA-256 of the baseline's source files (fit, features, served model, metrics)."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for name in _CODE:
        h.update(name.encode() + b"\0" + (root / name).read_bytes())
    return h.hexdigest()


def _data_hash(data: Dataset) -> str:
    h = hashlib.sha256()
    h.update(data.task.encode() + b"\0")
    labels = ["\x1f".join(y) if isinstance(y, tuple) else str(y) for y in data.labels]
    for text, label in zip(data.texts, labels):
        h.update(len(text.encode()).to_bytes(8, "little") + text.encode())
        h.update(len(label.encode()).to_bytes(8, "little") + label.encode())
    return h.hexdigest()


def baseline_key(train_data: Dataset, dev_data: Dataset, label_names: dict[str, str] | None, config) -> str:
    """The key of a baseline fitted on these examples with these settings (``BaselineConfig``) and
    this code: equal keys, equal results."""
    parts = {
        "train": _data_hash(train_data),
        "eval": _data_hash(dev_data),
        "label_names": dict(sorted((label_names or {}).items())),
        "settings": dataclasses.asdict(config),
        "code": code_version(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class BaselineStore:
    """Fitted baselines in ``folder`` (the service keeps them in its data directory's ``baselines/``):
    the ``keep`` most recently used, so that a service that trains on dataset after dataset does not
    fill its volume with fits of data nobody trains on any more (one is a few MB per label; each
    new data set, evaluation set or setting is a new entry). Reading an entry marks it used."""

    def __init__(self, folder: str | Path, keep: int = KEEP):
        self.folder = Path(folder)
        self.keep = keep

    def get(self, key: str):
        """The stored ``BaselineResult`` for ``key`` (``reused`` True), or None when there is none or it
        cannot be read (then the job fits again, and says why in the log)."""
        from .baseline import BaselineResult

        entry = self.folder / key
        if not entry.is_dir():
            return None
        try:
            stored = json.loads((entry / RESULT_FILE).read_text(encoding="utf-8"))
            linear = LinearModel.load(entry / LINEAR_FILE, stored["linear"])
            nb_linear = LinearModel.load(entry / NB_LINEAR_FILE, stored["linear"]) if "nb" in stored["result"] else None
            os.utime(entry)  # used now: the last to be pruned
            return BaselineResult.from_dict(stored["result"], linear=linear, reused=True, nb_linear=nb_linear)
        except Exception as exc:  # a damaged entry is refitted, not fatal
            log.warning("stored baseline %s cannot be read (%s); fitting it again", entry, exc)
            return None

    def put(self, key: str, result) -> None:
        """Store ``result`` (a ``BaselineResult`` with its ``linear`` model) under ``key``. Storing is
        an economy, not the job's work: a failure to (a full disk, say) is logged, not raised."""
        entry = self.folder / key
        if entry.exists():
            return
        try:
            sweep(self.folder)  # what a killed job left half-written (its writer no longer running)
            with publishing(entry, folder=True) as tmp:
                result.linear.save(tmp / LINEAR_FILE)
                if result.nb is not None:
                    result.nb.linear.save(tmp / NB_LINEAR_FILE)
                stored = {"result": result.to_dict(), "linear": result.linear.settings()}
                (tmp / RESULT_FILE).write_text(json.dumps(stored) + "\n", encoding="utf-8")
        except OSError as exc:  # a full disk, or another job's rename first: the job goes on, unstored
            if not (entry / RESULT_FILE).is_file():
                log.warning("baseline %s not stored for reuse (%s); the job goes on", key[:12], exc)
        self.prune()

    def prune(self) -> list[str]:
        """Remove all but the ``keep`` most recently used entries; return the keys removed. An entry
        another job reads at that moment is fitted again there, with a warning: an economy lost."""
        entries = [e for e in self.folder.iterdir() if e.is_dir() and not e.name.startswith(".")] \
            if self.folder.is_dir() else []
        entries.sort(key=_used_at, reverse=True)
        for entry in entries[self.keep:]:
            shutil.rmtree(entry, ignore_errors=True)
            log.info("stored baseline %s removed (the %d most recently used are kept)", entry.name[:12], self.keep)
        return [e.name for e in entries[self.keep:]]


def _used_at(entry: Path) -> float:
    try:
        return entry.stat().st_mtime
    except OSError:  # removed meanwhile
        return 0.0


def fit_or_reuse(train_data: Dataset, dev_data: Dataset, label_names: dict[str, str] | None = None,
                 config=None, store: BaselineStore | None = None, should_stop=None, progress=None):
    """``fit_baseline``'s result, read from ``store`` when these data and settings were fitted before
    (``reused`` True; ``progress`` then hears one event, ``{"stage": "baseline", "step": n, "steps":
    n, "reused": True}``), else fitted and stored there. Without a store: fitted."""
    from .baseline import BaselineConfig, fit_baseline

    config = (config or BaselineConfig()).validate()
    key = baseline_key(train_data, dev_data, label_names, config) if store is not None else None
    if key is not None:
        stored = store.get(key)
        if stored is not None:
            log.info("baseline %s reused (fitted before in %.1f s)", key[:12], stored.seconds)
            if progress is not None:
                steps = 1 + len(config.c_grid) * (2 if stored.nb is not None else 1)
                progress({"stage": "baseline", "step": steps, "steps": steps, "reused": True})
            return stored
    result = fit_baseline(train_data, dev_data, label_names, config, should_stop, progress)
    if key is not None:
        store.put(key, result)
    return result
