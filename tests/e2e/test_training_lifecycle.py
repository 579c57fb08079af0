"""Training over HTTP against a real server: life cycle, hot swap under load, SIGKILL recovery."""

from __future__ import annotations

import json
import sqlite3
import threading

import httpx

from tests.support.api import TINY_CONFIG
from tests.support.data import csv_bytes
from tests.support.processes import children, is_alive
from tests.support.server import running_server, start_server
from tests.support.settings import AUTH, KEY
from tests.support.waiting import wait_for


def _job(http, job_id):
    r = http.get(f"/v1/train-jobs/{job_id}")
    assert r.status_code == 200, r.text
    return r.json()


def _predict_version(http) -> str:
    r = http.post("/v1/predict", json={"text": "w3 not bad w5"})
    assert r.status_code == 200, r.text
    return r.json()["model_version"]


def test_upload_train_activate_predict_rollback_under_load(tiny_bundle_path, tmp_path):
    with running_server(data_dir=tmp_path / "data", model_dir=tiny_bundle_path, api_keys=KEY) as server, \
            httpx.Client(base_url=server.url, timeout=30) as http:
        r = http.post("/v1/datasets", headers=AUTH, files={"file": ("train.csv", csv_bytes(300))})
        assert r.status_code == 201, r.text
        r = http.post("/v1/train-jobs", headers=AUTH,
                      json={"dataset_id": r.json()["id"], "config": TINY_CONFIG, "promote": "never"})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]

        # Follow it twice: by polling and by Server-Sent Events.
        seen_running = wait_for(lambda: _job(http, job_id)["state"] in ("running", "succeeded"), what="job start")
        assert seen_running
        events = []
        with http.stream("GET", f"/v1/train-jobs/{job_id}/events") as stream:
            kind = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line.removeprefix("data: "))))
        assert events[-1][0] == "end" and events[-1][1]["state"] == "succeeded"
        job = _job(http, job_id)
        assert job["state"] == "succeeded" and job["model_version"] == "v1"
        assert [e["epoch"] for e in job["progress"]["epochs_done"]] == [1, 2]
        assert _predict_version(http) == "bundled"  # promote "never": nothing changed yet

        r = http.post("/v1/models/sentiment-en/versions/v1/activate", headers=AUTH)
        assert r.status_code == 200 and r.json()["active"] is True
        assert _predict_version(http) == "v1"
        versions = {m["version"]: m for m in http.get("/v1/models/sentiment-en/versions").json()["versions"]}
        assert set(versions) == {"bundled", "v1"} and versions["bundled"]["read_only"]
        assert versions["v1"]["active"] and not versions["bundled"]["active"]

        # Swap back and forth while 8 clients predict: no request may fail.
        failures, answers, stop = [], [], threading.Event()

        def client_loop():
            with httpx.Client(base_url=server.url, timeout=30) as c:
                while not stop.is_set():
                    try:
                        resp = c.post("/v1/predict", json={"texts": ["w1 good", "w2 not good w4"]})
                        if resp.status_code != 200 or len(resp.json()["predictions"]) != 2:
                            failures.append(resp.text)
                        else:
                            answers.append(resp.json()["model_version"])
                    except httpx.HTTPError as exc:
                        failures.append(repr(exc))

        threads = [threading.Thread(target=client_loop) for _ in range(8)]
        for t in threads:
            t.start()
        try:
            for version in ["bundled", "v1"] * 3 + ["bundled"]:
                assert http.post(f"/v1/models/sentiment-en/versions/{version}/activate", headers=AUTH).status_code == 200
                wait_for(lambda v=version: answers and answers[-1] == v, what=f"answers from {version}")
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert failures == []
        assert set(answers) == {"bundled", "v1"} and len(answers) > 50
        assert _predict_version(http) == "bundled"  # the rollback holds


def test_sigkill_mid_training_then_restart(tiny_bundle_path, tmp_path):
    data_dir = tmp_path / "data"
    server = start_server(data_dir=data_dir, model_dir=tiny_bundle_path, api_keys=KEY,
                          env={"SENTIMENT_MAX_EPOCHS": "1000"})
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            ds = http.post("/v1/datasets", headers=AUTH, files={"file": ("t.csv", csv_bytes(400))}).json()
            first = http.post("/v1/train-jobs", headers=AUTH, json={
                "dataset_id": ds["id"], "config": TINY_CONFIG, "promote": "always"}).json()
            wait_for(lambda: _job(http, first["id"])["state"] == "succeeded", 90, what="first job")
            wait_for(lambda: _predict_version(http) == "v1", what="v1 to serve")
            r = http.post("/v1/train-jobs", headers=AUTH, json={
                "dataset_id": ds["id"], "config": TINY_CONFIG | {"epochs": 1000, "patience": 1000},
                "promote": "always"})
            assert r.status_code == 202, r.text
            long = r.json()
            wait_for(lambda: _job(http, long["id"])["progress"].get("step", 0) > 3, 90, what="long job to train")
            model_processes = children(server.process.pid, "app.serving.model_process")
            assert len(model_processes) == 1
    finally:
        server.process.kill()  # SIGKILL: no shutdown handler runs
        server.stop()
    db = sqlite3.connect(data_dir / "sentiment.db")
    (pid,) = db.execute("SELECT pid FROM jobs WHERE id = ?", (long["id"],)).fetchone()
    db.close()
    wait_for(lambda: not is_alive(pid), 30, what="the orphaned training process to die with its server")
    wait_for(lambda: not is_alive(model_processes[0]), 30, what="the model process to die with its server")

    with running_server(data_dir=data_dir, model_dir=tiny_bundle_path, api_keys=KEY) as server, \
            httpx.Client(base_url=server.url, timeout=30) as http:
        job = _job(http, long["id"])
        assert job["state"] == "interrupted" and "server stopped" in job["error"]
        assert _predict_version(http) == "v1"  # the previously active version serves
        models = http.get("/v1/models/sentiment-en/versions").json()["versions"]
        assert sorted(m["version"] for m in models) == ["bundled", "v1"]
        assert all(m["status"] == "ready" for m in models)
        assert sorted(p.name for p in (data_dir / "models").iterdir()) == ["sentiment-en"]  # nothing half-written
        assert sorted(p.name for p in (data_dir / "models" / "sentiment-en").iterdir()) == ["v1"]
        assert _job(http, first["id"])["state"] == "succeeded"
