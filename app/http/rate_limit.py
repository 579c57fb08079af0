"""Rate limits per key (or per client address, for requests without a key): predict, and writes.

A fixed window per caller: the window of ``window_s`` starts with the caller's first request and
lets ``requests`` through; the next request after it starts a new one. So a caller gets at most
twice the limit across a window boundary, and ``RateLimit-Reset`` is exact. Each server process
counts on its own (with ``SENTIMENT_WORKERS=N`` a caller can get up to N times the limit), and
only on the event loop thread, so nothing here takes a lock.

Why not the ``limits`` library (PyPI), which has the same fixed window: its in-memory storage
starts a thread every 10 ms while requests come, to expire old counters. Measured with ``wrk``
on /v1/predict (32 connections, about 4,000 requests/s, the 2-core development machine), a limit
high enough never to refuse cost the server process 20-40 us of CPU per request with ``limits``
(10-15% fewer requests/s; with its thread patched out the cost mostly went), against about 2 us
for this class (one dict look-up and the headers). Expired windows are dropped here in a sweep
when the table has doubled since the last one, so memory follows the callers of one window.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from ..settings import Settings


class RateLimit:
    """One limit (``name`` is the setting's suffix: ``predict``, ``write``)."""

    def __init__(self, name: str, requests: int, window_s: int, clock: Callable[[], float] = time.monotonic):
        self.name, self.requests, self.window_s, self.clock = name, requests, window_s, clock
        self.windows: dict[str, list] = {}  # caller -> [end of its window, requests in it]
        self._sweep_at = 1024
        self._limit = str(requests).encode()
        self._policy = f"{requests};w={window_s}".encode()

    def hit(self, caller: str) -> tuple[bool, int, list[tuple[bytes, bytes]]]:
        """Count one request by ``caller``: whether it may pass, the seconds until its window
        ends, and the ``RateLimit-*`` headers for the answer (draft-ietf-httpapi-ratelimit-headers)."""
        now = self.clock()
        window = self.windows.get(caller)
        if window is None or window[0] <= now:
            if len(self.windows) >= self._sweep_at:
                self._sweep(now)
            window = self.windows[caller] = [now + self.window_s, 0]
        window[1] += 1
        reset_s = max(1, math.ceil(window[0] - now))
        headers = [(b"ratelimit-limit", self._limit),
                   (b"ratelimit-remaining", str(max(0, self.requests - window[1])).encode()),
                   (b"ratelimit-reset", str(reset_s).encode()), (b"ratelimit-policy", self._policy)]
        return window[1] <= self.requests, reset_s, headers

    def _sweep(self, now: float) -> None:
        self.windows = {caller: w for caller, w in self.windows.items() if w[0] > now}
        self._sweep_at = max(1024, 2 * len(self.windows))

    def describe(self) -> str:
        return f"{self.requests} per {self.window_s} s (SENTIMENT_RATE_LIMIT_{self.name.upper()})"


class RateLimits:
    """The service's limits: ``predict`` and ``write``, each ``None`` when it is off."""

    def __init__(self, settings: Settings):
        predict, write = settings.rate_limit("predict"), settings.rate_limit("write")
        self.predict = RateLimit("predict", *predict) if predict else None
        self.write = RateLimit("write", *write) if write else None
