"""The store on both backends (SQLite, PostgreSQL): schema versions, migrations, transactions,
and the SQL its callers write. SQLite's own file checks come last."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest

from app.errors import StoreError
from app.store import MIGRATIONS, Store, _postgresql_ddl


def test_new_records_get_the_latest_schema(make_store):
    store = make_store()
    assert store.schema_version() == len(MIGRATIONS)
    store.set_state("k", "v")
    again = make_store()  # reopening keeps the data and migrates nothing
    assert again.get_state("k") == "v" and again.schema_version() == len(MIGRATIONS)


def test_transaction_rolls_back_on_error(make_store):
    store = make_store()
    with pytest.raises(ZeroDivisionError), store.connect() as db:
        db.execute("INSERT INTO state (key, value) VALUES ('a', 'b')")
        raise ZeroDivisionError
    assert store.get_state("a") is None


def test_reads_inside_a_transaction_see_its_writes_and_others_see_them_after_commit(make_store):
    store, other = make_store(), make_store()
    with store.connect() as db:
        db.execute("INSERT INTO state (key, value) VALUES (?, ?)", ("a", "it's 100% ?"))
        assert store.get_state("a") == "it's 100% ?"  # placeholders, quotes and % pass through
        assert other.get_state("a") is None
    assert other.get_state("a") == "it's 100% ?"


def test_upsert_insert_or_ignore_update_where_and_json_columns(make_store):
    store = make_store()
    store.set_state("k", "v")
    store.set_state("k", "w")
    assert store.get_state("k") == "w"
    row = dict(id="d", filename="f.csv", format="csv", path="/x", text_column="t", label_column="l",
               size_bytes=3_000_000_000, summary={"examples": 2}, created_at=1_764_000_000.123456)
    assert store.insert("datasets", **row) == 1
    assert store.insert("datasets", on_conflict_ignore=True, **row | {"filename": "other"}) == 0
    got = store.one("SELECT * FROM datasets WHERE id = ?", "d")
    # 8-byte integers and floats on both: a PostgreSQL REAL would have rounded the time to minutes
    assert got == row
    assert store.update("datasets", "id", "d", where={"format": "json"}, filename="g") == 0
    assert store.update("datasets", "id", "d", where={"format": "csv"}, filename="g") == 1
    assert store.all("SELECT filename FROM datasets") == [{"filename": "g"}]


def test_an_older_schema_is_upgraded_in_place(make_store, store_target):
    """Records written by an older release (schema version 3, before leases) keep their rows."""
    if isinstance(store_target, str):
        with psycopg.connect(store_target, autocommit=True) as db:
            db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            db.execute("INSERT INTO schema_version VALUES (3)")
            for migration in MIGRATIONS[:3]:
                db.execute(_postgresql_ddl(migration))
            db.execute("INSERT INTO jobs (id, state, dataset_id, config, promote, created_at) "
                       "VALUES ('j', 'queued', 'd', '{}', 'never', 1)")
    else:
        store_target.parent.mkdir()
        _sqlite_at(store_target, 3)
    store = make_store()
    assert store.schema_version() == len(MIGRATIONS)
    assert store.one("SELECT id, attempts, lease_owner, processes FROM jobs") == {
        "id": "j", "attempts": 0, "lease_owner": None, "processes": 1}


def test_a_postgresql_schema_newer_than_this_release_is_refused(postgres_url):
    Store(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("UPDATE schema_version SET version = %s", (len(MIGRATIONS) + 1,))
    with pytest.raises(StoreError, match="newer than this release"):
        Store(postgres_url)


def test_replicas_starting_together_migrate_once(postgres_url):
    import threading

    stores, errors = [], []

    def open_store():
        try:
            stores.append(Store(postgres_url))
        except Exception as exc:  # pragma: no cover - the failure is the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(stores) == 4
    assert all(s.schema_version() == len(MIGRATIONS) for s in stores)
    for store in stores:
        store.close()


def test_an_unreachable_postgresql_is_503_not_a_traceback(postgres_server):
    from app.errors import DatabaseUnavailable

    closed_port = postgres_server.url("nothing").replace(str(postgres_server.port), "1")
    with pytest.raises(DatabaseUnavailable, match="cannot be reached") as caught:
        Store(closed_port)
    assert "127.0.0.1" not in caught.value.message  # the server's address stays out of answers


# -- SQLite's file ------------------------------------------------------------------------------

def _sqlite_at(path, version: int) -> None:
    """A SQLite file as a release at schema ``version`` left it, with one queued job."""
    db = sqlite3.connect(path)
    for migration in MIGRATIONS[:version]:
        db.executescript(migration)
    db.execute("INSERT INTO jobs (id, state, dataset_id, config, promote, created_at) "
               "VALUES ('j', 'queued', 'd', '{}', 'never', 1)")
    db.execute(f"PRAGMA user_version = {version}")
    db.commit()
    db.close()


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_an_older_sqlite_file_is_upgraded_in_place(tmp_path, version):
    path = tmp_path / "s.db"
    _sqlite_at(path, version)
    store = Store(path)
    assert store.one("PRAGMA user_version")["user_version"] == len(MIGRATIONS)
    assert store.one("PRAGMA journal_mode")["journal_mode"] == "wal"
    assert store.one("SELECT id, time_limit_s, base_version, attempts, processes FROM jobs") == {
        "id": "j", "time_limit_s": None, "base_version": None, "attempts": 0, "processes": 1}


def test_newer_schema_is_refused_with_a_clear_message_and_the_file_is_left_as_it_was(tmp_path):
    path = tmp_path / "s.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE future (x)")
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer than this release"):
        Store(path)
    assert path.read_bytes() == before  # not switched to WAL mode, not touched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db"]


def test_a_corrupt_file_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not a database, just some bytes " * 200)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        Store(path)



def test_one_writer_at_a_time_on_both_backends(make_store, store_target):
    """A sweep that lists records and then removes files without one relies on it (and on
    PostgreSQL the job queue's row-locked statements are let past: ``exclusive=False``)."""
    import threading

    holder, other = make_store(), make_store()
    order: list[str] = []
    entered, release = threading.Event(), threading.Event()

    def hold():
        with holder.connect() as db:
            db.execute("INSERT INTO state (key, value) VALUES ('a', '1')")
            entered.set()
            release.wait(30)
            order.append("first committed")

    def write(exclusive: bool):
        with other.connect(exclusive=exclusive) as db:
            db.execute("INSERT INTO state (key, value) VALUES (?, '2')", (f"b{exclusive}",))
        order.append(f"exclusive={exclusive} committed")

    first = threading.Thread(target=hold)
    first.start()
    assert entered.wait(30)
    postgresql = isinstance(store_target, str)
    if postgresql:
        write(False)  # passes the write lock at once (on SQLite every write transaction waits)
    second = threading.Thread(target=write, args=(True,))
    second.start()
    second.join(0.5)
    assert second.is_alive()  # still waiting for the write lock
    release.set()
    first.join(30)
    second.join(30)
    expected = ["first committed", "exclusive=True committed"]
    assert order == (["exclusive=False committed", *expected] if postgresql else expected)


def test_versions_from_before_named_models_become_versions_of_sentiment_en(make_store, store_target, tmp_path):
    """Schema 5 (one flat list of versions, the active one in ``state``) upgraded to named models:
    every version belongs to sentiment-en, which keeps its active version; jobs name it too."""
    rows = [("bundled", "/b", "bundled", None, 0), ("v1", "/d/models/v1", "job", "j", 1),
            ("v2", "/d/models/v2", "job", "j2", 2)]
    statements = [
        *[("INSERT INTO models (version, path, source, job_id, metrics, created_at, seq) "
           f"VALUES ('{v}', '{p}', '{s}', {repr(j) if j else 'NULL'}, '{{}}', {10 + q}, {q})") for v, p, s, j, q in rows],
        "INSERT INTO state (key, value) VALUES ('active_version', 'v1')",
        "INSERT INTO jobs (id, state, dataset_id, config, promote, created_at, base_version) "
        "VALUES ('j', 'succeeded', 'd', '{}', 'never', 1, 'bundled')",
    ]
    if isinstance(store_target, str):
        with psycopg.connect(store_target, autocommit=True) as db:
            db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            db.execute("INSERT INTO schema_version VALUES (5)")
            for migration in MIGRATIONS[:5]:
                for statement in _postgresql_ddl(migration).split(";"):
                    if statement.strip():
                        db.execute(statement)
            for statement in statements:
                db.execute(statement)
    else:
        store_target.parent.mkdir()
        db = sqlite3.connect(store_target)
        for migration in MIGRATIONS[:5]:
            db.executescript(migration)
        for statement in statements:
            db.execute(statement)
        db.execute("PRAGMA user_version = 5")
        db.commit()
        db.close()
    store = make_store()
    assert store.schema_version() == len(MIGRATIONS)
    assert store.all("SELECT model, version, path, source, job_id, seq FROM versions ORDER BY seq") == [
        {"model": "sentiment-en", "version": v, "path": p, "source": s, "job_id": j, "seq": q} for v, p, s, j, q in rows]
    (model,) = store.all("SELECT name, active_version, task, labels, created_at FROM models")
    assert model == {"name": "sentiment-en", "active_version": "v1", "task": "single_label", "labels": [],
                     "created_at": 10}
    assert store.get_state("active_version") is None  # the one place it lives now is the model's record
    assert store.one("SELECT model, base_version FROM jobs") == {"model": "sentiment-en", "base_version": "bundled"}
    # and start-up records the bundled models beside it, keeping sentiment-en's active version
    from app.versions import Versions

    versions = Versions(store, tmp_path, {"sentiment-en": tmp_path / "en", "sentiment-zh": tmp_path / "zh"})
    versions.bootstrap()
    assert versions.active("sentiment-en") == "v1" and versions.active("sentiment-zh") == "bundled"
    assert versions.path("sentiment-en", "bundled") == tmp_path / "en"
    assert [v["version"] for v in versions.list("sentiment-en")] == ["v2", "v1", "bundled"]
