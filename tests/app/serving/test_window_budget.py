"""A predict request's model time is bounded: its texts may be read in at most
SENTIMENT_MAX_WINDOWS_PER_REQUEST windows (a long text is read in several)."""

from __future__ import annotations

import pytest


@pytest.fixture
def client(make_client):
    return make_client(inference_process=True, max_windows_per_request=30)


def test_a_request_over_the_window_budget_is_422_before_any_model_time(client):
    long_text = " ".join(f"w{i % 12} good" for i in range(200))  # ~400 tokens: several windows of 64
    one = client.post("/v1/predict", json={"text": long_text})
    assert one.status_code == 200, one.text
    windows = one.json()["predictions"][0]["windows"]
    assert 1 < windows <= 15
    r = client.post("/v1/predict", json={"texts": [long_text] * (30 // windows + 1)})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "too_many_windows" and "SENTIMENT_MAX_WINDOWS_PER_REQUEST" in body["message"]
    assert client.post("/v1/predict", json={"texts": [long_text] * (30 // windows)}).status_code == 200


@pytest.mark.parametrize("settings", [{"inference_process": False}, {"batching": False}])
def test_the_budget_holds_when_the_model_runs_in_the_server(make_client, settings):
    client = make_client(max_windows_per_request=30, **settings)
    long_text = " ".join(f"w{i % 12} good" for i in range(200))
    windows = client.post("/v1/predict", json={"text": long_text}).json()["predictions"][0]["windows"]
    r = client.post("/v1/predict", json={"texts": [long_text] * (30 // windows + 1)})
    assert r.status_code == 422 and r.json()["error"] == "too_many_windows"
