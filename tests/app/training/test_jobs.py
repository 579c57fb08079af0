"""Training jobs through the API (TestClient, real training processes, real SQLite)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from tests.support.api import TINY_CONFIG, job_state, upload, wait_job
from tests.support.data import csv_bytes
from tests.support.settings import AUTH
from tests.support.waiting import wait_for


@pytest.fixture
def client(make_client):
    return make_client(max_epochs=500)


def submit(client, dataset_id, status=202, **body):
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": dataset_id, **body})
    assert r.status_code == status, r.text
    return r.json()


def test_job_trains_in_another_process_and_records_metrics(client, tmp_path):
    ds = upload(client, csv_bytes(200))
    job = submit(client, ds["id"], config=TINY_CONFIG | {"cell": "gru"})
    assert job["state"] == "queued" and job["promote"] == "never"  # as submitted, even if claimed at once
    done = wait_job(client, job["id"])
    assert done["state"] == "succeeded", done
    assert done["model_version"] == "v1"
    assert len(done["progress"]["epochs_done"]) == 2 and done["progress"]["percent"] == 100.0
    assert done["result"]["stop_reason"] == done["progress"]["stop_reason"] == "max_epochs: reached 2 epochs"
    seconds = [e["seconds"] for e in done["progress"]["epochs_done"]]
    assert done["progress"]["seconds_per_epoch"] == round(sum(seconds) / 2, 2)
    assert done["progress"]["tokens_per_s"] > 0 and done["progress"]["elapsed_s"] >= 0
    assert all(e["tokens_per_s"] > 0 and e["elapsed_s"] >= 0 for e in done["result"]["history"])
    assert done["result"]["promotion"] == {"policy": "never", "active_version": "bundled", "promote": False,
                                           "new_accuracy": done["result"]["metrics"]["accuracy"],
                                           "reason": "promote is 'never'"}
    listed = client.get("/v1/models/sentiment-en/versions").json()
    assert listed["active_version"] == "bundled"
    v1 = next(m for m in listed["versions"] if m["version"] == "v1")
    assert v1["status"] == "ready" and v1["job_id"] == job["id"] and v1["labels"] == ["neg", "pos"]
    assert v1["config"]["model"]["cell"] == "gru"
    models_dir = tmp_path / "data" / "models" / "sentiment-en"
    assert sorted(p.name for p in models_dir.iterdir()) == ["v1"]  # nothing partial left behind
    assert client.get("/v1/train-jobs").json()[0]["id"] == job["id"]
    # jobs and versions name their data by its file name, not only its id
    assert job["dataset_filename"] == done["dataset_filename"] == "train.csv" and done["eval_dataset_filename"] is None
    assert v1["dataset_id"] == ds["id"] and v1["dataset_filename"] == "train.csv"
    bundled = next(m for m in listed["versions"] if m["version"] == "bundled")
    assert bundled["dataset_filename"] is None
    assert client.delete(f"/v1/datasets/{ds['id']}", headers=AUTH).status_code == 204
    assert job_state(client, job["id"])["dataset_filename"] is None  # the id stays; the name went with the dataset
    assert client.get("/v1/models/sentiment-en/versions/v1").json()["dataset_filename"] is None


def test_promote_if_better_records_decision_and_both_scores(client):
    ds = upload(client, csv_bytes(200))
    first = wait_job(client, submit(client, ds["id"], config=TINY_CONFIG, promote="always")["id"])
    assert first["state"] == "succeeded" and first["result"]["promotion"]["promote"] is True
    wait_for(lambda: client.post("/v1/predict", json={"text": "w1 good"}).json()["model_version"] == "v1",
             what="v1 to serve")
    second = wait_job(client, submit(client, ds["id"], config=TINY_CONFIG | {"epochs": 1, "learning_rate": 1e-6},
                                     promote="if_better")["id"])
    decision = second["result"]["promotion"]
    assert decision["policy"] == "if_better" and decision["active_version"] == "v1"
    assert decision["new_accuracy"] <= decision["active_accuracy"]
    assert decision["promote"] is False
    assert client.get("/v1/models/sentiment-en").json()["active_version"] == "v1"


def test_cancel_running_job_stops_it_and_removes_partial_files(client, tmp_path):
    ds = upload(client, csv_bytes(400))
    job = submit(client, ds["id"], config=TINY_CONFIG | {"epochs": 400, "patience": 400})
    wait_for(lambda: job_state(client, job["id"])["progress"].get("step", 0) > 5, what="training to start")
    r = client.post(f"/v1/train-jobs/{job['id']}/cancel", headers=AUTH)
    assert r.status_code == 202 and r.json()["cancel_requested"] is True
    done = wait_job(client, job["id"], timeout=10)
    assert done["state"] == "cancelled" and done["model_version"] is None
    assert done["result"]["stop_reason"].startswith("cancelled: by request")
    assert [p.name for p in (tmp_path / "data" / "models").iterdir()] == []
    assert client.post(f"/v1/train-jobs/{job['id']}/cancel", headers=AUTH).status_code == 409
    assert client.post("/v1/predict", json={"text": "w1 good"}).json()["model_version"] == "bundled"


def test_queued_job_cancels_at_once(make_client):
    client = make_client(max_running_jobs=1)
    ds = upload(client, csv_bytes(300))
    running = submit(client, ds["id"], config=TINY_CONFIG | {"epochs": 50, "patience": 50})
    queued = submit(client, ds["id"], config=TINY_CONFIG)
    r = client.post(f"/v1/train-jobs/{queued['id']}/cancel", headers=AUTH)
    assert r.status_code == 202 and r.json()["state"] == "cancelled"
    client.post(f"/v1/train-jobs/{running['id']}/cancel", headers=AUTH)
    assert wait_job(client, running["id"])["state"] == "cancelled"


def test_killed_training_process_fails_the_job_and_keeps_serving(client, tmp_path):
    ds = upload(client, csv_bytes(400))
    job = submit(client, ds["id"], config=TINY_CONFIG | {"epochs": 400, "patience": 400}, promote="always")
    wait_for(lambda: job_state(client, job["id"])["progress"].get("step", 0) > 2, what="training to start")
    pid = client.app.state.store.one("SELECT pid FROM jobs WHERE id = ?", job["id"])["pid"]
    os.kill(pid, signal.SIGKILL)  # what the kernel's OOM killer does
    done = wait_job(client, job["id"])
    assert done["state"] == "failed" and "signal 9" in done["error"]
    r = client.post("/v1/predict", json={"text": "w1 good"})
    assert r.status_code == 200 and r.json()["model_version"] == "bundled"
    assert client.get("/v1/models/sentiment-en").json()["versions"] == ["bundled"]
    assert list((tmp_path / "data" / "models").iterdir()) == []


def test_time_limit_fails_the_job(client):
    ds = upload(client, csv_bytes(400))
    job = submit(client, ds["id"], config=TINY_CONFIG | {"epochs": 400, "patience": 400}, time_limit_s=1)
    done = wait_job(client, job["id"])
    assert done["state"] == "failed" and "time limit" in done["error"]
    assert done["result"]["stop_reason"].startswith("time_limit: 1 s passed")


@pytest.mark.parametrize("config,field,message", [
    ({"cell": "transformer"}, "config.cell", "'rnn', 'lstm' or 'gru'"),
    ({"epochs": 0}, "config.epochs", "greater than or equal to 1"),
    ({"learning_rate": 50}, "config.learning_rate", "less than or equal to 10"),
    ({"dropout": -0.1}, "config.dropout", "greater than or equal to 0"),
    ({"shiny": True}, "config.shiny", "unknown field"),
])
def test_invalid_hyperparameters_are_422_with_field(client, config, field, message):
    ds = upload(client)
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": ds["id"], "config": config})
    assert r.status_code == 422, r.text
    detail = r.json()["details"][0]
    assert detail["field"] == field and message in detail["message"]


def test_limits_and_bad_references(make_client):
    client = make_client(max_epochs=3, max_queued_jobs=0, job_timeout_s=60)
    ds = upload(client)
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": ds["id"], "config": {"epochs": 4}})
    assert r.status_code == 422 and "at most 3" in r.json()["message"]
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": ds["id"], "config": {"epochs": 1}, "time_limit_s": 61})
    assert r.status_code == 422 and "time_limit_s" in r.json()["message"]
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": "missing", "config": {"epochs": 1}})
    assert r.status_code == 404 and r.json()["details"][0]["field"] == "dataset_id"
    single = client.post("/v1/datasets", headers=AUTH, json={"examples": [{"text": "a", "label": "x"},
                                                                          {"text": "b", "label": "x"}]}).json()
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": single["id"], "config": {"epochs": 1}})
    assert r.status_code == 422 and "only one class" in r.json()["message"]
    unseen = client.post("/v1/datasets", headers=AUTH, json={"examples": [{"text": "a", "label": "zzz"}]}).json()
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": ds["id"], "eval_dataset_id": unseen["id"],
                                                             "config": {"epochs": 1}})
    assert r.status_code == 422 and "examples.jsonl:1" in r.json()["message"]
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": ds["id"], "config": {"epochs": 1}})
    assert r.status_code == 429 and r.json()["error"] == "queue_full"
    assert client.get("/v1/train-jobs").json() == []


def test_dataset_used_by_an_unfinished_job_cannot_be_deleted(make_client):
    client = make_client()
    ds = upload(client, csv_bytes(300))
    job = submit(client, ds["id"], config=TINY_CONFIG | {"epochs": 50, "patience": 50})
    r = client.delete(f"/v1/datasets/{ds['id']}", headers=AUTH)
    assert r.status_code == 409 and job["id"] in r.json()["message"]
    client.post(f"/v1/train-jobs/{job['id']}/cancel", headers=AUTH)
    wait_job(client, job["id"])
    assert client.delete(f"/v1/datasets/{ds['id']}", headers=AUTH).status_code == 204


def read_events(client, job_id: str) -> tuple[list[tuple[str, dict]], int]:
    """The (event type, data) pairs of a job's event stream, and its size in bytes."""
    events, size, kind = [], 0, None
    with client.stream("GET", f"/v1/train-jobs/{job_id}/events") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            size += len(line.encode()) + 1
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, json.loads(line.removeprefix("data: "))))
    return events, size


def test_sse_sends_a_snapshot_then_what_changes_then_the_end(client):
    ds = upload(client, csv_bytes(200))
    job = submit(client, ds["id"], config=TINY_CONFIG)
    events, size = read_events(client, job["id"])
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "snapshot" and kinds[-1] == "end" and kinds.count("snapshot") == kinds.count("end") == 1
    assert set(kinds) <= {"snapshot", "state", "progress", "epoch", "end"}
    snapshot, end = events[0][1], events[-1][1]
    assert snapshot["id"] == job["id"] and snapshot["state"] in ("queued", "running")
    assert end == job_state(client, job["id"]) and end["state"] == "succeeded"
    assert end["result"]["stop_reason"] == "max_epochs: reached 2 epochs"
    # each epoch once, with its metrics; each state change once, the last one to the final state
    assert [data for kind, data in events if kind == "epoch"] == end["progress"]["epochs_done"]
    states = [data for kind, data in events if kind == "state"]
    assert states[-1]["state"] == "succeeded" and all(s["state"] != s["previous"] for s in states)
    assert [s["state"] for s in states] == (["running", "succeeded"] if snapshot["state"] == "queued" else ["succeeded"])
    progress = [data for kind, data in events if kind == "progress"]
    assert all(p and set(p) <= set(end["progress"]) - {"epochs_done"} for p in progress)
    # lean: the job record twice (snapshot and end), every other event small
    record = len(json.dumps(end, separators=(",", ":")))
    assert size < 2 * record + 400 * (len(events) - 2) + 100
    assert client.get("/v1/train-jobs/nope/events").status_code == 404


def test_sse_progress_events_carry_only_what_changed_at_most_a_few_a_second(client):
    ds = upload(client, csv_bytes(400))
    job = submit(client, ds["id"], config=TINY_CONFIG | {"epochs": 400, "patience": 400})
    wait_for(lambda: job_state(client, job["id"])["progress"].get("step", 0) > 5, what="training to start")
    started = time.monotonic()
    canceller = threading.Timer(2.0, lambda: client.post(f"/v1/train-jobs/{job['id']}/cancel", headers=AUTH))
    canceller.start()
    try:
        events, size = read_events(client, job["id"])
    finally:
        canceller.join()
    seconds = time.monotonic() - started
    progress = [data for kind, data in events if kind == "progress"]
    assert 1 <= len(progress) <= 2 * seconds + 1  # at most two a second
    assert all(not {"epochs_done", "epochs", "total_steps"} & set(p) for p in progress[1:])  # those did not change
    assert events[-1][0] == "end" and events[-1][1]["state"] == "cancelled"
    assert events[-1][1]["result"]["stop_reason"].startswith("cancelled: by request")
    # before: every event was the whole record, some 2 kB here after a few epochs
    assert size < 2 * len(json.dumps(events[-1][1])) + 400 * (len(events) - 2) + 100


@pytest.mark.parametrize("config", [{"hidden_size": 4096, "layers": 8}, {"embedding_dim": 4096, "tokenizer": "word",
                                                                         "max_vocab_size": 2_000_000}])
def test_a_job_too_large_for_the_server_is_refused_before_it_allocates(client, config):
    dataset = upload(client)
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": dataset["id"], "config": config})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "job_too_large" and "SENTIMENT_MAX_JOB_MEMORY_BYTES" in body["message"]
    assert client.get("/v1/train-jobs").json() == []  # nothing queued


def test_the_training_process_runs_under_an_operating_system_memory_limit():
    """Past SENTIMENT_MAX_JOB_MEMORY_BYTES (plus the run time's headroom) an allocation fails in the
    training process, which then fails its job saying so, rather than taking the machine's memory."""
    import subprocess
    import sys

    code = ("import numpy as np; from app.training.training_process import limit_memory, MEMORY_HEADROOM\n"
            "limit_memory(64 * 1024**2)\n"
            "a = np.ones(MEMORY_HEADROOM // 8 // 2)  # half the headroom: within the limit\n"
            "try:\n    np.ones((MEMORY_HEADROOM + 128 * 1024**2) // 8)\nexcept MemoryError:\n    print('refused')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "refused"


def test_the_cli_forms_of_pretrained_none_and_label_names_are_taken_as_the_docs_show(client):
    ds = upload(client)
    body = {"dataset_id": ds["id"], "config": {**TINY_CONFIG, "pretrained": "none",
                                               "label_names": "neg=负面,pos=正面"}}
    r = client.post("/v1/train-jobs", headers=AUTH, json=body)
    assert r.status_code == 202, r.text
    assert r.json()["config"]["pretrained"] is None
    assert r.json()["config"]["label_names"] == {"neg": "负面", "pos": "正面"}
    job_id = r.json()["id"]
    body["config"]["label_names"] = "neg负面"
    r = client.post("/v1/train-jobs", headers=AUTH, json=body)
    assert r.status_code == 422 and "RAW=NAME" in r.text
    done = wait_job(client, job_id)
    assert done["state"] == "succeeded", done["error"]
    assert client.get(f"/v1/models/sentiment-en/versions/{done['model_version']}").json()["labels"] == ["负面", "正面"]
