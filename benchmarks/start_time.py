"""Start to ready, and memory, of the service on each backend, side by side in one run.

For each backend (``SENTIMENT_BACKEND``: NumPy and torch by default) it starts ``python -m app`` on the
bundled model ``--rounds`` times, the backends taking turns, and prints the seconds from the
process's start to the first 200 from ``/readyz`` (polled every 10 ms), and the resident memory of
the server process and of its model process after ``--predicts`` predictions. The first round of
each backend is also taken cold, after the page cache is dropped (root only; else it says so).

    python benchmarks/start_time.py --rounds 3
"""

from __future__ import annotations

import argparse
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


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


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


def one_start(backend: str, predicts: int, data_dir: Path) -> tuple[float, float, float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")}
    env.update(SENTIMENT_PORT=str(port), SENTIMENT_HOST="127.0.0.1", SENTIMENT_DATA_DIR=str(data_dir),
               SENTIMENT_BACKEND=backend, SENTIMENT_LOG_LEVEL="warning", SENTIMENT_ACCESS_LOG="false",
               PYTHONPATH=str(ROOT))
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=env,
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
        for i in range(predicts):
            request = urllib.request.Request(url + "/v1/predict", f'{{"text": "a fine film number {i}"}}'.encode(),
                                             {"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=10).read()
        [model_process] = children(process.pid)
        return ready, rss_mb(process.pid), rss_mb(model_process)
    finally:
        process.terminate()
        process.wait(30)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--predicts", type=int, default=200)
    p.add_argument("--backend", action="append", choices=("numpy", "torch"))
    args = p.parse_args(argv)
    backends = args.backend or ["numpy", "torch"]
    print(f"{ROOT.name} at {commit_of(ROOT)}; the bundled model (weights sha256 "
          f"{weights_sha256(ROOT / 'model' / 'bundled' / 'sst2')[:12]}); {os.cpu_count()} CPUs")
    results: dict[str, list] = {b: [] for b in backends}
    with tempfile.TemporaryDirectory(prefix="start-time-") as tmp:
        for backend in backends:
            cold = drop_caches()
            ready, server, model = one_start(backend, args.predicts, Path(tmp) / f"cold-{backend}")
            print(f"  {backend:<6} cold ({'page cache dropped' if cold else 'cache NOT dropped: not root'}): "
                  f"ready in {ready:.2f} s")
        for _ in range(args.rounds):
            for backend in backends:
                results[backend].append(one_start(backend, args.predicts, Path(tmp) / f"warm-{backend}"))
    for backend, rows in results.items():
        ready = statistics.median(r[0] for r in rows)
        server = statistics.median(r[1] for r in rows)
        model = statistics.median(r[2] for r in rows)
        print(f"  {backend:<6} warm: ready in {ready:.2f} s (median of {len(rows)}: "
              f"{', '.join(f'{r[0]:.2f}' for r in rows)}); RSS server {server:.0f} MB + model process "
              f"{model:.0f} MB = {server + model:.0f} MB")
    if len(results) == 2:
        numpy_ready, torch_ready = (statistics.median(r[0] for r in results[b]) for b in ("numpy", "torch"))
        print(f"  time to ready, numpy / torch: {numpy_ready / torch_ready:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
