"""How long predictions are unavailable after the model process is killed (kill -9) under load.

Starts ``python -m app`` (the bundled model unless ``--model-dir``), runs ``--clients`` threads that
predict in a loop (texts not seen before; after a 503 a client waits ``--backoff`` seconds, as a
client library with a short back-off does), kills the model process, and prints for each round:
the seconds until the first successful prediction, how many 503s came in between, any other
error, and the slowest request (none may hang).

    python benchmarks/model_restart.py --rounds 3 --backend auto --backend torch
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.processes import children  # noqa: E402
from tests.support.server import start_server  # noqa: E402


def one_round(args, number: int, backend: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="model-restart-"))
    server = start_server(data_dir=work / "data", model_dir=args.model_dir, env={"SENTIMENT_BACKEND": backend})
    try:
        [first] = children(server.process.pid, "app.serving.model_process")
        results: list[tuple[float, float, int]] = []
        stop = threading.Event()

        def client(n: int) -> None:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                i = 0
                while not stop.is_set():
                    sent = time.monotonic()
                    r = http.post("/v1/predict", json={"text": f"client {n} sentence {i} of round {number}"})
                    results.append((sent, time.monotonic(), r.status_code))
                    i += 1
                    if r.status_code == 503:
                        stop.wait(args.backoff)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        for thread in threads:
            thread.start()
        time.sleep(args.warmup)
        os.kill(first, signal.SIGKILL)
        killed = time.monotonic()
        deadline = killed + 60
        while not any(s > killed and code == 200 for s, _, code in results) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(30)
        recovered = min((a for s, a, code in results if s > killed and code == 200), default=float("nan"))
        print(
            f"{backend} backend, round {number}: first prediction {recovered - killed:.2f} s after the kill; "
            f"503 answers {sum(code == 503 for _, _, code in results)}, "
            f"other errors {sum(code not in (200, 503) for _, _, code in results)}, "
            f"slowest request {max(a - s for s, a, _ in results):.2f} s, requests {len(results)}",
            flush=True,
        )
    finally:
        server.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--backoff", type=float, default=0.05, help="seconds a client waits after a 503")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before the kill")
    p.add_argument("--model-dir", type=Path, help="default: the bundled model")
    p.add_argument("--backend", action="append", choices=("auto", "numpy", "torch"),
                   help="SENTIMENT_BACKEND (repeat it for several in one run; default: auto)")
    args = p.parse_args()
    print(f"{args.clients} clients, back-off {args.backoff} s after a 503; {os.cpu_count()} CPUs", flush=True)
    for backend in args.backend or ["auto"]:
        for number in range(1, args.rounds + 1):
            one_round(args, number, backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
