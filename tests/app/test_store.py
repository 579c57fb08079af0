"""The SQLite store: schema versions and migrations."""

from __future__ import annotations

import sqlite3

import pytest

from app.errors import StoreError
from app.store import MIGRATIONS, Store


def test_new_database_gets_the_latest_schema(tmp_path):
    store = Store(tmp_path / "s.db")
    assert store.one("PRAGMA user_version")["user_version"] == len(MIGRATIONS)
    store.set_state("k", "v")
    assert Store(tmp_path / "s.db").get_state("k") == "v"  # reopening keeps data, migrates nothing


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


def test_an_older_database_is_upgraded_in_place(tmp_path):
    path = tmp_path / "s.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO jobs (id, state, dataset_id, config, promote, created_at) VALUES ('j', 'queued', 'd', '{}', 'never', 1)")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = Store(path)
    assert store.one("PRAGMA user_version")["user_version"] == len(MIGRATIONS)
    assert store.one("SELECT id, time_limit_s FROM jobs") == {"id": "j", "time_limit_s": None}


def test_transaction_rolls_back_on_error(tmp_path):
    store = Store(tmp_path / "s.db")
    with pytest.raises(ZeroDivisionError), store.connect() as db:
        db.execute("INSERT INTO state (key, value) VALUES ('a', 'b')")
        raise ZeroDivisionError
    assert store.get_state("a") is None
