"""The job queue across machines: claims, leases, and what happens to the job of a node that died.

A node (one server process's ``JobRunner``; several per machine with uvicorn workers, several
machines on PostgreSQL) claims the oldest queued job in one statement: on PostgreSQL its
``SELECT ... FOR UPDATE SKIP LOCKED`` lets concurrent claimers pass each other to the next job
instead of queueing behind one row lock; on SQLite the write transaction (``BEGIN IMMEDIATE``)
serialises claimers. Either way no job is claimed twice.

A running job is held under a lease (``lease_owner``, ``lease_expires_at``) that its node renews
every third of ``SENTIMENT_JOB_LEASE_S`` while it runs the training process. A lease that runs out
means the node died (or lost the database): whichever node notices first puts the job back in the
queue, until it has been started ``SENTIMENT_JOB_MAX_ATTEMPTS`` times; then it is ``interrupted``
with the reason. A node that finds its own lease gone stops its training process and records
nothing: the job is someone else's now.

Times are the nodes' clocks (``time.time()``), as everywhere in the records: the lease's length
must exceed their skew (NTP keeps it to milliseconds; the default lease is 30 s).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from ..store import Store, now

log = logging.getLogger(__name__)


def this_machine() -> str:
    """Names the process-id space this process lives in: host name and pid namespace. Two server
    processes with the same name can check each other's processes by pid; a restarted container
    (a new pid namespace) cannot, and leaves its predecessor's jobs to the leases."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return f"{socket.gethostname()}/{namespace}"


def owner_machine(owner: str | None) -> str | None:
    """The machine part of a ``lease_owner`` (``<machine>:<pid>``)."""
    return owner.rpartition(":")[0] if owner else None


@dataclass
class Expired:
    job_id: str
    state: str  # "queued" again, "interrupted" (out of attempts) or "cancelled" (cancel was asked)
    attempts: int


class JobQueue:
    def __init__(self, store: Store, lease_s: float, max_attempts: int, owner: str | None = None):
        self.store, self.lease_s, self.max_attempts = store, lease_s, max_attempts
        self.machine = this_machine()
        self.owner = owner or f"{self.machine}:{os.getpid()}"
        self._skip_locked = " FOR UPDATE SKIP LOCKED" if store.dialect == "postgresql" else ""

    def claim(self, pid: int) -> dict | None:
        """The oldest queued job, now ``running`` under this node's lease with ``pid`` as its
        process; ``None`` when none is queued. Returns ``id``, ``kind``, ``time_limit_s``, ``attempts``, ``processes``."""
        with self.store.connect("claiming a job", exclusive=False) as db:
            row = db.execute(
                "UPDATE jobs SET state = 'running', started_at = ?, pid = ?, lease_owner = ?, "
                "lease_expires_at = ?, attempts = attempts + 1 "
                "WHERE state = 'queued' AND id = (SELECT id FROM jobs WHERE state = 'queued' "
                f"ORDER BY created_at, id LIMIT 1{self._skip_locked}) "
                "RETURNING id, kind, time_limit_s, attempts, processes",
                (now(), pid, self.owner, now() + self.lease_s)).fetchone()
        return dict(row._mapping) if row is not None else None

    def renew(self, job_ids: Iterable[str]) -> set[str]:
        """Extend this node's leases on ``job_ids``; returns those it no longer holds (the job was
        re-queued or ended by another node, which took this node for dead). A job its own training
        process has just ended (still under this node's name) is not lost: the runner records it."""
        job_ids = list(job_ids)
        if not job_ids:
            return set()
        lost = set()
        with self.store.connect("renewing job leases", exclusive=False) as db:
            for job_id in job_ids:
                if not db.execute("UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND state = 'running' "
                                  "AND lease_owner = ?", (now() + self.lease_s, job_id, self.owner)).rowcount:
                    # ended by another node's expire(): re-queued (another owner, or none) or ended (its
                    # lease cleared); ended by its own training process: still ours, lease kept
                    row = db.execute("SELECT lease_owner, lease_expires_at FROM jobs WHERE id = ?",
                                     (job_id,)).fetchone()
                    if row is None or row[0] != self.owner or row[1] is None:
                        lost.add(job_id)
        return lost

    def expire(self) -> list[Expired]:
        """Jobs whose lease ran out: queued again while attempts remain, else interrupted (or
        cancelled, when a cancel was asked for). A cheap read first: most ticks find none."""
        if self.store.one("SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at < ? LIMIT 1",
                          now()) is None:
            return []
        done = []
        with self.store.connect("re-queueing the jobs of a node that stopped", exclusive=False) as db:
            rows = db.execute("SELECT id, attempts, cancel_requested FROM jobs WHERE state = 'running' "
                              f"AND lease_expires_at < ?{self._skip_locked}", (now(),)).fetchall()
            for job_id, attempts, cancel_requested in rows:
                if cancel_requested:
                    state, error = "cancelled", "cancelled by request (its training node stopped meanwhile)"
                elif attempts < self.max_attempts:
                    state, error = "queued", None
                else:
                    state, error = "interrupted", (
                        f"its training node stopped renewing the job's lease (the node died or lost the "
                        f"database) on each of its {attempts} attempt{'s' if attempts != 1 else ''} "
                        f"(SENTIMENT_JOB_MAX_ATTEMPTS is {self.max_attempts}); submit it again to retrain")
                if state == "queued":  # as if never started; the next claim counts one more attempt
                    db.execute("UPDATE jobs SET state = 'queued', started_at = NULL, pid = NULL, lease_owner = NULL, "
                               "lease_expires_at = NULL, progress = '{}', result = '{}' WHERE id = ?", (job_id,))
                else:
                    db.execute("UPDATE jobs SET state = ?, error = ?, finished_at = ?, lease_expires_at = NULL "
                               "WHERE id = ?", (state, error, now(), job_id))
                done.append(Expired(job_id, state, attempts))
        for job in done:
            log.warning("job %s: its node's lease expired after attempt %d; now %s", job.job_id, job.attempts,
                        job.state)
        return done
