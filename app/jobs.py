"""Training jobs: a queue in SQLite and a runner that trains each job in its own process.

The API process never trains. ``JobRunner`` claims queued jobs (atomically, so several uvicorn
workers can share one queue), starts ``python -m app.worker JOB_ID`` at low CPU priority, and
watches it: a crash, an out-of-memory kill, a cancel or a time-out only ends that process, and
the job records what happened. A job left ``running`` by a server that died is ``interrupted``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from model import DataError
from model.data import check_training_data

from .background import cancel_and_wait
from .config import Settings
from .datasets import DatasetStore
from .metrics import Metrics
from .registry import ModelRegistry
from .store import Store, now

log = logging.getLogger(__name__)

TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")
STATES = ("queued", "running", *TERMINAL)
CANCEL_GRACE_S = 5.0


class JobError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def partial_dir(settings: Settings, job_id: str) -> Path:
    return settings.data_dir / "models" / f".job-{job_id}.partial"


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _public(job: dict) -> dict:
    job.pop("pid", None)  # an implementation detail of this machine
    job["cancel_requested"] = bool(job["cancel_requested"])
    return job


class JobService:
    """What the routes call: submit, read, list, cancel."""

    def __init__(self, settings: Settings, store: Store, datasets: DatasetStore):
        self.settings, self.store, self.datasets = settings, store, datasets
        self.wake = asyncio.Event()

    def submit(self, request) -> dict:
        cfg = request.config
        if cfg.epochs > self.settings.max_epochs:
            raise JobError(422, "limit_exceeded", f"epochs is {cfg.epochs}; the server allows at most "
                           f"{self.settings.max_epochs} (SENTIMENT_MAX_EPOCHS)", "config.epochs")
        if cfg.time_limit_s is not None and cfg.time_limit_s > self.settings.job_timeout_s:
            raise JobError(422, "limit_exceeded", f"time_limit_s is {cfg.time_limit_s}; at most "
                           f"{self.settings.job_timeout_s} (SENTIMENT_JOB_TIMEOUT_S)", "config.time_limit_s")
        train = self._dataset(request.dataset_id, "dataset_id")
        dev = self._dataset(request.eval_dataset_id, "eval_dataset_id") if request.eval_dataset_id else None
        try:
            check_training_data(self.datasets.load(train), self.datasets.load(dev) if dev else None)
        except DataError as exc:
            raise JobError(422, "invalid_dataset", str(exc)) from None
        queued = self.store.one("SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued'")["n"]
        if queued >= self.settings.max_queued_jobs:
            raise JobError(429, "queue_full", f"{queued} jobs are already queued; the server allows "
                           f"{self.settings.max_queued_jobs} (SENTIMENT_MAX_QUEUED_JOBS); try again later")
        job_id = uuid.uuid4().hex[:12]
        self.store.insert("jobs", id=job_id, state="queued", dataset_id=request.dataset_id,
                          eval_dataset_id=request.eval_dataset_id, config=cfg.model_dump(),
                          promote=request.promote, progress={}, result={}, created_at=now())
        self.wake.set()
        return self.get(job_id)

    def _dataset(self, dataset_id: str, field: str) -> dict:
        record = self.datasets.get(dataset_id)
        if record is None:
            raise JobError(404, "not_found", f"dataset {dataset_id!r} not found", field)
        return record

    def get(self, job_id: str) -> dict:
        job = self.store.one("SELECT * FROM jobs WHERE id = ?", job_id)
        if job is None:
            raise JobError(404, "not_found", f"training job {job_id!r} not found")
        return _public(job)

    def list(self, limit: int = 100) -> list[dict]:
        rows = self.store.all("SELECT * FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?", limit)
        return [_public(r) for r in rows]

    def cancel(self, job_id: str) -> dict:
        job = self.get(job_id)
        if job["state"] in TERMINAL:
            raise JobError(409, "job_finished", f"job {job_id} has already finished ({job['state']})")
        if self.store.execute("UPDATE jobs SET state = 'cancelled', finished_at = ?, error = ? "
                              "WHERE id = ? AND state = 'queued'", now(), "cancelled before it started", job_id):
            return self.get(job_id)
        self.store.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", job_id)
        self.wake.set()
        return self.get(job_id)


@dataclass
class _Running:
    job_id: str
    process: subprocess.Popen
    started: float
    time_limit: float
    cancel_seen_at: float | None = None


class JobRunner:
    """Runs in the API process's event loop; owns the training processes it started."""

    def __init__(self, settings: Settings, service: JobService, registry: ModelRegistry, metrics: Metrics):
        self.settings, self.service, self.store, self.registry = settings, service, service.store, registry
        self.metrics = metrics
        self.running: dict[str, _Running] = {}
        self.task: asyncio.Task | None = None
        self.log_dir = settings.data_dir / "jobs"

    def recover(self) -> None:
        """At start-up: jobs whose training process is gone are interrupted; stray partial files go."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for job in self.store.all("SELECT id, pid FROM jobs WHERE state = 'running'"):
            if not pid_alive(job["pid"]):
                self.store.update("jobs", "id", job["id"], state="interrupted", finished_at=now(),
                                  error="the server stopped while this job was running (crash or restart); "
                                        "submit it again to retrain")
                shutil.rmtree(partial_dir(self.settings, job["id"]), ignore_errors=True)
                log.warning("job %s was interrupted by a server stop", job["id"])
        models = self.settings.data_dir / "models"
        keep = {r["version"] for r in self.store.all("SELECT version FROM models")}
        keep |= {partial_dir(self.settings, r["id"]).name  # jobs another worker process is training
                 for r in self.store.all("SELECT id, pid FROM jobs WHERE state = 'running'") if pid_alive(r["pid"])}
        for entry in models.iterdir() if models.exists() else ():
            if entry.is_dir() and entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)

    def start(self) -> None:
        self.recover()
        self.task = asyncio.get_running_loop().create_task(self._loop(), name="job-runner")

    async def stop(self) -> None:
        """Graceful shutdown: stop training processes and record their jobs as interrupted."""
        await cancel_and_wait(self.task)
        for run in list(self.running.values()):
            run.process.send_signal(signal.SIGTERM)
        for run in list(self.running.values()):
            try:
                await asyncio.to_thread(run.process.wait, CANCEL_GRACE_S)
            except subprocess.TimeoutExpired:
                run.process.kill()
                await asyncio.to_thread(run.process.wait)
            self.store.execute("UPDATE jobs SET state = 'interrupted', finished_at = ?, error = ? "
                               "WHERE id = ? AND state = 'running'", now(),
                               "the server shut down while this job was running; submit it again to retrain",
                               run.job_id)
            shutil.rmtree(partial_dir(self.settings, run.job_id), ignore_errors=True)
        self.running.clear()

    async def _loop(self) -> None:
        while True:
            try:
                await self._tick()
            except Exception:
                log.exception("job runner tick failed")
            try:
                await asyncio.wait_for(self.service.wake.wait(), 0.25)
            except TimeoutError:
                pass
            self.service.wake.clear()

    async def _tick(self) -> None:
        for run in list(self.running.values()):
            await self._watch(run)
        while len(self.running) < self.settings.max_running_jobs and self._claim_next():
            pass
        counts = {r["state"]: r["n"] for r in self.store.all("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")}
        for state in STATES:
            self.metrics.jobs.labels(state).set(counts.get(state, 0))

    def _claim_next(self) -> bool:
        job = self.store.one("SELECT id, config FROM jobs WHERE state = 'queued' ORDER BY created_at, rowid LIMIT 1")
        if job is None:
            return False
        # The claim is one UPDATE ... WHERE state = 'queued': only one worker process can win it.
        if not self.store.execute("UPDATE jobs SET state = 'running', started_at = ?, pid = NULL "
                                  "WHERE id = ? AND state = 'queued'", now(), job["id"]):
            return True
        log_file = open(self.log_dir / f"{job['id']}.log", "ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "app.worker", job["id"], str(os.getpid())],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "SENTIMENT_DATA_DIR": str(self.settings.data_dir)},
        )
        log_file.close()
        self.store.update("jobs", "id", job["id"], pid=process.pid)
        limit = job["config"].get("time_limit_s") or self.settings.job_timeout_s
        self.running[job["id"]] = _Running(job["id"], process, now(), min(limit, self.settings.job_timeout_s))
        log.info("job %s started in process %d", job["id"], process.pid)
        return True

    async def _watch(self, run: _Running) -> None:
        code = run.process.poll()
        if code is None:
            job = self.store.one("SELECT cancel_requested FROM jobs WHERE id = ?", run.job_id)
            if job and job["cancel_requested"]:
                run.cancel_seen_at = run.cancel_seen_at or now()
                if now() - run.cancel_seen_at > CANCEL_GRACE_S:  # the worker did not stop by itself
                    run.process.kill()
            elif now() - run.started > run.time_limit + CANCEL_GRACE_S:
                run.process.kill()
            return
        del self.running[run.job_id]
        shutil.rmtree(partial_dir(self.settings, run.job_id), ignore_errors=True)
        job = self.store.one("SELECT state, cancel_requested, result, model_version FROM jobs WHERE id = ?", run.job_id)
        if job["state"] == "running":  # the process died without recording an outcome
            if job["cancel_requested"]:
                state, error = "cancelled", "cancelled by request"
            elif now() - run.started > run.time_limit:
                state, error = "failed", f"time limit of {run.time_limit:.0f} s exceeded"
            else:
                why = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
                if code == -signal.SIGKILL:
                    why += " (out of memory?)"
                state, error = "failed", f"training process ended unexpectedly ({why}); see {self.log_dir}/{run.job_id}.log"
            self.store.update("jobs", "id", run.job_id, state=state, error=error, finished_at=now())
            log.warning("job %s %s: %s", run.job_id, state, error)
            return
        if job["state"] == "succeeded" and job["result"].get("promotion", {}).get("promote"):
            # The worker recorded the new active version with the job; swap it in now rather
            # than at the next periodic check.
            if await asyncio.to_thread(self.registry.sync):
                self.metrics.set_active(self.registry.current.version)
        log.info("job %s finished: %s", run.job_id, job["state"])
