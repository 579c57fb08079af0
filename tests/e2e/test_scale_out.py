"""Past one machine, end to end (issue 14): two API replicas and two trainers, real servers on one
PostgreSQL and one shared data directory, behind a real HAProxy (``tests/support/haproxy.py``).

In file order, on one cluster started for the module:
1. a job submitted through replica A runs exactly once (one trainer, one attempt, one version);
2. an activation made through replica B is served by replica A within 2 s;
3. ``kill -9`` of the trainer running a job mid-epoch: the job's lease runs out, it is queued
   again and the other trainer finishes it (two attempts, one version, nothing half-written left);
4. a client predicting through HAProxy while replica A is killed (``kill -9``) sees no failed
   request once the health check has taken A out; how many failed before it did is reported.

The figures (activation propagation, re-queue time, requests failed before the check noticed) go
to ``test-artifacts/scale_out.json`` and to the terminal after the tests. Without Debian's
``postgresql`` or ``haproxy`` the tests skip, saying which; ``REQUIRE_POSTGRES=1`` and
``REQUIRE_HAPROXY=1`` (CI) make that a failure.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from tests.support.api import TINY_CONFIG, job_state, upload, wait_job
from tests.support.data import csv_bytes
from tests.support.haproxy import Balancer, find_haproxy, start_balancer
from tests.support.processes import children, is_alive
from tests.support.server import ROOT, ServerProcess, start_server
from tests.support.settings import AUTH, KEY
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

TRAINING_PROCESS = "app.training.training_process"
LEASE_S = 3.0  # SENTIMENT_JOB_LEASE_S: renewed every second, so a dead trainer's job waits 2-3 s
ARTIFACT = ROOT / "test-artifacts" / "scale_out.json"
# 20 epochs of 169 steps: 7-20 s of training on the 2-core development machine (idle, or busy with
# other tests), so that the kill lands well inside it; patience = epochs: early stopping cannot end it first.
SLOW_CONFIG = TINY_CONFIG | {"epochs": 20, "patience": 20, "batch_size": 16}
SLOW_EXAMPLES = 3000
TEXT = {"text": "w1 not bad w2"}


@dataclass
class Cluster:
    api_a: ServerProcess
    api_b: ServerProcess
    trainers: list[ServerProcess]
    balancer: Balancer
    database_url: str
    data_dir: Path
    figures: dict = field(default_factory=dict)

    def job_record(self, job_id: str) -> dict:
        """The job's row as the nodes see it: attempts, lease owner and pid are not in the API."""
        with psycopg.connect(self.database_url, row_factory=dict_row) as db:
            return db.execute("SELECT * FROM jobs WHERE id = %s", (job_id,)).fetchone()

    def versions_of(self, job_id: str) -> list[str]:
        with psycopg.connect(self.database_url) as db:
            return [r[0] for r in db.execute("SELECT version FROM versions WHERE job_id = %s", (job_id,))]

    def version_folders(self) -> tuple[set[str], set[str]]:
        """The version folders on the shared volume, and the versions the records name."""
        with psycopg.connect(self.database_url) as db:
            recorded = {r[0] for r in db.execute("SELECT version FROM versions WHERE source = 'job'")}
        return {p.name for p in (self.data_dir / "models" / "sentiment-en").glob("*")}, recorded


def _owner_pid(record: dict) -> int:
    """The server process holding a job's lease (``lease_owner`` is ``<machine>:<pid>``)."""
    return int(record["lease_owner"].rpartition(":")[2])


def _served_version(http: httpx.Client) -> str:
    r = http.post("/v1/predict", json=TEXT)
    assert r.status_code == 200, r.text
    return r.json()["model_version"]


def _submit(http: httpx.Client, dataset_id: str, config: dict) -> str:
    r = http.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": dataset_id, "config": config,
                                                       "promote": "never"})
    assert r.status_code == 202, r.text
    return r.json()["id"]


@pytest.fixture(scope="module")
def haproxy() -> str:
    found = find_haproxy()
    if found is None:
        message = "HAProxy is not installed (no haproxy program): apt-get install -y haproxy"
        if os.environ.get("REQUIRE_HAPROXY") == "1":
            pytest.fail(message + " (REQUIRE_HAPROXY=1)")
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def cluster(haproxy, postgres_server, tiny_bundle_path, tmp_path_factory, request):
    root = tmp_path_factory.mktemp("scale_out")
    database_url = postgres_server.create_database()
    env = {"SENTIMENT_DATABASE_URL": database_url, "SENTIMENT_JOB_LEASE_S": str(LEASE_S),
           "SENTIMENT_JOB_MAX_ATTEMPTS": "2"}
    servers: list[ServerProcess] = []
    balancer = None
    figures: dict = {}
    started = time.monotonic()
    try:
        for role in ("api", "api", "trainer", "trainer"):  # started together, as an orchestrator would
            servers.append(start_server(data_dir=root / "data", model_dir=tiny_bundle_path, api_keys=KEY,
                                        env=env | {"SENTIMENT_ROLE": role}, wait=False, log_dir=root))
        for server in servers:
            server.wait_ready(120)
        api_a, api_b, *trainers = servers
        balancer = start_balancer(haproxy, {"api-a": api_a.port, "api-b": api_b.port}, root / "haproxy")
        figures["cluster_start_s"] = round(time.monotonic() - started, 1)
        yield Cluster(api_a, api_b, trainers, balancer, database_url, root / "data", figures)
    finally:
        if balancer is not None:
            balancer.stop()
        for server in servers:  # all shutting down at once, then each awaited
            if server.process.poll() is None:
                server.process.send_signal(signal.SIGTERM)
        for server in servers:
            server.stop()
        postgres_server.drop_database(database_url)
        _report(figures, request.config)


def _report(figures: dict, config) -> None:
    """The figures into test-artifacts/scale_out.json and onto the terminal (no ``-s`` needed)."""
    if not figures:
        return
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(json.dumps(figures, indent=2) + "\n")
    line = f"scale-out figures (also in {ARTIFACT.relative_to(ROOT)}): {json.dumps(figures)}"
    capture = config.pluginmanager.get_plugin("capturemanager")
    if capture is None:  # (-p no:capture)
        print(line)
        return
    with capture.global_and_fixture_disabled():  # straight to the terminal, as `-s` would
        print("\n" + line)


def test_a_job_submitted_through_replica_a_runs_exactly_once(cluster):
    with httpx.Client(base_url=cluster.api_a.url, timeout=30) as http:
        dataset_id = upload(http, csv_bytes(200))["id"]
        started = time.monotonic()
        job_id = _submit(http, dataset_id, TINY_CONFIG)
        job = wait_job(http, job_id, timeout=60)
    cluster.figures["job_seconds"] = round(time.monotonic() - started, 1)
    assert job["state"] == "succeeded", job

    record = cluster.job_record(job_id)
    assert record["attempts"] == 1
    ran = [t for t in cluster.trainers if f"job {job_id} started in process" in t.log()]
    assert len(ran) == 1 and _owner_pid(record) == ran[0].process.pid
    assert not any("started in process" in api.log() for api in (cluster.api_a, cluster.api_b))
    assert cluster.versions_of(job_id) == [job["model_version"]]


def test_an_activation_through_replica_b_is_served_by_replica_a_within_2_s(cluster):
    with httpx.Client(base_url=cluster.api_a.url, timeout=30) as a, \
         httpx.Client(base_url=cluster.api_b.url, timeout=30) as b:
        before = _served_version(a)
        others = [v for v in b.get("/v1/models/sentiment-en").json()["versions"] if v != before]
        assert others, "no version to activate (the first test trains one)"
        started = time.monotonic()
        r = b.post(f"/v1/models/sentiment-en/versions/{others[0]}/activate", headers=AUTH)
        answered = time.monotonic()
        assert r.status_code == 200, r.text
        wait_for(lambda: _served_version(a) == others[0], 10, interval=0.01,
                 what=f"replica A to serve {others[0]}")
    seconds = time.monotonic() - started
    cluster.figures["activation_propagation_s"] = round(seconds, 3)
    cluster.figures["activation_request_s"] = round(answered - started, 3)
    assert seconds < 2.0, f"replica A served the new version {seconds:.2f} s after the activation on B"


def test_a_job_whose_trainer_is_killed_mid_epoch_is_finished_by_the_other(cluster):
    with httpx.Client(base_url=cluster.api_a.url, timeout=30) as http:
        dataset_id = upload(http, csv_bytes(SLOW_EXAMPLES, seed=5), name="slow.csv")["id"]
        job_id = _submit(http, dataset_id, SLOW_CONFIG)

        def training():  # past its first epoch, epochs to go (a kill lands inside one: boundaries are instants)
            p = job_state(http, job_id)["progress"]
            return "step" in p and 2 <= p["epoch"] and p["step"] < p["total_steps"] * 0.75 and p

        wait_for(training, 60, interval=0.05, what="the job to be training past its first epoch")
        record = cluster.job_record(job_id)
        [victim] = [t for t in cluster.trainers if t.process.pid == _owner_pid(record)]
        [survivor] = [t for t in cluster.trainers if t is not victim]
        assert children(victim.process.pid, TRAINING_PROCESS) == [record["pid"]]
        os.kill(victim.process.pid, signal.SIGKILL)
        killed = time.monotonic()
        victim.process.wait(10)
        wait_for(lambda: not is_alive(record["pid"]), 10, what="the training process to die with its trainer")
        last = cluster.job_record(job_id)["progress"]  # what it wrote last (every 0.5 s), before its lease runs out
        last = json.loads(last) if isinstance(last, str) else last

        # The lease, renewed every LEASE_S / 3 until the kill, runs out; the survivor re-queues the job and claims it.
        wait_for(lambda: cluster.job_record(job_id)["lease_owner"] != record["lease_owner"], LEASE_S + 10,
                 interval=0.05, what="the job to be re-queued")
        requeued = time.monotonic() - killed
        done = wait_job(http, job_id, timeout=120)
    finished = time.monotonic() - killed
    cluster.figures |= {"progress_before_kill": f"epoch {last.get('epoch')}, step {last.get('step')} of {last.get('total_steps')}",
                        "requeue_after_kill_s": round(requeued, 2), "finished_after_kill_s": round(finished, 1)}

    assert done["state"] == "succeeded", done
    final = cluster.job_record(job_id)
    assert final["attempts"] == 2 and _owner_pid(final) == survivor.process.pid
    assert f"job {job_id} started in process" in survivor.log()
    assert LEASE_S / 3 < requeued < LEASE_S + 5  # by the lease's expiry, not before
    assert cluster.versions_of(job_id) == [done["model_version"]]
    folders, recorded = cluster.version_folders()
    assert not [f for f in folders if f.startswith(".")], folders  # no partial bundle left
    assert folders == recorded


def test_a_client_through_haproxy_sees_no_failure_once_the_check_takes_a_killed_replica_out(cluster):
    balancer = cluster.balancer
    assert balancer.statuses() == {"api-a": "UP", "api-b": "UP"}
    sent: list[tuple[float, float, str | None]] = []  # (when sent, when answered, what failed or None)
    stop = threading.Event()

    def client():
        with httpx.Client(base_url=balancer.url, timeout=10) as http:
            while not stop.is_set():
                at = time.monotonic()
                try:
                    r = http.post("/v1/predict", json=TEXT)
                    error = None if r.status_code == 200 else f"{r.status_code} {r.text[:200]}"
                except httpx.TransportError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                sent.append((at, time.monotonic(), error))

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(sent) >= 50, 30, what="predictions through HAProxy")
        os.kill(cluster.api_a.process.pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: balancer.statuses()["api-a"] == "DOWN", 10, interval=0.02,
                 what="HAProxy's check to take replica A out")
        down = time.monotonic()  # (HAProxy marked it a poll or less before)
        wait_for(lambda: sent[-1][0] > down + 3.0, 30, what="3 s of predictions after A was taken out")
    finally:
        stop.set()
        thread.join(15)

    # a request sent before the kill but still in flight on A is one the kill can fail: it counts
    # with those sent before HAProxy noticed
    failed_before = [error for _, answered, error in sent if answered < killed and error]
    failed_until_down = [error for at, answered, error in sent if answered >= killed and at < down and error]
    failed_after = [error for at, _, error in sent if at >= down and error]
    cluster.figures |= {
        "check_noticed_after_kill_s": round(down - killed, 2),
        "requests_between_kill_and_check": sum(answered >= killed and at < down for at, answered, _ in sent),
        "failed_before_check_noticed": len(failed_until_down),
        "failures_before_check": sorted(set(failed_until_down)),
        "requests_after_check": sum(at >= down for at, _, _ in sent),
        "failed_after_check": len(failed_after),
    }
    assert not failed_before, failed_before[:3]
    assert not failed_after, failed_after[:3]
    assert down - killed < 3.0
