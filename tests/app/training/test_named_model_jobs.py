"""Training jobs that make new models over HTTP: a 9-class topic model and a multi-label model,
trained in real training processes, activated and served beside the default model."""

from __future__ import annotations

import json
import random

import pytest

from tests.support.api import wait_job
from tests.support.settings import AUTH

TOPICS = ["books", "music", "food", "sport", "travel", "tech", "games", "films", "garden"]
CONFIG = {"embedding_dim": 16, "hidden_size": 16, "epochs": 8, "batch_size": 16, "tokenizer": "word",
          "pretrained": None, "pooling": "max", "learning_rate": 0.02}


@pytest.fixture
def client(make_client):
    return make_client(training_threads=1)


def topic_examples(n: int, seed: int) -> list[dict]:
    """Each text has its topic's keyword among filler words, and a second topic's keyword now and
    then: clear cases and close calls."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        topic = rng.choice(TOPICS)
        words = rng.choices(["the", "a", "very", "some", "one", "more", "and"], k=rng.randint(2, 5))
        words.insert(rng.randint(0, len(words)), f"kw{TOPICS.index(topic)}")
        if rng.random() < 0.3:
            words.append(f"kw{rng.randrange(len(TOPICS))}")
        out.append({"text": " ".join(words), "label": topic})
    return out


def tag_examples(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        tags = sorted(t for t in ("red", "green", "blue") if rng.random() < 0.4)
        words = rng.choices(["x", "y", "z", "w"], k=rng.randint(2, 4)) + [f"is{t}" for t in tags]
        rng.shuffle(words)
        out.append({"text": " ".join(words), "labels": tags})
    return out


def train(client, examples: list[dict], model: str) -> dict:
    r = client.post("/v1/datasets", headers=AUTH, json={"examples": examples})
    assert r.status_code in (200, 201), r.text
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": r.json()["id"], "model": model,
                                                         "config": CONFIG})
    assert r.status_code == 202, r.text
    assert r.json()["model"] == model
    job = wait_job(client, r.json()["id"], timeout=180)
    assert job["state"] == "succeeded", job["error"]
    return job


def test_a_topic_model_and_a_multi_label_model_are_trained_and_served_beside_the_default(client):
    topics = train(client, topic_examples(450, 1), "topics")
    assert topics["model_version"] == "v1" and topics["result"]["promotion"]["promote"] is True
    tags = train(client, tag_examples(400, 2), "tags")
    assert tags["result"]["metrics"]["micro_f1"] > 0.8 and tags["result"]["promotion"]["metric"] == "micro_f1"

    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert {"sentiment-en", "topics", "tags"} <= set(models)
    assert models["topics"]["active_version"] == "v1" and models["topics"]["labels"] == sorted(TOPICS)
    assert models["tags"]["task"] == "multi_label" and models["tags"]["labels"] == ["blue", "green", "red"]
    version = client.get("/v1/models/tags/versions/v1").json()
    assert set(version["metrics"]["per_label"]) == {"blue", "green", "red"}
    thresholds = [version["metrics"]["per_label"][t]["threshold"] for t in ("blue", "green", "red")]
    assert all(0 < t < 1 for t in thresholds)

    # topics: top-k ordered, and a min_score that abstains on the close calls only
    texts = [f"the kw{i} and one" for i in range(9)] + ["kw1 kw2", "kw3 kw7 kw5", "the a very"]
    r = client.post("/v1/models/topics/predict", json={"texts": texts, "top_k": 3})
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    for p in predictions:
        scores = [t["score"] for t in p["top"]]
        assert len(p["top"]) == 3 and scores == sorted(scores, reverse=True) and p["top"][0]["label"] == p["label"]
    assert sum(p["label"] == TOPICS[i] for i, p in enumerate(predictions[:9])) >= 7
    best = sorted(p["score"] for p in predictions)
    cut = (best[0] + best[-1]) / 2
    abstained = [p["abstained"] for p in client.post("/v1/predict", json={
        "model": "topics", "texts": texts, "min_score": cut}).json()["predictions"]]
    assert True in abstained and False in abstained
    assert client.post("/v1/models/topics/predict", json={"text": "kw1", "top_k": 10}).status_code == 422

    # tags: every label that reaches its threshold, possibly none
    r = client.post("/v1/models/tags/predict", json={"texts": ["x isred y isblue", "x y z", "isgreen w"]})
    assert r.status_code == 200, r.text
    both, none, green = r.json()["predictions"]
    assert set(both["labels"]) == {"red", "blue"} and none["labels"] == [] and green["labels"] == ["green"]
    assert "label" not in both and set(both["probabilities"]) == {"blue", "green", "red"}
    r = client.post("/v1/models/tags/predict", json={"text": "x isred", "min_score": 0.5})
    assert r.status_code == 422 and r.json()["error"] == "min_score_multi_label"
    r = client.post("/v1/models/tags/explain", json={"text": "x isred y isblue"})
    assert r.status_code == 200, r.text
    assert set(r.json()["labels"]) == {"red", "blue"} and set(r.json()["tokens_by_label"]) == {"red", "blue"}
    for tag in ("red", "blue"):  # each label's weights point at its own keyword
        weights = {t["text"]: t["weight"] for t in r.json()["tokens_by_label"][tag]}
        assert weights[f"is{tag}"] == max(weights.values())

    # the default model was untouched throughout
    assert client.post("/v1/predict", json={"text": "good"}).json()["model_version"] == "bundled"
    stored = client.app.state.settings.data_dir / "models" / "tags" / "v1" / "config.json"
    assert json.loads(stored.read_text())["model"]["task"] == "multi_label"
