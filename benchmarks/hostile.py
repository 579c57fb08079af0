"""The adversarial trial's probes (issue 21), against a real server, with their figures.

    python benchmarks/hostile.py neighbours   # 32 clients x 10 predicts of one 10,000-character text each
    python benchmarks/hostile.py dribble      # 20,000 connections dribbling a body after an early answer
    python benchmarks/hostile.py rows         # a 10^6-row upload, and the largest allowed one: server RSS
    python benchmarks/hostile.py all

Each starts ``python -m app`` (as ``serve_load.py`` does) on the bundled model and prints what the
trial measured: statuses, /healthz while it runs, the server's peak memory.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import ROOT, Server, commit_of  # noqa: E402

KEY = "hostile-key"


def made_up_text(rng: random.Random, chars: int) -> str:
    words = []
    while sum(len(w) + 1 for w in words) < chars:
        words.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))))
    return " ".join(words)[:chars]


def post(url: str, body: bytes, content_type: str = "application/json", timeout: float = 120) -> int:
    request = urllib.request.Request(url, body, {"Content-Type": content_type, "Authorization": f"Bearer {KEY}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def healthz_probe(url: str, stop: threading.Event, results: list) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
                ok = response.status == 200
        except OSError:
            ok = False
        results.append((ok, (time.perf_counter() - start) * 1000))
        stop.wait(0.1)


def neighbours(server: Server) -> None:
    rng = random.Random(7)
    bodies = [json.dumps({"text": made_up_text(rng, 10_000)}).encode() for _ in range(320)]
    with ThreadPoolExecutor(32) as pool:
        statuses = Counter(pool.map(lambda b: post(server.url + "/v1/predict", b), bodies))
    print(f"neighbours: 320 predicts of one 10,000-character text each from 32 clients: {dict(statuses)}")


def dribble(server: Server, connections: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    head = (f"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {100 * 1024 * 1024}\r\n\r\n").encode()
    stop, probes = threading.Event(), []
    prober = threading.Thread(target=healthz_probe, args=(server.url, stop, probes))
    prober.start()
    closed = still_open = 0
    started = time.monotonic()
    for start in range(0, connections, 500):  # 500 at a time: each sends its head, then a byte of body
        socks = []
        for _ in range(min(500, connections - start)):
            try:
                s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                s.sendall(head)
                socks.append(s)
            except OSError:
                still_open += 1  # refused or failed: counted as not served
        time.sleep(0.2)
        for s in socks:
            try:
                s.sendall(b"x")
                s.settimeout(2)
                data = s.recv(65536)
                while data:
                    data = s.recv(65536)
                closed += 1  # the server answered and closed
            except OSError:
                closed += 1  # reset by the server: closed too
            finally:
                s.close()
    stop.set()
    prober.join()
    failed = sum(not ok for ok, _ in probes)
    worst = max((ms for ok, ms in probes if ok), default=float("nan"))
    print(f"dribble: {connections:,} connections dribbling a body after an early 413 in "
          f"{time.monotonic() - started:.0f} s: {closed:,} closed by the server, {still_open} not accepted; "
          f"/healthz probes {len(probes)}, failed {failed}, slowest {worst:.0f} ms")


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def rows(server: Server, allowed: int) -> None:
    boundary = "hostile-boundary"

    def upload(n: int) -> int:
        data = b"text\tlabel\n" + b"".join(b"w%d\t%d\n" % (i, i % 2) for i in range(n))
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"rows.tsv\"\r\n"
                f"Content-Type: text/tab-separated-values\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        return post(server.url + "/v1/datasets", body, f"multipart/form-data; boundary={boundary}")

    before = peak_rss_mb(server.process.pid)
    status = upload(1_000_000)
    print(f"rows: an upload of 10^6 rows: {status}; server peak RSS {peak_rss_mb(server.process.pid):.0f} MB "
          f"(at start {before:.0f} MB)")
    status = upload(allowed - 2)
    print(f"rows: the largest allowed upload ({allowed - 1:,} rows): {status}; server peak RSS "
          f"{peak_rss_mb(server.process.pid):.0f} MB")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("probe", choices=("neighbours", "dribble", "rows", "all"))
    p.add_argument("--connections", type=int, default=20_000)
    args = p.parse_args(argv)
    print(f"{ROOT.name} at {commit_of(ROOT)}")
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        server = Server({"SENTIMENT_DATA_DIR": f"{tmp}/data", "SENTIMENT_API_KEYS": KEY, "SENTIMENT_LOG_LEVEL": "error",
                         "SENTIMENT_ACCESS_LOG": "false", "SENTIMENT_RATE_LIMIT_WRITE": "0"}, Path(tmp) / "server.log")
        try:
            if args.probe in ("neighbours", "all"):
                neighbours(server)
            if args.probe in ("dribble", "all"):
                dribble(server, args.connections)
            if args.probe in ("rows", "all"):
                rows(server, allowed=300_000)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
