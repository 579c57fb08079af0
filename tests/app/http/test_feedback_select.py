"""Feedback that becomes training data, and picking what to label next."""

from __future__ import annotations

from tests.support.api import add_version, wait_job
from tests.support.data import negation_examples
from tests.support.settings import AUTH

TEXTS, LABELS = negation_examples(120, seed=9)
NAMES = {"0": "negative", "1": "positive"}


def feedback(client, items, model="sentiment-en"):
    return client.post(f"/v1/models/{model}/feedback", headers=AUTH, json={"items": items})


def test_corrections_are_checked_deduplicated_and_become_a_dataset_a_job_trains_on(client):
    assert client.get("/v1/models/sentiment-en/feedback").json() == {
        "model": "sentiment-en", "items": 0, "label_counts": {}, "dataset_id": None}
    items = [{"text": t, "label": NAMES[y]} for t, y in zip(TEXTS, LABELS)]
    r = feedback(client, items + [{"text": TEXTS[0], "label": "negative"}, {"text": TEXTS[0], "label": "positive"}])
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 120 and r.json()["items"] == 120  # one per text, the last one wins
    r = feedback(client, [{"text": TEXTS[1], "label": "neutral"}])
    assert r.status_code == 422 and r.json()["error"] == "unknown_label" and "items[0].label" in r.text
    assert feedback(client, [{"text": "x", "labels": ["positive"]}]).json()["error"] == "wrong_task"
    assert feedback(client, [{"text": "x", "label": "positive"}], model="nope").status_code == 404
    assert client.post("/v1/models/sentiment-en/feedback", json={"items": items[:1]}).status_code == 401
    summary = client.get("/v1/models/sentiment-en/feedback").json()
    expected = {"negative": LABELS.count("0"), "positive": LABELS.count("1")}
    expected["positive" if LABELS[0] == "0" else "negative"] += 1
    expected[NAMES[LABELS[0]]] -= 1
    assert summary["items"] == 120 and summary["label_counts"] == expected
    dataset = client.get(f"/v1/datasets/{summary['dataset_id']}").json()
    assert dataset["examples"] == 120 and dataset["label_counts"] == expected
    assert client.get("/v1/models/sentiment-en/feedback").json()["dataset_id"] == summary["dataset_id"]  # no new copy
    # the loop: warm start from the served version on the corrections, promote if better
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": summary["dataset_id"], "base_version": "bundled",
                                                        "config": {"epochs": 1}, "promote": "if_better"})
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"])
    assert job["state"] == "succeeded", job["error"]
    assert job["result"]["promotion"]["policy"] == "if_better"


def test_select_picks_the_least_sure_random_or_spread_and_skips_what_has_feedback(client, tiny_bundle_path):
    body = "text\n" + "".join(f'"{t}"\n' for t in TEXTS)
    dataset = client.post("/v1/datasets", headers=AUTH, files={"file": ("pool.csv", body.encode())}).json()

    def select(**kw):
        r = client.post("/v1/models/sentiment-en/select", headers=AUTH, json={"dataset_id": dataset["id"], **kw})
        assert r.status_code == 200, r.text
        return r.json()

    unsure = select(k=10, strategy="uncertainty")
    assert unsure["candidates"] == len(set(TEXTS)) or unsure["candidates"] == len(TEXTS)
    ranks = [item["uncertainty"] for item in unsure["items"]]
    assert len(ranks) == 10 and ranks == sorted(ranks, reverse=True)
    everything = select(k=len(TEXTS), strategy="uncertainty")["items"]
    assert ranks[-1] >= everything[10]["uncertainty"]  # none left out was less sure than those picked
    assert all(item["text"] == TEXTS[item["index"]] for item in unsure["items"])
    first, again = select(k=10, strategy="random", seed=1), select(k=10, strategy="random", seed=1)
    mean_score = [sum(item["score"] for item in r["items"]) / 10 for r in (unsure, first)]
    assert mean_score[0] < mean_score[1]  # the least sure are less sure than a random sample
    assert first["items"] == again["items"] and select(k=10, strategy="random", seed=2)["items"] != first["items"]
    spread = select(k=6, strategy="diverse")["items"]
    assert {item["label"] for item in spread} == {"negative", "positive"}
    feedback(client, [{"text": unsure["items"][0]["text"], "label": "negative"}])
    after = select(k=10, strategy="uncertainty")["items"]
    assert unsure["items"][0]["text"] not in [item["text"] for item in after]  # already labelled: skipped
    r = client.post("/v1/models/sentiment-en/select", headers=AUTH, json={"dataset_id": "nope", "k": 3})
    assert r.status_code == 404
    r = client.post("/v1/models/sentiment-en/select", headers=AUTH, json={"dataset_id": dataset["id"], "k": 0})
    assert r.status_code == 422
    add_version(client, tiny_bundle_path, model="other")
    assert client.post("/v1/models/other/select", headers=AUTH,
                       json={"dataset_id": dataset["id"], "k": 2}).json()["model"] == "other"
