"""Named models and their versions: the one owner of the ``models`` and ``versions`` tables, the
version folders and each model's active version.

A model is a name (``sentiment-en``, ``topics``: ``NAME_PATTERN``) that owns its versions, its active
version, its labels and task (``single_label`` or ``multi_label``, both those of its active version)
and a default ``min_score`` set at activation. A version is a bundle folder and its record:
``bundled``, the read-only model shipped with the service (``model/bundled/<name>``, recorded at
start-up where it lies), and ``v1``, ``v2``... of each model, written by training jobs into
``<data dir>/models/<name>/<version>``. Serving reads them (list, describe, the path to load, the
active ones) and records activations; training publishes new ones (a new name creates its model).
No other module writes SQL on these records or spells out the folders.

Publishing is all or nothing: a job's training process writes its bundle aside (``model.files``:
the one way this project publishes files), then ``publish`` numbers it (``MAX(seq) + 1`` of its
model, under the records' write lock), renames the folder into place and inserts the record in the
caller's transaction, together with the job's outcome. A version folder without a record is
therefore one that will never get one: ``sweep`` removes those, and whatever a writer that died
left aside.

Recording an activation in a transaction also sends, on PostgreSQL, a ``NOTIFY`` that is delivered
when (and only if) the transaction commits: every listening server process hears of it at once
(``serving/activations.py``), the others at their next poll.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.bundle import CARD_FILE, WEIGHTS_FILE, BundleError, check_files, has_rnn, read_config
from model.files import PARTIAL, rename_into_place
from model.files import sweep as sweep_unpublished

from .data_dir import TABLES_FOLDER
from .errors import Conflict, InsufficientStorage, InvalidInput, NotFound
from .store import MIGRATIONS, SQLITE_FILE, Store, Transaction, now

if TYPE_CHECKING:
    from .settings import Settings

log = logging.getLogger(__name__)

BUNDLED = "bundled"  # the version name of a model shipped with the service
ACTIVE_CHANNEL = "sentiment_active_version"  # PostgreSQL's NOTIFY channel of activations
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
TASKS = ("single_label", "multi_label")
# A version's record and the file name of the dataset it was trained on (null for a bundled version,
# or once the dataset is deleted): a list of versions names its data, not only an id
_WITH_FILENAME = ("SELECT versions.*, datasets.filename AS dataset_filename FROM versions "
                  "LEFT JOIN datasets ON datasets.id = versions.dataset_id")


def check_name(name: str, field: str | None = "model") -> str:
    """``name`` when it is a valid model name; else a 422 saying what one is."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(f"{name!r} is not a model name: 1-63 characters of a-z, 0-9 and '-', starting with "
                           "a letter or digit", code="invalid_model_name", field=field)
    return name


def bundle_task(config: dict) -> str:
    """A bundle's task (bundles from before multi-label models are single-label)."""
    return config["model"].get("task", "single_label")


class ModelNotFound(NotFound, LookupError):
    pass


class VersionNotFound(NotFound, LookupError):
    pass


class Versions:
    """The models and versions of the records ``store`` and the folder ``<data_dir>/models``;
    ``bundled`` maps each model shipped with the service to its bundle folder."""

    def __init__(self, store: Store, data_dir: Path, bundled: dict[str, Path], public_text=str):
        self.store = store
        self.public_text = public_text  # messages name no server path (Settings.public_text)
        self.folder = data_dir / "models"
        self.bundled = dict(bundled)
        self._verified: dict[str, tuple] = {}  # bundle path -> its files' (size, mtime) when checksums matched

    def bootstrap(self) -> None:
        """Record each bundled model's bundle as its version ``bundled`` (its path may change between
        runs), creating the model, served from its bundled version, when it is new."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, folder in self.bundled.items():
            path = str(folder)
            try:
                config = read_config(folder)
                labels, task = list(config["model"]["labels"]), bundle_task(config)
            except (BundleError, KeyError):  # recorded anyway: describing it says what is wrong
                labels, task = [], "single_label"
            # One statement each, not a look then an insert: replicas starting together on one new
            # PostgreSQL database raced between the two, and the loser stopped on the primary key.
            with self.store.connect("recording the bundled models") as db:
                self.store.insert("models", on_conflict_ignore=True, db=db, name=name, task=task, labels=labels,
                                  active_version=BUNDLED, created_at=now())
                if not self.store.insert("versions", on_conflict_ignore=True, db=db, model=name, version=BUNDLED,
                                         path=path, source="bundled", metrics={}, created_at=now(), seq=0):
                    db.execute("UPDATE versions SET path = ? WHERE model = ? AND version = ?", (path, name, BUNDLED))
                if labels:  # a model recorded before its bundle could be read
                    db.execute("UPDATE models SET labels = ?, task = ? WHERE name = ? AND labels = '[]'",
                               (_json(labels), task, name))

    # -- models -------------------------------------------------------------------------------
    def model_row(self, name: str) -> dict:
        row = self.store.one("SELECT * FROM models WHERE name = ?", name)
        if row is None:
            raise ModelNotFound(f"model {name!r} not found (GET /v1/models lists them)")
        return row

    def model_exists(self, name: str) -> bool:
        return self.store.one("SELECT name FROM models WHERE name = ?", name) is not None

    def actives(self) -> dict[str, dict]:
        """Each model's name -> its row (``active_version``, ``min_score``...), in one read."""
        return {r["name"]: r for r in self.store.all("SELECT * FROM models ORDER BY name")}

    def list_models(self) -> list[dict[str, Any]]:
        """Every model, by name, as ``GET /v1/models`` shows it."""
        versions: dict[str, list[str]] = {}
        for r in self.store.all("SELECT model, version FROM versions ORDER BY seq DESC"):
            versions.setdefault(r["model"], []).append(r["version"])
        return [self._describe_model(row, versions.get(row["name"], [])) for row in self.actives().values()]

    def describe_model(self, name: str) -> dict[str, Any]:
        row = self.model_row(name)
        versions = [r["version"] for r in self.store.all(
            "SELECT version FROM versions WHERE model = ? ORDER BY seq DESC", name)]
        return self._describe_model(row, versions)

    def _describe_model(self, row: dict, versions: list[str]) -> dict[str, Any]:
        info = {"name": row["name"], "active_version": row["active_version"], "task": row["task"],
                "labels": row["labels"], "versions": versions, "min_score": row["min_score"],
                "previous_version": row["previous_version"], "activated_at": row["activated_at"],
                "created_at": row["created_at"]}
        try:
            active = self.describe(row["name"], row["active_version"])
        except ModelNotFound:
            return info
        if active.get("status") == "ready":
            info["card"] = active["card"]
        return info

    # -- versions -----------------------------------------------------------------------------
    def row(self, name: str, version: str) -> dict:
        row = self.store.one(f"{_WITH_FILENAME} WHERE versions.model = ? AND versions.version = ?", name, version)
        if row is None:
            self.model_row(name)  # 404 for the model first, if it is the model that is unknown
            raise VersionNotFound(f"model {name!r} has no version {version!r} "
                                  f"(GET /v1/models/{name}/versions lists them)")
        return row

    def exists(self, name: str, version: str) -> bool:
        return self.store.one("SELECT version FROM versions WHERE model = ? AND version = ?",
                              name, version) is not None

    def has_rnn(self, name: str, version: str) -> bool:
        """Whether ``name``'s ``version`` holds an RNN (a baseline version does not: ``model.bundle.has_rnn``);
        True for a bundle that cannot be read, which says what is wrong where it is loaded."""
        try:
            return has_rnn(read_config(self.path(name, version)))
        except BundleError:
            return True

    def path(self, name: str, version: str) -> Path:
        """The bundle folder of ``name``'s ``version`` (``VersionNotFound`` when there is no such version)."""
        return Path(self.row(name, version)["path"])

    def active(self, name: str) -> str:
        return self.model_row(name)["active_version"]

    def list(self, name: str) -> list[dict[str, Any]]:
        """``name``'s versions, newest first, as the API shows them."""
        active = self.active(name)
        rows = self.store.all(f"{_WITH_FILENAME} WHERE versions.model = ? ORDER BY versions.seq DESC", name)
        return [self._describe(r, active) for r in rows]

    def describe(self, name: str, version: str) -> dict[str, Any]:
        return self._describe(self.row(name, version), self.active(name))

    def _describe(self, row: dict, active: str) -> dict[str, Any]:
        info = {
            "model": row["model"], "version": row["version"], "active": row["version"] == active,
            "source": row["source"], "read_only": row["source"] == "bundled", "created_at": row["created_at"],
            "job_id": row["job_id"], "dataset_id": row["dataset_id"], "dataset_filename": row["dataset_filename"],
        }
        try:
            config = read_config(row["path"])
            self._verify(Path(row["path"]), config)
        except BundleError as exc:
            return {**info, "status": "unavailable", "error": self.public_text(str(exc))}
        training = config.get("training", {})
        metrics = training.get("metrics", {})
        metrics = {k: metrics[k] for k in ("accuracy", "macro_f1", "micro_f1", "subset_accuracy", "n", "labels",
                                           "confusion_matrix", "per_label") if k in metrics} | row["metrics"]
        data = training.get("data", {})
        return {
            **info, "status": "ready", "labels": config["model"]["labels"], "task": bundle_task(config),
            "config": {"model": config["model"], "tokenizer": config.get("tokenizer", {}),
                       "train": training.get("train_config", {})},
            # dev-set metrics from training (the confusion matrix: rows gold, columns predicted, in ``labels`` order)
            "metrics": metrics,
            # what the model card says in brief: the scripts of its training text, its data, its figures
            "card": {"scripts": data.get("scripts", {}), "train_examples": data.get("train_examples"),
                     "dev_examples": data.get("dev_examples"), "dataset_id": row["dataset_id"],
                     "metrics": {k: metrics[k] for k in ("accuracy", "macro_f1", "micro_f1") if k in metrics}},
            "bundle_created_at": config.get("created_at"),
        }

    def card(self, name: str, version: str | None = None) -> dict[str, Any]:
        """The model card of ``name``'s ``version`` (default: the active one): the bundle's README.md
        as written by training (markdown; "" for a bundle without one) and the version's details."""
        version = version or self.active(name)
        info = self.describe(name, version)
        try:
            markdown = (self.path(name, version) / CARD_FILE).read_text(encoding="utf-8")
        except FileNotFoundError:
            markdown = ""
        except OSError as exc:
            markdown = f"(the card cannot be read: {exc.strerror})"
        return {"model": name, "version": version, "markdown": markdown} | {
            k: info[k] for k in ("status", "labels", "task", "metrics", "card", "config") if k in info}

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
    def delete(self, name: str, version: str) -> None:
        """Remove a trained version: its record, then its folder (a kill between the two leaves a
        folder without a record, which ``sweep`` removes). Never a bundled or an active one."""
        with self.store.connect("deleting a model version") as db:
            row = db.execute("SELECT path, source FROM versions WHERE model = ? AND version = ?",
                             (name, version)).fetchone()
            if row is None:
                self.row(name, version)  # the 404 that says which
            if row[1] == "bundled":
                raise Conflict(f"version {version!r} of {name!r} is the model shipped with the service; it cannot "
                               "be deleted", code="version_read_only")
            if version == self.active(name):
                raise Conflict(f"version {version!r} of {name!r} is being served; activate another first",
                               code="version_active")
            used = db.execute("SELECT id FROM jobs WHERE model = ? AND base_version = ? AND state IN "
                              "('queued', 'running')", (name, version)).fetchone()
            if used is not None:
                raise Conflict(f"version {version!r} of {name!r} is the base of job {used[0]}, which has not "
                               "finished", code="version_in_use")
            db.execute("DELETE FROM versions WHERE model = ? AND version = ?", (name, version))
        shutil.rmtree(row[0], ignore_errors=True)

    def delete_model(self, name: str, default_model: str,
                     also: Callable[[Transaction, str], None] | None = None) -> None:
        """Remove a model trained here: its versions' records and the model's, then their folders
        (a kill between the two leaves folders without records, which ``sweep`` removes); ``also``
        removes, in the same transaction, what other owners keep of it (its feedback). Never a model
        shipped with the service, the default one, or one that a job not yet finished trains or scores."""
        with self.store.connect("deleting a model") as db:
            if db.execute("SELECT name FROM models WHERE name = ?", (name,)).fetchone() is None:
                raise ModelNotFound(f"model {name!r} not found (GET /v1/models lists them)")
            if name in self.bundled:
                raise Conflict(f"model {name!r} is shipped with the service; it cannot be deleted",
                               code="model_read_only")
            if name == default_model:
                raise Conflict(f"model {name!r} is the default model (SENTIMENT_DEFAULT_MODEL); it cannot be deleted",
                               code="model_default")
            busy = db.execute("SELECT id FROM jobs WHERE model = ? AND state IN ('queued', 'running')", (name,)).fetchone()
            if busy is not None:
                raise Conflict(f"model {name!r} has job {busy[0]}, which has not finished; cancel it or wait",
                               code="model_in_use")
            paths = [row[0] for row in db.execute("SELECT path FROM versions WHERE model = ?", (name,))]
            db.execute("DELETE FROM versions WHERE model = ?", (name,))
            db.execute("DELETE FROM models WHERE name = ?", (name,))
            if also is not None:
                also(db, name)
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(self.folder / name, ignore_errors=True)

    def check_quota(self, max_versions: int, max_bytes: int) -> None:
        """Refuse (507) a new version when the trained ones (of all models) already reach
        ``max_versions`` or ``max_bytes`` on disk (0: no limit); the message says how to make room."""
        rows = self.store.all("SELECT version, path FROM versions WHERE source != 'bundled'")
        how = "delete versions no longer needed (DELETE /v1/models/{name}/versions/{version})"
        if max_versions and len(rows) >= max_versions:
            raise InsufficientStorage(f"{len(rows)} trained versions are stored, the most allowed "
                                      f"(SENTIMENT_MAX_VERSIONS={max_versions}): {how}", code="version_quota")
        used = sum(_folder_bytes(Path(r["path"])) for r in rows)
        if max_bytes and used >= max_bytes:
            raise InsufficientStorage(f"the trained versions take {used:,} bytes, the most allowed "
                                      f"(SENTIMENT_MAX_VERSION_BYTES={max_bytes:,}): {how}", code="version_quota")

    # -- activation ---------------------------------------------------------------------------
    def record_active(self, db: Transaction, name: str, version: str, min_score: float | None = None,
                      set_min_score: bool = False) -> None:
        """Make ``version`` ``name``'s active one in ``db``'s transaction (and NOTIFY, on PostgreSQL);
        the version served before is kept as ``previous_version`` (a rollback activates it).
        ``set_min_score``: ``min_score`` becomes the model's default (None: no default)."""
        current = db.execute("SELECT active_version FROM models WHERE name = ?", (name,)).fetchone()
        if current is None:
            raise ModelNotFound(f"model {name!r} not found (GET /v1/models lists them)")
        previous = current[0] if current[0] != version else None
        sql = "UPDATE models SET active_version = ?, activated_at = ?"
        params: list = [version, now()]
        path = db.execute("SELECT path FROM versions WHERE model = ? AND version = ?", (name, version)).fetchone()
        try:  # a model's labels and task are those of the version it serves
            config = read_config(path[0]) if path is not None else None
        except BundleError:
            config = None
        if config is not None:
            sql += ", labels = ?, task = ?"
            params += [_json(list(config["model"]["labels"])), bundle_task(config)]
        if previous is not None:
            sql += ", previous_version = ?"
            params.append(previous)
        if set_min_score:
            sql += ", min_score = ?"
            params.append(min_score)
        db.execute(sql + " WHERE name = ?", (*params, name))
        if self.store.dialect == "postgresql":
            db.execute("SELECT pg_notify(?, ?)", (ACTIVE_CHANNEL, name))

    def set_active(self, name: str, version: str, min_score: float | None = None, set_min_score: bool = False) -> None:
        with self.store.connect("activating a model version") as db:
            self.record_active(db, name, version, min_score, set_min_score)

    # -- publishing ---------------------------------------------------------------------------
    def publish(self, db: Transaction, name: str, bundle: Path, *, job_id: str, dataset_id: str) -> str:
        """Number the bundle written aside in ``bundle`` (a ``model.files.publishing`` folder beside
        the models' folders) as ``name``'s next version, rename it into place and record it, in
        ``db``'s transaction (the caller records the job's outcome in the same one); returns the
        version. A new name creates its model, served from this first version."""
        config = read_config(bundle)
        labels, task = list(config["model"]["labels"]), bundle_task(config)
        created = db.execute("SELECT name FROM models WHERE name = ?", (name,)).fetchone() is None
        seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM versions WHERE model = ?", (name,)).fetchone()[0]
        version = f"v{seq}"
        final = self.folder / name / version
        final.parent.mkdir(parents=True, exist_ok=True)
        rename_into_place(bundle, final)
        db.execute("INSERT INTO versions (model, version, path, source, job_id, dataset_id, metrics, created_at, seq) "
                   "VALUES (?, ?, ?, 'job', ?, ?, '{}', ?, ?)", (name, version, str(final), job_id, dataset_id, now(), seq))
        if created:  # (an existing model's labels and task change when a version of others is activated)
            self.store.insert("models", db=db, name=name, task=task, labels=labels, active_version=version,
                              activated_at=now(), created_at=now())
        return version

    def _sweep_tables(self, paths: list[Path]) -> None:
        """Remove input tables (``data_dir.TABLES_FOLDER``) that no recorded version's weights need:
        each is named by the SHA-256 of the weights it was derived from."""
        folder = self.folder.parent / TABLES_FOLDER
        if not folder.is_dir():
            return
        needed = {digest for digest in map(_weights_sha256, paths) if digest}
        for file in folder.iterdir():
            digest = file.stem.rpartition("-")[2]
            if file.suffix in (".npy", ".sha256") and digest not in needed:
                file.unlink(missing_ok=True)
                log.warning("removed %s/%s, the input table of weights no version has", TABLES_FOLDER, file.name)

    def sweep(self) -> None:
        """Remove what training processes that died left: bundles written aside (``model.files.sweep``:
        their writer is gone) and version folders that no record names. Under the write lock:
        ``publish`` renames and records in one transaction, so a folder without a record here is one
        that will never get one."""
        for name in sweep_unpublished(self.folder):
            log.warning("removed models/%s, left by a training process that did not finish", name)
        with self.store.connect("cleaning up the models folder") as db:
            recorded = {Path(r[0]) for r in db.execute("SELECT path FROM versions")}
            names = {r[0] for r in db.execute("SELECT name FROM models")}
            self._sweep_tables([Path(r[0]) for r in db.execute("SELECT path FROM versions")])
            for entry in self.folder.iterdir() if self.folder.exists() else ():
                if not entry.is_dir() or entry.name.endswith(PARTIAL) or entry in recorded:
                    continue
                if entry.name in names:  # a model's folder: its versions' folders
                    for version in entry.iterdir():
                        if version.is_dir() and version not in recorded and not version.name.endswith(PARTIAL):
                            shutil.rmtree(version, ignore_errors=True)
                            log.warning("removed models/%s/%s, a version folder no record names",
                                        entry.name, version.name)
                    continue
                shutil.rmtree(entry, ignore_errors=True)
                log.warning("removed models/%s, a folder no record names", entry.name)


def _weights_sha256(path: Path) -> str | None:
    try:
        return read_config(path).get("files", {}).get(WEIGHTS_FILE)
    except BundleError:
        return None


def _json(value: Any) -> str:
    return json.dumps(value)


def _folder_bytes(folder: Path) -> int:
    try:
        return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    except OSError:  # gone meanwhile
        return 0


@dataclass(frozen=True)
class ActiveVersion:
    model: str
    version: str
    path: Path
    min_score: float | None


def peek_active(settings: Settings, model: str) -> ActiveVersion | None:
    """``model``'s active version as SQLite records already at this release's schema say, read with
    the standard library alone: what ``python -m app`` serves while the records open behind it
    (``open_versions`` imports SQLAlchemy, records the bundled models, may upgrade the schema: a
    tenth of a second or more that a replica need not wait for before it answers predictions).
    None wherever that is not so (PostgreSQL, a new data directory, records to upgrade or that cannot
    be read, a model not recorded): the records are then opened first, as they always were."""
    if settings.database_url.get_secret_value():
        return None
    path = settings.data_dir / SQLITE_FILE
    if not path.is_file():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] != len(MIGRATIONS):
                return None
            row = db.execute("SELECT active_version, min_score FROM models WHERE name = ?", (model,)).fetchone()
            if row is None:
                return None
            version, min_score = row
            if version == BUNDLED:  # where it lies now, as bootstrap() will record it
                folder = settings.bundled_models().get(model)
            else:
                found = db.execute("SELECT path FROM versions WHERE model = ? AND version = ?", (model, version)).fetchone()
                folder = found and Path(found[0])
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return None if folder is None else ActiveVersion(model, version, Path(folder), min_score)


def open_versions(settings: Settings) -> Versions:
    """The records (created or upgraded) and the versions in them, the bundled ones recorded."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    versions = Versions(Store.from_settings(settings), settings.data_dir, settings.bundled_models(), settings.public_text)
    versions.bootstrap()
    return versions
