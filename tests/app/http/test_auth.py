"""API keys: every state-changing endpoint needs ``Authorization: Bearer <key>``."""

from __future__ import annotations

import logging
import os

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.support.settings import KEY, make_settings

MUTATING = [
    ("post", "/v1/datasets"),
    ("delete", "/v1/datasets/abc"),
    ("post", "/v1/train-jobs"),
    ("post", "/v1/train-jobs/abc/cancel"),
    ("post", "/v1/models/bundled/activate"),
]


@pytest.fixture
def make_client(tiny_bundle_path, tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("SENTIMENT_")]:
        monkeypatch.delenv(name)

    def make(**overrides):
        return TestClient(create_app(make_settings(tiny_bundle_path, tmp_path / "data", **overrides)))

    return make


@pytest.mark.parametrize("method,path", MUTATING)
@pytest.mark.parametrize("headers,status,error", [
    ({}, 401, "unauthorized"),
    ({"Authorization": "Bearer wrong-key"}, 403, "forbidden"),
    ({"Authorization": f"Basic {KEY}"}, 401, "unauthorized"),
    ({"Authorization": "Bearer "}, 401, "unauthorized"),
])
def test_mutating_endpoints_need_the_key(make_client, method, path, headers, status, error):
    with make_client(api_keys=f"other,{KEY}") as client:
        r = client.request(method, path, headers=headers)
        assert r.status_code == status, r.text
        assert r.json()["error"] == error
        if status == 401:
            assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("method,path", MUTATING)
def test_without_configured_keys_mutations_refuse_and_say_how(make_client, method, path):
    with make_client(api_keys="") as client:
        r = client.request(method, path, headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 403
        assert r.json()["error"] == "auth_not_configured" and "SENTIMENT_API_KEYS" in r.json()["message"]


def test_right_key_passes_auth(make_client):
    with make_client(api_keys=f"other,{KEY}") as client:
        r = client.post("/v1/models/bundled/activate", headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 200 and r.json()["active"] is True
        r = client.post("/v1/train-jobs/abc/cancel", headers={"Authorization": "Bearer other"})
        assert r.status_code == 404  # past auth, the job just does not exist


def test_prediction_is_open_unless_configured(make_client):
    with make_client() as client:
        assert client.post("/v1/predict", json={"text": "w1 good"}).status_code == 200
    with make_client(predict_requires_key=True) as client:
        assert client.post("/v1/predict", json={"text": "w1 good"}).status_code == 401
        r = client.post("/v1/predict", json={"text": "w1 good"}, headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 200


def test_keys_never_reach_logs_or_settings_repr(make_client, caplog):
    caplog.set_level(logging.DEBUG)
    with make_client(api_keys="s3cret-key-123") as client:
        client.post("/v1/models/bundled/activate", headers={"Authorization": "Bearer s3cret-key-123"})
        client.post("/v1/models/bundled/activate", headers={"Authorization": "Bearer wrong-guess-456"})
        assert "s3cret-key-123" not in repr(client.app.state.settings)
    assert "s3cret-key-123" not in caplog.text and "wrong-guess-456" not in caplog.text
    assert "activated model version bundled" in caplog.text  # the log was captured at all
