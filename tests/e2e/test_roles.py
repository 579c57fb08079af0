"""Real servers in their roles on one data directory (SQLite): an API replica that queues a job
and never starts a training process, and a trainer that runs it and answers nothing but its
health and metrics. The API replica then serves the version the trainer's job promoted."""

from __future__ import annotations

import httpx

from tests.support.api import TINY_CONFIG, upload, wait_job
from tests.support.data import csv_bytes
from tests.support.processes import children
from tests.support.settings import AUTH, KEY
from tests.support.waiting import wait_for

TRAINING_PROCESS = "app.training.training_process"


def test_an_api_replica_and_a_trainer_share_one_data_directory(serve, tiny_bundle_path):
    api = serve(model_dir=tiny_bundle_path, api_keys=KEY, env={"SENTIMENT_ROLE": "api"})
    with httpx.Client(base_url=api.url, timeout=30) as http:
        ds = upload(http, csv_bytes(200))
        r = http.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": ds["id"], "config": TINY_CONFIG,
                                                           "promote": "always"})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert http.get(f"/v1/train-jobs/{job_id}").json()["state"] == "queued"

        trainer = serve(model_dir=tiny_bundle_path, api_keys=KEY, env={"SENTIMENT_ROLE": "trainer"})
        assert wait_job(http, job_id)["state"] == "succeeded"
        assert not children(api.process.pid, TRAINING_PROCESS)  # (nor did it ever: the trainer claimed it)
        assert "started in process" in trainer.log() and "started in process" not in api.log()
        wait_for(lambda: http.post("/v1/predict", json={"text": "w1 good"}).json()["model_version"] == "v1",
                 10, what="the API replica to serve the promoted version")

    with httpx.Client(base_url=trainer.url, timeout=30) as http:
        r = http.post("/v1/predict", json={"text": "w1 good"})
        assert r.status_code == 404 and r.json()["error"] == "trainer_only"
        ready = http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["role"] == "trainer"
        assert http.get("/metrics").status_code == 200
