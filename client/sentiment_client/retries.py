"""When to send a request again, and after how long: the one policy both clients follow.

The server answers 429 (past a rate limit) and 503 (no model ready yet, the model process
restarting) with ``Retry-After``: it did nothing with the request, so sending it again is safe for
any request, and waiting what it asks is what keeps a retrying client from adding to the load it
was refused for. A connection that could not be opened also means nothing was done. A connection
lost after the request went out may have left the request done, so only requests that can be
repeated without a second effect (reads, predictions, activating a version) are sent again then;
a POST that creates a job is not, since a retry could queue the job twice.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

import httpx

RETRY_STATUSES = (429, 503)


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more attempts after the first; waits double from ``backoff_s`` (with jitter, so
    that many clients refused together do not return together) unless the server says how long.
    A ``Retry-After`` longer than ``max_wait_s`` is not waited out: the error goes to the caller,
    who is better placed to decide than a client stuck in a sleep."""

    retries: int = 3
    backoff_s: float = 0.5
    max_wait_s: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 0), or None to give up."""
        if attempt >= self.retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_wait_s else None
        return min(self.backoff_s * 2**attempt, self.max_wait_s) * random.uniform(0.5, 1.0)

    def after_response(self, attempt: int, response: httpx.Response) -> float | None:
        """The wait before sending the request again after this answer; None: the answer stands."""
        if response.status_code not in RETRY_STATUSES:
            return None
        return self.delay(attempt, retry_after_s(response))

    def after_error(self, attempt: int, error: httpx.TransportError, idempotent: bool) -> float | None:
        """The wait before sending the request again after this transport error; None: raise it."""
        never_sent = isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout))
        return self.delay(attempt) if never_sent or idempotent else None


def retry_after_s(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds: a number of seconds, or an HTTP date (RFC 9110); None when absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
