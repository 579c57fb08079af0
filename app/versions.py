"""Model versions: the one owner of the ``models`` table, the version folders and the active version.

A version is a bundle folder and its record: the read-only ``bundled`` one (the model shipped with
the service, recorded at start-up where it lies), and ``v1``, ``v2``... written by training jobs into
``<data dir>/models/<version>``. Serving reads them (list, describe, the path to load, the active
one) and records activations; training publishes new ones. No other module writes SQL on these
records or spells out the folders.

Publishing is all or nothing: a job's training process writes its bundle aside (``model.files``:
the one way this project publishes files), then ``publish`` numbers it (``MAX(seq) + 1`` under the
records' write lock), renames the folder into place and inserts the record in the caller's
transaction, together with the job's outcome. A version folder without a record is therefore one
that will never get one: ``sweep`` removes those, and whatever a writer that died left aside.

The active version is a row of the ``state`` table. Recording it in a transaction also sends, on
PostgreSQL, a ``NOTIFY`` that is delivered when (and only if) the transaction commits: every
listening server process hears of it at once (``serving/activations.py``), the others at their next
poll.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from model.bundle import BundleError, check_files, read_config
from model.files import PARTIAL, rename_into_place
from model.files import sweep as sweep_unpublished

from .errors import Conflict, InsufficientStorage, NotFound
from .store import Store, Transaction, now

log = logging.getLogger(__name__)

BUNDLED = "bundled"  # the version name of the model shipped with the service
ACTIVE_KEY = "active_version"  # the state row naming the version every server process serves
ACTIVE_CHANNEL = "sentiment_active_version"  # PostgreSQL's NOTIFY channel of activations


class VersionNotFound(NotFound, LookupError):
    pass


class Versions:
    """The versions of the records ``store`` and the folder ``<data_dir>/models``."""

    def __init__(self, store: Store, data_dir: Path, bundled_path: Path, public_text=str):
        self.store = store
        self.public_text = public_text  # messages name no server path (Settings.public_text)
        self.folder = data_dir / "models"
        self.bundled_path = bundled_path
        self._verified: dict[str, tuple] = {}  # bundle path -> its files' (size, mtime) when checksums matched

    def bootstrap(self) -> None:
        """Record the bundled model as version ``bundled`` (its path may change between runs)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = str(self.bundled_path)
        # One statement, not a look then an insert: replicas starting together on one new PostgreSQL
        # database raced between the two, and the loser stopped on the primary key.
        if not self.store.insert("models", on_conflict_ignore=True, version=BUNDLED, path=path, source="bundled",
                                 metrics={}, created_at=now(), seq=0):
            self.store.update("models", "version", BUNDLED, path=path)

    # -- reading ------------------------------------------------------------------------------
    def row(self, version: str) -> dict:
        row = self.store.one("SELECT * FROM models WHERE version = ?", version)
        if row is None:
            raise VersionNotFound(f"model version {version!r} not found")
        return row

    def exists(self, version: str) -> bool:
        return self.store.one("SELECT version FROM models WHERE version = ?", version) is not None

    def path(self, version: str) -> Path:
        """The bundle folder of ``version`` (``VersionNotFound`` when there is no such version)."""
        return Path(self.row(version)["path"])

    def active(self) -> str:
        return self.store.get_state(ACTIVE_KEY) or BUNDLED

    def list(self) -> list[dict[str, Any]]:
        """Every version, newest first, as the API shows it."""
        active = self.active()
        return [self._describe(r, active) for r in self.store.all("SELECT * FROM models ORDER BY seq DESC")]

    def describe(self, version: str) -> dict[str, Any]:
        return self._describe(self.row(version), self.active())

    def _describe(self, row: dict, active: str) -> dict[str, Any]:
        info = {
            "version": row["version"], "active": row["version"] == active, "source": row["source"],
            "read_only": row["source"] == "bundled", "created_at": row["created_at"],
            "job_id": row["job_id"], "dataset_id": row["dataset_id"],
        }
        try:
            config = read_config(row["path"])
            self._verify(Path(row["path"]), config)
        except BundleError as exc:
            return {**info, "status": "unavailable", "error": self.public_text(str(exc))}
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

    # -- retention ----------------------------------------------------------------------------
    def delete(self, version: str) -> None:
        """Remove a trained version: its record, then its folder (a kill between the two leaves a
        folder without a record, which ``sweep`` removes). Never the bundled or the active one."""
        with self.store.connect("deleting a model version") as db:
            row = db.execute("SELECT version, path, source FROM models WHERE version = ?", (version,)).fetchone()
            if row is None:
                raise VersionNotFound(f"model version {version!r} not found")
            if row[2] == "bundled":
                raise Conflict(f"version {version!r} is the model shipped with the service; it cannot be deleted",
                               code="version_read_only")
            if version == self.active():
                raise Conflict(f"version {version!r} is being served; activate another first", code="version_active")
            used = db.execute("SELECT id FROM jobs WHERE base_version = ? AND state IN ('queued', 'running')",
                              (version,)).fetchone()
            if used is not None:
                raise Conflict(f"version {version!r} is the base of job {used[0]}, which has not finished",
                               code="version_in_use")
            db.execute("DELETE FROM models WHERE version = ?", (version,))
        shutil.rmtree(row[1], ignore_errors=True)

    def check_quota(self, max_versions: int, max_bytes: int) -> None:
        """Refuse (507) a new version when the trained ones already reach ``max_versions`` or
        ``max_bytes`` on disk (0: no limit); the message says how to make room."""
        rows = self.store.all("SELECT version, path FROM models WHERE source != 'bundled'")
        how = "delete versions no longer needed (DELETE /v1/models/{version})"
        if max_versions and len(rows) >= max_versions:
            raise InsufficientStorage(f"{len(rows)} trained versions are stored, the most allowed "
                                      f"(SENTIMENT_MAX_VERSIONS={max_versions}): {how}", code="version_quota")
        used = sum(_folder_bytes(Path(r["path"])) for r in rows)
        if max_bytes and used >= max_bytes:
            raise InsufficientStorage(f"the trained versions take {used:,} bytes, the most allowed "
                                      f"(SENTIMENT_MAX_VERSION_BYTES={max_bytes:,}): {how}", code="version_quota")

    # -- activation ---------------------------------------------------------------------------
    def record_active(self, db: Transaction, version: str) -> None:
        """Make ``version`` the active one in ``db``'s transaction (and NOTIFY, on PostgreSQL)."""
        db.execute("INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                   (ACTIVE_KEY, version))
        if self.store.dialect == "postgresql":
            db.execute("SELECT pg_notify(?, ?)", (ACTIVE_CHANNEL, version))

    def set_active(self, version: str) -> None:
        with self.store.connect("activating a model version") as db:
            self.record_active(db, version)

    # -- publishing ---------------------------------------------------------------------------
    def publish(self, db: Transaction, bundle: Path, *, job_id: str, dataset_id: str) -> str:
        """Number the bundle written aside in ``bundle`` (a ``model.files.publishing`` folder beside
        the versions), rename it into place and record it, in ``db``'s transaction (the caller records
        the job's outcome in the same one); returns the version."""
        seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM models").fetchone()[0]
        version = f"v{seq}"
        final = self.folder / version
        rename_into_place(bundle, final)
        db.execute("INSERT INTO models (version, path, source, job_id, dataset_id, metrics, created_at, seq) "
                   "VALUES (?, ?, 'job', ?, ?, '{}', ?, ?)", (version, str(final), job_id, dataset_id, now(), seq))
        return version

    def sweep(self) -> None:
        """Remove what training processes that died left: bundles written aside (``model.files.sweep``:
        their writer is gone) and version folders that no record names. Under the write lock:
        ``publish`` renames and records in one transaction, so a folder without a record here is one
        that will never get one."""
        for name in sweep_unpublished(self.folder):
            log.warning("removed models/%s, left by a training process that did not finish", name)
        with self.store.connect("cleaning up the models folder") as db:
            keep = {r[0] for r in db.execute("SELECT version FROM models")}
            for entry in self.folder.iterdir() if self.folder.exists() else ():
                if entry.is_dir() and entry.name not in keep and not entry.name.endswith(PARTIAL):
                    shutil.rmtree(entry, ignore_errors=True)
                    log.warning("removed models/%s, a version folder no record names", entry.name)


def _folder_bytes(folder: Path) -> int:
    try:
        return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    except OSError:  # gone meanwhile
        return 0
