"""GET /v1/models and /v1/models/{version}."""

from __future__ import annotations


def test_list_shows_the_bundled_model_active(client):
    r = client.get("/v1/models")
    assert r.status_code == 200
    body = r.json()
    assert body["active_version"] == "bundled"
    (bundled,) = [m for m in body["models"] if m["version"] == "bundled"]
    assert bundled["active"] is True and bundled["read_only"] is True
    assert bundled["labels"] == ["negative", "positive"]


def test_one_version(client):
    r = client.get("/v1/models/bundled")
    assert r.status_code == 200
    body = r.json()
    assert body["version"] == "bundled" and body["status"] == "ready"
    assert body["config"]["model"]["cell"] == "lstm"


def test_unknown_version_is_404(client):
    r = client.get("/v1/models/v404")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"
    assert "v404" in r.json()["message"]


def _add_version(client, source_path, version="v1"):
    import shutil

    from app.store import now

    state = client.app.state
    path = state.settings.data_dir / "models" / version
    shutil.copytree(source_path, path)
    state.store.insert("models", version=version, path=str(path), source="job", metrics={}, created_at=now(), seq=1)
    return path


def test_a_version_with_a_truncated_weights_file_is_not_ready(client, tiny_bundle_path):
    path = _add_version(client, tiny_bundle_path)
    assert client.get("/v1/models/v1").json()["status"] == "ready"
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    body = client.get("/v1/models/v1").json()
    assert body["status"] == "unavailable" and "checksum mismatch" in body["error"]
    assert [m["status"] for m in client.get("/v1/models").json()["models"] if m["version"] == "v1"] == ["unavailable"]


def test_responses_name_no_server_path(client, tiny_bundle_path):
    """A broken version's detail and a failed activation name files relative to the data
    directory, never where the server keeps them."""
    path = _add_version(client, tiny_bundle_path)
    (path / "config.json").write_text("{not json")
    data_dir = str(client.app.state.settings.data_dir)
    body = client.get("/v1/models/v1").json()
    assert body["status"] == "unavailable" and "models/v1/config.json" in body["error"]
    assert data_dir not in body["error"] and not body["error"].startswith("/")
    listed = next(m for m in client.get("/v1/models").json()["models"] if m["version"] == "v1")
    assert listed["error"] == body["error"]  # the listing names no server path either
    r = client.post("/v1/models/v1/activate", headers={"Authorization": "Bearer test-key"})
    assert r.status_code == 409, r.text
    assert "models/v1" in r.json()["message"] and data_dir not in r.text


def test_a_trained_version_can_be_deleted_but_not_the_bundled_or_the_served_one(client, tiny_bundle_path):
    auth = {"Authorization": "Bearer test-key"}
    path = _add_version(client, tiny_bundle_path)
    assert client.delete("/v1/models/bundled", headers=auth).json()["error"] == "version_read_only"
    assert client.post("/v1/models/v1/activate", headers=auth).status_code == 200
    r = client.delete("/v1/models/v1", headers=auth)
    assert r.status_code == 409 and r.json()["error"] == "version_active"
    assert client.post("/v1/models/bundled/activate", headers=auth).status_code == 200
    assert client.delete("/v1/models/v1").status_code == 401  # the admin scope
    r = client.delete("/v1/models/v1", headers=auth)
    assert r.status_code == 204 and not r.content
    assert not path.exists() and client.get("/v1/models/v1").status_code == 404
    assert client.delete("/v1/models/v1", headers=auth).status_code == 404


def test_a_job_past_the_version_quota_is_refused_with_507(make_client, tiny_bundle_path):
    from tests.support.api import TINY_CONFIG, upload

    client = make_client(max_versions=1)
    _add_version(client, tiny_bundle_path)
    dataset = upload(client)
    r = client.post("/v1/train-jobs", headers={"Authorization": "Bearer test-key"},
                    json={"dataset_id": dataset["id"], "config": TINY_CONFIG})
    assert r.status_code == 507, r.text
    assert r.json()["error"] == "version_quota" and "SENTIMENT_MAX_VERSIONS=1" in r.json()["message"]
    client = make_client(max_version_bytes=1000, data_dir=client.app.state.settings.data_dir)
    r = client.post("/v1/train-jobs", headers={"Authorization": "Bearer test-key"},
                    json={"dataset_id": dataset["id"], "config": TINY_CONFIG})
    assert r.status_code == 507 and "SENTIMENT_MAX_VERSION_BYTES=1,000" in r.json()["message"]
