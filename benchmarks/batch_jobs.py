"""Batch jobs against a client loop, and what a running batch job costs online predictions.

Starts ``python -m app`` (the bundled model) and, in one process start, with texts the server has
not seen (``unseen.py``):

1. one client looping ``POST /v1/predict`` over N texts, 64 a request: seconds from the first
   request to the last answer;
2. a batch job over N other texts, uploaded as an unlabelled CSV: seconds from its submit to the
   last byte of its CSV result (the upload is timed apart), and whether its labels are those
   ``/v1/predict`` gives for the same texts (a sample of them);
3. online predictions (``--clients`` threads, one text a request, each waiting for its answer)
   for ``--seconds`` while idle, then while a batch job scores the first N texts again:
   p50/p99 of each, and the batch job's rows/s meanwhile.

    python benchmarks/batch_jobs.py --texts 40000
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serve_load import Server, commit_of, weights_sha256  # noqa: E402
from unseen import unseen_texts  # noqa: E402

from app.settings import BUNDLED_MODEL_DIR  # noqa: E402

KEY = "benchmark-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def csv_body(texts: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["text"])
    writer.writerows([t] for t in texts)
    return out.getvalue().encode()


def upload(http: httpx.Client, texts: list[str], name: str) -> str:
    r = http.post("/v1/datasets", headers=AUTH, files={"file": (name, csv_body(texts))})
    r.raise_for_status()
    return r.json()["id"]


def batch(http: httpx.Client, dataset_id: str) -> tuple[str, float]:
    """Submit, wait, download: the job id and the seconds from submit to the result's last byte."""
    started = time.perf_counter()
    r = http.post("/v1/batch-jobs", headers=AUTH, json={"dataset_id": dataset_id})
    r.raise_for_status()
    job_id = r.json()["id"]
    while (job := http.get(f"/v1/batch-jobs/{job_id}").json())["state"] in ("queued", "running"):
        time.sleep(0.05)
    if job["state"] != "succeeded":
        sys.exit(f"error: batch job {job_id} {job['state']}: {job.get('error')}")
    with http.stream("GET", f"/v1/batch-jobs/{job_id}/result") as response:
        for _ in response.iter_bytes():
            pass
    return job_id, time.perf_counter() - started


def online(url: str, texts: list[str], clients: int, seconds: float, until=None) -> list[float]:
    """Latencies (ms) of single-text predictions, each client waiting for its answer, for
    ``seconds`` or until ``until()`` is true (checked twice a second)."""
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    lock = threading.Lock()
    done = threading.Event()

    def watch() -> None:
        while until is not None and not done.is_set() and time.monotonic() < stop:
            if until():
                done.set()
            time.sleep(0.5)

    def client(k: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            i = k
            while time.monotonic() < stop and not done.is_set():
                sent = time.perf_counter()
                http.post("/v1/predict", json={"text": texts[i % len(texts)]}).raise_for_status()
                with lock:
                    latencies.append((time.perf_counter() - sent) * 1000)
                i += clients
                time.sleep(0.01)  # a light load: each client about 100 requests a second at most

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)] + [threading.Thread(target=watch)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=40_000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    pool, source = unseen_texts(2 * args.texts + 20_000, seed=31)
    loop_texts, batch_texts, online_texts = pool[: args.texts], pool[args.texts : 2 * args.texts], pool[2 * args.texts :]
    work = Path(tempfile.mkdtemp(prefix="batch-jobs-"))
    server = Server({"SENTIMENT_DATA_DIR": str(work / "data"), "SENTIMENT_API_KEYS": KEY,
                     "SENTIMENT_ACCESS_LOG": "false", "SENTIMENT_MAX_DATASET_ROWS": "1000000"}, work / "server.log")
    try:
        print(f"code {commit_of(ROOT)}; bundled model (weights sha256 {weights_sha256(BUNDLED_MODEL_DIR)[:12]}); "
              f"{args.texts:,} texts per run from {source}")
        with httpx.Client(base_url=server.url, timeout=300) as http:
            started = time.perf_counter()
            looped = []
            for i in range(0, len(loop_texts), 64):
                r = http.post("/v1/predict", json={"texts": loop_texts[i : i + 64]})
                r.raise_for_status()
                looped += [x.get("label") for x in r.json()["predictions"]]
            loop_s = time.perf_counter() - started
            print(f"  one client looping /v1/predict, 64 texts a request: {loop_s:.1f} s ({len(loop_texts) / loop_s:,.0f} texts/s)")
            started = time.perf_counter()
            dataset = upload(http, batch_texts, "batch.csv")
            upload_s = time.perf_counter() - started
            job_id, batch_s = batch(http, dataset)
            print(f"  a batch job, submit to the result's last byte: {batch_s:.1f} s ({len(batch_texts) / batch_s:,.0f} "
                  f"texts/s; the upload before it {upload_s:.1f} s): {batch_s / loop_s:.2f}x the loop")
            rows = list(csv.DictReader(io.StringIO(http.get(f"/v1/batch-jobs/{job_id}/result").text)))
            in_order = [row["text"] for row in rows] == batch_texts
            sample = list(range(0, len(batch_texts), max(1, len(batch_texts) // 2000)))
            same = 0
            for i in range(0, len(sample), 64):
                chunk = sample[i : i + 64]
                answer = http.post("/v1/predict", json={"texts": [batch_texts[j] for j in chunk]}).json()
                same += sum(a.get("label") == rows[j]["label"] for a, j in zip(answer["predictions"], chunk))
            print(f"  result in input order: {in_order}; labels equal to /v1/predict's on {same} of {len(sample)} sampled texts")
            idle = online(server.url, online_texts[:10_000], args.clients, args.seconds)
            again = upload(http, loop_texts + batch_texts, "again.csv")  # long enough to outlast the measurement
            r = http.post("/v1/batch-jobs", headers=AUTH, json={"dataset_id": again})
            r.raise_for_status()
            during_id = r.json()["id"]
            while http.get(f"/v1/batch-jobs/{during_id}").json()["rows_done"] == 0:
                time.sleep(0.02)
            with httpx.Client(base_url=server.url, timeout=30) as watcher:
                during = online(server.url, online_texts[10_000:], args.clients, args.seconds,
                                until=lambda: watcher.get(f"/v1/batch-jobs/{during_id}").json()["state"] != "running")
            state = http.get(f"/v1/batch-jobs/{during_id}").json()
            print(f"  online, {args.clients} clients: idle p50 {p(idle, 50):.1f} ms p99 {p(idle, 99):.1f} ms "
                  f"({len(idle)} requests); during a batch job p50 {p(during, 50):.1f} ms p99 {p(during, 99):.1f} ms "
                  f"({len(during)} requests, all while it ran): p99 {p(during, 99) / p(idle, 99):.2f}x idle; the job "
                  f"meanwhile {state['rows_done']:,} rows at {state['rows_per_s'] or 0:,.0f} rows/s ({state['state']})")
            http.post(f"/v1/batch-jobs/{during_id}/cancel", headers=AUTH)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
