"""Calls to the dataset and training-job endpoints that many tests make (any httpx-like client)."""

from __future__ import annotations

from app.training.jobs import TERMINAL

from .data import csv_bytes
from .settings import AUTH
from .waiting import wait_for

# Small enough to train in a second or two on the negation task.
TINY_CONFIG = {"embedding_dim": 8, "hidden_size": 8, "epochs": 2, "batch_size": 32, "tokenizer": "word",
               "pretrained": None, "pooling": "max"}


def upload(client, data: bytes | None = None, name: str = "train.csv", **form) -> dict:
    r = client.post("/v1/datasets", headers=AUTH, files={"file": (name, data or csv_bytes())}, data=form)
    assert r.status_code in (200, 201), r.text
    return r.json()


def job_state(client, job_id: str) -> dict:
    r = client.get(f"/v1/train-jobs/{job_id}")
    assert r.status_code == 200, r.text
    return r.json()


def wait_job(client, job_id: str, states=TERMINAL, timeout=90.0) -> dict:
    return wait_for(lambda: (j := job_state(client, job_id))["state"] in states and j, timeout,
                    what=f"job {job_id} to reach {states}")
