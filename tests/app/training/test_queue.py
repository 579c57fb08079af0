"""The job queue across nodes, on both backends: atomic claims, leases that run out, re-queueing
up to the attempts allowed, cancel from another replica, start-up recovery that leaves other
machines' jobs alone. Each "node" is its own ``Store`` on the same records, as another process or
machine would have; time is a fake clock, never a sleep."""

from __future__ import annotations

import asyncio
import threading

import psycopg
import pytest

import app.training.queue as queue_module
from app.metrics import Metrics
from app.settings import Settings
from app.store import now
from app.training.datasets import DatasetStore
from app.training.jobs import JobService
from app.training.queue import JobQueue
from app.training.runner import JobRunner
from app.versions import Versions

LEASE_S = 30.0


@pytest.fixture
def clock(monkeypatch):
    """The queue's clock, moved by hand: ``clock.advance(s)``."""

    class Clock:
        t = now()

        def __call__(self) -> float:
            return self.t

        def advance(self, seconds: float) -> None:
            self.t += seconds

    fake = Clock()
    monkeypatch.setattr(queue_module, "now", fake)
    return fake


def _queue_jobs(store, n: int) -> list[str]:
    ids = [f"job{i:03d}" for i in range(n)]
    for i, job_id in enumerate(ids):
        store.insert("jobs", id=job_id, state="queued", dataset_id="d", config={}, promote="never",
                     progress={}, result={}, created_at=1000.0 + i)
    return ids


def _node(store, name: str, max_attempts: int = 2) -> JobQueue:
    return JobQueue(store, LEASE_S, max_attempts, owner=f"{name}/1:{100}")


def test_claims_take_the_oldest_job_under_a_lease(make_store, clock):
    store = make_store()
    first, second = _queue_jobs(store, 2)
    node = _node(store, "a")
    assert node.claim(pid=42) == {"id": first, "kind": "train", "time_limit_s": None, "attempts": 1, "processes": 1}
    job = store.one("SELECT state, pid, lease_owner, lease_expires_at FROM jobs WHERE id = ?", first)
    assert job == {"state": "running", "pid": 42, "lease_owner": node.owner, "lease_expires_at": clock.t + LEASE_S}
    assert node.claim(pid=43)["id"] == second
    assert node.claim(pid=44) is None


def test_concurrent_claimers_never_get_the_same_job(make_store):
    """Four nodes, each with its own connection pool, claim from two threads each at once."""
    jobs = _queue_jobs(make_store(), 40)
    nodes = [_node(make_store(), f"n{i}") for i in range(4)]
    claimed: list[str] = []
    start = threading.Barrier(8)

    def claim_all(node: JobQueue) -> None:
        start.wait()
        while (job := node.claim(pid=1)) is not None:
            claimed.append(job["id"])

    threads = [threading.Thread(target=claim_all, args=(node,)) for node in nodes for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(claimed) == jobs  # every job once, none twice


def test_a_claim_skips_a_job_another_transaction_holds(postgres_url):
    """PostgreSQL: FOR UPDATE SKIP LOCKED passes a locked row instead of waiting for it."""
    from app.store import Store

    with psycopg.connect(postgres_url, autocommit=True) as admin:  # were a claim to wait, it would fail, not hang
        admin.execute(f'ALTER DATABASE "{postgres_url.rsplit("/", 1)[1]}" SET lock_timeout = \'5s\'')
    store = Store(postgres_url)
    try:
        first, second = _queue_jobs(store, 2)
        with psycopg.connect(postgres_url) as holder:  # a transaction that holds the oldest job's row
            holder.execute("SELECT id FROM jobs WHERE id = %s FOR UPDATE", (first,))
            assert _node(store, "a").claim(pid=1)["id"] == second
            holder.rollback()
        assert _node(store, "b").claim(pid=1)["id"] == first
    finally:
        store.close()


def test_a_renewed_lease_holds_and_an_expired_one_is_requeued_then_interrupted(make_store, clock):
    store = make_store()
    (job_id,) = _queue_jobs(store, 1)
    a, b = _node(store, "a"), _node(make_store(), "b")
    a.claim(pid=1)
    clock.advance(LEASE_S * 2 / 3)
    assert a.renew([job_id]) == set()
    clock.advance(LEASE_S * 2 / 3)  # past the first lease, within the renewed one
    assert b.expire() == []

    clock.advance(LEASE_S + 1)  # node a died: b notices
    [expired] = b.expire()
    assert (expired.state, expired.attempts) == ("queued", 1)
    job = store.one("SELECT state, pid, lease_owner, attempts, started_at, error FROM jobs WHERE id = ?", job_id)
    assert job == {"state": "queued", "pid": None, "lease_owner": None, "attempts": 1, "started_at": None,
                   "error": None}
    assert a.renew([job_id]) == {job_id}  # a, were it only slow, learns the job is not its own any more

    assert b.claim(pid=2) == {"id": job_id, "kind": "train", "time_limit_s": None, "attempts": 2, "processes": 1}
    clock.advance(LEASE_S + 1)  # b dies too: out of attempts
    [expired] = a.expire()
    assert (expired.state, expired.attempts) == ("interrupted", 2)
    job = store.one("SELECT state, error, finished_at FROM jobs WHERE id = ?", job_id)
    assert job["state"] == "interrupted" and job["finished_at"] == clock.t
    assert "stopped renewing" in job["error"] and "2 attempts" in job["error"]
    assert "SENTIMENT_JOB_MAX_ATTEMPTS" in job["error"]
    assert a.claim(pid=3) is None and a.expire() == []
    assert b.renew([job_id]) == {job_id}  # ended by another node: b, were it alive, would stop training it


def test_a_job_its_own_process_just_ended_is_not_lost(make_store, clock):
    """Between the training process recording its outcome and the runner seeing it exit, a renewal
    finds the job no longer running: still this node's, so the runner records it as finished."""
    store = make_store()
    (job_id,) = _queue_jobs(store, 1)
    a = _node(store, "a")
    a.claim(pid=1)
    store.execute("UPDATE jobs SET state = 'succeeded', finished_at = ? WHERE id = ? AND lease_owner = ?",
                  clock.t, job_id, a.owner)  # what training_process.py does at the end
    assert a.renew([job_id]) == set()


def test_an_expired_job_whose_cancel_was_asked_is_cancelled(make_store, clock):
    store = make_store()
    (job_id,) = _queue_jobs(store, 1)
    _node(store, "a").claim(pid=1)
    store.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", job_id)
    clock.advance(LEASE_S + 1)
    [expired] = _node(make_store(), "b").expire()
    assert expired.state == "cancelled"
    assert store.one("SELECT state FROM jobs WHERE id = ?", job_id) == {"state": "cancelled"}


def _service(store, tmp_path) -> tuple[Settings, JobService]:
    """A replica's JobService (it needs a running event loop: call inside one)."""
    settings = Settings(data_dir=tmp_path / "data")
    versions = Versions(store, settings.data_dir, settings.bundled_models())
    return settings, JobService(settings, versions, DatasetStore(store, tmp_path / "data" / "datasets"))


def test_cancel_works_from_another_replica(make_store, tmp_path):
    trainer_store, api_store = make_store(), make_store()
    running, queued = _queue_jobs(trainer_store, 2)
    _node(trainer_store, "trainer").claim(pid=1)

    async def cancel_through_the_api_replica():
        _, service = _service(api_store, tmp_path)
        return service.cancel(running), service.cancel(queued)

    on_running, on_queued = asyncio.run(cancel_through_the_api_replica())
    assert on_running["state"] == "running" and on_running["cancel_requested"] is True
    assert on_queued["state"] == "cancelled"
    # what the trainer's runner and training process read:
    assert trainer_store.one("SELECT cancel_requested FROM jobs WHERE id = ?", running) == {"cancel_requested": 1}
    assert _node(trainer_store, "trainer").claim(pid=2) is None


def test_start_up_recovery_interrupts_dead_jobs_of_this_machine_only(make_store, tmp_path):
    store = make_store()
    mine, elsewhere, legacy = _queue_jobs(store, 3)

    async def recover():
        settings, service = _service(store, tmp_path)
        runner = JobRunner(settings, service, Metrics())
        dead_pid = 2**22 + 1  # above pid_max's default: never alive
        store.update("jobs", "id", mine, state="running", pid=dead_pid, lease_owner=f"{runner.queue.machine}:7")
        store.update("jobs", "id", elsewhere, state="running", pid=dead_pid, lease_owner="other-host/4026531836:7",
                     lease_expires_at=now() + LEASE_S)
        store.update("jobs", "id", legacy, state="running", pid=dead_pid)  # claimed before leases existed
        runner.recover()

    asyncio.run(recover())
    states = {r["id"]: r["state"] for r in store.all("SELECT id, state FROM jobs")}
    assert states == {mine: "interrupted", elsewhere: "running", legacy: "interrupted"}
