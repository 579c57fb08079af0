"""The service's processes as `make serve` starts them (the bundled model, default settings):
torch only in the model process, a small server process, and a model process that is replaced
quickly when it is killed under load."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import pytest

from tests.support.processes import children
from tests.support.waiting import wait_for

MODEL_PROCESS = "app.serving.model_process"


def _maps_torch(pid: int) -> bool:
    with open(f"/proc/{pid}/maps") as f:
        return "libtorch" in f.read()


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_no_process_holds_torch_but_a_torch_model_process_and_the_server_stays_small(serve, backend):
    server = serve(env={"SENTIMENT_BACKEND": backend})  # the bundled model
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for i in range(50):  # tokenizer caches and response paths warmed, as in service
            assert http.post("/v1/predict", json={"text": f"a gorgeous, witty movie number {i}"}).status_code == 200
        assert http.get("/readyz").json()["backend"] == ("numpy" if backend == "auto" else "torch")
    [model_process] = children(server.process.pid, MODEL_PROCESS)
    assert not _maps_torch(server.process.pid)
    assert _maps_torch(model_process) == (backend == "torch")
    assert _rss_mb(server.process.pid) < 200, f"server process holds {_rss_mb(server.process.pid):.0f} MB"


def test_a_model_process_killed_under_load_is_replaced_at_once(serve):
    """Clients predict in a loop; kill -9 of the model process gives them 503 + Retry-After at
    once (none hangs), and predictions come back by themselves, with no request to trigger the
    restart. (How fast is a figure, not a test: benchmarks/model_restart.py measures it; the
    bounds below only catch a restart that waits or a request that hangs.) The clients try again 50 ms after a
    503, as a client library with a short back-off does (without any pause they would only spin
    the server's CPU against the restarting model process)."""
    server = serve()
    [first] = children(server.process.pid, MODEL_PROCESS)
    results: list[tuple[float, float, int, str | None]] = []  # (sent, answered, status, retry-after)
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            i = 0
            while not stop.is_set():
                sent = time.monotonic()
                r = http.post("/v1/predict", json={"text": f"client {n} text {i}: not bad at all"})
                results.append((sent, time.monotonic(), r.status_code, r.headers.get("retry-after")))
                i += 1
                if r.status_code == 503:
                    stop.wait(0.05)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len(results) > 40, 30, what="load to build up")
        os.kill(first, signal.SIGKILL)
        killed = time.monotonic()
        recovered = wait_for(lambda: next((a for s, a, code, _ in results if s > killed and code == 200), None),
                             15, what="a successful prediction after the kill")
        time.sleep(0.5)  # a little load on the new process too
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    assert recovered - killed < 10.0, f"first prediction {recovered - killed:.2f} s after the kill"
    failed = [(code, retry) for _, _, code, retry in results if code != 200]
    assert failed, "no request saw the model process gone"
    assert all(code == 503 and retry == "1" for code, retry in failed), failed
    assert max(answered - sent for sent, answered, _, _ in results) < 5.0  # no request hung
    [second] = children(server.process.pid, MODEL_PROCESS)
    assert second != first
