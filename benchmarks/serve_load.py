"""Load test: /v1/predict against /healthz, side by side, on a real server.

Starts ``python -m app`` as a subprocess on a free loopback port, drives ``POST /v1/predict``
(single-text requests, each a text the server has not seen before: ``unseen.py``, SST-2's phrases
and sentences, so no cache carries the figure) and ``GET /healthz`` with the same number
of concurrent connections for the same time using ``wrk``, and prints requests/s, p50/p95/p99
latency, errors and the predict/healthz ratio. ``/healthz`` is the ceiling of the HTTP stack on
this machine, so the ratio shows what the model and the predict path cost on top of it; both
run in the same process start, one after the other, so background load affects both alike.

    python benchmarks/serve_load.py                  # the service as it ships
    python benchmarks/serve_load.py --model-speed    # also: the model alone, sentences/s by batch size
    python benchmarks/serve_load.py --model-dir model/bundled/sentiment-en --model-dir NEW   # two models, one run
    python benchmarks/serve_load.py --code-dir ../before --code-dir .   # two checkouts, one run

Every run prints the git commit of each checkout it served and the SHA-256 of the model's weights,
so that a figure copied into the docs says where it came from.

For each predict run it also prints the CPU the server process and its model process used
(from /proc), per request: where the time goes.

wrk must be on PATH (``apt-get install -y wrk``; ``--install-wrk`` does that on Debian/Ubuntu).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from unseen import FALLBACK_SENTENCES, unseen_texts

ROOT = Path(__file__).resolve().parent.parent
BATCH_SIZES = (1, 8, 16, 32, 64)
DEV_TSV = ROOT.parent / "shared" / "data" / "sst2" / "dev.tsv"

# wrk's done() hook prints one JSON line that this script reads back.
LUA_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for printable text


def predict_script(sentences: list[str]) -> str:
    """A wrk script sending ``{"text": ...}`` bodies from the list in order. ``wrk ... -- FIRST THREADS``
    starts at index FIRST (0-based; default 0), so that successive runs can go on where the last
    stopped; wrk's THREADS threads take every THREADS-th text (thread k from FIRST + k), so no two
    send the same one. Past the end it wraps around (``run_wrk``'s callers size the list to avoid that)."""
    bodies = ",\n  ".join(lua_string(json.dumps({"text": s})) for s in sentences)
    return f"""
local bodies = {{
  {bodies}
}}
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
function init(args)
  step = tonumber(args[2] or "1")
  i = tonumber(args[1] or "0") + id - step
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + step
  return wrk.format(nil, nil, nil, bodies[i % #bodies + 1])
end
{LUA_REPORT}"""


def load_sentences(path: Path | None, limit: int) -> tuple[list[str], str]:
    if path is not None and path.is_file():
        sentences = []
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            parts = line.split("\t")
            text = parts[-1].strip() if len(parts) >= 2 else ""
            if text and all(ch.isprintable() for ch in text):
                sentences.append(text)
        if sentences:
            return sentences[:limit], str(path)
    return FALLBACK_SENTENCES, "built-in list"


def find_wrk(explicit: str | None, install: bool) -> str:
    wrk = shutil.which(explicit) if explicit else shutil.which("wrk")
    if wrk:
        return wrk
    if explicit:
        sys.exit(f"error: --wrk {explicit}: not an executable file")
    if install and shutil.which("apt-get"):
        print("installing wrk with apt-get ...", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
        wrk = shutil.which("wrk")
        if wrk:
            return wrk
    sys.exit(
        "error: wrk not found on PATH. Install it (Debian/Ubuntu: `apt-get install -y wrk`, "
        "macOS: `brew install wrk`), pass --install-wrk to let this script run apt-get, "
        "or give its location with --wrk PATH."
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Server:
    """``python -m app`` in a subprocess, ready once /readyz answers 200."""

    def __init__(self, env: dict[str, str], log_path: Path, ready_timeout: float = 60.0, code_dir: Path = ROOT):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")}
        full_env.update(env, SENTIMENT_HOST="127.0.0.1", SENTIMENT_PORT=str(self.port))
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code_dir), full_env.get("PYTHONPATH")]))
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app"], cwd=code_dir, env=full_env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + ready_timeout
        while True:
            try:
                self.process.wait(timeout=0.1)  # the pause between polls doubles as an exit check
                self.stop()
                sys.exit(f"error: the server exited with code {self.process.returncode}:\n{self.log_tail()}")
            except subprocess.TimeoutExpired:
                pass
            try:
                if get(self.url + "/readyz", timeout=1.0)[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                sys.exit(f"error: the server was not ready within {ready_timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def metric(self, name: str) -> dict[str, float]:
        """Samples of one metric family from /metrics, by their label string."""
        text = get(self.url + "/metrics")[1].decode()
        out = {}
        for line in text.splitlines():
            if line.startswith(name):
                key, _, value = line.rpartition(" ")
                out[key[len(name) :]] = float(value)
        return out

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def run_wrk(wrk: str, url: str, script: Path, connections: int, threads: int, duration: int, first: int = 0) -> dict:
    """One wrk run; ``first``: the index of the first text a ``predict_script`` sends."""
    cmd = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
        "--",
        str(first),
        str(threads),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if out.returncode != 0 or line is None:
        sys.exit(f"error: wrk failed ({' '.join(cmd)}):\n{out.stdout}\n{out.stderr}")
    r = json.loads(line[len("RESULT ") :])
    seconds = r["duration_us"] / 1e6
    return {
        "rps": r["requests"] / seconds,
        "requests": r["requests"],
        "seconds": seconds,
        "p50_ms": r["p50_us"] / 1e3,
        "p95_ms": r["p95_us"] / 1e3,
        "p99_ms": r["p99_us"] / 1e3,
        "max_ms": r["max_us"] / 1e3,
        "non_2xx": r["status"],
        "socket_errors": r["connect"] + r["read"] + r["write"] + r["timeout"],
    }


def format_row(name: str, r: dict) -> str:
    return (
        f"  {name:<12} {r['rps']:>9.0f} req/s   p50 {r['p50_ms']:>6.1f} ms   p95 {r['p95_ms']:>6.1f} ms   "
        f"p99 {r['p99_ms']:>6.1f} ms   non-2xx {r['non_2xx']}   socket errors {r['socket_errors']}"
    )


def commit_of(code_dir: Path) -> str:
    out = subprocess.run(["git", "-C", str(code_dir), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(code_dir), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return (out.stdout.strip() or "unknown") + ("+changes" if dirty else "")


def weights_sha256(model_dir: Path) -> str:
    config = json.loads((model_dir / "config.json").read_text())
    return config.get("files", {}).get("model.safetensors", "unknown")


def cpu_seconds(pid: int) -> dict[str, float]:
    """User + system CPU seconds of ``pid`` and of each of its children, by pid (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            out[entry] = (int(fields[11]) + int(fields[12])) / tick
    return out


def bench_server(args, wrk: str, code_dir: Path, workdir: Path, scripts: dict[str, Path], model_dir: Path | None,
                 access_log: str = "on") -> dict:
    number = len(list(workdir.iterdir()))
    env = {
        "SENTIMENT_DATA_DIR": str(workdir / f"data-{number}"),
        "SENTIMENT_LOG_LEVEL": "warning",
        "SENTIMENT_INFERENCE_THREADS": str(args.inference_threads),
        "SENTIMENT_BACKEND": args.backend,  # (a checkout from before the setting ignores it: torch)
        "SENTIMENT_ACCESS_LOG": "true" if access_log == "on" else "false",
        "SENTIMENT_MAX_BATCH_SIZE": str(args.max_batch_size),
        "SENTIMENT_MAX_WAIT_MS": str(args.max_wait_ms),
    }
    if model_dir:
        env["SENTIMENT_MODEL_DIR"] = str(model_dir)
    server = Server(env, workdir / f"server-{number}.log", code_dir=code_dir)
    pid = server.process.pid
    try:
        results: dict[str, list[dict]] = {"healthz": [], "predict": []}
        sent = 0  # predict texts sent to this server so far: the next run starts after them
        for name, path in (("healthz", "/healthz"), ("predict", "/v1/predict")) if args.warmup else ():  # warm up
            sent += run_wrk(
                wrk, server.url + path, scripts[name], args.connections, args.wrk_threads, args.warmup, first=sent
            )["requests"] * (name == "predict")
        before = server.metric("sentiment_batch_size")
        for _ in range(args.rounds):
            for name, path in (("healthz", "/healthz"), ("predict", "/v1/predict")):
                cpu_before = cpu_seconds(pid)
                result = run_wrk(
                    wrk, server.url + path, scripts[name], args.connections, args.wrk_threads, args.duration, first=sent
                )
                if name == "predict":
                    sent += result["requests"]
                cpu_after = cpu_seconds(pid)
                used = {p: cpu_after[p] - cpu_before.get(p, 0.0) for p in cpu_after}
                result["cpu_server_us"] = used.pop(str(pid), 0.0) / max(result["requests"], 1) * 1e6
                result["cpu_children_us"] = sum(used.values()) / max(result["requests"], 1) * 1e6
                results[name].append(result)
        after = server.metric("sentiment_batch_size")
        if server.process.poll() is not None:
            sys.exit(f"error: the server died during the run:\n{server.log_tail()}")
    finally:
        server.stop()
    batches = after.get("_count", 0) - before.get("_count", 0)
    texts = after.get("_sum", 0) - before.get("_sum", 0)
    bundled = code_dir / "model" / "bundled"  # (sst2: the folder's name in checkouts before named models)
    served = model_dir or next((p for p in (bundled / "sentiment-en", bundled / "sst2") if p.exists()), bundled)
    return {
        "code": f"{code_dir.resolve().name} at {commit_of(code_dir)}, access log {access_log}",
        "model_dir": str(model_dir or "the bundled model"),
        "weights_sha256": weights_sha256(served),
        "rounds": results,
        "mean_batch": texts / batches if batches else None,
        "texts_sent": sent,
    }


def report(result: dict, pool_size: int) -> None:
    mean_batch = f"{result['mean_batch']:.1f} texts" if result["mean_batch"] else "n/a"
    print(
        f"\n{result['code']}, {result['model_dir']} (weights sha256 {result['weights_sha256'][:12]}; mean batch "
        f"during the measured predict runs: {mean_batch})"
    )
    if result["texts_sent"] > pool_size:
        print(
            f"  NOTE: {result['texts_sent']:,} predict requests but {pool_size:,} distinct texts: texts repeated "
            "(raise --texts)"
        )
    for i, (h, p) in enumerate(zip(result["rounds"]["healthz"], result["rounds"]["predict"]), 1):
        if len(result["rounds"]["healthz"]) > 1:
            print(f" round {i}")
        print(format_row("/healthz", h))
        print(format_row("/v1/predict", p))
        print(
            f"  ratio predict/healthz requests/s: {p['rps'] / h['rps']:.2f}; CPU per predict request: "
            f"server process {p['cpu_server_us']:.0f} us, model process {p['cpu_children_us']:.0f} us "
            f"(/healthz: {h['cpu_server_us']:.0f} us)"
        )


def model_speed(args, sentences: list[str], model_dir: Path | None) -> None:
    """The model alone, in this process, at the batch sizes the batcher forms: its arithmetic is the ceiling.

    fp32 and int8 take turns in short rounds and the medians are printed, so both see the same
    background load.
    """
    sys.path.insert(0, str(ROOT))
    import statistics

    import torch

    from app.settings import BUNDLED_MODEL_DIR
    from model import Predictor
    from model.inference.scoring import evaluate_file

    torch.set_num_threads(args.inference_threads)
    predictors = {}
    for name, options in (("fast", {}), ("nn.LSTM", {"fast": False})):
        predictors[name] = Predictor.load(model_dir or BUNDLED_MODEL_DIR, **options)
    rounds = 5
    print(
        f"\n{model_dir or 'the bundled model'} alone, in process ({args.inference_threads} torch thread(s); fast: the fp32 fast path the "
        f"service runs, nn.LSTM: the fp32 module over packed sequences; they alternate, {rounds} rounds of "
        f"{args.model_seconds / rounds:g} s each, medians):"
    )
    print("  batch   " + "".join(f"{name:>8}: sentences/s  CPU us/sentence   " for name in predictors))
    i = 0
    for batch_size in BATCH_SIZES:
        rates: dict[str, list[float]] = {name: [] for name in predictors}
        cpu: dict[str, list[float]] = {name: [] for name in predictors}
        for _ in range(rounds):
            for name, predictor in predictors.items():
                done, start, cpu_start = 0, time.perf_counter(), time.process_time()
                while time.perf_counter() - start < args.model_seconds / rounds:
                    predictor.predict([sentences[(i + k) % len(sentences)] for k in range(batch_size)])
                    i += batch_size
                    done += batch_size
                rates[name].append(done / (time.perf_counter() - start))
                cpu[name].append((time.process_time() - cpu_start) / done * 1e6)
        print(
            f"  {batch_size:>5}   "
            + "".join(
                f"{statistics.median(rates[n]):>10.0f}/s {statistics.median(cpu[n]):>12.0f} us        "
                for n in predictors
            )
        )
    labelled = args.sentences or DEV_TSV
    if labelled.is_file():
        accuracy = {n: evaluate_file(p, labelled)["accuracy"] for n, p in predictors.items()}
        print(f"  accuracy on {labelled.name}: " + ", ".join(f"{n} {a:.4f}" for n, a in accuracy.items()))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--connections", type=int, default=32, help="concurrent connections (clients)")
    p.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    p.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load on each path first (0: none)")
    p.add_argument("--rounds", type=int, default=1, help="healthz/predict pairs to measure")
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (they share the CPUs with the server)")
    p.add_argument(
        "--code-dir",
        type=Path,
        action="append",
        help="a checkout of the project to serve from (default: this one); given twice or more, each gets its "
        "own server, one after the other in this run (before and after a change side by side)",
    )
    p.add_argument("--inference-threads", type=int, default=1, help="SENTIMENT_INFERENCE_THREADS")
    p.add_argument("--backend", choices=("auto", "numpy", "torch"), default="auto", help="SENTIMENT_BACKEND")
    p.add_argument("--access-log", choices=("on", "off", "both"), default="on",
                   help="SENTIMENT_ACCESS_LOG; both: a server with it and one without, side by side")
    p.add_argument("--max-batch-size", type=int, default=64, help="SENTIMENT_MAX_BATCH_SIZE")
    p.add_argument("--max-wait-ms", type=float, default=0.5, help="SENTIMENT_MAX_WAIT_MS")
    p.add_argument(
        "--model-dir",
        type=Path,
        action="append",
        help="SENTIMENT_MODEL_DIR (default: the bundled model); given twice or more, each model gets its own "
        "server, one after the other in this run (old and new side by side)",
    )
    p.add_argument(
        "--texts",
        type=int,
        default=None,
        help="distinct predict texts to prepare (default: enough for 8,000 req/s over the warm-up and "
        "every round); each server gets them from the first",
    )
    p.add_argument(
        "--sentences",
        type=Path,
        default=None,
        help="a TSV whose last column is the text, sent in a cycle instead of unseen texts (repeats: "
        "caches help; default: unseen.py's texts)",
    )
    p.add_argument("--model-speed", action="store_true", help="also time the model alone at batch sizes 1-64")
    p.add_argument(
        "--model-seconds", type=float, default=5.0, help="seconds per batch size and model for --model-speed"
    )
    p.add_argument("--wrk", help="path of the wrk binary")
    p.add_argument("--install-wrk", action="store_true", help="apt-get install wrk when it is missing")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)

    wrk = find_wrk(args.wrk, args.install_wrk)
    if args.sentences is not None:
        sentences, source = load_sentences(args.sentences, limit=100_000)
        source += ", cycled (texts repeat)"
    else:
        sentences, source = unseen_texts(args.texts or 8_000 * (args.warmup + args.rounds * args.duration))
        source = "distinct texts: " + source
    print(
        f"{len(sentences):,} texts ({source}); {args.connections} connections, {args.duration} s per run, "
        f"wrk -t{args.wrk_threads}; {os.cpu_count()} CPUs; backend={args.backend}, "
        f"inference_threads={args.inference_threads}, max_batch_size={args.max_batch_size}, "
        f"max_wait_ms={args.max_wait_ms:g}"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        workdir = Path(tmp)
        scripts = {"healthz": workdir / "healthz.lua", "predict": workdir / "predict.lua"}
        scripts["healthz"].write_text(LUA_REPORT)
        scripts["predict"].write_text(predict_script(sentences))
        for code_dir in args.code_dir or [ROOT]:
            for model_dir in args.model_dir or [None]:
                for access_log in ("on", "off") if args.access_log == "both" else (args.access_log,):
                    results.append(bench_server(args, wrk, code_dir, workdir, scripts, model_dir, access_log))
                    report(results[-1], len(sentences))
    if args.model_speed:
        for model_dir in args.model_dir or [None]:
            model_speed(args, sentences, model_dir)
    if args.json:
        args.json.write_text(
            json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
