"""The access log's cost per request in the server process, in microseconds of CPU: the line alone,
the line written the way the service writes it (in blocks, while requests are under way; and one
request at a time, idle), and the logging module's record per line it replaced. Written to
/dev/null, so that only the process's own work is counted; ``serve_load.py --access-log both``
measures the same under load, where the machine's noise is larger than the difference.

    python benchmarks/access_log_cost.py
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.http.access_log import LOGGER, AccessLog, access_line  # noqa: E402

SCOPE = {"method": "POST", "path": "/v1/predict", "client": ("127.0.0.1", 5555), "state": {"key_id": None}}


async def measure(n: int) -> dict[str, float]:
    log = AccessLog()

    def line() -> str:
        return access_line(time.time(), SCOPE, 200, 0.001234, b"0123456789abcdef")

    def timed(step) -> float:
        start = time.process_time()
        for _ in range(n):
            step()
        log.flush()
        return (time.process_time() - start) / n * 1e6

    def record() -> None:
        log.logger.handle(log.logger.makeRecord(LOGGER, logging.INFO, __file__, 0, line(), None, None))

    return {
        "the line alone": timed(line),
        "written in blocks (requests under way)": timed(lambda: log.write(line(), idle=False)),
        "written at once (one request at a time)": timed(lambda: log.write(line(), idle=True)),
        "a logging record per line (before)": timed(record),
    }


def main() -> int:
    real = sys.stdout
    sys.stdout = open(os.devnull, "w")  # where the lines go
    try:
        results = asyncio.run(measure(100_000))
    finally:
        sys.stdout.close()
        sys.stdout = real
    for name, us in results.items():
        print(f"  {name:<42} {us:6.2f} us of CPU per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
