"""POST /v1/predict: answers, order, limits, auth, readiness, and the event loop staying free."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from model import Prediction, Predictor
from tests.support.long_reviews import BUNDLED, ENDING_MATTERS

TEXTS = ["w1 good w2", "w3 not good", "bad w4 w5 w6", "w7 not bad not", "good"]


@pytest.fixture(scope="module")
def predictor(tiny_bundle_path) -> Predictor:
    return Predictor.load(tiny_bundle_path)


def as_json(p: Prediction) -> dict:
    """What the API answers for ``p`` (the service's NumPy backend and the torch predictor agree to
    float rounding)."""
    return {"label": p.label, "score": pytest.approx(p.score, abs=1e-5),
            "probabilities": pytest.approx(p.probabilities, abs=1e-5), "windows": p.windows}


def test_one_text_gives_the_models_prediction(client, predictor):
    r = client.post("/v1/predict", json={"text": TEXTS[1]})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"model": "sentiment-en", "model_version": "bundled", "predictions": [as_json(predictor.predict([TEXTS[1]])[0])]}


def test_texts_are_answered_in_order(client, predictor):
    r = client.post("/v1/predict", json={"texts": TEXTS})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["predictions"] == [as_json(p) for p in predictor.predict(TEXTS)]
    # order really is the input order: the same texts reversed come back reversed
    r = client.post("/v1/predict", json={"texts": TEXTS[::-1]})
    assert [p["label"] for p in r.json()["predictions"]] == [p["label"] for p in body["predictions"]][::-1]


def test_a_long_review_is_judged_by_its_ending_and_says_in_how_many_windows(make_client):
    client = make_client(model_dir=BUNDLED)  # the server tokenises, its model process reads the windows
    texts = [text for text, _ in ENDING_MATTERS]
    r = client.post("/v1/predict", json={"texts": [*texts, "a gorgeous, witty, seductive movie"]})
    assert r.status_code == 200, r.text
    got = r.json()["predictions"]
    assert [p["label"] for p in got] == [label for _, label in ENDING_MATTERS] + ["positive"]
    assert [p["windows"] >= 2 for p in got] == [True, True, False] and got[2]["windows"] == 1
    expected = Predictor.load(BUNDLED).predict(texts)
    assert [p["windows"] for p in got[:2]] == [p.windows for p in expected]
    for answer, local in zip(got, expected):
        assert answer["probabilities"] == pytest.approx(local.probabilities, abs=1e-5)


def test_prediction_shape(client):
    (p,) = client.post("/v1/predict", json={"text": "w1 not bad"}).json()["predictions"]
    assert set(p["probabilities"]) == {"negative", "positive"}
    assert p["score"] == max(p["probabilities"].values())
    assert p["label"] == max(p["probabilities"], key=p["probabilities"].get)
    assert sum(p["probabilities"].values()) == pytest.approx(1.0)


def test_charset_in_content_type_is_accepted(client):
    r = client.post("/v1/predict", content=b'{"text": "good"}', headers={"content-type": "application/json; charset=utf-8"})
    assert r.status_code == 200, r.text


def test_limits_come_from_settings(make_client):
    client = make_client(max_texts_per_request=3, max_text_chars=12)
    assert client.post("/v1/predict", json={"texts": ["good"] * 3}).status_code == 200
    assert client.post("/v1/predict", json={"text": "x" * 12}).status_code == 200
    r = client.post("/v1/predict", json={"texts": ["good"] * 4})
    assert r.status_code == 422
    assert r.json()["error"] == "too_many_texts" and r.json()["details"][0]["field"] == "texts"
    r = client.post("/v1/predict", json={"texts": ["good", "x" * 13]})
    assert r.status_code == 422
    assert r.json()["error"] == "text_too_long" and r.json()["details"][0]["field"] == "texts[1]"


def test_key_required_when_configured(make_client):
    client = make_client(predict_requires_key=True, api_keys="k1,k2")
    r = client.post("/v1/predict", json={"text": "good"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert client.post("/v1/predict", json={"text": "good"}, headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.post("/v1/predict", json={"text": "good"}, headers={"Authorization": "Bearer k2"}).status_code == 200


def test_no_key_needed_by_default(make_client):
    client = make_client(api_keys="k1")
    assert client.post("/v1/predict", json={"text": "good"}).status_code == 200


def test_not_ready_before_the_model_is_loaded(make_settings):
    client = TestClient(create_app(make_settings()))  # no `with`: the lifespan never runs
    assert client.get("/healthz").status_code == 200
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["error"] == "not_ready"
    r = client.post("/v1/predict", json={"text": "good"})
    assert r.status_code == 503
    assert r.json()["error"] == "not_ready"


def test_inference_does_not_block_the_event_loop(client):
    """The model runs in its own process: while it is stopped mid-request, the server still answers."""
    model_process = client.app.state.inference.model_process.process
    os.kill(model_process.pid, signal.SIGSTOP)
    results = {}
    predicting = threading.Thread(target=lambda: results.setdefault("predict", client.post("/v1/predict", json={"text": "x"})))
    try:
        predicting.start()
        health = threading.Thread(target=lambda: results.setdefault("healthz", client.get("/healthz")))
        health.start()
        health.join(10)
        assert "healthz" in results, "/healthz did not answer while a prediction was waiting for the model"
        assert "predict" not in results
    finally:
        os.kill(model_process.pid, signal.SIGCONT)
        predicting.join(10)
    assert results["predict"].status_code == 200


def test_a_failing_model_gives_a_generic_500_that_leaks_nothing(make_settings):
    with TestClient(create_app(make_settings()), raise_server_exceptions=False) as client:
        model_process = client.app.state.inference.model_process

        async def broken(kind, message):
            raise RuntimeError("secret internals")

        working, model_process._request = model_process._request, broken
        r = client.post("/v1/predict", json={"text": "good"})
        assert r.status_code == 500
        assert r.json() == {"error": "internal_error", "message": "internal server error"}
        model_process._request = working
        assert client.get("/readyz").status_code == 200  # one bad request does not stop the service
        assert client.post("/v1/predict", json={"text": "good"}).status_code == 200


def test_text_mostly_in_a_script_the_model_never_saw_gets_a_warning(make_client):
    from app.settings import BUNDLED_MODEL_DIR

    client = make_client(model_dir=BUNDLED_MODEL_DIR)
    r = client.post("/v1/predict", json={"texts": ["这部电影非常好看，演员的表演很出色。", "a gorgeous, witty film",
                                                   "un film très émouvant", "这个movie太boring了"]})
    assert r.status_code == 200, r.text
    chinese, english, french, mixed = r.json()["predictions"]
    assert chinese["warnings"] == [
        "the model 'sentiment-en' (version 'bundled') was trained on Latin-script text; this text's words are mostly in other "
        "scripts (Han (Chinese characters) 100%), so its prediction may mean little"]  # its data.scripts: latin
    assert all("warnings" not in p for p in (english, french))
    # mixed: 11 of its 15 letters are Latin, but 4 of its 6 words (a Chinese character counting as one) are not
    assert "(Han (Chinese characters) 67%)" in mixed["warnings"][0]
    r = client.post("/v1/predict", json={"text": "a gorgeous, witty film"})
    assert "warnings" not in r.json()["predictions"][0]


def test_a_model_trained_on_latin_script_text_says_so(client):
    (p,) = client.post("/v1/predict", json={"text": "Этот фильм очень хороший"}).json()["predictions"]
    assert p["warnings"] == ["the model 'sentiment-en' (version 'bundled') was trained on Latin-script text; this text's words are "
                             "mostly in other scripts (Cyrillic 100%), so its prediction may mean little"]


@pytest.mark.parametrize("text", ["\u200b", "\u200b \u200d", "\ufeff"])
def test_a_text_with_nothing_visible_is_422(client, text):
    r = client.post("/v1/predict", json={"texts": ["good", text]})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "empty_text" and r.json()["details"][0]["field"] == "texts[1]"
