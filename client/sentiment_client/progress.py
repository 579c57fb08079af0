"""A job's progress bar on standard error, without a dependency: redrawn in place on a terminal, and on
a pipe or in a CI log a plain line at most every few seconds (a bar redrawn 500 times is noise there).

Standard output keeps only the command's result, so ``sentiment train ... > out.txt`` still shows
the bar and writes just the result."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from .types import Event, Job

if TYPE_CHECKING:
    from .sync_client import Client

WIDTH = 30
PLAIN_EVERY_S = 5.0


class ProgressBar:
    def __init__(self, title: str, stream: TextIO | None = None):
        self.title = title
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self._last_plain = -PLAIN_EVERY_S
        self._drawn = False

    def update(self, fraction: float | None, detail: str = "") -> None:
        """Show ``fraction`` (0-1; None: not known yet) and a few words of detail."""
        if fraction is None:
            bar, percent = "." * WIDTH, "   "
        else:
            fraction = min(max(fraction, 0.0), 1.0)
            filled = round(fraction * WIDTH)
            bar, percent = "#" * filled + "." * (WIDTH - filled), f"{fraction:4.0%}"
        line = f"{self.title} [{bar}] {percent} {detail}".rstrip()
        if self.live:
            self.stream.write("\r\x1b[K" + line)
            self._drawn = True
        elif time.monotonic() - self._last_plain >= PLAIN_EVERY_S or fraction == 1.0:
            self.stream.write(line + "\n")
            self._last_plain = time.monotonic()
        self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def follow_job(client: Client, job: Job, title: str) -> Job:
    """Wait for the job with a progress bar on standard error; its final record."""
    bar, seen = ProgressBar(f"{title} {job.id}"), dict(job.progress)

    def show(event: Event) -> None:
        data = event.data if isinstance(event.data, dict) else {}
        if event.type in ("snapshot", "end"):
            seen.update(data.get("progress") or {})
            seen.update({k: data[k] for k in ("rows_done", "rows_total", "state") if k in data})
        elif event.type == "progress":
            seen.update(data)
        elif event.type == "state":
            seen["state"] = data.get("state")
        bar.update(_fraction(seen, event.type == "end"), _detail(seen, event))

    try:
        return client.wait(job, on_event=show)
    finally:
        bar.close()


def _fraction(seen: dict[str, Any], ended: bool) -> float | None:
    if ended and seen.get("state") == "succeeded":
        return 1.0
    if isinstance(seen.get("percent"), (int, float)):
        return seen["percent"] / 100
    if seen.get("rows_total"):
        return (seen.get("rows_done") or 0) / seen["rows_total"]
    return None


def _detail(seen: dict[str, Any], event: Event) -> str:
    parts = [str(seen.get("state") or "")]
    if "epoch" in seen:
        parts.append(f"epoch {seen['epoch']}")
    if isinstance(seen.get("loss"), (int, float)):
        parts.append(f"loss {seen['loss']:.4f}")
    if event.type == "epoch" and isinstance(event.data, dict) and "dev_accuracy" in event.data:
        parts.append(f"dev accuracy {event.data['dev_accuracy']:.3f}")
    if seen.get("rows_total"):
        parts.append(f"{seen.get('rows_done') or 0}/{seen['rows_total']} rows")
    if isinstance(seen.get("eta_s"), (int, float)) and seen.get("state") == "running":
        parts.append(f"eta {seen['eta_s']:.0f} s")
    return " ".join(p for p in parts if p)
