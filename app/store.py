"""Job, dataset and model-version records in SQLite (WAL mode) inside the data directory.

Both halves of the service use it: serving reads versions and the active one, training writes
datasets, jobs and new versions. Each call opens a short transaction on a per-thread
connection; the training process opens its own ``Store`` on the same file.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import StoreError, storage_errors

# Each entry moves the database one schema version up (PRAGMA user_version); append, never edit,
# so that a volume written by an older release is upgraded in place.
MIGRATIONS = [
    """
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY, filename TEXT NOT NULL, format TEXT NOT NULL, path TEXT NOT NULL,
    text_column TEXT NOT NULL, label_column TEXT NOT NULL, size_bytes INTEGER NOT NULL,
    summary TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, dataset_id TEXT NOT NULL, eval_dataset_id TEXT,
    config TEXT NOT NULL, promote TEXT NOT NULL, progress TEXT NOT NULL DEFAULT '{}',
    result TEXT NOT NULL DEFAULT '{}', error TEXT, model_version TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0,
    pid INTEGER, created_at REAL NOT NULL, started_at REAL, finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, created_at);
CREATE TABLE IF NOT EXISTS models (
    version TEXT PRIMARY KEY, path TEXT NOT NULL, source TEXT NOT NULL, job_id TEXT, dataset_id TEXT,
    metrics TEXT NOT NULL DEFAULT '{}', created_at REAL NOT NULL, seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
""",
    # 2: a job's time limit is part of the request, not of its hyperparameters
    "ALTER TABLE jobs ADD COLUMN time_limit_s REAL",
    # 3: warm start: the model version a job's model starts from
    "ALTER TABLE jobs ADD COLUMN base_version TEXT",
]

BUNDLED = "bundled"  # the version name of the model shipped with the service
ACTIVE_KEY = "active_version"  # the state row naming the version every server process serves

JSON_COLUMNS = {"summary", "config", "progress", "result", "metrics"}


def _decode(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out = dict(row)
    for key in JSON_COLUMNS & out.keys():
        out[key] = json.loads(out[key]) if out[key] else {}
    return out


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._check_file()
        self._migrate()

    def _check_file(self) -> None:
        """Refuse a file that is not a SQLite database, or whose schema is newer than this release
        knows, before anything writes to it (opening it as usual would switch it to WAL mode)."""
        if not self.path.exists():
            return
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        except sqlite3.Error:
            return  # cannot even be opened read-only: the normal open below says why
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc) or "malformed" in str(exc):
                raise StoreError(f"{self.path.name} in the data directory is not a usable SQLite database "
                                 f"({exc}); restore it from a backup or move it away to start afresh") from None
            return
        finally:
            db.close()
        if version > len(MIGRATIONS):
            raise StoreError(f"{self.path.name} in the data directory has schema version {version}, newer than "
                             f"this release understands ({len(MIGRATIONS)}); upgrade the service")

    def _migrate(self) -> None:
        with self.connect("upgrading the records") as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number in range(version, len(MIGRATIONS)):
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {number + 1}")

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            with storage_errors("opening the records"):
                db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                db.row_factory = sqlite3.Row
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    @contextmanager
    def connect(self, doing: str = "writing the records") -> Iterator[sqlite3.Connection]:
        """``with store.connect() as db``: one write transaction (BEGIN IMMEDIATE ... COMMIT,
        ROLLBACK on error). A full or read-only volume is ``InsufficientStorage`` /
        ``StorageNotWritable``, for the body's file operations too."""
        db = self._connection()
        with storage_errors(doing):
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # SQLite may have rolled back already (a full disk); a failed
                    db.execute("ROLLBACK")  # COMMIT may leave it open, holding the write lock
                raise

    # -- generic helpers -------------------------------------------------------------------
    def one(self, sql: str, *args) -> dict[str, Any] | None:
        """Reads run on their own (autocommit): they need no write lock, and work on a read-only volume."""
        return _decode(self._connection().execute(sql, args).fetchone())

    def all(self, sql: str, *args) -> list[dict[str, Any]]:
        return [_decode(r) for r in self._connection().execute(sql, args).fetchall()]

    def execute(self, sql: str, *args) -> int:
        with self.connect() as db:
            return db.execute(sql, args).rowcount

    def insert(self, table: str, on_conflict_ignore: bool = False, db: sqlite3.Connection | None = None,
               **values) -> int:
        """Insert one row (in ``db``'s open transaction, if given); with ``on_conflict_ignore`` an
        existing key is kept. Returns the number of rows inserted (0 or 1)."""
        values = {k: json.dumps(v) if k in JSON_COLUMNS else v for k, v in values.items()}
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        sql = f"{'INSERT OR IGNORE' if on_conflict_ignore else 'INSERT'} INTO {table} ({cols}) VALUES ({marks})"
        if db is not None:
            return db.execute(sql, tuple(values.values())).rowcount
        with self.connect() as db:
            return db.execute(sql, tuple(values.values())).rowcount

    def update(self, table: str, key: str, key_value: Any, **values) -> int:
        values = {k: json.dumps(v) if k in JSON_COLUMNS else v for k, v in values.items()}
        sets = ", ".join(f"{k} = ?" for k in values)
        with self.connect() as db:
            return db.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?", (*values.values(), key_value)).rowcount

    # -- the active version ---------------------------------------------------------------
    def active_version(self) -> str:
        return self.get_state(ACTIVE_KEY) or BUNDLED

    def set_active_version(self, version: str) -> None:
        self.set_state(ACTIVE_KEY, version)

    # -- key/value state -------------------------------------------------------------------
    def get_state(self, key: str) -> str | None:
        row = self.one("SELECT value FROM state WHERE key = ?", key)
        return row["value"] if row else None

    def set_state(self, key: str, value: str) -> None:
        self.execute("INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                     key, value)


def now() -> float:
    return time.time()
