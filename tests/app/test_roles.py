"""``SENTIMENT_ROLE``: an API replica queues jobs and never trains; a trainer runs them from the
shared records and serves only its health and metrics; ``all`` (the default) does both, as the
rest of the suite shows. Both backends: the roles meet only in the records and the data directory."""

from __future__ import annotations

import pytest

from tests.support.api import TINY_CONFIG, job_state, upload, wait_job
from tests.support.data import csv_bytes
from tests.support.settings import AUTH
from tests.support.waiting import wait_for


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request) -> str:
    """Before ``make_client`` in a test's arguments: the database outlives the apps' shut-down."""
    return "" if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def test_the_default_role_is_all():
    from app.settings import Settings

    assert Settings().role == "all"


def test_an_unknown_role_is_refused_with_the_choices():
    from pydantic import ValidationError

    from app.settings import Settings

    with pytest.raises(ValidationError, match="'all', 'api' or 'trainer'"):
        Settings(role="worker")


def test_an_api_replica_queues_jobs_and_a_trainer_runs_them(database_url, make_client):
    api = make_client(database_url=database_url, role="api")
    assert api.app.state.runner is None  # nothing here claims jobs
    ds = upload(api, csv_bytes(200))
    r = api.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": ds["id"], "config": TINY_CONFIG,
                                                      "promote": "always"})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert job_state(api, job_id)["state"] == "queued"

    trainer = make_client(database_url=database_url, role="trainer")  # same records, same data directory
    done = wait_job(api, job_id)
    assert done["state"] == "succeeded" and done["model_version"] == "v1", done
    # the trainer's promotion reaches the API replica through the records
    wait_for(lambda: api.post("/v1/predict", json={"text": "w1 good"}).json()["model_version"] == "v1",
             10, what="the API replica to serve v1")
    wait_for(lambda: trainer.get("/readyz").json()["running_jobs"] == 0, 10, what="the trainer to see the job end")


def test_a_trainer_serves_only_health_and_metrics(make_client):
    trainer = make_client(role="trainer")
    assert trainer.app.state.inference is None  # no model loaded
    r = trainer.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready" and r.json()["role"] == "trainer"
    assert trainer.get("/healthz").status_code == 200
    assert trainer.get("/metrics").status_code == 200
    for method, path in [("POST", "/v1/predict"), ("GET", "/v1/models"), ("POST", "/v1/train-jobs"),
                         ("GET", "/"), ("GET", "/docs"), ("GET", "/openapi.json")]:
        r = trainer.request(method, path, headers=AUTH, json={"text": "w1 good"})
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"] == "trainer_only" and "trainer" in r.json()["message"]


def test_a_trainer_whose_runner_stopped_is_not_ready(make_client):
    trainer = make_client(role="trainer")
    trainer.app.state.runner.task.cancel()
    r = wait_for(lambda: (r := trainer.get("/readyz")).status_code == 503 and r, 5, what="readyz to answer 503")
    assert r.json()["error"] == "not_ready" and "runner" in r.json()["message"]
