"""Start-up of serving: the NumPy backend's input table derived once into the data directory and
memory-mapped after, and a model process started early (``python -m app``) taken over by the lifespan."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sqlite3

import numpy as np
from fastapi.testclient import TestClient

from app.main import create_app
from app.serving.inference import load_active, load_version
from app.serving.model_process.__main__ import TABLES_FOLDER
from app.serving.model_process.client import preload, prestart
from app.store import MIGRATIONS, SQLITE_FILE, now
from app.versions import ActiveVersion, open_versions, peek_active
from model.bundle import read_config
from model.inference.numpy_rnn import NumpyRNN
from tests.support.settings import AUTH
from tests.support.waiting import wait_for

SEQS = [[2, 3, 4, 5], [6], [7, 8, 9, 10, 11, 12, 13]]


def _table_names(tiny_bundle_path) -> list[str]:
    weights = read_config(tiny_bundle_path)["files"]["model.safetensors"]
    return [f"input-table-v1-{weights}.npy", f"input-table-v1-{weights}.sha256"]


def test_the_input_table_is_derived_once_then_memory_mapped(tiny_bundle_path, tmp_path):
    built = NumpyRNN.load(tiny_bundle_path)
    first = NumpyRNN.load(tiny_bundle_path, table_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == _table_names(tiny_bundle_path)  # no *.partial left
    again = NumpyRNN.load(tiny_bundle_path, table_dir=tmp_path)
    assert isinstance(again.table.base, np.memmap) and not again.table.flags.writeable
    assert not isinstance(built.table.base, np.memmap)
    np.testing.assert_array_equal(first.logits(SEQS), built.logits(SEQS))
    np.testing.assert_array_equal(again.logits(SEQS), built.logits(SEQS))


def test_a_damaged_table_is_derived_again(tiny_bundle_path, tmp_path, caplog):
    built = NumpyRNN.load(tiny_bundle_path)
    NumpyRNN.load(tiny_bundle_path, table_dir=tmp_path)
    table = tmp_path / _table_names(tiny_bundle_path)[0]
    data = bytearray(table.read_bytes())
    data[-5] ^= 0xFF
    table.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="model.inference.numpy_rnn"):
        again = NumpyRNN.load(tiny_bundle_path, table_dir=tmp_path)
    assert "does not match its checksum" in caplog.text
    np.testing.assert_array_equal(again.logits(SEQS), built.logits(SEQS))
    assert NumpyRNN.load(tiny_bundle_path, table_dir=tmp_path).logits(SEQS).tolist() == built.logits(SEQS).tolist()


def test_a_table_that_cannot_be_written_is_held_in_memory(tiny_bundle_path, tmp_path, caplog):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="model.inference.numpy_rnn"):
        network = NumpyRNN.load(tiny_bundle_path, table_dir=blocked / "tables")
    assert "holding it in memory" in caplog.text
    np.testing.assert_array_equal(network.logits(SEQS), NumpyRNN.load(tiny_bundle_path).logits(SEQS))


def test_the_service_keeps_the_input_table_in_its_data_directory(make_client, make_settings, tiny_bundle_path):
    client = make_client()
    assert client.get("/readyz").json()["backend"] == "numpy"
    tables = make_settings().data_dir / TABLES_FOLDER
    assert sorted(p.name for p in tables.iterdir()) == _table_names(tiny_bundle_path)


def test_a_model_process_started_early_is_taken_over_and_replaced_when_it_dies(make_settings, make_examples):
    settings = make_settings()
    early = prestart(settings)
    app = create_app(settings)
    app.state.prestarted_model_process = early
    texts, _ = make_examples(20, seed=5)
    with TestClient(app) as client:
        model_process = client.app.state.inference.model_process
        assert model_process.pid == early.pid
        r = client.post("/v1/predict", json={"texts": texts})
        assert r.status_code == 200, r.text
        os.kill(early.pid, signal.SIGKILL)
        wait_for(lambda: model_process.ready and model_process.pid != early.pid, 30, what="a new model process")
        again = client.post("/v1/predict", json={"texts": texts})
        assert again.status_code == 200, again.text
        assert again.json()["predictions"] == r.json()["predictions"]
    assert early.returncode == -signal.SIGKILL


def _preloaded_app(settings):
    """What ``python -m app`` does before the server starts: a model process started, the active
    version loaded here and sent to it to load."""
    early = prestart(settings)
    versions = open_versions(settings)
    loaded = load_active(versions, settings.default_model)
    preload(early, loaded)
    app = create_app(settings)
    app.state.prestarted_model_process, app.state.preloaded_version = early, loaded
    app.state.versions = versions
    return app, early, loaded


def _served_first_app(settings):
    """What ``python -m app`` does on records at the current schema: the active version read without
    opening them (``peek_active``), loaded and sent to the model process; the lifespan opens them."""
    active = peek_active(settings, settings.default_model)
    early = prestart(settings)
    loaded = load_version(active.model, active.version, active.path)
    preload(early, loaded)
    app = create_app(settings)
    app.state.prestarted_model_process, app.state.preloaded_version = early, loaded
    app.state.preloaded_min_score = active.min_score
    return app, early, loaded


def _add_version(settings, versions, tiny_bundle_path, version="v1", seq=1):
    path = settings.data_dir / "models" / "sentiment-en" / version
    shutil.copytree(tiny_bundle_path, path)
    with versions.store.connect() as db:
        versions.store.insert("versions", db=db, model="sentiment-en", version=version, path=str(path),
                              source="job", metrics={}, created_at=now(), seq=seq)
    return path


def test_the_active_version_is_read_without_opening_the_records_only_where_they_are_current(make_settings,
                                                                                           tiny_bundle_path):
    settings = make_settings()
    assert peek_active(settings, "sentiment-en") is None  # a new data directory: nothing recorded yet
    versions = open_versions(settings)
    assert peek_active(settings, "sentiment-en") == ActiveVersion("sentiment-en", "bundled", tiny_bundle_path, None)
    path = _add_version(settings, versions, tiny_bundle_path)
    versions.set_active("sentiment-en", "v1", 0.7, True)
    assert peek_active(settings, "sentiment-en") == ActiveVersion("sentiment-en", "v1", path, 0.7)
    assert peek_active(settings, "topics") is None  # a model not recorded
    moved = make_settings(model_dir=path)  # the bundled version is where the settings say now
    versions.set_active("sentiment-en", "bundled")
    assert peek_active(moved, "sentiment-en").path == path
    postgres = make_settings(database_url="postgresql://user@localhost/records")
    assert peek_active(postgres, "sentiment-en") is None
    versions.store.close()
    db = sqlite3.connect(settings.data_dir / SQLITE_FILE)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) - 1}")  # records an upgrade must open first
    db.commit()
    db.close()
    assert peek_active(settings, "sentiment-en") is None


def test_served_first_predictions_answer_and_the_records_open_behind_them(make_settings, tiny_bundle_path):
    settings = make_settings()
    versions = open_versions(settings)
    _add_version(settings, versions, tiny_bundle_path)
    versions.set_active("sentiment-en", "v1", 0.99, True)
    app, early, loaded = _served_first_app(settings)
    _add_version(settings, versions, tiny_bundle_path, "v2", 2)  # activated between python -m app's read and
    versions.set_active("sentiment-en", "v2")                   # the records' opening: followed once open
    assert app.state.versions is None
    with TestClient(app) as client:
        state = client.app.state
        inference = state.inference
        assert inference.model_process.pid == early.pid
        r = client.post("/v1/predict", json={"text": "good"})  # served while the records may still be opening
        assert r.status_code == 200, r.text
        assert r.json()["model_version"] in ("v1", "v2")
        models = client.get("/v1/models", headers=AUTH)  # waits for the records, then answers from them
        assert models.status_code == 200, models.text
        assert state.records_open.is_set() and state.store is not None and state.jobs is not None
        wait_for(lambda: inference.models["sentiment-en"].version == "v2", what="the activation made meanwhile")
        assert inference.min_scores["sentiment-en"] == 0.99  # as read first, and as the records say
        ready = client.get("/readyz").json()
        assert ready["database"]["reachable"] is True and ready["model_version"] == "v2"


def test_the_version_loaded_before_the_server_started_is_served_without_loading_it_again(make_settings,
                                                                                          make_examples):
    app, early, loaded = _preloaded_app(make_settings())
    texts, _ = make_examples(20, seed=6)
    with TestClient(app) as client:
        inference = client.app.state.inference
        assert inference.model_process.pid == early.pid
        assert inference.models["sentiment-en"] is loaded  # its tokenizer not loaded a second time
        assert inference.model_process.loaded == {loaded.key: loaded.labels}  # the preload's answer
        r = client.post("/v1/predict", json={"texts": texts})
        assert r.status_code == 200, r.text
        assert len(r.json()["predictions"]) == 20


def test_a_preloaded_version_that_is_no_longer_the_active_one_is_not_served(make_settings, tiny_bundle_path):
    settings = make_settings()
    app, early, loaded = _preloaded_app(settings)
    versions = open_versions(settings)  # another process activates v1 between the preload and the server's start
    path = settings.data_dir / "models" / "sentiment-en" / "v1"
    shutil.copytree(tiny_bundle_path, path)
    with versions.store.connect() as db:
        versions.store.insert("versions", db=db, model="sentiment-en", version="v1", path=str(path), source="job",
                              metrics={}, created_at=now(), seq=1)
    versions.set_active("sentiment-en", "v1")
    with TestClient(app) as client:
        inference = client.app.state.inference
        assert loaded.version == "bundled" and inference.models["sentiment-en"].version == "v1"
        assert inference.model_process.pid == early.pid and set(inference.model_process.loaded) == {"sentiment-en/v1"}
        assert client.post("/v1/predict", json={"text": "good"}).json()["model_version"] == "v1"


def test_a_model_process_started_early_that_died_is_replaced_at_start(make_settings):
    settings = make_settings()
    early = prestart(settings)
    early.kill()
    early.wait()
    app = create_app(settings)
    app.state.prestarted_model_process = early
    with TestClient(app) as client:
        assert client.post("/v1/predict", json={"text": "good"}).status_code == 200
        assert client.app.state.inference.model_process.pid != early.pid


def test_the_sweep_removes_tables_no_version_needs_and_keeps_the_others(make_client):
    client = make_client()
    folder = client.app.state.settings.data_dir / "input-tables"
    kept = sorted(p.name for p in folder.iterdir())
    assert kept and all(name.startswith("input-table-v") for name in kept)
    for suffix in (".npy", ".sha256"):
        (folder / f"input-table-v1-{'0' * 64}{suffix}").write_bytes(b"stale")
    client.app.state.versions.sweep()
    assert sorted(p.name for p in folder.iterdir()) == kept
