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
