"""/v1/explain on a real server (its model process) serving the bundled SST-2 model."""

from __future__ import annotations

import httpx

from tests.support.long_reviews import BUNDLED


def test_the_bundled_model_explains_a_review(serve):
    server = serve(model_dir=BUNDLED)
    text = "  The plot is a mess, but the acting is wonderful."
    with httpx.Client(base_url=server.url, timeout=30) as client:
        r = client.post("/v1/explain", json={"text": text})
        assert r.status_code == 200, r.text
        body = r.json()
        predicted = client.post("/v1/predict", json={"text": text}).json()["predictions"][0]
    assert body["model_version"] == "bundled" and body["method"] == "occlusion"
    assert body["label"] == predicted["label"] == "positive"
    assert abs(body["score"] - predicted["score"]) < 1e-6
    words = [t["text"] for t in body["tokens"]]
    assert words == ["The", "plot", "is", "a", "mess", ",", "but", "the", "acting", "is", "wonderful", "."]
    assert all(text[t["start"] : t["end"]] == t["text"] for t in body["tokens"])
    weights = {t["text"]: t["weight"] for t in body["tokens"]}
    assert max(weights, key=weights.get) == "wonderful"
    assert weights["mess"] < 0  # it speaks against the positive label
