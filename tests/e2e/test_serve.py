"""The real server (uvicorn in a subprocess) under concurrent clients."""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from model import Predictor
from tests.support.data import negation_examples

N_REQUESTS = 64


def metric(server, name: str, **labels) -> float:
    text = httpx.get(server.url + "/metrics").text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


async def post_all(url: str, texts: list[str]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(texts))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        return await asyncio.gather(*(client.post("/v1/predict", json={"text": t}) for t in texts))


@pytest.mark.parametrize("launcher", ["app", "uvicorn"])
def test_concurrent_clients_each_get_their_own_answer(serve, tiny_bundle_path, launcher):
    server = serve(model_dir=tiny_bundle_path, launcher=launcher, env={"SENTIMENT_MAX_WAIT_MS": "20"})
    texts, _ = negation_examples(N_REQUESTS, seed=7)
    texts = [f"{t} w{i}" for i, t in enumerate(texts)]  # all different
    expected = Predictor.load(tiny_bundle_path).predict(texts)

    responses = asyncio.run(post_all(server.url, texts))

    for text, want, r in zip(texts, expected, responses):
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model_version"] == "bundled"
        (got,) = body["predictions"]
        assert got["label"] == want.label, text
        assert got["score"] == pytest.approx(want.score, abs=1e-5)
        assert got["probabilities"] == pytest.approx(want.probabilities, abs=1e-5)
    requests = metric(server, "sentiment_http_requests_total", route="/v1/predict", status="200")
    assert requests == N_REQUESTS
    batches = metric(server, "sentiment_batch_size_count")
    assert metric(server, "sentiment_batch_size_sum") == N_REQUESTS
    assert batches < N_REQUESTS, "concurrent requests were not merged into batches at the model process"
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal (exit status -15)
    assert server.stop() in (0, -signal.SIGTERM)
    log = server.log()
    assert "Application shutdown complete" in log
    assert "Traceback" not in log and "ERROR" not in log


def test_bad_input_over_real_http(serve, tiny_bundle_path):
    server = serve(model_dir=tiny_bundle_path, env={"SENTIMENT_MAX_BODY_BYTES": "2048"})
    with httpx.Client(base_url=server.url) as client:
        r = client.post("/v1/predict", content=b'{"text": "caf\xe9"}', headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_body"
        r = client.post("/v1/predict", content=b"{" * 3000, headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
        r = client.post("/v1/predict", json={"text": "   "})
        assert r.status_code == 422 and r.json()["details"][0]["field"] == "text"
        ready = client.get("/readyz").json()
        assert (ready["status"], ready["model_version"]) == ("ready", "bundled")
