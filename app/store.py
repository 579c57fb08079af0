"""Job, dataset and model-version records: SQLite in the data directory (the default), or a
PostgreSQL server that several machines share (``SENTIMENT_DATABASE_URL``).

Both halves of the service use it: serving reads versions and the active one, training writes
datasets, jobs and new versions; the training process opens its own ``Store`` on the same records.
SQLAlchemy Core gives both engines one connection pool and one way to run SQL; callers write plain
SQL with ``?`` placeholders that both engines accept (``ON CONFLICT ... DO NOTHING`` / ``DO UPDATE
SET value = excluded.value``, no ``PRAGMA``, no ``rowid``), and ``_statement`` alone turns the
placeholders into bound parameters.

Reads run on their own: on SQLite without a transaction (no lock, and they work on a read-only
volume), on PostgreSQL in autocommit (one round trip). ``connect()`` is one write transaction, and
one writer at a time, on both: callers rely on it (a sweep that lists the records, then removes
files without one, must not run between another transaction's rename and its record; version
numbers are ``MAX(seq) + 1``: ``app/versions.py``). On SQLite ``BEGIN IMMEDIATE`` takes the write lock at once (a
deferred transaction that reads and then writes can fail with SQLITE_BUSY instead of waiting), in
WAL mode so that readers never wait; on PostgreSQL a transaction-scoped advisory lock stands for
it. The job queue's statements, single statements that row locks make safe (``FOR UPDATE SKIP
LOCKED``), pass ``exclusive=False`` and do not queue behind other writers. Lock waits end after
30 s on both (SQLite's busy timeout, PostgreSQL's ``lock_timeout``).

Migrations stay a numbered list of plain SQL rather than Alembic: five small tables, append-only
changes, no ORM models to autogenerate from, and SQLite files in the field that carry their version
in ``PRAGMA user_version`` (Alembic would need its own version table, a bridge from that pragma,
an ``env.py`` and Mako, for a dozen lines of DDL). Each entry is written once, in SQLite's
spelling; PostgreSQL gets it with SQLite's 8-byte ``REAL`` / ``INTEGER`` as ``DOUBLE PRECISION`` /
``BIGINT`` (its own ``REAL`` is 4 bytes: a timestamp would lose minutes). The version is
``PRAGMA user_version`` on SQLite and the ``schema_version`` table on PostgreSQL; replicas starting
together take turns on the write lock, and all migrations commit together with the version number.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import StoreError, storage_errors

if TYPE_CHECKING:  # SQLAlchemy itself is imported when a Store opens: a tenth of a second that
    # ``python -m app`` spends after it serves (``peek_active``), not before
    from sqlalchemy.engine import Connection, CursorResult, Row
    from sqlalchemy.sql.elements import TextClause

# Each entry moves the records one schema version up; append, never edit, so that records written
# by an older release are upgraded in place.
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
    # 4: the queue across machines: the node whose lease holds a running job, until when, and how
    # many times the job has been started (app/training/queue.py)
    """
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at REAL;
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0
""",
    # 5: the training processes a job asked for (torchrun on its node; 1: one process, as before)
    "ALTER TABLE jobs ADD COLUMN processes INTEGER NOT NULL DEFAULT 1",
    # 6: named models (app/versions.py): a model owns its versions, its active version, its labels
    # and task. The versions recorded so far, and the active one, become those of sentiment-en,
    # the default model of releases before names.
    """
CREATE TABLE versions (
    model TEXT NOT NULL, version TEXT NOT NULL, path TEXT NOT NULL, source TEXT NOT NULL, job_id TEXT,
    dataset_id TEXT, metrics TEXT NOT NULL DEFAULT '{}', created_at REAL NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (model, version)
);
INSERT INTO versions (model, version, path, source, job_id, dataset_id, metrics, created_at, seq)
    SELECT 'sentiment-en', version, path, source, job_id, dataset_id, metrics, created_at, seq FROM models;
DROP TABLE models;
CREATE TABLE models (
    name TEXT PRIMARY KEY, task TEXT NOT NULL DEFAULT 'single_label', labels TEXT NOT NULL DEFAULT '[]',
    active_version TEXT NOT NULL, min_score REAL, previous_version TEXT, activated_at REAL,
    created_at REAL NOT NULL
);
INSERT INTO models (name, active_version, created_at)
    SELECT 'sentiment-en', COALESCE((SELECT value FROM state WHERE key = 'active_version'), 'bundled'),
           COALESCE((SELECT MIN(created_at) FROM versions), 0);
DELETE FROM state WHERE key = 'active_version';
ALTER TABLE jobs ADD COLUMN model TEXT;
UPDATE jobs SET model = 'sentiment-en'
""",
    # 7: batch scoring jobs share the job queue (kind 'batch'; app/training/batch_process.py), and
    # corrections sent as feedback (app/training/feedback.py), one per model and text (its SHA-256: texts are
    # too long for an index), the latest kept
    """
ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'train';
CREATE TABLE feedback (
    model TEXT NOT NULL, text_sha256 TEXT NOT NULL, text TEXT NOT NULL, labels TEXT NOT NULL,
    prediction_id TEXT, created_at REAL NOT NULL, PRIMARY KEY (model, text_sha256)
)
""",
]

JSON_COLUMNS = {"summary", "config", "progress", "result", "metrics", "labels"}
SQLITE_FILE = "sentiment.db"  # in the data directory, without SENTIMENT_DATABASE_URL
_VERSION_SQL = {"sqlite": "PRAGMA user_version", "postgresql": "SELECT version FROM schema_version"}
_WRITE_LOCK = 0x53454E54  # PostgreSQL's advisory lock for one writer at a time ("SENT")


def _postgresql_ddl(sql: str) -> str:
    """A migration in SQLite's spelling, for PostgreSQL: the same widths (see the module docstring)."""
    return re.sub(r"\bINTEGER\b", "BIGINT", re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql))


@lru_cache(maxsize=512)
def _statement(sql: str) -> TextClause:
    """``?`` placeholders (outside quoted strings) as the bound parameters ``:p0``, ``:p1``, ..."""
    from sqlalchemy import text

    count = iter(range(sql.count("?")))
    return text(re.sub(r"'[^']*'|\?", lambda m: m[0] if m[0] != "?" else f":p{next(count)}", sql))


def _params(args: Sequence[Any]) -> dict[str, Any]:
    return {f"p{i}": value for i, value in enumerate(args)}


def _decode(row: Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out = dict(row._mapping)
    for key in JSON_COLUMNS & out.keys():
        out[key] = json.loads(out[key]) if out[key] else {}
    return out


class Transaction:
    """What ``Store.connect()`` yields: ``execute(sql, params)`` with ``?`` placeholders, inside one
    transaction. Rows index by position (``row[0]``) and iterate."""

    def __init__(self, connection: Connection, dialect: str):
        self.connection, self.dialect = connection, dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> CursorResult:
        return self.connection.execute(_statement(sql), _params(params))


class Store:
    """The records, on SQLite (``Store(path)``) or PostgreSQL (``Store("postgresql://...")``)."""

    def __init__(self, target: str | Path):
        from sqlalchemy import create_engine, event
        from sqlalchemy.engine import make_url
        from sqlalchemy.pool import SingletonThreadPool

        self._local = threading.local()
        if isinstance(target, str) and "://" in target:
            self.dialect = "postgresql"
            self.path = None
            url = make_url(target)
            self._name = f"the PostgreSQL database {url.database!r}"
            if importlib.util.find_spec("psycopg") is None:
                raise StoreError("SENTIMENT_DATABASE_URL names a PostgreSQL database, but its driver is not "
                                 "installed: pip install 'sentiment-rnn[postgres]'")
            self._engine = create_engine(
                url.set(drivername="postgresql+psycopg"),
                # a few connections per process, checked before use: a restarted server or a
                # dropped connection costs one reconnect, not a failed request
                pool_size=5, max_overflow=10, pool_timeout=30, pool_pre_ping=True,
                connect_args={"connect_timeout": 10, "application_name": "sentiment",
                              "options": "-c lock_timeout=30000"},
            )
            self._reader = self._engine.execution_options(isolation_level="AUTOCOMMIT")
        else:
            self.dialect = "sqlite"
            self.path = Path(target)
            self._name = f"{self.path.name} in the data directory"
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._check_file()
            # One connection per thread, opened at its first use and kept: a thread that wrote before
            # the data directory was remounted read-only still can (a connection opened after it is
            # read-only), as the job runner must, to record why a job could not start. pool_size: the
            # threads kept before the pool closes connections (uvicorn's loop and its 40 threadpool
            # threads, the training process's few), far above what runs.
            self._engine = create_engine(f"sqlite:///{self.path}", connect_args={"timeout": 30},
                                         poolclass=SingletonThreadPool, pool_size=1024)
            event.listen(self._engine, "connect", _sqlite_connection)
            self._reader = self._engine
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_settings(cls, settings) -> Store:
        """The records the settings name: ``SENTIMENT_DATABASE_URL``, else SQLite in the data directory."""
        url = settings.database_url.get_secret_value()
        return cls(url or settings.data_dir / SQLITE_FILE)

    def close(self) -> None:
        """Close the pooled connections (a PostgreSQL database can then be dropped)."""
        self._engine.dispose()

    # -- opening and upgrading ----------------------------------------------------------------
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
                raise StoreError(f"{self._name} is not a usable SQLite database ({exc}); restore it "
                                 "from a backup or move it away to start afresh") from None
            return
        finally:
            db.close()
        self._check_version(version)

    def _check_version(self, version: int) -> None:
        if version > len(MIGRATIONS):
            raise StoreError(f"{self._name} has schema version {version}, newer than this release "
                             f"understands ({len(MIGRATIONS)}); upgrade the service")

    def _migrate(self) -> None:
        with self.connect("upgrading the records") as db:
            if self.dialect == "postgresql":
                db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                if db.execute("SELECT version FROM schema_version").fetchone() is None:
                    db.execute("INSERT INTO schema_version (version) VALUES (0)")
            version = self._version(db)
            self._check_version(version)  # (PostgreSQL; SQLite's file was checked before opening)
            for number in range(version, len(MIGRATIONS)):
                sql = MIGRATIONS[number] if self.dialect == "sqlite" else _postgresql_ddl(MIGRATIONS[number])
                for statement in sql.split(";"):
                    if statement.strip():
                        db.execute(statement)
                if self.dialect == "sqlite":
                    db.execute(f"PRAGMA user_version = {number + 1}")
                else:
                    db.execute("UPDATE schema_version SET version = ?", (number + 1,))

    def _version(self, db: Transaction) -> int:
        return db.execute(_VERSION_SQL[self.dialect]).fetchone()[0]

    def schema_version(self) -> int:
        """The records' schema version: ``len(MIGRATIONS)`` once opened."""
        return self._read(_VERSION_SQL[self.dialect], ())[0][0]

    # -- transactions ---------------------------------------------------------------------------
    @contextmanager
    def connect(self, doing: str = "writing the records", exclusive: bool = True) -> Iterator[Transaction]:
        """``with store.connect() as db``: one write transaction (committed, or rolled back on
        error), the only one at a time unless ``exclusive`` is false (PostgreSQL; see the module
        docstring). A full or read-only volume is ``InsufficientStorage`` / ``StorageNotWritable``,
        for the body's file operations too. Inside it, this thread's ``one``/``all``/``execute``
        join it."""
        current = getattr(self._local, "tx", None)
        if current is not None:
            yield current
            return
        with storage_errors(doing), self._engine.connect() as connection:
            if self.dialect == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            self._local.tx = Transaction(connection, self.dialect)
            try:
                if exclusive and self.dialect == "postgresql":
                    self._local.tx.execute("SELECT pg_advisory_xact_lock(?)", (_WRITE_LOCK,))
                yield self._local.tx
                connection.commit()
            except BaseException:
                # SQLite may have rolled back already (a full disk); a failed COMMIT may leave the
                # transaction open, holding the write lock: roll back whatever is left
                try:
                    connection.rollback()
                except Exception:
                    connection.invalidate()  # never back into the pool in an unknown state
                raise
            finally:
                self._local.tx = None

    # -- generic helpers -------------------------------------------------------------------
    def _read(self, sql: str, args: Sequence[Any]) -> list[Row]:
        current = getattr(self._local, "tx", None)
        if current is not None:  # inside this thread's transaction: read what it wrote
            return list(current.execute(sql, args))
        with storage_errors("reading the records"), self._reader.connect() as connection:
            return list(connection.execute(_statement(sql), _params(args)))

    def one(self, sql: str, *args) -> dict[str, Any] | None:
        """Reads run on their own (no transaction): they need no write lock, and work on a read-only volume."""
        rows = self._read(sql, args)
        return _decode(rows[0]) if rows else None

    def all(self, sql: str, *args) -> list[dict[str, Any]]:
        return [_decode(r) for r in self._read(sql, args)]

    def execute(self, sql: str, *args) -> int:
        with self.connect() as db:
            return db.execute(sql, args).rowcount

    def insert(self, table: str, on_conflict_ignore: bool = False, db: Transaction | None = None,
               **values) -> int:
        """Insert one row (in ``db``'s open transaction, if given); with ``on_conflict_ignore`` an
        existing key is kept. Returns the number of rows inserted (0 or 1)."""
        values = {k: json.dumps(v) if k in JSON_COLUMNS else v for k, v in values.items()}
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        sql = f"INSERT INTO {table} ({cols}) VALUES ({marks}){' ON CONFLICT DO NOTHING' if on_conflict_ignore else ''}"
        if db is not None:
            return db.execute(sql, tuple(values.values())).rowcount
        with self.connect() as db:
            return db.execute(sql, tuple(values.values())).rowcount

    def update(self, table: str, key: str, key_value: Any, *, where: dict[str, Any] | None = None, **values) -> int:
        """Set ``values`` on the row whose ``key`` is ``key_value`` (and whose columns equal
        ``where``'s values, if given). Returns the number of rows changed."""
        values = {k: json.dumps(v) if k in JSON_COLUMNS else v for k, v in values.items()}
        sets = ", ".join(f"{k} = ?" for k in values)
        conditions = "".join(f" AND {k} = ?" for k in where or {})
        with self.connect() as db:
            return db.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?{conditions}",
                              (*values.values(), key_value, *(where or {}).values())).rowcount

    def listen_connection(self):
        """PostgreSQL only: a new connection of its own (not from the pool), in autocommit, for
        ``LISTEN``; the caller closes it."""
        import psycopg  # only ever on PostgreSQL

        url = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="sentiment-listen")

    # -- key/value state -------------------------------------------------------------------
    def get_state(self, key: str) -> str | None:
        row = self.one("SELECT value FROM state WHERE key = ?", key)
        return row["value"] if row else None

    def set_state(self, key: str, value: str) -> None:
        self.execute("INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                     key, value)


def _sqlite_connection(dbapi_connection, _record) -> None:
    """Each new SQLite connection: WAL (readers never wait for the writer), and transactions that
    ``Store.connect`` begins itself (``BEGIN IMMEDIATE``), so that reads take no transaction."""
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def now() -> float:
    return time.time()
