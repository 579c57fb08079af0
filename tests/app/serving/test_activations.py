"""Versions everywhere at once: an activation made through one server process is served by another
(on the same records and data directory, as replicas on other machines would be) within 2 s. On
PostgreSQL by NOTIFY, with polling set too slow to be what delivers it; on SQLite by polling the
active version's record (``SENTIMENT_VERSION_POLL_S``, default 1 s)."""

from __future__ import annotations

import time

import pytest

from app.store import Store
from app.versions import ACTIVE_CHANNEL, Versions
from tests.support.api import add_version
from tests.support.settings import AUTH
from tests.support.waiting import wait_for


def _add_version(client, source_path, version="v1") -> None:
    """A trained version as a job leaves it: its folder in the shared data directory, its record."""
    add_version(client, source_path, version=version)


def _served(client) -> str:
    r = client.post("/v1/predict", json={"text": "w1 good"})
    assert r.status_code == 200, r.text
    return r.json()["model_version"]


def _activate_through_a_and_time_b(a, b, version="v1") -> float:
    assert _served(b) == "bundled"
    r = a.post(f"/v1/models/sentiment-en/versions/{version}/activate", headers=AUTH)
    assert r.status_code == 200, r.text
    activated = time.monotonic()
    wait_for(lambda: _served(b) == version, 2.0, interval=0.02, what=f"replica B to serve {version}")
    return time.monotonic() - activated


def test_on_postgresql_replica_b_serves_an_activation_made_on_a_at_once(postgres_url, make_client, tiny_bundle_path):
    # a poll every 60 s: only the NOTIFY can bring the version within the test's 2 s
    a = make_client(database_url=postgres_url, version_poll_s=60, role="api")
    b = make_client(database_url=postgres_url, version_poll_s=60, role="api")
    assert b.app.state.activation_listener.listening.wait(10)
    _add_version(a, tiny_bundle_path)
    took = _activate_through_a_and_time_b(a, b)
    assert took < 2.0
    # and back (a rollback is an activation like any other)
    r = b.post("/v1/models/sentiment-en/versions/bundled/activate", headers=AUTH)
    assert r.status_code == 200
    wait_for(lambda: _served(a) == "bundled", 2.0, interval=0.02, what="replica A to serve the rollback")


def test_on_sqlite_replica_b_follows_by_polling_within_2_s(make_client, tiny_bundle_path):
    a = make_client(version_poll_s=1.0)
    b = make_client(version_poll_s=1.0)
    assert b.app.state.activation_listener is None  # nothing to listen to: the poll is the way
    _add_version(a, tiny_bundle_path)
    _activate_through_a_and_time_b(a, b)


def test_the_notify_is_sent_only_when_the_activation_commits(postgres_url, tmp_path):
    store = Store(postgres_url)
    versions = Versions(store, tmp_path, {"sentiment-en": tmp_path / "bundled"})
    versions.bootstrap()
    try:
        with store.listen_connection() as listener:
            listener.execute(f"LISTEN {ACTIVE_CHANNEL}")
            with pytest.raises(RuntimeError), store.connect() as db:
                versions.record_active(db, "sentiment-en", "v7")
                raise RuntimeError("rolled back")
            assert [n.payload for n in listener.notifies(timeout=0.3)] == []
            with store.connect() as db:
                versions.record_active(db, "sentiment-en", "v8")
            assert [n.payload for n in listener.notifies(timeout=2, stop_after=1)] == ["sentiment-en"]
        assert versions.active("sentiment-en") == "v8"
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_activation_of_one_model_reaches_the_other_replica_and_leaves_the_other_models(
        backend, request, make_client, tiny_bundle_path):
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else ""
    a = make_client(database_url=url, version_poll_s=0.2, role="api")
    b = make_client(database_url=url, version_poll_s=0.2, role="api")
    add_version(a, tiny_bundle_path, model="topics", version="v1")
    add_version(a, tiny_bundle_path, model="topics", version="v2", seq=2)

    def served(client, model):
        r = client.post(f"/v1/models/{model}/predict", json={"text": "w1 good"})
        assert r.status_code == 200, r.text
        return r.json()["model_version"]

    assert served(a, "topics") == served(b, "topics") == "v1"
    r = a.post("/v1/models/topics/versions/v2/activate", headers=AUTH)
    assert r.status_code == 200, r.text
    wait_for(lambda: served(b, "topics") == "v2", 3.0, interval=0.05, what="replica B to serve topics v2")
    assert served(a, "sentiment-en") == served(b, "sentiment-en") == "bundled"
