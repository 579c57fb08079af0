"""Several models in one server: predict throughput of one model with 1 and with 4 models loaded,
the time a request for a model not yet loaded waits for it (cold load), and the memory each
loaded model takes (issue 22.6).

Starts ``python -m app`` with ``SENTIMENT_MAX_LOADED_MODELS=4`` on a data directory where three
more models (``copy-1``..``copy-3``: copies of the bundled model, so each costs what a real one of
its size does) are recorded. Then, in one process start:

1. wrk: ``POST /v1/predict`` (the default model) at ``-c`` connections for ``-d`` seconds, one model loaded;
2. each other model's first request (its cold load: tokenizer in the server process, weights in the
   model process) timed against its second, and the processes' RSS after each;
3. wrk again, the same way, now with 4 models loaded; texts the server has not seen in either run.

    python benchmarks/models_loaded.py -c 32 -d 15
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serve_load import Server, commit_of, find_wrk, predict_script, run_wrk, weights_sha256  # noqa: E402
from unseen import unseen_texts  # noqa: E402

from app.settings import Settings  # noqa: E402
from app.store import Store  # noqa: E402
from app.versions import Versions  # noqa: E402
from tests.support.processes import children  # noqa: E402

OTHERS = ["copy-1", "copy-2", "copy-3"]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def prepare(data_dir: Path) -> Path:
    """Records with the bundled models and three copies of the default one as models of their own."""
    settings = Settings(data_dir=data_dir)
    store = Store(data_dir / "sentiment.db")
    versions = Versions(store, data_dir, settings.bundled_models())
    versions.bootstrap()
    for name in OTHERS:
        aside = data_dir / "models" / f".{name}.partial"
        shutil.copytree(settings.model_dir, aside)
        with store.connect() as db:
            versions.publish(db, name, aside, job_id="benchmark", dataset_id="none")
    store.close()
    return settings.model_dir


def post(url: str, body: dict) -> tuple[int, float]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=200) as response:
        response.read()
        return response.status, time.perf_counter() - started


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-c", "--connections", type=int, default=32)
    p.add_argument("-d", "--duration", type=int, default=15, help="seconds of each wrk run")
    p.add_argument("-t", "--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--wrk", help="the wrk executable (default: wrk on PATH)")
    args = p.parse_args()
    wrk = find_wrk(args.wrk, False)
    texts, source = unseen_texts(60_000, seed=22)
    work = Path(tempfile.mkdtemp(prefix="models-loaded-"))
    script = work / "predict.lua"
    script.write_text(predict_script(texts))
    model_dir = prepare(work / "data")
    server = Server({"SENTIMENT_DATA_DIR": str(work / "data"), "SENTIMENT_MAX_LOADED_MODELS": "4",
                     "SENTIMENT_ACCESS_LOG": "false"}, work / "server.log")
    try:
        [model_pid] = children(server.process.pid, "app.serving.model_process")
        print(f"code {commit_of(ROOT)}; model {model_dir.name} (weights sha256 {weights_sha256(model_dir)[:12]}); "
              f"texts: {source}; wrk -c{args.connections} -t{args.threads} -d{args.duration}s, POST /v1/predict")
        before = {"server": rss_mb(server.process.pid), "model process": rss_mb(model_pid)}
        print(f"RSS with 1 model loaded: server {before['server']:.0f} MB, model process {before['model process']:.0f} MB")
        one = run_wrk(wrk, server.url + "/v1/predict", script, args.connections, args.threads, args.duration)
        print(f"  1 model loaded   {one['rps']:>7.0f} req/s   p50 {one['p50_ms']:.1f} ms   p99 {one['p99_ms']:.1f} ms"
              f"   non-2xx {one['non_2xx']}")
        loads = []
        for name in OTHERS:
            status, cold = post(f"{server.url}/v1/models/{name}/predict", {"text": f"first request for {name}"})
            _, warm = post(f"{server.url}/v1/models/{name}/predict", {"text": f"second request for {name}"})
            loads.append((name, status, cold, warm, rss_mb(server.process.pid), rss_mb(model_pid)))
        for name, status, cold, warm, server_rss, model_rss in loads:
            print(f"  {name}: first request {cold * 1000:.0f} ms (its cold load; HTTP {status}), second "
                  f"{warm * 1000:.1f} ms; RSS after: server {server_rss:.0f} MB, model process {model_rss:.0f} MB")
        listed = json.load(urllib.request.urlopen(server.url + "/v1/models"))["models"]
        memory = {m["name"]: m["memory_bytes"] for m in listed if m["loaded"]}
        print("  memory the model process took per model (GET /v1/models memory_bytes): "
              + ", ".join(f"{k} {v / 2**20:.1f} MB" for k, v in memory.items()))
        added = (loads[-1][4] - before["server"], loads[-1][5] - before["model process"])
        print(f"  RSS per added model: server +{added[0] / len(OTHERS):.1f} MB, model process "
              f"+{added[1] / len(OTHERS):.1f} MB (average of {len(OTHERS)})")
        per_thread = one["requests"] + 1000
        four = run_wrk(wrk, server.url + "/v1/predict", script, args.connections, args.threads, args.duration,
                       first=per_thread)
        print(f"  4 models loaded  {four['rps']:>7.0f} req/s   p50 {four['p50_ms']:.1f} ms   p99 {four['p99_ms']:.1f} ms"
              f"   non-2xx {four['non_2xx']}")
        print(f"  ratio 4 loaded / 1 loaded: {four['rps'] / one['rps']:.2f}")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
