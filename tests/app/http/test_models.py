"""Named models and their versions: GET /v1/models[/{name}[/versions[/{version}]]], activation,
deletion, predictions per model (top_k, min_score) and how many models a server holds."""

from __future__ import annotations

import pytest

from tests.support.api import add_version
from tests.support.settings import AUTH
from tests.support.waiting import wait_for


def test_list_shows_the_default_model_served_from_its_bundled_version(client):
    r = client.get("/v1/models")
    assert r.status_code == 200
    body = r.json()
    assert body["default_model"] == "sentiment-en"
    (en,) = [m for m in body["models"] if m["name"] == "sentiment-en"]
    assert en["active_version"] == "bundled" and en["versions"] == ["bundled"]
    assert en["task"] == "single_label" and en["labels"] == ["negative", "positive"]
    assert en["loaded"] is True and en["memory_bytes"] > 0
    assert client.get("/v1/models/sentiment-en").json()["name"] == "sentiment-en"


def test_one_version(client):
    r = client.get("/v1/models/sentiment-en/versions/bundled")
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "sentiment-en" and body["version"] == "bundled" and body["status"] == "ready"
    assert body["active"] is True and body["read_only"] is True
    assert body["config"]["model"]["cell"] == "lstm"
    listed = client.get("/v1/models/sentiment-en/versions").json()
    assert listed["active_version"] == "bundled" and [v["version"] for v in listed["versions"]] == ["bundled"]


def test_unknown_models_and_versions_are_404_naming_them(client):
    for path in ("/v1/models/nope", "/v1/models/nope/versions", "/v1/models/nope/versions/v1"):
        r = client.get(path)
        assert r.status_code == 404 and r.json()["error"] == "not_found" and "'nope'" in r.json()["message"], path
    r = client.get("/v1/models/sentiment-en/versions/v404")
    assert r.status_code == 404 and "'v404'" in r.json()["message"] and "sentiment-en" in r.json()["message"]
    r = client.post("/v1/predict", json={"text": "good", "model": "nope"})
    assert r.status_code == 404 and "'nope'" in r.json()["message"]
    r = client.post("/v1/models/nope/predict", json={"text": "good"})
    assert r.status_code == 404 and "'nope'" in r.json()["message"]


def test_a_version_with_a_truncated_weights_file_is_not_ready(client, tiny_bundle_path):
    path = add_version(client, tiny_bundle_path, model="other")
    assert client.get("/v1/models/other/versions/v1").json()["status"] == "ready"
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    body = client.get("/v1/models/other/versions/v1").json()
    assert body["status"] == "unavailable" and "checksum mismatch" in body["error"]
    listed = client.get("/v1/models/other/versions").json()["versions"]
    assert [v["status"] for v in listed] == ["unavailable"]


def test_responses_name_no_server_path(client, tiny_bundle_path):
    """A broken version's detail and a failed activation name files relative to the data
    directory, never where the server keeps them."""
    path = add_version(client, tiny_bundle_path, seq=1)
    (path / "config.json").write_text("{not json")
    data_dir = str(client.app.state.settings.data_dir)
    body = client.get("/v1/models/sentiment-en/versions/v1").json()
    assert body["status"] == "unavailable" and "models/sentiment-en/v1/config.json" in body["error"]
    assert data_dir not in body["error"] and not body["error"].startswith("/")
    listed = next(v for v in client.get("/v1/models/sentiment-en/versions").json()["versions"] if v["version"] == "v1")
    assert listed["error"] == body["error"]  # the listing names no server path either
    r = client.post("/v1/models/sentiment-en/versions/v1/activate", headers=AUTH)
    assert r.status_code == 409, r.text
    assert "models/sentiment-en/v1" in r.json()["message"] and data_dir not in r.text


def test_a_trained_version_can_be_deleted_but_not_the_bundled_or_the_served_one(client, tiny_bundle_path):
    base = "/v1/models/sentiment-en/versions"
    path = add_version(client, tiny_bundle_path)
    client.app.state.versions.set_active("sentiment-en", "bundled")
    assert client.delete(f"{base}/bundled", headers=AUTH).json()["error"] == "version_read_only"
    assert client.post(f"{base}/v1/activate", headers=AUTH).status_code == 200
    r = client.delete(f"{base}/v1", headers=AUTH)
    assert r.status_code == 409 and r.json()["error"] == "version_active"
    assert client.post(f"{base}/bundled/activate", headers=AUTH).status_code == 200
    assert client.get("/v1/models/sentiment-en").json()["previous_version"] == "v1"  # what a rollback activates
    assert client.delete(f"{base}/v1").status_code == 401  # the admin scope
    r = client.delete(f"{base}/v1", headers=AUTH)
    assert r.status_code == 204 and not r.content
    assert not path.exists() and client.get(f"{base}/v1").status_code == 404
    assert client.delete(f"{base}/v1", headers=AUTH).status_code == 404


def test_a_trained_model_is_deleted_with_its_versions_and_feedback_but_not_a_shipped_or_busy_one(make_client,
                                                                                                   tiny_bundle_path):
    client = make_client(role="api")  # (no job runner: the job recorded below stays queued)
    first = add_version(client, tiny_bundle_path, model="reviews")
    second = add_version(client, tiny_bundle_path, model="reviews", version="v2", seq=2)
    assert client.post("/v1/models/reviews/predict", json={"text": "good"}).status_code == 200  # loaded
    items = [{"text": "not good", "label": "negative"}]
    assert client.post("/v1/models/reviews/feedback", headers=AUTH, json={"items": items}).status_code == 200
    assert client.delete("/v1/models/reviews").status_code == 401  # the admin scope
    r = client.delete("/v1/models/sentiment-en", headers=AUTH)
    assert r.status_code == 409 and r.json()["error"] == "model_read_only"
    assert client.delete("/v1/models/nope", headers=AUTH).status_code == 404
    with client.app.state.store.connect() as db:  # a job of the model not finished yet
        client.app.state.store.insert("jobs", db=db, id="job1", dataset_id="d1", state="queued", config={},
                                      promote="always", created_at=0.0, model="reviews")
    r = client.delete("/v1/models/reviews", headers=AUTH)
    assert r.status_code == 409 and r.json()["error"] == "model_in_use" and "job1" in r.json()["message"]
    client.app.state.store.execute("UPDATE jobs SET state = 'failed' WHERE id = ?", "job1")
    r = client.delete("/v1/models/reviews", headers=AUTH)
    assert r.status_code == 204 and not r.content
    assert not first.exists() and not second.exists() and not first.parent.exists()
    assert "reviews" not in {m["name"] for m in client.get("/v1/models").json()["models"]}
    assert "reviews" not in client.app.state.inference.models  # no longer held by the model process either
    r = client.post("/v1/models/reviews/predict", json={"text": "good"})
    assert r.status_code == 404 and "'reviews'" in r.json()["message"]
    add_version(client, tiny_bundle_path, model="reviews")  # a new model of that name starts afresh
    assert client.get("/v1/models/reviews/feedback").json()["items"] == 0


def test_a_model_deleted_by_another_server_process_is_dropped_here(client, tiny_bundle_path):
    add_version(client, tiny_bundle_path, model="reviews")
    assert client.post("/v1/models/reviews/predict", json={"text": "good"}).status_code == 200
    inference = client.app.state.inference
    assert "reviews" in inference.models
    client.app.state.versions.delete_model("reviews", "sentiment-en")  # as another process would, in the records
    wait_for(lambda: "reviews" not in inference.models, timeout=10, what="the deleted model dropped")
    assert client.post("/v1/predict", json={"text": "good"}).status_code == 200  # the default model stays


def test_a_job_past_the_version_quota_is_refused_with_507(make_client, tiny_bundle_path):
    from tests.support.api import TINY_CONFIG, upload

    client = make_client(max_versions=1)
    add_version(client, tiny_bundle_path, model="other")
    dataset = upload(client)
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": dataset["id"], "config": TINY_CONFIG})
    assert r.status_code == 507, r.text
    assert r.json()["error"] == "version_quota" and "SENTIMENT_MAX_VERSIONS=1" in r.json()["message"]
    client = make_client(max_version_bytes=1000, data_dir=client.app.state.settings.data_dir)
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": dataset["id"], "config": TINY_CONFIG})
    assert r.status_code == 507 and "SENTIMENT_MAX_VERSION_BYTES=1,000" in r.json()["message"]


def test_each_model_predicts_through_its_own_path_and_through_predict_with_model(client, tiny_bundle_path):
    add_version(client, tiny_bundle_path, model="reviews")
    text = {"text": "not good at all"}
    own = client.post("/v1/models/reviews/predict", json=text)
    named = client.post("/v1/predict", json=text | {"model": "reviews"})
    default = client.post("/v1/predict", json=text)
    assert own.status_code == named.status_code == default.status_code == 200, own.text
    assert own.json()["model"] == named.json()["model"] == "reviews" and own.json()["model_version"] == "v1"
    assert default.json()["model"] == "sentiment-en" and default.json()["model_version"] == "bundled"
    assert own.json()["predictions"] == named.json()["predictions"] == default.json()["predictions"]  # same weights
    r = client.post("/v1/models/reviews/predict", json=text | {"model": "sentiment-en"})
    assert r.status_code == 422 and r.json()["error"] == "model_mismatch"
    r = client.post("/v1/models/reviews/explain", json=text)
    assert r.status_code == 200 and r.json()["model"] == "reviews" and r.json()["tokens"]


def test_activating_one_model_leaves_the_others_served_as_they_were(client, tiny_bundle_path):
    add_version(client, tiny_bundle_path, model="reviews", version="v1")
    add_version(client, tiny_bundle_path, model="reviews", version="v2", seq=2)
    add_version(client, tiny_bundle_path, model="sentiment-en", version="v1")
    client.app.state.versions.set_active("sentiment-en", "bundled")
    assert client.post("/v1/models/reviews/predict", json={"text": "good"}).json()["model_version"] == "v1"
    r = client.post("/v1/models/reviews/versions/v2/activate", headers=AUTH)
    assert r.status_code == 200 and r.json()["active"] is True
    assert client.post("/v1/models/reviews/predict", json={"text": "good"}).json()["model_version"] == "v2"
    assert client.post("/v1/predict", json={"text": "good"}).json()["model_version"] == "bundled"
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert models["reviews"]["active_version"] == "v2" and models["reviews"]["versions"] == ["v2", "v1"]
    assert models["sentiment-en"]["active_version"] == "bundled"


def test_top_k_is_ordered_and_min_score_abstains_below_it_only(client):
    texts = ["good", "the the", "zzz", "good bad not", "not", "a b c", "bad", "not bad good"]
    r = client.post("/v1/predict", json={"texts": texts, "top_k": 2})
    assert r.status_code == 200, r.text
    for p in r.json()["predictions"]:
        assert [t["label"] for t in p["top"]] == sorted(p["probabilities"], key=lambda k: -p["probabilities"][k])
        assert p["top"][0]["label"] == p["label"] and p["top"][0]["score"] >= p["top"][1]["score"]
        assert "abstained" not in p
    scores = sorted(p["score"] for p in r.json()["predictions"])
    cut = (scores[0] + scores[-1]) / 2
    assert scores[0] < cut < scores[-1]
    r = client.post("/v1/predict", json={"texts": texts, "min_score": cut})
    predictions = r.json()["predictions"]
    assert {p["abstained"] for p in predictions} == {True, False}
    for p in predictions:
        assert p["abstained"] is (p["score"] < cut)
        assert (p.get("label") is None) is p["abstained"]


def test_bad_prediction_options_are_422_naming_the_field(client):
    for body, field in (({"text": "good", "top_k": 3}, "top_k"), ({"text": "good", "top_k": 0}, "top_k"),
                        ({"text": "good", "min_score": 1.5}, "min_score"),
                        ({"text": "good", "min_score": -0.1}, "min_score")):
        r = client.post("/v1/predict", json=body)
        assert r.status_code == 422, (body, r.text)
        assert field in r.text, r.text
    r = client.post("/v1/predict", json={"text": "good", "top_k": 3})
    assert "2 labels" in r.json()["message"]


def test_a_models_default_min_score_is_set_at_activation_and_a_request_overrides_it(client):
    always = {"min_score": 1.0}
    r = client.post("/v1/models/sentiment-en/versions/bundled/activate", headers=AUTH, json=always)
    assert r.status_code == 200, r.text
    assert client.get("/v1/models/sentiment-en").json()["min_score"] == 1.0
    p = client.post("/v1/predict", json={"text": "a b c"}).json()["predictions"][0]
    assert p["score"] < 1.0 and p["abstained"] is True and "label" not in p
    p = client.post("/v1/predict", json={"text": "a b c", "min_score": 0.0}).json()["predictions"][0]
    assert p["abstained"] is False and p["label"] in ("negative", "positive")
    client.post("/v1/models/sentiment-en/versions/bundled/activate", headers=AUTH, json={"min_score": None})
    assert "abstained" not in client.post("/v1/predict", json={"text": "good"}).json()["predictions"][0]
    r = client.post("/v1/models/sentiment-en/versions/bundled/activate", headers=AUTH, json={"min_score": 2})
    assert r.status_code == 422


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_at_most_max_loaded_models_are_held_the_least_recently_used_dropped_first(backend, request, make_client,
                                                                                  tiny_bundle_path):
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else ""
    client = make_client(max_loaded_models=2, database_url=url)
    for name in ("a", "b"):
        add_version(client, tiny_bundle_path, model=name)

    def loaded() -> set[str]:
        return {m["name"] for m in client.get("/v1/models").json()["models"] if m["loaded"]}

    assert loaded() == {"sentiment-en"}
    assert client.post("/v1/models/a/predict", json={"text": "good"}).status_code == 200
    assert loaded() == {"sentiment-en", "a"}
    assert client.post("/v1/models/b/predict", json={"text": "good"}).status_code == 200
    assert loaded() == {"sentiment-en", "b"}  # the default model stays: 'a' was the least recently used other
    held = client.app.state.inference.model_process.loaded
    assert sorted(held) == ["b/v1", "sentiment-en/bundled"]  # the model process dropped it too
    assert client.post("/v1/models/a/predict", json={"text": "good"}).status_code == 200  # loaded again on demand
    assert loaded() == {"sentiment-en", "a"}
    metrics = client.get("/metrics").text
    assert 'sentiment_model_memory_bytes{model="a"}' in metrics
    assert 'sentiment_model_memory_bytes{model="b"}' not in metrics
    assert 'sentiment_predictions_total{label="' in metrics and 'model="b"' in metrics


def test_the_bundled_chinese_model_is_listed_and_predicts_through_both_paths(client):
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert models["sentiment-zh"]["active_version"] == "bundled"
    assert models["sentiment-zh"]["labels"] == ["negative", "positive"] and models["sentiment-zh"]["loaded"] is False
    texts = ["这个东西很好用，质量不错，推荐购买", "质量太差了，不推荐，退货"]
    own = client.post("/v1/models/sentiment-zh/predict", json={"texts": texts})
    assert own.status_code == 200, own.text
    assert [p["label"] for p in own.json()["predictions"]] == ["positive", "negative"]
    assert not any("warnings" in p for p in own.json()["predictions"])  # it was trained on Chinese
    named = client.post("/v1/predict", json={"texts": texts, "model": "sentiment-zh"}).json()
    assert named["predictions"] == own.json()["predictions"] and named["model"] == "sentiment-zh"
    card = client.get("/v1/models/sentiment-zh").json()["card"]
    assert card["scripts"].get("han", 0) > 0.5 and card["metrics"]["accuracy"] > 0.8


def test_the_model_card_is_served_as_markdown_and_as_json(client):
    r = client.get("/v1/models/sentiment-zh/card")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
    assert r.text.startswith("# ") and "snownlp" in r.text
    body = client.get("/v1/models/sentiment-zh/versions/bundled/card?format=json").json()
    assert body["model"] == "sentiment-zh" and body["version"] == "bundled" and body["markdown"] == r.text
    assert body["labels"] == ["negative", "positive"] and body["metrics"]["accuracy"] > 0.8
    assert client.get("/v1/models/nope/card").status_code == 404
    assert client.get("/v1/models/sentiment-zh/versions/v9/card").status_code == 404
    assert client.get("/v1/models/sentiment-zh/card?format=pdf").status_code == 422
