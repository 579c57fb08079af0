"""Rate limits per key (or per client address, for requests without a key): predict, and writes.

A fixed period per caller: the period of ``period_s`` starts with the caller's first request and
lets ``requests`` through; the next request after it starts a new one. So a caller gets at most
twice the limit across a period boundary, and ``RateLimit-Reset`` is exact. Each server process
counts on its own (with ``SENTIMENT_WORKERS=N`` a caller can get up to N times the limit), and
only on the event loop thread, so nothing here takes a lock.

Why not the ``limits`` library (PyPI), which has the same fixed window (a period here): its in-memory storage
starts a thread every 10 ms while requests come, to expire old counters. Measured with ``wrk``
on /v1/predict (32 connections, about 4,000 requests/s, the 2-core development machine), a limit
high enough never to refuse cost the server process 20-40 us of CPU per request with ``limits``
(10-15% fewer requests/s; with its thread patched out the cost mostly went), against about 2 us
for this class (one dict look-up and the headers). Expired periods are dropped here in a sweep
when the table has doubled since the last one, so memory follows the callers of one period.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from ..settings import Settings


class RateLimit:
    """One limit (``name`` is the setting's suffix: ``predict``, ``write``)."""

    def __init__(self, name: str, requests: int, period_s: int, clock: Callable[[], float] = time.monotonic):
        self.name, self.requests, self.period_s, self.clock = name, requests, period_s, clock
        self.periods: dict[str, list] = {}  # caller -> [end of its period, requests in it]
        self._sweep_at = 1024
        self._limit = str(requests).encode()
        self._policy = f"{requests};w={period_s}".encode()

    def hit(self, caller: str) -> tuple[bool, int, list[tuple[bytes, bytes]]]:
        """Count one request by ``caller``: whether it may pass, the seconds until its period
        ends, and the ``RateLimit-*`` headers for the answer (draft-ietf-httpapi-ratelimit-headers)."""
        now = self.clock()
        period = self.periods.get(caller)
        if period is None or period[0] <= now:
            if len(self.periods) >= self._sweep_at:
                self._sweep(now)
            period = self.periods[caller] = [now + self.period_s, 0]
        period[1] += 1
        reset_s = max(1, math.ceil(period[0] - now))
        headers = [(b"ratelimit-limit", self._limit),
                   (b"ratelimit-remaining", str(max(0, self.requests - period[1])).encode()),
                   (b"ratelimit-reset", str(reset_s).encode()), (b"ratelimit-policy", self._policy)]
        return period[1] <= self.requests, reset_s, headers

    def _sweep(self, now: float) -> None:
        self.periods = {caller: w for caller, w in self.periods.items() if w[0] > now}
        self._sweep_at = max(1024, 2 * len(self.periods))

    def describe(self) -> str:
        return f"{self.requests} per {self.period_s} s (SENTIMENT_RATE_LIMIT_{self.name.upper()})"


class RateLimits:
    """The service's limits: ``predict`` and ``write``, each ``None`` when it is off."""

    def __init__(self, settings: Settings):
        predict, write = settings.rate_limit("predict"), settings.rate_limit("write")
        self.predict = RateLimit("predict", *predict) if predict else None
        self.write = RateLimit("write", *write) if write else None
