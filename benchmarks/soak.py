"""Soak: many predict requests with texts never seen before; does the server's memory grow?

Starts ``python -m app`` on a free loopback port (as ``serve_load.py`` does), warms it up with
``--warmup`` requests, reads the resident memory (RSS, /proc) of the server process and of its
model process, drives ``--requests`` single-text predict requests over ``--connections``
connections with ``wrk``, and reads the RSS again, printing the growth of each in %. RSS is
also sampled every ``--sample-s`` during the run, for the peak. The target (issue 10) is less
than 5 % growth of the server process's RSS over 200,000 requests.

Every request's text is new: a few words drawn at random from SST-2's vocabulary (a built-in
list without it) plus one made-up word spelled from a per-request counter, so no cache of texts
or responses can carry the figure; the tokenizer's per-word cache sees a new word every request
(it is bounded: ``AsciiBertWordPiece.MAX_CACHED_WORDS``). ``--no-new-words`` leaves the made-up
word out: the texts are still new, but every word is one of SST-2's, so the difference between the
two runs is what that cache costs.

    python benchmarks/soak.py                            # 200,000 requests, 32 connections
    python benchmarks/soak.py --requests 20000           # shorter

wrk stops each of its threads after its share of the requests (a few more may be in flight), and
after ``--max-seconds`` whatever the count. wrk must be on PATH (``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import DEV_TSV, LUA_REPORT, Server, find_wrk, load_sentences, lua_string  # noqa: E402


def unseen_texts_script(
    words: list[str], prefix: str | None, threads: int, quota_per_thread: int, done_dir: Path
) -> str:
    """A wrk script: each request's text is 6-12 random words and a made-up word from a counter
    (spelled after ``prefix``; ``None``: no made-up word).

    A thread stops after ``quota_per_thread`` responses and leaves a file in ``done_dir`` (wrk's
    main thread sleeps for all of ``-d`` regardless; ``run_wrk`` interrupts it when all are done).
    """
    table = ",".join(lua_string(w) for w in words)
    return f"""
local words = {{{table}}}
local counter, responses = 0, 0
local next_id = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  math.randomseed(1000 + id)
end

request = function()
  counter = counter + 1
  local n = counter * {threads} + id
  local letters = {{}}
  repeat
    local d = n % 26
    letters[#letters + 1] = string.char(97 + d)
    n = (n - d) / 26
  until n == 0
  local parts = {{}}
  for k = 1, math.random(6, 12) do parts[k] = words[math.random(#words)] end
  {"" if prefix is None else f'parts[#parts + 1] = "{prefix}" .. table.concat(letters)'}
  return wrk.format(nil, nil, nil, '{{"text": "' .. table.concat(parts, " ") .. '"}}')
end

response = function(status, headers, body)
  responses = responses + 1
  if responses == {quota_per_thread} then
    io.open({lua_string(str(done_dir))} .. "/" .. id, "w"):close()
    wrk.thread:stop()
  end
end
{LUA_REPORT}"""


def vocabulary(sentences: list[str]) -> list[str]:
    """Lower-case words that need no escaping inside a JSON string."""
    return sorted({w for s in sentences for w in s.lower().split() if re.fullmatch(r"[a-z][a-z'-]*", w)})


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def model_process_pid(server_pid: int) -> int | None:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read()
        except OSError:
            continue
        if parent == server_pid and b"app.serving.model_process" in command:
            return int(entry)
    return None


def run_wrk(wrk: str, url: str, script: Path, connections: int, threads: int, max_seconds: int, done_dir: Path) -> dict:
    """Run wrk until each thread has left its file in ``done_dir`` (SIGINT: wrk then reports), or
    for ``max_seconds``."""
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max_seconds}s", "--timeout", "10s", "-s", str(script), url]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while process.poll() is None:
        if len(list(done_dir.iterdir())) >= threads:
            process.send_signal(signal.SIGINT)
            break
        time.sleep(0.1)  # polls for the threads' files
    stdout, stderr = process.communicate(timeout=60)
    for done in done_dir.iterdir():
        done.unlink()
    line = next((x for x in stdout.splitlines() if x.startswith("RESULT ")), None)
    if process.returncode != 0 or line is None:
        sys.exit(f"error: wrk failed ({' '.join(cmd)}):\n{stdout}\n{stderr}")
    r = json.loads(line[len("RESULT ") :])
    r["seconds"] = r["duration_us"] / 1e6
    r["socket_errors"] = r["connect"] + r["read"] + r["write"] + r["timeout"]
    return r


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--requests", type=int, default=200_000, help="predict requests in the measured run")
    p.add_argument("--warmup", type=int, default=10_000, help="predict requests before the first reading")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (they share the CPUs with the server)")
    p.add_argument("--max-seconds", type=int, default=900, help="wrk stops after this long whatever the count")
    p.add_argument("--sample-s", type=float, default=2.0, help="RSS sampling period during the run")
    p.add_argument("--no-new-words", action="store_true", help="no made-up word: every word is from the list")
    p.add_argument("--model-dir", type=Path, help="SENTIMENT_MODEL_DIR (default: the bundled model)")
    p.add_argument("--sentences", type=Path, default=DEV_TSV, help="TSV whose last column is the text (for words)")
    p.add_argument("--wrk", help="path of the wrk binary")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)

    wrk = find_wrk(args.wrk, install=False)
    sentences, source = load_sentences(args.sentences, limit=100_000)
    words = vocabulary(sentences)
    threads = args.wrk_threads
    print(
        f"{args.requests:,} predict requests (after {args.warmup:,} to warm up) over {args.connections} connections, "
        f"wrk -t{threads}, at most {args.max_seconds} s; each text new: random words from {len(words):,} "
        f"({source}){'' if args.no_new_words else ' plus a made-up word from a counter'}; {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        workdir = Path(tmp)
        warm_script, soak_script = workdir / "warmup.lua", workdir / "soak.lua"
        done_dir = workdir / "done"
        done_dir.mkdir()
        warm_prefix, soak_prefix = (None, None) if args.no_new_words else ("w", "s")
        warm_script.write_text(unseen_texts_script(words, warm_prefix, threads, -(-args.warmup // threads), done_dir))
        soak_script.write_text(unseen_texts_script(words, soak_prefix, threads, -(-args.requests // threads), done_dir))
        env = {
            "SENTIMENT_DATA_DIR": str(workdir / "data"),
            "SENTIMENT_LOG_LEVEL": "warning",
            "SENTIMENT_RATE_LIMIT_PREDICT": "0",
        }
        if args.model_dir:
            env["SENTIMENT_MODEL_DIR"] = str(args.model_dir)
        server = Server(env, workdir / "server.log")
        try:
            pids = {"server process": server.process.pid, "model process": model_process_pid(server.process.pid)}
            if args.warmup:
                run_wrk(
                    wrk, server.url + "/v1/predict", warm_script, args.connections, threads, args.max_seconds, done_dir
                )
            before = {name: rss_mb(pid) for name, pid in pids.items() if pid}
            peak = dict(before)
            stop = threading.Event()

            def sample() -> None:
                while not stop.wait(args.sample_s):
                    for name, pid in pids.items():
                        if pid:
                            peak[name] = max(peak[name], rss_mb(pid))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            result = run_wrk(
                wrk, server.url + "/v1/predict", soak_script, args.connections, threads, args.max_seconds, done_dir
            )
            stop.set()
            sampler.join()
            after = {name: rss_mb(pid) for name, pid in pids.items() if pid}
            if server.process.poll() is not None:
                sys.exit(f"error: the server died during the run:\n{server.log_tail()}")
        finally:
            server.stop()

    print(
        f"  {result['requests']:,} requests in {result['seconds']:.1f} s ({result['requests'] / result['seconds']:,.0f}"
        f" req/s), p50 {result['p50_us'] / 1e3:.1f} ms, p99 {result['p99_us'] / 1e3:.1f} ms, "
        f"non-2xx {result['status']}, socket errors {result['socket_errors']}"
    )
    if result["requests"] < args.requests:
        print(f"  (stopped by --max-seconds before {args.requests:,} requests)")
    growth = {}
    for name in before:
        growth[name] = (after[name] - before[name]) / before[name] * 100
        print(
            f"  {name:<15} RSS {before[name]:>7.1f} MB after warm-up -> {after[name]:>7.1f} MB after "
            f"({growth[name]:+.1f} %), peak {peak[name]:.1f} MB"
        )
    verdict = "meets" if growth.get("server process", 0) < 5 else "misses"
    print(f"  server process growth {growth.get('server process', float('nan')):+.1f} % {verdict} the target of < 5 %")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "wrk": result,
                    "rss_before_mb": before,
                    "rss_after_mb": after,
                    "rss_peak_mb": peak,
                    "growth_pct": growth,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
