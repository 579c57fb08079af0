"""Prediction latency while a training job runs, against the same server idle.

Starts ``python -m app``, measures ``POST /v1/predict`` under light load (a few concurrent
single-text clients, wrk) while idle, then uploads a training set, starts a job, and measures the
same load again while the job trains in its training process; prints p50/p95/p99 for both, the
ratio and the job's training tokens/s meanwhile, then cancels the job. The job trains the default
recipe (no ``config``) unless ``--config`` says otherwise; ``--training-threads`` sets
``SENTIMENT_TRAINING_THREADS``.

    python benchmarks/train_while_serving.py [--connections 4] [--duration 10] [--training-threads 2]

Uses ../shared/data/sst2/train.tsv when present (else a synthetic set); wrk must be on PATH.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import DEV_TSV, Server, find_wrk, load_sentences, predict_script, run_wrk  # noqa: E402

KEY = "bench-key"
TRAIN_TSV = DEV_TSV.with_name("train.tsv")


def service_env(data_dir: Path, training_threads: str | None) -> dict[str, str]:
    """The environment of a benchmark's server: its data directory, the benchmark key, quiet logs,
    and ``SENTIMENT_TRAINING_THREADS`` when given (else the service's default)."""
    env = {"SENTIMENT_DATA_DIR": str(data_dir), "SENTIMENT_API_KEYS": KEY, "SENTIMENT_LOG_LEVEL": "warning"}
    if training_threads is not None:
        env["SENTIMENT_TRAINING_THREADS"] = training_threads
    return env


def call(method: str, url: str, body: bytes | None = None, content_type: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {KEY}"}
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def training_set(limit: int) -> bytes:
    if TRAIN_TSV.is_file():
        lines = TRAIN_TSV.read_text(encoding="utf-8").splitlines()
        return ("\n".join(lines[: limit + 1]) + "\n").encode()
    rows = ["sentence\tlabel"] + [f"w{i % 50} {'good' if i % 2 else 'bad'} w{i % 7}\t{i % 2}" for i in range(limit)]
    return ("\n".join(rows) + "\n").encode()


def multipart(filename: str, content: bytes, fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = "----bench" + str(time.time_ns())
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: text/tab-separated-values\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def row(name: str, r: dict) -> str:
    return (
        f"  {name:<16} {r['rps']:>7.0f} req/s   p50 {r['p50_ms']:>6.1f} ms   p95 {r['p95_ms']:>6.1f} ms   "
        f"p99 {r['p99_ms']:>6.1f} ms   errors {r['non_2xx'] + r['socket_errors']}"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", type=int, default=4, help="concurrent clients (light load)")
    p.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    p.add_argument("--examples", type=int, default=67349, help="training examples to upload")
    p.add_argument("--config", default="{}", help="the job's hyperparameters, JSON (default: the default recipe)")
    p.add_argument("--training-threads", default=None, help="SENTIMENT_TRAINING_THREADS (default: the service's)")
    p.add_argument("--wrk", default=None)
    args = p.parse_args()
    wrk = find_wrk(args.wrk, install=False)
    sentences, source = load_sentences(DEV_TSV, 872)
    with tempfile.TemporaryDirectory(prefix="train-while-serving-") as tmp:
        work = Path(tmp)
        script = work / "predict.lua"
        script.write_text(predict_script(sentences))
        server = Server(service_env(work / "data", args.training_threads), work / "server.log")
        try:
            url = server.url + "/v1/predict"
            run_wrk(wrk, url, script, args.connections, 1, 2)  # warm-up
            idle = run_wrk(wrk, url, script, args.connections, 1, args.duration)
            body, ctype = multipart("train.tsv", training_set(args.examples), {"text_column": "sentence"})
            dataset = call("POST", server.url + "/v1/datasets", body, ctype)
            job = call(
                "POST",
                server.url + "/v1/train-jobs",
                json.dumps(
                    {
                        "dataset_id": dataset["id"],
                        "config": json.loads(args.config),
                    }
                ).encode(),
                "application/json",
            )
            deadline = time.monotonic() + 120
            while call("GET", f"{server.url}/v1/train-jobs/{job['id']}")["progress"].get("step", 0) < 5:
                if time.monotonic() > deadline:
                    sys.exit("error: the training job did not start within 120 s")
                time.sleep(0.5)
            training = run_wrk(wrk, url, script, args.connections, 1, args.duration)
            state = call("GET", f"{server.url}/v1/train-jobs/{job['id']}")
            call("POST", f"{server.url}/v1/train-jobs/{job['id']}/cancel")
        finally:
            server.stop()
    print(f"{args.connections} concurrent single-text clients, {args.duration:g} s each, sentences from {source}")
    print(
        f"training job: {dataset['examples']} examples, config {args.config}, SENTIMENT_TRAINING_THREADS="
        f"{args.training_threads or '(default)'}; still {state['state']} at step {state['progress'].get('step')} "
        f"of {state['progress'].get('total_steps')} after the measurement, "
        f"{state['progress'].get('tokens_per_s', 0):,} training tokens/s"
    )
    print(row("idle", idle))
    print(row("while training", training))
    print(f"  p99 while training / idle: {training['p99_ms'] / idle['p99_ms']:.2f}  (target: below 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
