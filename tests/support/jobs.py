"""Helpers for dataset and training-job tests: synthetic CSV data and polling with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.conftest import negation_examples  # the synthetic task every test package shares

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
TINY_CONFIG = {"embedding_dim": 8, "hidden_size": 8, "epochs": 2, "batch_size": 32}


def csv_bytes(n: int = 200, seed: int = 3) -> bytes:
    texts, labels = negation_examples(n, seed)
    rows = ["text,label"] + [f'"{t}",{"pos" if y == "1" else "neg"}' for t, y in zip(texts, labels)]
    return ("\n".join(rows) + "\n").encode()


def wait_for(check: Callable[[], object], timeout: float = 60.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def upload(client, data: bytes = None, name: str = "train.csv", **form) -> dict:
    r = client.post("/v1/datasets", headers=AUTH, files={"file": (name, data or csv_bytes())}, data=form)
    assert r.status_code in (200, 201), r.text
    return r.json()


def job_state(client, job_id: str) -> dict:
    r = client.get(f"/v1/train-jobs/{job_id}")
    assert r.status_code == 200, r.text
    return r.json()


def wait_job(client, job_id: str, states=("succeeded", "failed", "cancelled", "interrupted"), timeout=90.0) -> dict:
    return wait_for(lambda: (j := job_state(client, job_id))["state"] in states and j, timeout,
                    what=f"job {job_id} to reach {states}")


def make_settings(model_dir, data_dir, **overrides):
    from app.config import Settings

    # The model in the server's inference thread, as in tests/app/conftest.py (start-up time).
    values = {"model_dir": model_dir, "data_dir": data_dir, "api_keys": KEY, "version_poll_s": 0.2,
              "inference_process": False} | overrides
    return Settings(**values)
