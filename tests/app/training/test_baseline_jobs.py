"""Every job fits the linear baseline on its own split: recorded early, compared with the RNN, and
usable as a promotion floor (``promote``: ``if_better_than_baseline``, ``if_better_than_both``)."""

from __future__ import annotations

import pytest

from app.training.training_process import decide_promotion
from model.inference.predictor import Predictor
from model.inference.scoring import evaluate
from tests.support.api import TINY_CONFIG, job_state, upload, wait_job
from tests.support.data import csv_bytes, keyword_examples, negation_dataset, order_examples
from tests.support.settings import AUTH
from tests.support.waiting import wait_for


@pytest.fixture
def client(make_client):
    return make_client(max_epochs=500)


def submit(client, dataset_id: str, **body) -> dict:
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": dataset_id, **body})
    assert r.status_code == 202, r.text
    return r.json()


def test_a_baseline_that_learns_the_task_beats_a_barely_trained_rnn_and_blocks_promotion(client):
    """Words alone decide this task: the baseline gets it right, an RNN after one step does not."""
    ds = upload(client, csv_bytes(300, examples=keyword_examples))
    job = wait_job(client, submit(client, ds["id"], config=TINY_CONFIG | {"max_steps": 1, "keep": "rnn"},
                                  promote="if_better_than_baseline")["id"])
    assert job["state"] == "succeeded", job
    result = job["result"]
    baseline = result["baseline"]
    assert baseline["metrics"]["accuracy"] >= 0.95 and baseline["seconds"] > 0
    assert baseline["metrics"]["labels"] == result["metrics"]["labels"] == ["neg", "pos"]
    assert baseline["metrics"]["n"] == result["metrics"]["n"]  # the same dev split
    assert result["metrics"]["accuracy"] < baseline["metrics"]["accuracy"] and result["winner"] == "baseline"
    assert job["progress"]["baseline_accuracy"] == baseline["metrics"]["accuracy"]
    assert result["promotion"] == {
        "policy": "if_better_than_baseline", "active_version": "bundled", "promote": False,
        "new_accuracy": result["metrics"]["accuracy"], "baseline_accuracy": baseline["metrics"]["accuracy"],
        "reason": "the baseline is at least as accurate on the eval set",
    }
    assert client.get("/v1/models/sentiment-en").json()["active_version"] == "bundled"


def test_an_rnn_that_beats_the_baseline_is_promoted(client):
    """Only the order of "x" and "y" decides this task: bags of n-grams are at chance, the RNN is not."""
    ds = upload(client, csv_bytes(400, examples=order_examples))
    job = wait_job(client, submit(client, ds["id"], config=TINY_CONFIG | {"epochs": 10},
                                  promote="if_better_than_baseline")["id"])
    assert job["state"] == "succeeded", job
    result = job["result"]
    assert result["metrics"]["accuracy"] > result["baseline"]["metrics"]["accuracy"] and result["winner"] == "rnn"
    assert result["promotion"]["promote"] is True
    assert result["promotion"]["reason"] == "new model is more accurate than the baseline on the eval set"
    assert job["model_version"] == "v1"
    wait_for(lambda: client.post("/v1/predict", json={"text": "w1 x w2 y w3"}).json()["model_version"] == "v1",
             what="v1 to serve")


def test_the_baseline_is_in_the_record_while_the_rnn_trains(client):
    ds = upload(client, csv_bytes(300, examples=keyword_examples))
    job = submit(client, ds["id"], config=TINY_CONFIG | {"epochs": 400, "patience": 400})
    running = wait_for(lambda: (j := job_state(client, job["id"]))["progress"].get("step") and j,
                       what="the RNN to start training")
    assert running["state"] == "running"
    assert running["result"]["baseline"]["metrics"]["accuracy"] >= 0.95
    assert running["progress"]["baseline_accuracy"] == running["result"]["baseline"]["metrics"]["accuracy"]
    client.post(f"/v1/train-jobs/{job['id']}/cancel", headers=AUTH)
    assert wait_job(client, job["id"])["state"] == "cancelled"


def test_unknown_promote_values_are_refused_with_the_valid_ones(client):
    ds = upload(client)
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": ds["id"], "promote": "if_lucky"})
    assert r.status_code == 422, r.text
    assert r.json()["details"][0]["field"] == "promote"
    assert "if_better_than_baseline" in r.json()["details"][0]["message"]


class _Versions:
    """What ``decide_promotion`` reads: the active version and where its bundle is."""

    def __init__(self, path=None):
        self.bundle = path

    def model_exists(self, model: str) -> bool:
        return True

    def active(self, model: str) -> str:
        return "v1"

    def path(self, model: str, version: str):
        assert self.bundle is not None, "the active model was consulted"
        return self.bundle


@pytest.mark.parametrize("new,baseline,promote,reason", [
    (0.9, 0.8, True, "new model is more accurate than the baseline on the eval set"),
    (0.8, 0.8, False, "the baseline is at least as accurate on the eval set"),  # a tie is no win
    (0.7, 0.8, False, "the baseline is at least as accurate on the eval set"),
])
def test_the_baseline_floor_alone(new, baseline, promote, reason):
    decision = decide_promotion("if_better_than_baseline", {"accuracy": new}, _Versions(), "m", None, baseline)
    assert decision == {"policy": "if_better_than_baseline", "active_version": "v1", "new_accuracy": new,
                        "baseline_accuracy": baseline, "promote": promote, "reason": reason}


def test_better_than_both_needs_the_floor_and_the_active_model(tiny_bundle_path):
    dev = negation_dataset(100, seed=2)
    dev.labels[:30] = ["1" if y == "0" else "0" for y in dev.labels[:30]]  # wrong labels: the tiny bundle errs
    active = evaluate(Predictor.load(tiny_bundle_path), dev)["accuracy"]
    assert 0.2 < active < 1.0  # room on both sides of the tiny bundle's score
    below_floor = decide_promotion("if_better_than_both", {"accuracy": 0.99}, _Versions(), "m", dev, 1.0)
    assert below_floor["promote"] is False and "baseline" in below_floor["reason"]  # the active model not consulted
    store = _Versions(tiny_bundle_path)
    worse = decide_promotion("if_better_than_both", {"accuracy": active - 0.01}, store, "m", dev, 0.1)
    assert worse["promote"] is False and worse["reason"] == "active model is at least as accurate"
    best = decide_promotion("if_better_than_both", {"accuracy": 1.0}, store, "m", dev, 0.1)
    assert best["promote"] is True and best["active_accuracy"] == active and best["baseline_accuracy"] == 0.1
    assert best["reason"] == "new model is more accurate than the active model and the baseline on the eval set"
    assert decide_promotion("always", {"accuracy": 0.0}, store, "m", dev, 1.0)["promote"] is True  # no floor
