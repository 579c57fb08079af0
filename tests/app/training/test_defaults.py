"""One hyperparameter schema: the CLI's defaults and a train job's defaults train the same model.

The same small file is trained twice with no hyperparameter given: by ``python -m model train``
and by ``POST /v1/train-jobs`` (the real training process). Both run one torch thread (a run-time
option, recorded apart, like the times, paths and ids that are left out of the comparison).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from model.config import HYPERPARAMETERS
from tests.support.api import upload, wait_job
from tests.support.data import csv_bytes
from tests.support.settings import AUTH

ROOT = Path(__file__).resolve().parents[3]
TIMES = {"train_seconds", "seconds", "tokens_per_s", "elapsed_s"}  # wall-clock figures
IDS = {"job_id", "dataset_id"}  # what the service adds to name the job and its data


def _comparable(config: dict) -> dict:
    training = {k: v for k, v in config["training"].items() if k not in TIMES | IDS | {"runtime"}}
    training["history"] = [{k: v for k, v in epoch.items() if k not in TIMES} for epoch in training["history"]]
    if "refit" in training:  # what was fitted again, less how long it took
        training["refit"] = {k: v for k, v in training["refit"].items() if k != "seconds"}
    return {"model": config["model"], "tokenizer": config["tokenizer"], "training": training}


def test_cli_defaults_and_job_defaults_give_identical_bundles(make_client, tmp_path):
    data = tmp_path / "train.csv"
    data.write_bytes(csv_bytes(160, seed=5))
    cli_bundle = tmp_path / "cli-bundle"
    proc = subprocess.run([sys.executable, "-m", "model", "train", "--train", str(data), "--out", str(cli_bundle),
                           "--threads", "1", "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr

    client = make_client(training_threads=1)
    dataset = upload(client, data.read_bytes(), name="train.csv")
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": dataset["id"]})
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"], timeout=240)
    assert job["state"] == "succeeded", job["error"]
    job_bundle = client.app.state.settings.data_dir / "models" / "sentiment-en" / job["model_version"]

    cli = _comparable(json.loads((cli_bundle / "config.json").read_text()))
    http = _comparable(json.loads((job_bundle / "config.json").read_text()))
    assert http == cli
    # ... and those defaults are the declared ones (the bundled model's recipe).
    train_config = cli["training"]["train_config"]
    chosen = cli["training"]["chosen"]  # ``auto``, for these English texts: the bundled recipe
    assert {name: c["value"] for name, c in chosen.items()} == {"tokenizer": "wordpiece", "pretrained": "minilm"}
    for hp in HYPERPARAMETERS:
        if hp.section == "train" and hp.applies_to("http"):
            assert train_config[hp.name] == (chosen[hp.name]["value"] if hp.name in chosen else hp.default), hp.name
    assert (cli["model"]["cell"], cli["model"]["pooling"], cli["tokenizer"]["tokenizer"]) == ("lstm", "attention", "wordpiece")
