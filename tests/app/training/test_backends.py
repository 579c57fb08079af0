"""A job's whole life through the API on both backends: SQLite in the data directory (no
``SENTIMENT_DATABASE_URL``) and PostgreSQL. The training process opens the same records as the
server (it gets the URL with the settings)."""

from __future__ import annotations

import pytest

from tests.support.api import TINY_CONFIG, upload, wait_job
from tests.support.data import csv_bytes
from tests.support.settings import AUTH
from tests.support.waiting import wait_for


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request) -> str:
    """Before ``make_client`` in a test's arguments: the database outlives the app's shut-down."""
    return "" if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def test_datasets_jobs_versions_and_activation_on_either_backend(database_url, make_client, tmp_path):
    client = make_client(database_url=database_url)
    ds = upload(client, csv_bytes(200))
    assert upload(client, csv_bytes(200))["id"] == ds["id"]  # the same bytes: the same dataset
    r = client.post("/v1/train-jobs", headers=AUTH,
                    json={"dataset_id": ds["id"], "config": TINY_CONFIG, "promote": "always"})
    assert r.status_code == 202, r.text
    done = wait_job(client, r.json()["id"])
    assert done["state"] == "succeeded" and done["model_version"] == "v1", done
    assert done["dataset_filename"] == "train.csv"  # the datasets table joined, in either dialect
    versions = client.get("/v1/models/sentiment-en/versions").json()["versions"]
    assert {v["version"]: v["dataset_filename"] for v in versions} == {"v1": "train.csv", "bundled": None}
    wait_for(lambda: client.post("/v1/predict", json={"text": "w1 good"}).json()["model_version"] == "v1",
             what="v1 to serve")
    assert client.delete(f"/v1/datasets/{ds['id']}", headers=AUTH).status_code == 204
    client.__exit__(None, None, None)

    again = make_client(database_url=database_url)  # a restart on the same records
    listed = again.get("/v1/models/sentiment-en/versions").json()
    assert listed["active_version"] == "v1"
    assert sorted(m["version"] for m in listed["versions"]) == ["bundled", "v1"]
    assert again.get(f"/v1/train-jobs/{done['id']}").json()["state"] == "succeeded"
    assert again.post("/v1/models/sentiment-en/versions/bundled/activate", headers=AUTH).status_code == 200
    assert again.get("/v1/models/sentiment-en").json()["active_version"] == "bundled"
    sqlite_file = tmp_path / "data" / "sentiment.db"
    assert sqlite_file.exists() == (database_url == "")


def test_the_runner_renews_a_running_job_lease(database_url, make_client):
    """With a 1 s lease a job that trains for longer keeps it: renewed, never re-queued."""
    client = make_client(database_url=database_url, job_lease_s=1.0, max_epochs=1000)
    store = client.app.state.store
    ds = upload(client, csv_bytes(400))
    r = client.post("/v1/train-jobs", headers=AUTH,
                    json={"dataset_id": ds["id"], "config": TINY_CONFIG | {"epochs": 1000, "patience": 1000}})
    job_id = r.json()["id"]
    lease = wait_for(lambda: store.one("SELECT lease_expires_at AS t FROM jobs WHERE id = ? AND state = 'running'",
                                       job_id), 60, what="the job to run")["t"]
    # three leases' worth of renewals, then the same attempt still runs
    for _ in range(3):
        lease = wait_for(lambda previous=lease: (t := store.one("SELECT lease_expires_at AS t FROM jobs WHERE id = ?",
                                                                job_id)["t"]) and t > previous + 0.9 and t,
                         30, what="the lease to be renewed")
    job = store.one("SELECT state, attempts FROM jobs WHERE id = ?", job_id)
    assert job == {"state": "running", "attempts": 1}
    assert client.post(f"/v1/train-jobs/{job_id}/cancel", headers=AUTH).status_code == 202
    assert wait_job(client, job_id)["state"] == "cancelled"
