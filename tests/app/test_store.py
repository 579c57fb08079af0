"""The SQLite store: schema versions and migrations."""

from __future__ import annotations

import sqlite3

import pytest

from app.store import MIGRATIONS, Store


def test_new_database_gets_the_latest_schema(tmp_path):
    store = Store(tmp_path / "s.db")
    assert store.one("PRAGMA user_version")["user_version"] == len(MIGRATIONS)
    store.set_state("k", "v")
    assert Store(tmp_path / "s.db").get_state("k") == "v"  # reopening keeps data, migrates nothing


def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(RuntimeError, match="newer than this release"):
        Store(tmp_path / "s.db")


def test_transaction_rolls_back_on_error(tmp_path):
    store = Store(tmp_path / "s.db")
    with pytest.raises(ZeroDivisionError), store.connect() as db:
        db.execute("INSERT INTO state (key, value) VALUES ('a', 'b')")
        raise ZeroDivisionError
    assert store.get_state("a") is None
