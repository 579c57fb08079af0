"""The NumPy and torch backends give the same answers through HTTP: two real servers, the same texts
(``benchmarks/backends_http.py`` does the same with the bundled model and 500 SST-2 sentences)."""

from __future__ import annotations

import httpx
import pytest


def test_a_numpy_server_and_a_torch_server_answer_the_same_probabilities(serve, tiny_bundle_path, make_examples,
                                                                          tmp_path):
    texts, _ = make_examples(100, seed=24)
    texts.append(" ".join(texts * 2))  # read in several windows
    answers = {}
    for backend in ("numpy", "torch"):
        server = serve(model_dir=tiny_bundle_path, data_dir=tmp_path / backend, env={"SENTIMENT_BACKEND": backend})
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert http.get("/readyz").json()["backend"] == backend
            answers[backend] = []
            for start in range(0, len(texts), 16):
                r = http.post("/v1/predict", json={"texts": texts[start : start + 16]})
                assert r.status_code == 200, r.text
                answers[backend] += r.json()["predictions"]
        server.stop()
    assert answers["numpy"][-1]["windows"] > 1
    for a, b in zip(answers["numpy"], answers["torch"], strict=True):
        assert a["label"] == b["label"] and a["windows"] == b["windows"]
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-4)
