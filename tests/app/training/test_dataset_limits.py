"""Uploads are bounded: one at a time per server process is parsed (memory), and a failed
training process's error names no server path."""

from __future__ import annotations

import threading
import time

from tests.support.api import TINY_CONFIG, upload, wait_job
from tests.support.data import csv_bytes
from tests.support.settings import AUTH


def test_concurrent_uploads_are_parsed_one_at_a_time(client, monkeypatch):
    store = client.app.state.datasets
    original = store.add
    inside, most = [0], [0]
    lock = threading.Lock()

    def counting(*args, **kwargs):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.2)  # long enough for the others to arrive
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(store, "add", counting)
    answers = []
    threads = [threading.Thread(target=lambda s=s: answers.append(
        client.post("/v1/datasets", headers=AUTH, files={"file": ("d.csv", csv_bytes(100, seed=s))})))
        for s in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r.status_code for r in answers) == [201] * 4
    assert most[0] == 1


def test_a_failed_job_names_its_log_relative_to_the_data_directory(client, monkeypatch):
    import os
    import signal

    from tests.support.waiting import wait_for

    dataset = upload(client, csv_bytes(400))
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": dataset["id"],
                                                          "config": TINY_CONFIG | {"epochs": 50, "patience": 50}})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    pid = wait_for(lambda: client.app.state.store.one("SELECT pid FROM jobs WHERE id = ?", job_id)["pid"], 30,
                   what="the training process")
    os.kill(pid, signal.SIGKILL)
    done = wait_job(client, job_id)
    assert done["state"] == "failed" and f"jobs/{job_id}.log" in done["error"]
    assert str(client.app.state.settings.data_dir) not in done["error"]
