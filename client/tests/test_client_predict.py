"""Predictions and models through Client and AsyncClient against the real server."""

from __future__ import annotations

import asyncio

import pytest
from sentiment_client import ApiError, AsyncClient, Client, LabelScore, Model, Prediction


def test_predict_returns_one_typed_prediction_per_text_in_order(client):
    texts = ["w1 good w2", "w3 not good w4", "w5 bad"]
    predictions = client.predict(texts)
    assert len(predictions) == 3 and all(isinstance(p, Prediction) for p in predictions)
    for p in predictions:
        assert p.model == "sentiment-en" and p.model_version
        assert p.label in ("negative", "positive") and p.score == max(p.probabilities.values())
        assert set(p.probabilities) == {"negative", "positive"} and p.windows == 1
    assert [p.label for p in predictions] == [client.predict(t)[0].label for t in texts]  # order kept


def test_predict_options_top_k_and_min_score(client):
    [p] = client.predict("w1 good", top_k=2)
    assert p.top is not None and [type(t) for t in p.top] == [LabelScore, LabelScore]
    assert p.top[0].label == p.label and p.top[0].score >= p.top[1].score
    texts = ["w1 good", "w2 not bad w3", "good not", "w4 w5", "not"]
    doubtful = min(zip(client.predict(texts), texts), key=lambda pair: pair[0].score)
    assert doubtful[0].score < 1.0  # the tiny model is sure of most texts, not of all
    [abstained] = client.predict(doubtful[1], min_score=(doubtful[0].score + 1) / 2)
    assert abstained.abstained is True and abstained.label is None and abstained.score == pytest.approx(doubtful[0].score, rel=1e-5)


def test_predict_nothing_sends_nothing(server):
    with Client("http://127.0.0.1:1") as nowhere:  # nothing listens there: a request would fail
        assert nowhere.predict([]) == []


def test_api_errors_carry_status_code_and_the_servers_message(client):
    with pytest.raises(ApiError) as caught:
        client.predict("w1 good", model="no-such-model")
    assert caught.value.status == 404 and caught.value.code
    assert "no-such-model" in caught.value.message and "\n" not in str(caught.value)
    with pytest.raises(ApiError) as caught:
        client.predict("   ")
    assert caught.value.status == 422 and caught.value.code == "empty_text" and "texts[0]" in caught.value.message
    with pytest.raises(ApiError) as caught:
        client.predict("w1 good", top_k=0)
    assert caught.value.status == 422 and caught.value.code == "validation_error"
    assert caught.value.details[0]["field"] == "top_k"


def test_models_are_typed_and_mark_the_default(client):
    models = client.models()
    assert all(isinstance(m, Model) for m in models)
    default = next(m for m in models if m.default)
    assert default.name == "sentiment-en" and default.labels == ["negative", "positive"]
    assert default.task == "single_label"
    assert default.active_version in default.versions and "bundled" in default.versions
    assert {v.version for v in client.versions("sentiment-en")} >= {"bundled"}


def test_async_client_gives_what_the_sync_client_gives(server, client):
    texts = ["w1 good w2", "w3 not bad"]

    async def run():
        async with AsyncClient(server.url) as aclient:
            return await aclient.predict(texts, top_k=1), await aclient.models(), await aclient.predict([])

    predictions, models, nothing = asyncio.run(run())
    assert predictions == client.predict(texts, top_k=1)
    assert [m.name for m in models] == [m.name for m in client.models()] and nothing == []
