"""A full disk and an unwritable data directory: clean 507 / 503 answers, jobs that fail with the
reason, predictions that go on, and nothing partial left behind (issue 10, items 3 and 4)."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from tests.faults.conftest import fill, leftovers
from tests.support.api import TINY_CONFIG
from tests.support.data import csv_bytes
from tests.support.settings import AUTH
from tests.support.waiting import wait_for

BIG = csv_bytes(20000, seed=9)  # about 700 KB


def _job(http, body) -> dict:
    r = http.post("/v1/train-jobs", headers=AUTH, json=body)
    assert r.status_code == 202, r.text
    return r.json()


def _finished(http, job_id) -> dict:
    return wait_for(lambda: (j := http.get(f"/v1/train-jobs/{job_id}").json())["state"]
                    not in ("queued", "running") and j, 60, what=f"job {job_id} to finish")


def _still_serving(http) -> None:
    assert http.get("/healthz").status_code == 200
    r = http.post("/v1/predict", json={"text": "w1 not bad"})
    assert r.status_code == 200, r.text


def test_a_full_disk_is_507_with_nothing_left_behind_then_recovers(volume, serve_on):
    vol = volume(12 * 1024)
    data = vol / "data"
    server = serve_on(data)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        small = http.post("/v1/datasets", headers=AUTH, files={"file": ("small.csv", csv_bytes(200))}).json()
        trained = _finished(http, _job(http, {"dataset_id": small["id"], "config": TINY_CONFIG})["id"])
        assert trained["state"] == "succeeded", trained["error"]
        fillers = [fill(vol, leave_kb=64)]

        r = http.post("/v1/datasets", headers=AUTH, files={"file": ("big.csv", BIG)})
        assert r.status_code == 507, r.text
        assert r.json()["error"] == "insufficient_storage" and "no space left" in r.json()["message"]
        assert leftovers(data) == [] and len(list((data / "datasets").iterdir())) == 1

        fillers.append(fill(vol, leave_kb=0))  # now nothing at all: records cannot grow either
        r = http.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": small["id"], "config": TINY_CONFIG})
        assert r.status_code in (202, 507), r.text  # SQLite may still find room in its log
        if r.status_code == 202:
            done = _finished(http, r.json()["id"])
            assert done["state"] == "failed" and done["error"], done
        else:
            assert r.json()["error"] == "insufficient_storage"
        r = http.post(f"/v1/models/sentiment-en/versions/{trained['model_version']}/activate", headers=AUTH)
        assert r.status_code in (200, 507), r.text
        ready = http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["storage"]["writable"] is False
        _still_serving(http)
        assert leftovers(data) == []

        for filler in fillers:
            filler.unlink()
        r = http.post("/v1/datasets", headers=AUTH, files={"file": ("big.csv", BIG)})
        assert r.status_code == 201, r.text
        assert http.get("/readyz").json()["storage"]["writable"] is True
    assert "Traceback" not in server.log()


def test_an_unwritable_data_directory_is_503_and_a_job_that_cannot_start_fails(volume, serve_on):
    data = volume(32 * 1024) / "data"
    server = serve_on(data)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        dataset = http.post("/v1/datasets", headers=AUTH, files={"file": ("train.csv", csv_bytes(200))}).json()
        # A read-only view of the folder over itself: new files cannot be made (also for root),
        # while files the server already has open, such as its database, stay writable.
        subprocess.run(["mount", "--bind", str(data), str(data)], check=True, timeout=30)
        try:
            subprocess.run(["mount", "-o", "remount,ro,bind", str(data)], check=True, timeout=30)
            r = http.post("/v1/datasets", headers=AUTH, files={"file": ("other.csv", csv_bytes(300, seed=4))})
            assert r.status_code == 503, r.text
            assert r.json()["error"] == "storage_not_writable" and "not writable" in r.json()["message"]
            assert r.headers["retry-after"]

            r = http.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": dataset["id"], "config": TINY_CONFIG})
            assert r.status_code in (202, 503), r.text
            if r.status_code == 202:  # claimed, then its log cannot be opened: failed, with the reason
                done = _finished(http, r.json()["id"])
                assert done["state"] == "failed" and "not writable" in done["error"], done
            ready = http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["status"] == "degraded" and ready.json()["storage"]["writable"] is False
            _still_serving(http)
            assert http.get("/v1/datasets").status_code == 200
        finally:
            subprocess.run(["umount", "-l", str(data)], timeout=30)
        r = http.post("/v1/datasets", headers=AUTH, files={"file": ("other.csv", csv_bytes(300, seed=4))})
        assert r.status_code == 201, r.text
        assert leftovers(data) == []
    assert "Traceback" not in server.log()


def test_start_up_on_a_read_only_volume_is_one_line_and_exit_1(volume, tiny_bundle_path, tmp_path):
    from tests.faults.conftest import remount_read_only
    from tests.support.server import start_server

    vol = volume(1024)
    remount_read_only(vol)
    server = start_server(data_dir=vol / "data", model_dir=tiny_bundle_path, wait=False, log_dir=tmp_path)
    code = server.process.wait(timeout=60)
    log = server.log()
    server.stop()
    assert code == 1, log
    assert "Traceback" not in log and "cannot start" in log


@pytest.mark.parametrize("leftover", [".0123abcd.csv.99999999.deadbeef.partial", ".tmp.4194303.00000000.partial"])
def test_start_up_sweeps_what_a_killed_write_left(volume, serve_on, leftover):
    data = volume(8 * 1024) / "data"
    (data / "datasets").mkdir(parents=True)
    (data / "datasets" / leftover).write_bytes(b"half a file")
    (data / "models").mkdir()
    (data / "models" / ".job-0123456789ab.partial").mkdir()
    (data / "models" / "..job-0123456789ab.partial.x1y2.partial").mkdir()
    from model.files import HOST

    (data / "models" / f".job-0123456789ab.{HOST}-99999999.deadbeef.partial").mkdir()  # model.files' names
    server = serve_on(data)
    assert httpx.get(server.url + "/healthz").status_code == 200
    assert leftovers(data) == []


def test_readyz_names_a_subfolder_that_cannot_be_written(volume, serve_on):
    """The data directory writable but its datasets/ folder not (a read-only bind mount over it):
    /readyz is degraded and says which folder, where it used to say the storage was writable."""
    data = volume(8 * 1024) / "data"
    server = serve_on(data)
    datasets = data / "datasets"
    subprocess.run(["mount", "--bind", str(datasets), str(datasets)], check=True, timeout=30)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(datasets)], check=True, timeout=30)
        body = httpx.get(server.url + "/readyz").json()
        assert body["status"] == "degraded" and body["storage"]["writable"] is False
        assert "datasets/" in body["storage"]["error"]
    finally:
        subprocess.run(["umount", "-l", str(datasets)], timeout=30)
    assert httpx.get(server.url + "/readyz").json()["status"] == "ready"
