"""POST /v1/explain: the answer's shape, offsets and weights; limits and errors."""

from __future__ import annotations

import pytest

from model import Predictor
from model.inference.explain import log_odds
from tests.support.settings import AUTH, KEY


@pytest.fixture(scope="module")
def predictor(tiny_bundle_path) -> Predictor:
    return Predictor.load(tiny_bundle_path)


def explain(client, text: str, **kwargs):
    return client.post("/v1/explain", json={"text": text}, **kwargs)


def test_an_explanation_weighs_each_word_toward_the_predicted_label(make_client, predictor):
    client = make_client()
    text = "  w1 good w2, w3"
    r = explain(client, text)
    assert r.status_code == 200, r.text
    body = r.json()
    want = predictor.predict([text])[0]
    assert body["model_version"] == "bundled" and body["method"] == "occlusion-log-odds" and body["windows"] == 1
    assert "excerpt" not in body  # every word explained
    assert body["label"] == want.label == "positive"
    assert body["score"] == pytest.approx(want.score, abs=1e-6)
    assert body["probabilities"] == pytest.approx(want.probabilities, abs=1e-6)
    assert [(t["text"], t["start"], t["end"]) for t in body["tokens"]] == [
        ("w1", 2, 4), ("good", 5, 9), ("w2", 10, 12), (",", 12, 13), ("w3", 14, 16)]
    assert all(text[t["start"] : t["end"]] == t["text"] for t in body["tokens"])
    # each weight is the fall of the log-odds of positive when that word is left out: the text without it
    without = [text[: t["start"]] + text[t["end"] :] for t in body["tokens"]]
    logits = predictor.calibrated_logits_ids(predictor.encode([text, *without]))[0]
    k = predictor.labels.index("positive")
    for token, row in zip(body["tokens"], logits[1:]):
        assert token["weight"] == pytest.approx(log_odds(logits[0], k) - log_odds(row, k), abs=1e-4)
    assert max(body["tokens"], key=lambda t: t["weight"])["text"] == "good"


@pytest.mark.parametrize(("text", "label", "top"), [
    ("w4 bad w5 w6", "negative", "bad"),
    ("w7 w8 good", "positive", "good"),
    ("w1 not good w2", "negative", "not"),  # without "not", the text reads positive
    ("w3 not bad", "positive", "not"),
])
def test_the_word_that_decides_gets_the_largest_weight(client, text, label, top):
    body = explain(client, text).json()
    assert body["label"] == label
    ranked = sorted(body["tokens"], key=lambda t: -t["weight"])
    assert ranked[0]["text"] == top and ranked[0]["weight"] > 0
    assert all(abs(t["weight"]) < ranked[0]["weight"] for t in ranked[1:] if t["text"].startswith("w"))


def test_a_one_word_text_is_explained_against_an_empty_one(client, predictor):
    body = explain(client, "good").json()
    assert [t["text"] for t in body["tokens"]] == ["good"] and body["tokens"][0]["weight"] > 0


def test_offsets_count_code_points_in_unicode_text(client):
    text = "  café 😀 很好 good!"
    body = explain(client, text).json()
    assert [text[t["start"] : t["end"]] for t in body["tokens"]] == [t["text"] for t in body["tokens"]]
    assert [t["text"] for t in body["tokens"]] == ["café", "😀", "很", "好", "good", "!"]


def test_a_text_longer_than_the_window_is_read_in_windows_as_predict_reads_it(make_client, predictor):
    """The tiny model's window is 64 tokens: the text and each variant are read in windows, so the
    explanation's prediction is /v1/predict's."""
    client = make_client()
    text = "w1 good w2 " * 25 + "w3 not good"  # 78 tokens
    r = explain(client, text)
    assert r.status_code == 200, r.text
    body = r.json()
    predicted = client.post("/v1/predict", json={"text": text}).json()["predictions"][0]
    assert body["windows"] == predicted["windows"] > 1
    assert body["probabilities"] == pytest.approx(predicted["probabilities"], abs=1e-6)
    assert len(body["tokens"]) == 78


def test_more_words_than_the_limit_are_explained_in_the_most_decisive_window(make_client):
    client = make_client(max_explain_words=4)
    body = explain(client, "w1 w2 good w3").json()
    assert len(body["tokens"]) == 4 and "excerpt" not in body
    text = "w1 w2 good, w3 bad"
    r = explain(client, text)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [t["text"] for t in body["tokens"]] == ["w1", "w2", "good", ","]  # one window: its first words
    assert body["excerpt"] == {"start": 0, "end": 11}
    assert body["probabilities"] == pytest.approx(
        client.post("/v1/predict", json={"text": text}).json()["predictions"][0]["probabilities"], abs=1e-6)


def test_the_sequences_of_all_variants_are_bounded_like_a_predict_request(make_client):
    client = make_client(max_windows_per_request=10)
    body = explain(client, "w1 good w2 w3 w4 w5 w6 w7 w8").json()  # 1 window + 9 variants
    assert len(body["tokens"]) == 9 and "excerpt" not in body
    body = explain(client, "w1 good w2 w3 w4 w5 w6 w7 w8 w9").json()  # 11: the words that fit
    assert len(body["tokens"]) == 9 and body["excerpt"]["start"] == 0
    client = make_client(max_windows_per_request=1)
    r = explain(client, "w1 good w2 " * 25)  # 75 tokens: 2 windows of 64, more than one request may read
    assert r.status_code == 422 and r.json()["error"] == "too_many_windows"
    assert "2 windows" in r.json()["message"]


@pytest.mark.parametrize(("body", "status", "error", "field"), [
    ({"text": ""}, 422, "empty_text", "text"),
    ({"text": " \n\t "}, 422, "empty_text", "text"),
    ({"text": 5}, 422, "validation_error", "text"),
    ({"text": ["good"]}, 422, "validation_error", "text"),
    ({}, 422, "validation_error", "text"),
    ({"texts": ["good"]}, 422, "validation_error", "texts"),
    ({"text": "good", "model_version": "v1"}, 422, "validation_error", "model_version"),
])
def test_bad_requests_are_4xx_json(client, body, status, error, field):
    r = client.post("/v1/explain", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error
    assert field in [d["field"] for d in r.json()["details"]]


def test_too_long_malformed_and_wrong_content_type(make_client):
    client = make_client(max_text_chars=20)
    r = explain(client, "good " * 5)
    assert r.status_code == 422 and r.json()["error"] == "text_too_long"
    r = client.post("/v1/explain", content=b'{"text": ', headers={"content-type": "application/json"})
    assert r.status_code == 422 and "malformed JSON" in r.json()["message"]
    r = client.post("/v1/explain", content=b'{"text": "caf\xe9"}', headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_body"
    r = client.post("/v1/explain", content=b"good", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"


def test_an_explanation_is_a_prediction_for_keys_and_rate_limits(make_client):
    client = make_client(predict_requires_key=True, api_keys=f"{KEY}:predict,trainer=other:train",
                         rate_limit_predict="2/minute")
    assert explain(client, "good").status_code == 401
    r = explain(client, "good", headers={"Authorization": "Bearer other"})
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    assert explain(client, "good", headers=AUTH).status_code == 200
    assert client.post("/v1/predict", json={"text": "good"}, headers=AUTH).status_code == 200
    r = explain(client, "good", headers=AUTH)
    assert r.status_code == 429 and r.json()["error"] == "rate_limited"


def test_metrics_count_the_route_and_the_prediction(client):
    assert explain(client, "w1 good").status_code == 200
    text = client.get("/metrics").text
    assert 'sentiment_http_requests_total{method="POST",route="/v1/explain",status="200"} 1.0' in text
    assert 'sentiment_predictions_total{label="positive",model="sentiment-en",model_version="bundled"} 1.0' in text


def test_the_openapi_entry_documents_the_body_and_the_answer(client):
    entry = client.get("/openapi.json").json()["paths"]["/v1/explain"]["post"]
    schema = entry["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["text"] and "text" in schema["properties"]
    assert "200" in entry["responses"] and "422" in entry["responses"]
    answer = client.get("/openapi.json").json()["components"]["schemas"]["ExplainResponse"]["properties"]
    assert answer["method"]["const"] == "occlusion-log-odds"
    assert "log(p(l) / (1 - p(l)))" in answer["method"]["description"]
    assert "excerpt" in answer and "jieba" in answer["tokens"]["description"]
