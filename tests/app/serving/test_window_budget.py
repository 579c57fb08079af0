"""A predict request's model time is bounded: its texts may be read in at most
SENTIMENT_MAX_WINDOWS_PER_REQUEST windows (a long text is read in several)."""

from __future__ import annotations

import pytest


@pytest.fixture
def client(make_client):
    return make_client(max_windows_per_request=30, max_wait_ms=200)  # requests wait together at the model


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


def test_each_request_has_its_own_budget_whatever_waits_beside_it(client):
    """Requests merged into one model call never count against each other's budget: valid ones
    each get 200 even when together they are far over it, and an over-budget one fails alone."""
    import threading

    long_text = " ".join(f"w{i % 12} good" for i in range(200))
    windows = client.post("/v1/predict", json={"text": long_text}).json()["predictions"][0]["windows"]
    within = [long_text] * (30 // windows)
    answers: dict[int, int] = {}

    def ask(i: int) -> None:
        texts = within + [long_text] if i == 0 else within  # request 0 alone is over the budget
        answers[i] = client.post("/v1/predict", json={"texts": texts}).status_code

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == {0: 422, **{i: 200 for i in range(1, 8)}}
