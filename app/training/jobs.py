"""Training jobs: the queue in the records and what the routes call (submit, read, list, cancel).

``runner.JobRunner`` claims queued jobs (``queue.py``) and runs each in a training process
(``training_process.py``); the server process never trains.
"""

from __future__ import annotations

import asyncio
import uuid

from model.data import check_training_data

from ..errors import Conflict, LimitExceeded, NotFound, TooBusy
from ..settings import Settings
from ..store import now
from ..versions import Versions
from .datasets import DatasetStore

# A job's states, the one list: the API's schema, the metrics and the runner read it from here.
TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")
STATES = ("queued", "running", *TERMINAL)


def _public(job: dict) -> dict:
    for private in ("pid", "lease_owner", "lease_expires_at", "attempts"):  # which machine runs it, and how
        job.pop(private, None)
    job["cancel_requested"] = bool(job["cancel_requested"])
    return job


class JobService:
    """What the routes call: submit, read, list, cancel."""

    def __init__(self, settings: Settings, versions: Versions, datasets: DatasetStore):
        self.settings, self.versions, self.store, self.datasets = settings, versions, versions.store, datasets
        self.wake = asyncio.Event()  # tells the runner (on the event loop) to look now
        # submit and cancel run in threadpool threads: asyncio.Event is not thread-safe, so they
        # set it through the loop (created with the service, inside the lifespan)
        self._loop = asyncio.get_running_loop()

    def submit(self, dataset_id: str, eval_dataset_id: str | None, config: dict, promote: str,
               time_limit_s: float | None = None, base_version: str | None = None, processes: int = 1) -> dict:
        """Queue a job; ``config`` holds validated hyperparameters (model.config names);
        ``base_version``, a model version the new model starts from (warm start); ``processes``,
        how many training processes torchrun starts for it (``training_process.py``)."""
        if config["epochs"] > self.settings.max_epochs:
            raise LimitExceeded(f"epochs is {config['epochs']}; the server allows at most "
                                f"{self.settings.max_epochs} (SENTIMENT_MAX_EPOCHS)", field="config.epochs")
        if time_limit_s is not None and time_limit_s > self.settings.job_timeout_s:
            raise LimitExceeded(f"time_limit_s is {time_limit_s}; at most "
                                f"{self.settings.job_timeout_s} (SENTIMENT_JOB_TIMEOUT_S)", field="time_limit_s")
        if processes > self.settings.max_training_processes:
            raise LimitExceeded(f"processes is {processes}; the server allows at most "
                                f"{self.settings.max_training_processes} (SENTIMENT_MAX_TRAINING_PROCESSES)",
                                field="processes")
        train = self._dataset(dataset_id, "dataset_id")
        dev = self._dataset(eval_dataset_id, "eval_dataset_id") if eval_dataset_id else None
        check_training_data(self.datasets.load(train), self.datasets.load(dev) if dev else None)
        if base_version is not None and not self.versions.exists(base_version):
            raise NotFound(f"model version {base_version!r} not found (GET /v1/models lists them)",
                           field="base_version")
        self.versions.check_quota(self.settings.max_versions, self.settings.max_version_bytes)
        queued = self.store.one("SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued'")["n"]
        if queued >= self.settings.max_queued_jobs:
            raise TooBusy(f"{queued} jobs are already queued; the server allows "
                          f"{self.settings.max_queued_jobs} (SENTIMENT_MAX_QUEUED_JOBS); try again later",
                          code="queue_full")
        job_id = uuid.uuid4().hex[:12]
        # The answer is read in the inserting transaction: the job as submitted, queued (a runner
        # polling the queue may claim it the moment it is committed).
        with self.store.connect("queueing the job") as db:
            self.store.insert("jobs", db=db, id=job_id, state="queued", dataset_id=dataset_id,
                              eval_dataset_id=eval_dataset_id, config=config, promote=promote,
                              time_limit_s=time_limit_s, base_version=base_version, processes=processes,
                              progress={}, result={}, created_at=now())
            job = self.get(job_id)
        self._loop.call_soon_threadsafe(self.wake.set)
        return job

    def _dataset(self, dataset_id: str, field: str) -> dict:
        record = self.datasets.get(dataset_id)
        if record is None:
            raise NotFound(f"dataset {dataset_id!r} not found", field=field)
        return record

    def get(self, job_id: str) -> dict:
        job = self.store.one("SELECT * FROM jobs WHERE id = ?", job_id)
        if job is None:
            raise NotFound(f"training job {job_id!r} not found")
        return _public(job)

    def list(self, limit: int = 100) -> list[dict]:
        rows = self.store.all("SELECT * FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?", limit)
        return [_public(r) for r in rows]

    def cancel(self, job_id: str) -> dict:
        job = self.get(job_id)
        if job["state"] in TERMINAL:
            raise Conflict(f"job {job_id} has already finished ({job['state']})", code="job_finished")
        if self.store.execute("UPDATE jobs SET state = 'cancelled', finished_at = ?, error = ? "
                              "WHERE id = ? AND state = 'queued'", now(), "cancelled before it started", job_id):
            return self.get(job_id)
        self.store.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", job_id)
        self._loop.call_soon_threadsafe(self.wake.set)
        return self.get(job_id)
