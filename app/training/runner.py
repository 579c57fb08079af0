"""The job runner: claims queued jobs and trains each in a training process of its own.

The server process never trains. ``JobRunner`` claims queued jobs (atomically, so several uvicorn
workers, or several machines on PostgreSQL, share one queue: ``queue.py``), starts ``python -m
app.training.training_process JOB_ID`` at low CPU priority with the server's settings on its
stdin, renews the job's lease while it runs, and watches it: a crash, an out-of-memory kill, a
cancel or a time-out only ends that process, and the job records what happened. A job that asks
for several processes gets the same start: that process becomes ``torchrun`` and starts the
ranks. Each training process starts in a session of its own, and the runner's kill takes its
whole tree (``kill_process_tree``): torchrun, and the ranks in their own sessions below it. A job left
``running`` by a server that died on this machine is ``interrupted`` when a server here starts;
one whose node died elsewhere is re-queued when its lease runs out (``queue.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from model.files import pid_alive

from ..errors import ServiceError, storage_errors
from ..metrics import Metrics
from ..processes import child_environment, kill_process_tree
from ..settings import Settings
from ..store import now
from ..tasks import cancel_and_wait
from .jobs import STATES, JobService
from .queue import JobQueue, owner_machine

log = logging.getLogger(__name__)

CANCEL_GRACE_S = 5.0


@dataclass
class _Running:
    job_id: str
    process: subprocess.Popen
    started: float
    time_limit: float
    cancel_seen_at: float | None = None
    kind: str = "train"


class JobRunner:
    """Runs in the API process's event loop; owns the training processes it started."""

    def __init__(self, settings: Settings, service: JobService, metrics: Metrics,
                 on_promotion: Callable[[], Awaitable[None]] | None = None):
        self.settings, self.service, self.store, self.versions = settings, service, service.store, service.versions
        self.metrics = metrics
        # Called after a job activated its new version: the server then serves it at once,
        # rather than at its next periodic check of the active version.
        self.on_promotion = on_promotion
        self.running: dict[str, _Running] = {}
        self.task: asyncio.Task | None = None
        self.log_dir = settings.data_dir / "jobs"
        self.queue = JobQueue(self.store, settings.job_lease_s, settings.job_max_attempts)
        self._renewed_at = 0.0

    def _on_this_machine(self, owner: str | None) -> bool:
        """Whether a running job's process id can be checked here: claimed on this machine (or
        before leases existed, when every job ran on the machine of its records)."""
        return owner is None or owner_machine(owner) == self.queue.machine

    def _may_be_training(self, owner: str | None, pid: int | None) -> bool:
        """A running job's process may still be writing: its process is alive here, or it runs on
        another machine (whose death its lease will tell)."""
        return not self._on_this_machine(owner) or pid_alive(pid)

    def recover(self) -> None:
        """At start-up: jobs whose training process is gone from this machine are interrupted (those
        of other machines are the leases' to judge); what dead training processes left goes."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for job in self.store.all("SELECT id, kind, pid, lease_owner FROM jobs WHERE state = 'running'"):
            if job["kind"] == "batch" and not self._may_be_training(job["lease_owner"], job["pid"]):
                self._requeue(job["id"], None)  # it resumes from the rows it wrote
                log.warning("batch job %s was stopped by a server stop; queued again, to resume", job["id"])
            elif not self._may_be_training(job["lease_owner"], job["pid"]):
                self.store.update("jobs", "id", job["id"], where={"state": "running"}, state="interrupted",
                                  finished_at=now(), error="the server stopped while this job was running "
                                                           "(crash or restart); submit it again to retrain")
                log.warning("job %s was interrupted by a server stop", job["id"])
        self._sweep_models()

    def _sweep_models(self) -> None:
        """Remove what training processes that died left in the models folder (``Versions.sweep``)."""
        self.versions.sweep()

    def _requeue(self, job_id: str, owner: str | None) -> None:
        """A batch job whose process stopped before it finished: queued again, to resume where it
        stopped (its result file keeps the rows written; ``batch_process.py``)."""
        self.store.execute("UPDATE jobs SET state = 'queued', started_at = NULL, pid = NULL, lease_owner = NULL, "
                           "lease_expires_at = NULL WHERE id = ? AND state = 'running'"
                           + (" AND lease_owner = ?" if owner else ""), job_id, *([owner] if owner else []))

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
                kill_process_tree(run.process)
                await asyncio.to_thread(run.process.wait)
            if run.kind == "batch":
                self._requeue(run.job_id, self.queue.owner)
                continue
            self.store.execute("UPDATE jobs SET state = 'interrupted', finished_at = ?, error = ? "
                               "WHERE id = ? AND state = 'running' AND lease_owner = ?", now(),
                               "the server shut down while this job was running; submit it again to retrain",
                               run.job_id, self.queue.owner)
            self._sweep_models()
        self.running.clear()

    async def _loop(self) -> None:
        while True:
            try:
                await self._tick()
            except ServiceError as exc:  # the records cannot be reached: one line, not a traceback
                log.warning("job runner: %s", exc.message)
            except Exception:
                log.exception("job runner tick failed")
            try:
                await asyncio.wait_for(self.service.wake.wait(), 0.25)
            except TimeoutError:
                pass
            self.service.wake.clear()

    async def _tick(self) -> None:
        for run in list(self.running.values()):  # first: a job that finished is no longer renewed
            await self._watch(run)
        if self.running and now() - self._renewed_at >= self.settings.job_lease_s / 3:
            self._renewed_at = now()
            for job_id in self.queue.renew(self.running):
                self._lost(self.running.pop(job_id))
        self.queue.expire()  # (what another machine's dead job left aside is its machine's to sweep)
        while len(self.running) < self.settings.max_running_jobs and self._claim_next():
            pass
        counts = {r["state"]: r["n"] for r in self.store.all("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")}
        for state in STATES:
            self.metrics.jobs.labels(state).set(counts.get(state, 0))

    def _lost(self, run: _Running) -> None:
        """Another node took this node for dead and re-queued (or ended) the job: stop training it,
        record nothing (its partial files may be the new attempt's)."""
        kill_process_tree(run.process)
        run.process.wait()
        log.warning("job %s: this node's lease on it was lost; its training process was stopped", run.job_id)

    def _claim_next(self) -> bool:
        # pid: this server's own until the training process has one, so that another server
        # process's start-up recovery does not take the job for one whose process died.
        job = self.queue.claim(os.getpid())
        if job is None:
            return False
        process = None
        try:
            with storage_errors("opening the job's log"):
                log_file = open(self.log_dir / f"{job['id']}.log", "ab")
            with log_file:
                # (a session of its own: what a kill ends is its process group, torchrun's ranks included)
                module = "app.training.batch_process" if job["kind"] == "batch" else "app.training.training_process"
                process = subprocess.Popen(
                    [sys.executable, "-m", module, job["id"], str(os.getpid()), str(job["processes"])],
                    stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.PIPE,
                    env=child_environment(1 if job["kind"] == "batch" else None),  # a batch job: one thread
                    start_new_session=True,
                )
            with process.stdin:  # the settings, then end of input
                process.stdin.write(self.settings.to_child().encode())
        except (ServiceError, OSError) as exc:  # e.g. a full or read-only data volume
            if process is not None:  # it started but could not be given its settings
                kill_process_tree(process)
                process.wait()
            reason = self.settings.public_text(getattr(exc, "message", None) or str(exc))
            self.store.update("jobs", "id", job["id"], state="failed", finished_at=now(),
                              error=f"the training process could not start: {reason}")
            log.error("job %s could not start: %s", job["id"], reason)
            return True
        self.store.update("jobs", "id", job["id"], pid=process.pid)
        limit = job["time_limit_s"] or self.settings.job_timeout_s
        self.running[job["id"]] = _Running(job["id"], process, now(), min(limit, self.settings.job_timeout_s),
                                           kind=job["kind"])
        log.info("job %s started in process %d (attempt %d, %d training process%s)", job["id"], process.pid,
                 job["attempts"], job["processes"], "es" if job["processes"] > 1 else "")
        return True

    async def _watch(self, run: _Running) -> None:
        code = run.process.poll()
        if code is None:
            job = self.store.one("SELECT cancel_requested FROM jobs WHERE id = ?", run.job_id)
            if job and job["cancel_requested"]:
                run.cancel_seen_at = run.cancel_seen_at or now()
                if now() - run.cancel_seen_at > CANCEL_GRACE_S:  # the training process did not stop by itself
                    kill_process_tree(run.process)
            elif now() - run.started > run.time_limit + CANCEL_GRACE_S:
                kill_process_tree(run.process)
            return
        del self.running[run.job_id]
        job = self.store.one("SELECT state, cancel_requested, result, model_version, lease_owner FROM jobs "
                             "WHERE id = ?", run.job_id)
        if job["lease_owner"] != self.queue.owner:
            return  # re-queued by another node meanwhile (this one was taken for dead): not ours to record
        # what it left aside, and a version folder renamed but never recorded (killed in between), go
        await asyncio.to_thread(self._sweep_models)
        if job["state"] == "running":  # the process died without recording an outcome
            if job["cancel_requested"]:
                state, error = "cancelled", "cancelled by request"
                stop_reason = "cancelled: by request (the training process was stopped)"
            elif now() - run.started > run.time_limit:
                state, error = "failed", f"time limit of {run.time_limit:.0f} s exceeded"
                stop_reason = f"time_limit: {run.time_limit:.0f} s passed (the training process was stopped)"
            else:
                stop_reason = None
                why = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
                if code == -signal.SIGKILL:
                    why += " (out of memory?)"
                state, error = "failed", (f"{'batch' if run.kind == 'batch' else 'training'} process ended unexpectedly "
                                          f"({why}); see jobs/{run.job_id}.log in the data directory")
            self.store.update("jobs", "id", run.job_id, where={"state": "running", "lease_owner": self.queue.owner},
                              state=state, error=error, finished_at=now(),
                              **({"result": {"stop_reason": stop_reason}} if stop_reason else {}))
            log.warning("job %s %s: %s", run.job_id, state, error)
            return
        if job["state"] == "succeeded" and job["result"].get("promotion", {}).get("promote"):
            if self.on_promotion is not None:
                await self.on_promotion()
        log.info("job %s finished: %s", run.job_id, job["state"])
