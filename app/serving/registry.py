"""Model versions: the read-only bundled model plus bundles written by training jobs.

The served version is one reference (``registry.current``). Activation loads the new version
first, then swaps the reference: requests already holding the old one finish on it, new ones get
the new one, and a version that fails to load never replaces a working one.

What the server process holds of a version is light: its labels and its tokenizer (the server
tokenises; the model process runs the network). Only when the model runs inside the server
process (``SENTIMENT_INFERENCE_PROCESS=false`` or ``SENTIMENT_BATCHING=false``) does a version
carry a ``Predictor``, and only then does this process import torch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.bundle import BundleError, check_files, load_tokenizer, read_config
from model.config import TokenizerConfig
from model.inference.windows import count_windows
from model.text.scripts import TrainedScripts, trained_scripts

from ..errors import LimitExceeded, NotFound
from ..settings import Settings
from ..store import BUNDLED, Store, now

log = logging.getLogger(__name__)


class VersionNotFound(NotFound, LookupError):
    pass


@dataclass(frozen=True)
class ServedVersion:
    """A loaded version: ``encode`` turns texts into the token ids its network reads."""

    version: str
    path: Path
    labels: list[str]
    tokenizer: Any  # model.tokenizer.TextTokenizer
    predictor: Any = None  # model.Predictor, only when the model runs in this process
    trained_on: TrainedScripts | None = None  # the scripts it was trained on: predictions warn about others

    def encode(self, texts: list[str], library_only: bool = False) -> list[list[int]]:
        """Every token id of each text, not cut at ``max_length``: the model process reads a longer
        text in overlapping windows of it."""
        return self.tokenizer.encode_batch(texts, library_only=library_only, truncate=False)

    def check_windows(self, ids: list[list[int]], limit: int) -> None:
        """Refuse a request whose texts would be read in more than ``limit`` windows (its model time)."""
        windows = count_windows([len(x) for x in ids], self.tokenizer.max_length)
        if windows > limit:
            raise LimitExceeded(
                f"these texts are read in {windows} windows of {self.tokenizer.max_length} tokens; at most {limit} "
                "per request (SENTIMENT_MAX_WINDOWS_PER_REQUEST): send fewer or shorter texts per request",
                code="too_many_windows")


class ModelRegistry:
    def __init__(self, settings: Settings, store: Store, in_process: bool | None = None):
        self.settings = settings
        self.store = store
        self.models_dir = settings.data_dir / "models"
        # Does this process run the network itself (load a Predictor per version)?
        self.in_process = (not (settings.batching and settings.inference_process)) if in_process is None else in_process
        self.current: ServedVersion | None = None
        self._lock = threading.Lock()  # one activation at a time
        self._verified: dict[str, tuple] = {}  # bundle path -> its files' (size, mtime) when checksums matched
        # Called (in the activating thread) with a loaded version before it is served; raising
        # stops the activation. The model process uses it to load the version too.
        self.prepare: Callable[[ServedVersion], None] | None = None
        self.on_swap: Callable[[ServedVersion], None] | None = None  # after it is served

    def bootstrap(self) -> None:
        """Record the bundled model as version ``bundled`` (its path may change between runs)."""
        self.models_dir.mkdir(parents=True, exist_ok=True)
        path = str(self.settings.model_dir)
        # One statement, not a look then an insert: replicas starting together on one new PostgreSQL
        # database raced between the two, and the loser stopped on the primary key (tests/e2e/test_scale_out.py).
        if not self.store.insert("models", on_conflict_ignore=True, version=BUNDLED, path=path, source="bundled",
                                 metrics={}, created_at=now(), seq=0):
            self.store.update("models", "version", BUNDLED, path=path)

    # -- reading ---------------------------------------------------------------------------
    def active_version(self) -> str:
        return self.store.active_version()

    def _row(self, version: str) -> dict:
        row = self.store.one("SELECT * FROM models WHERE version = ?", version)
        if row is None:
            raise VersionNotFound(f"model version {version!r} not found")
        return row

    def describe(self, version: str) -> dict:
        row = self._row(version)
        return self._describe(row, self.active_version())

    def list(self) -> list[dict]:
        active = self.active_version()
        rows = self.store.all("SELECT * FROM models ORDER BY seq DESC")
        return [self._describe(r, active) for r in rows]

    def _describe(self, row: dict, active: str) -> dict:
        info = {
            "version": row["version"], "active": row["version"] == active, "source": row["source"],
            "read_only": row["source"] == "bundled", "created_at": row["created_at"],
            "job_id": row["job_id"], "dataset_id": row["dataset_id"],
        }
        try:
            config = read_config(row["path"])
            self._verify(Path(row["path"]), config)
        except BundleError as exc:
            return {**info, "status": "unavailable", "error": self.settings.public_text(str(exc))}
        training = config.get("training", {})
        metrics = training.get("metrics", {})
        return {
            **info, "status": "ready", "labels": config["model"]["labels"],
            "config": {"model": config["model"], "tokenizer": config.get("tokenizer", {}),
                       "train": training.get("train_config", {})},
            # dev-set metrics from training (the confusion matrix: rows gold, columns predicted, in ``labels`` order)
            "metrics": {k: metrics[k] for k in ("accuracy", "macro_f1", "n", "labels", "confusion_matrix")
                        if k in metrics} | row["metrics"],
            "bundle_created_at": config.get("created_at"),
        }

    def _verify(self, path: Path, config: dict) -> None:
        """Checksums of the bundle's files, computed again only when a file's size or time changed
        (versions never change once published, so a listing hashes each bundle once)."""
        try:
            stamp = tuple((st.st_size, st.st_mtime_ns) for st in (p.stat() for p in sorted(path.iterdir())))
        except OSError as exc:
            raise BundleError(f"{path}: cannot be read ({exc.strerror})") from None
        if self._verified.get(str(path)) != stamp:
            check_files(path, config)
            self._verified[str(path)] = stamp

    # -- loading and activation -------------------------------------------------------------
    def load(self, version: str) -> ServedVersion:
        path = Path(self._row(version)["path"])
        if self.in_process:
            from model import Predictor  # imports torch: only for a server that runs the model itself

            predictor = Predictor.load(path, quantize=self.settings.quantize)
            bundle = predictor.bundle
            trained = trained_scripts(bundle.training, bundle.tokenizer_config.tokenizer,
                                      bundle.tokenizer.tokenizer.get_vocab())
            return ServedVersion(version, path, predictor.labels, bundle.tokenizer, predictor, trained)
        tokenizer, config = load_tokenizer(path)
        # builds the tokenizer's untruncated copy (~40 ms) now, not on the event loop at the
        # first non-ASCII request (the server sends the model process every id of a text)
        tokenizer.encode_batch(["warm up"], library_only=True, truncate=False)
        trained = trained_scripts(config.get("training") or {}, TokenizerConfig.from_dict(config.get("tokenizer", {})).tokenizer,
                                  tokenizer.tokenizer.get_vocab())
        return ServedVersion(version, path, list(config["model"]["labels"]), tokenizer, trained_on=trained)

    def _load_prepared(self, version: str) -> ServedVersion:
        """``load``, then ``prepare``: both raise before anything changes."""
        loaded = self.load(version)
        if self.prepare is not None:
            self.prepare(loaded)
        return loaded

    def _serve(self, loaded: ServedVersion) -> None:
        """Make ``loaded`` the served version (the caller holds the lock and has prepared it)."""
        self.current = loaded
        if self.on_swap is not None:
            self.on_swap(loaded)

    def load_active(self) -> ServedVersion:
        """At start-up: the recorded active version (the bundled one if none was chosen)."""
        version = self.active_version()
        try:
            self.current = self.load(version)
        except (BundleError, VersionNotFound) as exc:
            if version == BUNDLED:
                raise
            log.error("active version %s cannot be loaded (%s); serving %s instead", version, exc, BUNDLED)
            self.current = self.load(BUNDLED)
            self.store.set_active_version(BUNDLED)
        return self.current

    def activate(self, version: str) -> ServedVersion:
        with self._lock:
            loaded = self._load_prepared(version)
            self.store.set_active_version(version)
            self._serve(loaded)
        log.info("activated model version %s", version)
        return loaded

    def sync(self) -> bool:
        """Follow an activation made by another server process; True when the version changed."""
        version = self.active_version()
        if self.current is not None and version == self.current.version:
            return False
        with self._lock:
            if self.current is not None and version == self.current.version:
                return False
            self._serve(self._load_prepared(version))
        log.info("now serving model version %s (activated elsewhere)", version)
        return True
