"""Schemathesis against the running service: generated requests for every operation, zero 5xx.

Starts ``python -m app`` on a free loopback port (as ``serve_load.py`` does) with an API key, runs
``schemathesis run`` (4.x CLI) on its ``/openapi.json`` with ``Authorization: Bearer <key>``,
then counts every response it got by status class from the run's HAR report and prints each 5xx
with its request. Schemathesis's own failures (check ``not_a_server_error`` by default) and its
curl lines to reproduce them are in its output, whose tail is printed too. Exits 1 on any 5xx.

    pip install -e '.[bench]'                       # schemathesis
    python benchmarks/schemathesis_run.py                 # 240 s: ~19,000 requests on 2 cores
    python benchmarks/schemathesis_run.py --max-time 60   # shorter

With ``--max-time``, schemathesis repeats its fuzzing and stateful phases until the time is spent,
so the time, more than ``--max-examples``, sets the number of requests; fewer than 10,000 (the
issue's minimum) is pointed out.

Training jobs stay small and bounded: one epoch at most (``SENTIMENT_MAX_EPOCHS=1``), two queued,
one running, 60 s each; the run itself stops after ``--max-time`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import Server  # noqa: E402


def find_schemathesis() -> str:
    beside = Path(sys.executable).with_name("schemathesis")  # the venv's, when run with its python
    found = str(beside) if beside.exists() else shutil.which("schemathesis")
    if not found:
        sys.exit("error: schemathesis not found: pip install -e '.[bench]'")
    return found


def version(command: str) -> str:
    out = subprocess.run([command, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--max-examples", type=int, default=20, help="schemathesis test cases per operation and round")
    p.add_argument("--max-time", type=int, default=240, help="seconds for the schemathesis run")
    p.add_argument("--workers", default="2", help="schemathesis workers ('auto' or 1-64)")
    p.add_argument("--checks", default="not_a_server_error", help="schemathesis checks (comma-separated, or 'all')")
    p.add_argument("--phases", default="examples,coverage,fuzzing,stateful", help="schemathesis phases")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--model-dir", type=Path, help="SENTIMENT_MODEL_DIR (default: the bundled model)")
    p.add_argument("--keep", type=Path, help="copy the HAR report and schemathesis's output here")
    args = p.parse_args(argv)

    schemathesis = find_schemathesis()
    key = secrets.token_urlsafe(16)
    print(
        f"{version(schemathesis)}: --max-examples {args.max_examples} --phases {args.phases} --checks "
        f"{args.checks} --workers {args.workers} --seed {args.seed} --max-time {args.max_time}; "
        f"{os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="schemathesis-") as tmp:
        workdir = Path(tmp)
        env = {
            "SENTIMENT_DATA_DIR": str(workdir / "data"),
            "SENTIMENT_LOG_LEVEL": "warning",
            "SENTIMENT_API_KEYS": key,
            "SENTIMENT_MAX_EPOCHS": "1",
            "SENTIMENT_MAX_QUEUED_JOBS": "2",
            "SENTIMENT_MAX_RUNNING_JOBS": "1",
            "SENTIMENT_JOB_TIMEOUT_S": "60",
            # rate limits (where this version has them) would answer most generated writes with 429
            "SENTIMENT_RATE_LIMIT_WRITE": "0",
            "SENTIMENT_RATE_LIMIT_PREDICT": "0",
        }
        if args.model_dir:
            env["SENTIMENT_MODEL_DIR"] = str(args.model_dir)
        har, output = workdir / "run.har", workdir / "schemathesis.txt"
        server = Server(env, workdir / "server.log")
        try:
            cmd = [
                schemathesis,
                "run",
                server.url + "/openapi.json",
                "--header",
                f"Authorization: Bearer {key}",
                "--checks",
                args.checks,
                "--max-examples",
                str(args.max_examples),
                "--phases",
                args.phases,
                "--workers",
                args.workers,
                "--seed",
                str(args.seed),
                "--max-time",
                str(args.max_time),
                "--continue-on-failure",
                "--suppress-health-check",
                "all",
                "--request-timeout",
                "60",
                "--report",
                "har",
                "--report-har-path",
                str(har),
                "--output-sanitize",
                "true",
            ]
            started = time.monotonic()
            with open(output, "w") as out:
                code = subprocess.run(
                    cmd,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    check=False,
                    env=os.environ | {"NO_COLOR": "1", "COLUMNS": "120"},
                ).returncode
            seconds = time.monotonic() - started
            if server.process.poll() is not None:
                print(f"error: the server died during the run:\n{server.log_tail()}")
        finally:
            server.stop()
        server_errors_logged = server.log_path.read_text(errors="replace").count("Traceback")
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for path in (har, output, server.log_path):
                if path.exists():
                    shutil.copy(path, args.keep / path.name)
        if not har.exists():
            print(output.read_text(errors="replace")[-4000:])
            sys.exit(f"error: schemathesis wrote no HAR report (exit code {code})")
        entries = json.loads(har.read_text())["log"]["entries"]
        tail = output.read_text(errors="replace").splitlines()[-40:]

    by_class: Counter = Counter()
    failures = []
    for entry in entries:
        status = entry["response"]["status"]
        request = entry["request"]
        by_class[f"{status // 100}xx" if status else "no response"] += 1
        if status >= 500 or status == 0:
            failures.append(entry)
    print(
        f"  {len(entries):,} requests in {seconds:.0f} s; schemathesis exit code {code}"
        + ("" if len(entries) >= 10_000 else " (fewer than 10,000: raise --max-time)")
    )
    print("  by status class: " + ", ".join(f"{k} {v:,}" for k, v in sorted(by_class.items())))
    print(f"  5xx (or no response): {len(failures)}; tracebacks in the server log: {server_errors_logged}")
    for entry in failures[:20]:
        request, response = entry["request"], entry["response"]
        body = (request.get("postData") or {}).get("text", "")
        print(
            f"    {response['status']} {request['method']} {request['url']}\n      body: {body[:300]!r}\n"
            f"      answer: {(response.get('content') or {}).get('text', '')[:300]!r}"
        )
    print("  schemathesis's summary:\n    " + "\n    ".join(tail))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
