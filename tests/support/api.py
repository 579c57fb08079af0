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


def add_version(client, source_path, model: str = "sentiment-en", version: str = "v1", seq: int = 1):
    """Record a copy of the bundle ``source_path`` as ``model``'s ``version`` (the model created,
    served from it, when new), as a finished job would, straight in the records."""
    import shutil

    from app.store import now

    state = client.app.state
    path = state.settings.data_dir / "models" / model / version
    shutil.copytree(source_path, path)
    labels = __import__("json").loads((path / "config.json").read_text())["model"]["labels"]
    with state.store.connect() as db:
        state.store.insert("models", on_conflict_ignore=True, db=db, name=model, labels=labels,
                           active_version=version, created_at=now())
        state.store.insert("versions", db=db, model=model, version=version, path=str(path), source="job",
                           metrics={}, created_at=now(), seq=seq)
    return path
