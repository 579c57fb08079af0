"""One training job followed through ``GET /v1/train-jobs/{id}/events``: events and bytes, by type.

Starts ``python -m app`` (default settings, or ``--training-threads``), uploads the first
``--examples`` sentences of SST-2's train.tsv (else a synthetic set), submits a job with the
default recipe (no ``config``) and reads its event stream to the end; prints how many events of
each type came and their bytes, the job's outcome, why training stopped and its speed (training
tokens/s and seconds per epoch, from the job record).

    python benchmarks/job_events.py [--examples 3000] [--training-threads auto]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import Server  # noqa: E402
from train_while_serving import KEY, call, multipart, service_env, training_set  # noqa: E402


def follow(url: str) -> tuple[Counter, Counter]:
    """Events and bytes per event type, until the stream ends."""
    events, sizes = Counter(), Counter()
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(request, timeout=3600) as stream:
        kind, size = None, 0
        for raw in stream:
            size += len(raw)
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line == "" and kind is not None:  # an event ends with a blank line
                events[kind] += 1
                sizes[kind] += size
                kind, size = None, 0
    return events, sizes


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=3000, help="training examples to upload")
    p.add_argument("--training-threads", default=None, help="SENTIMENT_TRAINING_THREADS (default: the service's)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="job-events-") as tmp:
        server = Server(service_env(Path(tmp) / "data", args.training_threads), Path(tmp) / "server.log")
        try:
            body, ctype = multipart("train.tsv", training_set(args.examples), {"text_column": "sentence"})
            dataset = call("POST", server.url + "/v1/datasets", body, ctype)
            job = call(
                "POST",
                server.url + "/v1/train-jobs",
                json.dumps({"dataset_id": dataset["id"]}).encode(),
                "application/json",
            )
            t0 = time.monotonic()
            events, sizes = follow(f"{server.url}/v1/train-jobs/{job['id']}/events")
            wall = time.monotonic() - t0
            job = call("GET", f"{server.url}/v1/train-jobs/{job['id']}")
        finally:
            server.stop()
    history = job["result"].get("history") or job["progress"].get("epochs_done") or []
    print(
        f"job on {dataset['examples']} examples, default recipe, SENTIMENT_TRAINING_THREADS="
        f"{args.training_threads or '(default)'}: {job['state']} in {wall:.1f} s; "
        f"stop reason: {job['result'].get('stop_reason', '(not recorded)')}"
    )
    for h in history:
        print(
            f"  epoch {h['epoch']}: dev accuracy {h['dev_accuracy']:.3f}, {h['seconds']:.1f} s, "
            f"{h['tokens_per_s']:,.0f} tokens/s"
        )
    print(f"events: {sum(events.values())}, {sum(sizes.values()):,} bytes")
    for kind in sorted(events):
        print(f"  {kind:<9} {events[kind]:>5} events {sizes[kind]:>10,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
