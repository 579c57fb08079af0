"""Predict throughput with the access log on and off, interleaved: two servers, one of each, started
together, then measured in turns (on, off, off, on, on, off, ...) so that the machine's drift
between runs (this box is shared, and moves 1.5x within minutes) falls on both alike.
``serve_load.py --access-log both`` measures one server after the other, and its difference drowned
in that drift. Each run sends texts that server has not seen.

    python benchmarks/access_log_load.py --rounds 6 --duration 8
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import (  # noqa: E402
    LUA_REPORT,
    ROOT,
    Server,
    commit_of,
    find_wrk,
    predict_script,
    run_wrk,
    weights_sha256,
)
from unseen import unseen_texts  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=6, help="pairs of runs (one on, one off each)")
    p.add_argument("--duration", type=int, default=8, help="seconds per run")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--wrk-threads", type=int, default=2)
    args = p.parse_args(argv)
    wrk = find_wrk(None, False)
    # enough distinct texts for 8,000 req/s over every run of both servers (each starts from the first)
    sentences, source = unseen_texts(8_000 * (2 + args.rounds * args.duration))
    print(f"{commit_of(ROOT)}; the bundled model (weights sha256 "
          f"{weights_sha256(ROOT / 'model' / 'bundled' / 'sentiment-en')[:12]}); {len(sentences):,} texts ({source}); "
          f"c={args.connections}, {args.duration} s a run, {args.rounds} rounds, turns alternating")
    with tempfile.TemporaryDirectory(prefix="access-log-") as tmp:
        work = Path(tmp)
        script = work / "predict.lua"
        script.write_text(predict_script(sentences))
        (work / "healthz.lua").write_text(LUA_REPORT)
        servers, sent = {}, {}
        try:
            for name in ("on", "off"):
                servers[name] = Server({"SENTIMENT_DATA_DIR": str(work / f"data-{name}"),
                                        "SENTIMENT_LOG_LEVEL": "warning",
                                        "SENTIMENT_ACCESS_LOG": "true" if name == "on" else "false"},
                                       work / f"server-{name}.log")
                sent[name] = run_wrk(wrk, servers[name].url + "/v1/predict", script, args.connections,
                                     args.wrk_threads, 2)["requests"]  # warm-up
            rates: dict[str, list[float]] = {"on": [], "off": []}
            p99: dict[str, list[float]] = {"on": [], "off": []}
            for i in range(args.rounds):
                for name in (("on", "off") if i % 2 == 0 else ("off", "on")):
                    r = run_wrk(wrk, servers[name].url + "/v1/predict", script, args.connections, args.wrk_threads,
                                args.duration, first=sent[name])
                    sent[name] += r["requests"]
                    rates[name].append(r["rps"])
                    p99[name].append(r["p99_ms"])
                print(f"  round {i + 1}: on {rates['on'][-1]:,.0f} req/s, off {rates['off'][-1]:,.0f} req/s "
                      f"(on/off {rates['on'][-1] / rates['off'][-1]:.3f})")
        finally:
            for server in servers.values():
                server.stop()
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    pairs = [a / b for a, b in zip(rates["on"], rates["off"])]
    print(f"  median: on {on:,.0f} req/s (p99 {statistics.median(p99['on']):.1f} ms), off {off:,.0f} req/s "
          f"(p99 {statistics.median(p99['off']):.1f} ms): on/off {on / off:.3f}; per round "
          f"{', '.join(f'{x:.3f}' for x in pairs)} (median {statistics.median(pairs):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
