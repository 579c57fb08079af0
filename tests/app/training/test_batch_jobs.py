"""Batch jobs: unlabelled datasets, every text scored in a batch process, the result as CSV and
JSONL in the dataset's order, cancel, and resuming after a server stop without a row twice."""

from __future__ import annotations

import csv
import io
import json

import pytest

from model import Predictor
from tests.support.data import negation_examples
from tests.support.settings import AUTH

TEXTS, _ = negation_examples(300, seed=5)


def upload_texts(client, texts=TEXTS) -> dict:
    body = "text\n" + "".join(f'"{t}"\n' for t in texts)
    r = client.post("/v1/datasets", headers=AUTH, files={"file": ("reviews.csv", body.encode())})
    assert r.status_code in (200, 201), r.text
    return r.json()


def submit(client, dataset_id: str, **body) -> dict:
    r = client.post("/v1/batch-jobs", headers=AUTH, json={"dataset_id": dataset_id, **body})
    assert r.status_code == 202, r.text
    return r.json()


def wait_batch(client, job_id: str) -> dict:
    from tests.support.waiting import wait_for

    return wait_for(lambda: (j := client.get(f"/v1/batch-jobs/{job_id}").json())["state"]
                    in ("succeeded", "failed", "cancelled") and j, 60, what=f"batch job {job_id}")


def test_an_unlabelled_dataset_is_scored_in_order_and_refused_for_training(client, tiny_bundle_path):
    dataset = upload_texts(client)
    assert dataset["task"] == "unlabelled" and dataset["label_counts"] == {} and dataset["examples"] == 300
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": dataset["id"]})
    assert r.status_code == 422 and r.json()["error"] == "dataset_unlabelled" and "no labels" in r.json()["message"]

    job = submit(client, dataset["id"])
    assert job["model"] == "sentiment-en" and job["version"] == "bundled" and job["rows_total"] == 300
    done = wait_batch(client, job["id"])
    assert done["state"] == "succeeded", done["error"]
    assert done["rows_done"] == 300 and done["rows_per_s"] > 0 and done["result"]["rows"] == 300
    assert client.get("/v1/train-jobs").json() == []  # the two kinds are listed apart
    assert [j["id"] for j in client.get("/v1/batch-jobs").json()] == [job["id"]]

    expected = Predictor.load(tiny_bundle_path).predict(TEXTS)
    r = client.get(f"/v1/batch-jobs/{job['id']}/result")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["text"] for row in rows] == TEXTS
    assert [row["label"] for row in rows] == [p.label for p in expected]
    for row, p in zip(rows, expected):
        assert float(row["score"]) == pytest.approx(p.score, abs=1e-5)
        assert float(row["p_positive"]) == pytest.approx(p.probabilities["positive"], abs=1e-5)
    lines = client.get(f"/v1/batch-jobs/{job['id']}/result?format=jsonl").text.splitlines()
    assert [json.loads(x)["text"] for x in lines] == TEXTS and json.loads(lines[0])["label"] == expected[0].label


def test_bad_batch_requests_are_clear_4xx(client):
    dataset = upload_texts(client, TEXTS[:10])
    for body, status in (({"dataset_id": "nope"}, 404), ({"dataset_id": dataset["id"], "model": "nope"}, 404),
                         ({"dataset_id": dataset["id"], "version": "v9"}, 404), ({}, 422)):
        r = client.post("/v1/batch-jobs", headers=AUTH, json=body)
        assert r.status_code == status, (body, r.text)
    assert client.post("/v1/batch-jobs", json={"dataset_id": dataset["id"]}).status_code == 401
    assert client.get("/v1/batch-jobs/nope").status_code == 404
    assert client.get("/v1/train-jobs/nope").status_code == 404


def test_a_queued_job_can_be_cancelled_and_has_no_result(make_client):
    api = make_client(role="api")  # queues, never runs: the job stays queued
    dataset = upload_texts(api, TEXTS[:10])
    job = submit(api, dataset["id"])
    r = api.get(f"/v1/batch-jobs/{job['id']}/result")
    assert r.status_code == 409 and r.json()["error"] == "job_not_finished"
    r = api.post(f"/v1/batch-jobs/{job['id']}/cancel", headers=AUTH)
    assert r.status_code == 202 and r.json()["state"] == "cancelled"


def test_a_job_queued_again_after_a_stop_resumes_after_the_last_row_written(make_client, tmp_path):
    api = make_client(role="api")
    dataset = upload_texts(api)
    job = submit(api, dataset["id"])
    # what a batch process stopped mid-file leaves: 5 rows written, the 6th cut short
    partial = tmp_path / "data" / "batches" / f"{job['id']}.partial.jsonl"
    partial.parent.mkdir(parents=True)
    written = {"label": "negative", "score": 0.5, "probabilities": {"negative": 0.5, "positive": 0.5}, "windows": 1}
    partial.write_text("".join(json.dumps(written) + "\n" for _ in range(5)) + '{"label": "po')
    api.__exit__(None, None, None)
    runner = make_client(data_dir=tmp_path / "data")  # the default role runs jobs
    done = wait_batch(runner, job["id"])
    assert done["state"] == "succeeded", done["error"]
    lines = runner.get(f"/v1/batch-jobs/{job['id']}/result?format=jsonl").text.splitlines()
    assert len(lines) == 300 and [json.loads(x)["text"] for x in lines] == TEXTS  # no row lost or twice
    assert all(json.loads(x)["score"] == 0.5 for x in lines[:5])  # kept, not scored again
    assert json.loads(lines[5])["score"] != 0.5 and not partial.exists()


def test_a_batch_job_follows_the_event_stream_to_its_end(client):
    dataset = upload_texts(client, TEXTS[:50])
    job = submit(client, dataset["id"])
    with client.stream("GET", f"/v1/batch-jobs/{job['id']}/events") as r:
        assert r.status_code == 200
        kinds = [line.removeprefix("event: ") for line in r.iter_lines() if line.startswith("event: ")]
    assert kinds[0] == "snapshot" and kinds[-1] == "end"
