"""kill -9 of each process type while it writes: after a restart nothing partial or orphaned is
left, and every record has its file (issue 10, the fault suite). The model process's kill under
load is in tests/e2e/test_processes.py."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading

import httpx

from tests.faults.conftest import leftovers
from tests.support.api import TINY_CONFIG
from tests.support.data import csv_bytes
from tests.support.processes import children
from tests.support.settings import AUTH
from tests.support.waiting import wait_for


def _records_open(url: str) -> None:
    """Wait until the restarted server has opened its records, which removes what a killed write
    left: it serves first, and opens them a moment later (``/readyz``'s ``database.opening``)."""
    wait_for(lambda: "opening" not in httpx.get(url + "/readyz").json()["database"], 30, what="the records open")


def _consistent(data) -> None:
    """Records and files agree: no dataset file without a record or record without its file,
    no model folder that is not a recorded version."""
    db = sqlite3.connect(data / "sentiment.db")
    datasets = {row[0] for row in db.execute("SELECT path FROM datasets")}
    versions = {row[0] for row in db.execute("SELECT path FROM versions WHERE source != 'bundled'")}
    db.close()
    assert {str(p) for p in (data / "datasets").iterdir()} == datasets
    assert {str(p) for p in (data / "models").glob("*/*")} == versions
    assert leftovers(data) == []


def test_the_server_killed_during_uploads_leaves_nothing_behind(volume, serve_on):
    data = volume(64 * 1024) / "data"
    server = serve_on(data)
    bodies = [csv_bytes(30000, seed=s) for s in range(3)]  # ~1 MB each

    def upload(body: bytes) -> None:
        try:
            httpx.post(server.url + "/v1/datasets", headers=AUTH, files={"file": ("big.csv", body)}, timeout=30)
        except httpx.HTTPError:
            pass  # the server is killed under it

    threads = [threading.Thread(target=upload, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    wait_for(lambda: any((data / "datasets").iterdir()), 30, interval=0.002, what="a dataset file to be written")
    os.kill(server.process.pid, signal.SIGKILL)
    for thread in threads:
        thread.join(30)
    server.stop()
    restarted = serve_on(data)
    _records_open(restarted.url)
    _consistent(data)


def test_a_training_process_killed_while_it_saves_leaves_nothing_behind(volume, serve_on):
    data = volume(64 * 1024) / "data"
    server = serve_on(data)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        dataset = http.post("/v1/datasets", headers=AUTH, files={"file": ("t.csv", csv_bytes(300))}).json()
        job = http.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": dataset["id"], "config": TINY_CONFIG}).json()
        [trainer] = wait_for(lambda: children(server.process.pid, "app.training.training_process"), 30,
                             what="the training process")
        # The moment its bundle appears (written aside), kill it.
        wait_for(lambda: any((data / "models").iterdir()) or http.get(f"/v1/train-jobs/{job['id']}").json()["state"]
                 != "running", 60, interval=0.002, what="the training process to write its bundle")
        os.kill(trainer, signal.SIGKILL)
        done = wait_for(lambda: (j := http.get(f"/v1/train-jobs/{job['id']}").json())["state"] != "running" and j, 30,
                        what="the job to end")
        assert done["state"] in ("failed", "succeeded"), done
        _consistent(data)
        assert http.post("/v1/predict", json={"text": "w1 good"}).status_code == 200
    server.stop()
    restarted = serve_on(data)  # and after a restart, too
    _records_open(restarted.url)
    _consistent(data)


def test_a_trainer_killed_during_a_batch_job_finishes_it_after_a_restart_each_row_once(serve_on, tmp_path):
    """kill -9 of the server running a batch job (its batch process dies with it): the restarted
    server queues the job again and it resumes after the last row written."""
    data = tmp_path / "data"
    texts = [f"row {i} w{i % 7} {'not ' if i % 3 else ''}{'good' if i % 2 else 'bad'}" for i in range(60_000)]
    server = serve_on(data)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        body = ("text\n" + "\n".join(texts) + "\n").encode()
        dataset = http.post("/v1/datasets", headers=AUTH, files={"file": ("pool.csv", body)}).json()
        job = http.post("/v1/batch-jobs", headers=AUTH, json={"dataset_id": dataset["id"]}).json()
        progress = wait_for(lambda: (j := http.get(f"/v1/batch-jobs/{job['id']}").json())["rows_done"] > 0 and j,
                            60, interval=0.01, what="the batch job to write rows")
    assert progress["rows_done"] < len(texts), "the job finished before the kill: nothing to resume"
    os.kill(server.process.pid, signal.SIGKILL)
    server.stop()
    restarted = serve_on(data)
    with httpx.Client(base_url=restarted.url, timeout=60) as http:
        done = wait_for(lambda: (j := http.get(f"/v1/batch-jobs/{job['id']}").json())["state"] != "running"
                        and j["state"] != "queued" and j, 120, what="the batch job to finish after the restart")
        assert done["state"] == "succeeded", done
        lines = http.get(f"/v1/batch-jobs/{job['id']}/result?format=jsonl").text.splitlines()
    assert len(lines) == len(texts)
    assert [json.loads(line)["text"] for line in lines] == texts  # each row once, in order
    assert leftovers(data) == []
