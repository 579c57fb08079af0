"""Train jobs that start from a served model version (``base_version``); the tests serve the tiny
bundle as ``bundled``."""

from __future__ import annotations

import json

import pytest

from tests.support.api import add_version, upload, wait_job
from tests.support.data import csv_bytes
from tests.support.settings import AUTH


@pytest.fixture
def client(make_client):
    return make_client(training_threads=1)


def finished_bundle_config(client, body: dict) -> tuple[dict, dict]:
    r = client.post("/v1/train-jobs", headers=AUTH, json=body)
    assert r.status_code == 202, r.text
    assert r.json()["base_version"] == body.get("base_version")
    job = wait_job(client, r.json()["id"])
    assert job["state"] == "succeeded", job["error"]
    path = client.app.state.settings.data_dir / "models" / "sentiment-en" / job["model_version"] / "config.json"
    return job, json.loads(path.read_text())


def test_a_job_from_bundled_with_the_same_labels_keeps_every_weight(client, tiny_bundle_path):
    ds = upload(client, csv_bytes(200))  # labels "neg"/"pos"; the tiny bundle's are negative/positive
    job, config = finished_bundle_config(client, {
        "dataset_id": ds["id"], "base_version": "bundled",
        "config": {"epochs": 1, "label_names": {"neg": "negative", "pos": "positive"}, "hidden_size": 64},
    })
    assert job["base_version"] == "bundled"
    assert client.get(f"/v1/train-jobs/{job['id']}").json()["base_version"] == "bundled"
    digest = json.loads((tiny_bundle_path / "config.json").read_text())["files"]["model.safetensors"]
    assert config["training"]["base"] == {"source": "bundled", "weights_sha256": digest, "output_layer": "kept"}
    assert config["model"]["hidden_size"] == 16 and config["model"]["labels"] == ["negative", "positive"]
    assert config["tokenizer"] == json.loads((tiny_bundle_path / "config.json").read_text())["tokenizer"]


def test_data_labelled_as_the_base_was_trained_is_named_by_the_base_for_the_rnn_and_the_baseline(client):
    # 0/1 data, no label_names: the tiny bundle's own mapping ("0": negative, "1": positive) names them, for
    # the RNN and for the job's baseline alike (the baseline once kept 0/1, and the job failed comparing them)
    raw = csv_bytes(200).decode().replace(",neg\n", ",0\n").replace(",pos\n", ",1\n").encode()
    ds = upload(client, raw)
    job, config = finished_bundle_config(client, {"dataset_id": ds["id"], "base_version": "bundled",
                                                  "config": {"epochs": 1}})
    assert config["model"]["labels"] == ["negative", "positive"]
    assert config["training"]["base"]["output_layer"] == "kept"
    candidates = job["result"]["candidates"]
    assert set(candidates) >= {"rnn", "baseline"} and job["result"]["winner"] in candidates


def test_a_job_from_bundled_with_other_labels_gets_a_new_output_layer(client):
    ds = upload(client, csv_bytes(200))
    _, config = finished_bundle_config(client, {"dataset_id": ds["id"], "base_version": "bundled",
                                                "config": {"epochs": 1}})
    assert config["training"]["base"]["output_layer"] == "new"
    assert config["model"]["labels"] == ["neg", "pos"]


def test_an_unknown_base_version_is_404_naming_the_field(client):
    ds = upload(client)
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": ds["id"], "base_version": "v99"})
    assert r.status_code == 404, r.text
    assert r.json()["details"][0]["field"] == "base_version" and "v99" in r.json()["message"]
    assert client.get("/v1/train-jobs").json() == []


def test_a_baseline_version_as_base_version_is_422_naming_the_field(client, tiny_bundle_path):
    path = add_version(client, tiny_bundle_path, version="v1")
    client.app.state.versions.set_active("sentiment-en", "bundled")
    config = json.loads((path / "config.json").read_text())
    config["linear"] = {"rnn_weight": 0}  # what a published baseline's config says (its weights aside)
    (path / "config.json").write_text(json.dumps(config))
    ds = upload(client)
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": ds["id"], "base_version": "v1"})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "base_version_without_rnn" and body["details"][0]["field"] == "base_version"
    assert "'v1'" in body["message"] and "keep" in body["message"]
    assert client.get("/v1/train-jobs").json() == []


def test_base_version_is_documented(client):
    schema = client.get("/openapi.json").json()["components"]["schemas"]["TrainJobRequest"]
    assert "bundled included" in schema["properties"]["base_version"]["description"]
