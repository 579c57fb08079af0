"""Rate limits per key (or client address): 429 with Retry-After and RateLimit-* headers, per window."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.http.rate_limit import RateLimit
from app.settings import Settings

KEYS = "a=key-a:admin+train+predict,b=key-b:admin+train+predict"
A = {"Authorization": "Bearer key-a"}
B = {"Authorization": "Bearer key-b"}


class Clock:
    """A clock the test moves (no sleeping to wait for a window to end)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _with_clock(client, name: str) -> Clock:
    clock = Clock()
    getattr(client.app.state.rate_limits, name).clock = clock
    return clock


def _activate(client, headers):
    return client.post("/v1/models/sentiment-en/versions/bundled/activate", headers=headers)


def test_writes_past_the_limit_get_429_with_the_headers_and_pass_again_in_the_next_window(make_client):
    client = make_client(api_keys=KEYS, rate_limit_write="2/minute")
    clock = _with_clock(client, "write")
    for remaining in ("1", "0"):
        r = _activate(client, A)
        assert r.status_code == 200, r.text
        assert (r.headers["ratelimit-limit"], r.headers["ratelimit-remaining"]) == ("2", remaining)
        assert r.headers["ratelimit-reset"] == "60" and r.headers["ratelimit-policy"] == "2;w=60"
    clock.now += 45.5
    r = _activate(client, A)
    assert r.status_code == 429
    assert r.json()["error"] == "rate_limited"
    assert "SENTIMENT_RATE_LIMIT_WRITE" in r.json()["message"] and "key a" in r.json()["message"]
    assert r.headers["retry-after"] == "15" and r.headers["ratelimit-reset"] == "15"
    assert r.headers["ratelimit-remaining"] == "0" and r.headers["ratelimit-limit"] == "2"
    clock.now += 15
    r = _activate(client, A)
    assert r.status_code == 200
    assert r.headers["ratelimit-remaining"] == "1" and r.headers["ratelimit-reset"] == "60"


def test_each_key_has_its_own_bucket(make_client):
    client = make_client(api_keys=KEYS, rate_limit_write="1/minute")
    assert _activate(client, A).status_code == 200
    assert _activate(client, A).status_code == 429
    r = _activate(client, B)
    assert r.status_code == 200 and r.headers["ratelimit-remaining"] == "0"


def test_every_mutating_endpoint_counts_against_the_write_limit(make_client):
    client = make_client(api_keys=KEYS, rate_limit_write="4/minute")
    assert client.post("/v1/datasets", headers=A).status_code == 415  # counted, then refused for what it is
    assert client.delete("/v1/datasets/abc", headers=A).status_code == 404
    assert client.post("/v1/train-jobs", headers=A).status_code == 415
    assert client.post("/v1/train-jobs/abc/cancel", headers=A).status_code == 404
    for method, path in [("post", "/v1/datasets"), ("delete", "/v1/datasets/abc"), ("post", "/v1/train-jobs"),
                         ("post", "/v1/train-jobs/abc/cancel"), ("post", "/v1/models/sentiment-en/versions/bundled/activate")]:
        assert client.request(method, path, headers=A).status_code == 429, path
    assert client.get("/v1/datasets", headers=A).status_code == 200  # reading is not limited
    assert "ratelimit-limit" not in client.get("/v1/models").headers


def test_predict_is_limited_per_client_address_or_per_key_and_apart_from_writes(make_client):
    client = make_client(api_keys=KEYS, rate_limit_predict="2/second", rate_limit_write="1/minute")
    clock = _with_clock(client, "predict")
    for remaining in ("1", "0"):
        r = client.post("/v1/predict", json={"text": "w1 good"})
        assert r.status_code == 200 and r.headers["ratelimit-remaining"] == remaining
    r = client.post("/v1/predict", json={"text": "w1 good"})
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert "client address testclient" in r.json()["message"]
    assert client.post("/v1/predict", json={"text": "w1 good"}, headers=A).status_code == 200  # a key: its own bucket
    assert client.post("/v1/predict", json={"text": "w1 good"}, headers={"Authorization": "Bearer wrong"}).status_code == 429
    assert _activate(client, A).status_code == 200  # the write limit counts apart
    clock.now += 1
    assert client.post("/v1/predict", json={"text": "w1 good"}).status_code == 200


def test_refused_keys_do_not_use_up_the_limit(make_client):
    client = make_client(api_keys=KEYS, rate_limit_write="1/minute")
    for _ in range(3):
        assert _activate(client, {"Authorization": "Bearer wrong"}).status_code == 403
        assert _activate(client, {}).status_code == 401
    assert _activate(client, A).status_code == 200


def test_defaults_limit_writes_but_not_predict(make_client):
    client = make_client()
    assert client.app.state.rate_limits.predict is None
    assert "ratelimit-limit" not in client.post("/v1/predict", json={"text": "w1 good"}).headers
    r = client.post("/v1/train-jobs/abc/cancel", headers={"Authorization": "Bearer test-key"})
    assert r.status_code == 404 and r.headers["ratelimit-policy"] == "120;w=60"


@pytest.mark.parametrize("text,parsed", [
    ("100/second", (100, 1)), ("60 per minute", (60, 60)), ("10/5 minutes", (10, 300)), ("1/Hour", (1, 3600)),
    ("5000/day", (5000, 86400)), ("0", None), ("", None), (" ", None),
])
def test_rate_limit_settings(text, parsed):
    assert Settings(rate_limit_predict=text).rate_limit("predict") == parsed


@pytest.mark.parametrize("text", ["lots", "100", "0/minute", "10/0 seconds", "1/fortnight", "1/second;2/minute", "-1/second"])
def test_bad_rate_limits_are_settings_errors(text):
    with pytest.raises(ValidationError) as info:
        Settings(rate_limit_write=text)
    (error,) = info.value.errors()
    assert error["loc"] == ("rate_limit_write",) and "is not a rate limit" in error["msg"]


def test_expired_windows_are_dropped_when_the_table_grows():
    clock = Clock()
    limit = RateLimit("predict", 1, 1, clock=clock)
    for i in range(1024):
        limit.hit(f"address:{i}")
    clock.now += 2
    limit.hit("address:new")
    assert list(limit.periods) == ["address:new"]
