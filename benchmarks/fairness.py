"""A one-sentence predict's latency while other clients send the heaviest explanations the service accepts.

Starts ``python -m app`` (as ``serve_load.py`` does; ``--code-dir`` serves another checkout, for a
before/after in one run), then sends one-sentence predicts one after the other from one client for
``--idle`` seconds with nothing else running, and again for ``--load`` seconds while ``--clients``
processes each send explanations of ``--words`` words (200: with their 200 variants, about as many
windows as one request may have) in a loop. Every text is new (words drawn at random). It prints p50/p99/max of the predicts in both
phases and how many explanations were answered. The target (issue 21): the predict's p99 under
100 ms under this load; the model process reads heavy requests in slices, a share of each model
call per waiting request, so a light request waits for one call at most.

    python benchmarks/fairness.py
    python benchmarks/fairness.py --code-dir ../before --code-dir .
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import ROOT, Server, commit_of, weights_sha256  # noqa: E402

DEV_TSV = ROOT.parent / "shared" / "data" / "sst2" / "dev.tsv"
FALLBACK = "the a film movie good bad not very story plot acting great boring funny long dull fine".split()


def vocabulary() -> list[str]:
    """English words (SST-2 dev's, when the data is there): a text of n of them is about n tokens, so
    that an explanation of the most words allowed stays within the request's window budget."""
    if not DEV_TSV.is_file():
        return FALLBACK
    lines = DEV_TSV.read_text(encoding="utf-8").splitlines()[1:]
    return sorted({w for line in lines for w in line.split("\t")[-1].split() if w.isalpha()})


VOCABULARY = vocabulary()


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(n))


def post(conn: http.client.HTTPConnection, path: str, body: dict) -> tuple[int, float]:
    start = time.perf_counter()
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status, (time.perf_counter() - start) * 1000


def predicts(port: int, seconds: float, seed: int) -> tuple[list[float], int]:
    rng, latencies, errors = random.Random(seed), [], 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        status, ms = post(conn, "/v1/predict", {"text": f"a {words(rng, 1)} film, " + words(rng, 12)})
        latencies.append(ms)
        errors += status != 200
    return latencies, errors


def explainer(port: int, words_per_text: int, seed: int, stop, answered, refused) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while not stop.is_set():
        status, _ = post(conn, "/v1/explain", {"text": words(rng, words_per_text)})
        counter = answered if status == 200 else refused
        with counter.get_lock():
            counter.value += 1


def summary(name: str, latencies: list[float], errors: int) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return (f"  {name:<32} {len(latencies):>6} predicts   p50 {statistics.median(ordered):7.1f} ms   "
            f"p99 {p99:7.1f} ms   max {ordered[-1]:7.1f} ms   errors {errors}")


def bench(args, code_dir: Path, workdir: Path) -> None:
    env = {"SENTIMENT_DATA_DIR": str(workdir / f"data-{len(list(workdir.iterdir()))}"), "SENTIMENT_LOG_LEVEL": "warning",
           "SENTIMENT_ACCESS_LOG": "false"}
    server = Server(env, workdir / f"server-{len(list(workdir.iterdir()))}.log", code_dir=code_dir)
    try:
        print(f"\n{code_dir.resolve().name} at {commit_of(code_dir)} (weights sha256 "
              f"{weights_sha256(code_dir / 'model' / 'bundled' / 'sst2')[:12]})")
        idle, errors = predicts(server.port, args.idle, seed=1)
        print(summary("idle", idle, errors))
        stop, answered, refused = multiprocessing.Event(), multiprocessing.Value("i", 0), multiprocessing.Value("i", 0)
        clients = [multiprocessing.Process(target=explainer,
                                           args=(server.port, args.words, 100 + i, stop, answered, refused))
                   for i in range(args.clients)]
        for c in clients:
            c.start()
        time.sleep(2)  # the explanations under way before the measured predicts start
        loaded, errors = predicts(server.port, args.load, seed=2)
        stop.set()
        for c in clients:
            c.join(130)
        print(summary(f"with {args.clients} clients explaining", loaded, errors))
        print(f"  explanations of {args.words} words answered meanwhile: {answered.value} (refused: {refused.value})")
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--words", type=int, default=200)
    p.add_argument("--idle", type=float, default=5.0)
    p.add_argument("--load", type=float, default=15.0)
    p.add_argument("--code-dir", type=Path, action="append")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fairness-") as tmp:
        for code_dir in args.code_dir or [ROOT]:
            bench(args, code_dir, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
