"""Start to ready, and memory, of the service on each backend, side by side in one run.

For each backend (``SENTIMENT_BACKEND``: NumPy and torch by default) it starts ``python -m app`` on the
bundled model ``--rounds`` times, the backends taking turns, and prints the seconds from the
process's start to the first 200 from ``/readyz`` (polled every 10 ms), and the resident memory of
the server process and of its model process after ``--predicts`` predictions, one text each, every
text a different SST-2 sentence (``unseen.py``). Of the model process's, how much is file pages: the
NumPy backend's input table is a memory-mapped file, of which only the pages of the tokens read are
resident, so the figure grows with the vocabulary the texts use (clean pages, shared between
processes, which the kernel may drop and read again). The first start of each backend is cold: a new data directory
(the NumPy backend derives its input table there) after the page cache is dropped (root only; else
it says so); the warm rounds start again on that data directory.

    python benchmarks/start_time.py --rounds 3
    python benchmarks/start_time.py --rounds 3 --code-dir <checkout of the commit before> --code-dir .
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import ROOT, commit_of, free_port, weights_sha256  # noqa: E402
from unseen import unseen_texts  # noqa: E402


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def children(pid: int) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except OSError:
            continue
    return found


def drop_caches() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def one_start(backend: str, texts: list[str], data_dir: Path, code_dir: Path = ROOT) -> tuple[float, float, float, float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")}
    env.update(SENTIMENT_PORT=str(port), SENTIMENT_HOST="127.0.0.1", SENTIMENT_DATA_DIR=str(data_dir),
               SENTIMENT_BACKEND=backend, SENTIMENT_LOG_LEVEL="warning", SENTIMENT_ACCESS_LOG="false",
               PYTHONPATH=str(code_dir))
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "app"], cwd=code_dir, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() - started > 120:
                sys.exit(f"error: the server ({backend}) did not get ready")
            time.sleep(0.01)
        ready = time.monotonic() - started
        for text in texts:
            request = urllib.request.Request(url + "/v1/predict", json.dumps({"text": text}).encode(),
                                             {"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=10).read()
        [model_process] = children(process.pid)
        return ready, rss_mb(process.pid), rss_mb(model_process), rss_mb(model_process, "RssFile")
    finally:
        process.terminate()
        process.wait(30)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--predicts", type=int, default=1000)
    p.add_argument("--backend", action="append", choices=("numpy", "torch"))
    p.add_argument("--code-dir", type=Path, action="append",
                   help="a checkout to start (repeatable: each backend of each, taking turns; default this one)")
    args = p.parse_args(argv)
    backends = args.backend or ["numpy", "torch"]
    code_dirs = [d.resolve() for d in args.code_dir or [ROOT]]
    print(f"the bundled model (weights sha256 {weights_sha256(ROOT / 'model' / 'bundled' / 'sentiment-en')[:12]}); "
          f"{os.cpu_count()} CPUs")
    texts, source = unseen_texts(args.predicts)
    print(f"  memory after {len(texts)} predictions of texts from {source}")
    runs = [(code_dir, backend) for code_dir in code_dirs for backend in backends]
    names = {run: f"{run[0].name if len(code_dirs) > 1 else ''} {run[1]}".strip() for run in runs}
    print("\n".join(f"  {code_dir.name}: {code_dir} at {commit_of(code_dir)}" for code_dir in code_dirs))
    results: dict[tuple, list] = {run: [] for run in runs}
    with tempfile.TemporaryDirectory(prefix="start-time-") as tmp:
        data_dirs = {run: Path(tmp) / f"{i}-{run[1]}" for i, run in enumerate(runs)}
        for run in runs:
            cold = drop_caches()
            ready, *_ = one_start(run[1], texts, data_dirs[run], run[0])
            print(f"  {names[run]:<6} cold ({'page cache dropped' if cold else 'cache NOT dropped: not root'}; "
                  f"a new data directory): ready in {ready:.2f} s")
        for _ in range(args.rounds):
            for run in runs:
                results[run].append(one_start(run[1], texts, data_dirs[run], run[0]))
    for run, rows in results.items():
        ready = statistics.median(r[0] for r in rows)
        server = statistics.median(r[1] for r in rows)
        model = statistics.median(r[2] for r in rows)
        files = statistics.median(r[3] for r in rows)
        print(f"  {names[run]:<6} warm: ready in {ready:.2f} s (median of {len(rows)}: "
              f"{', '.join(f'{r[0]:.2f}' for r in rows)}); RSS server {server:.0f} MB + model process "
              f"{model:.0f} MB ({files:.0f} MB of it file pages) = {server + model:.0f} MB")
    if set(backends) == {"numpy", "torch"}:
        for code_dir in code_dirs:
            numpy_ready, torch_ready = (statistics.median(r[0] for r in results[code_dir, b]) for b in ("numpy", "torch"))
            ratios = [n[0] / t[0] for n, t in zip(results[code_dir, "numpy"], results[code_dir, "torch"])]
            print(f"  {code_dir.name}: time to ready, numpy / torch: {numpy_ready / torch_ready:.2f}x "
                  f"(each round's: {', '.join(f'{x:.2f}' for x in ratios)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
