"""What can go wrong, in two kinds a caller handles differently: the server said no (``ApiError``,
with its status, code and message), or it could not be reached (``ConnectionFailed``)."""

from __future__ import annotations

from typing import Any


class SentimentError(Exception):
    """Base of the client's errors, so that a caller can catch everything the client raises."""


class ApiError(SentimentError):
    """The server answered with an error: its status, its ``error`` code and ``message``.

    ``str()`` is one line a person can act on (the server's own message, which names the field,
    key scope or limit involved). ``retry_after`` is the ``Retry-After`` the server sent, in
    seconds, when it sent one."""

    def __init__(self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
                 retry_after: float | None = None):
        super().__init__(f"{message} (HTTP {status} {code})")
        self.status, self.code, self.message = status, code, message
        self.details = details or []
        self.retry_after = retry_after


class ConnectionFailed(SentimentError):
    """No answer from the server (refused, timed out, cut off), after the retries allowed."""


class JobFailed(SentimentError):
    """A job ended without succeeding (failed, cancelled, interrupted) where its result was needed;
    ``job`` is its final record."""

    def __init__(self, job):
        reason = job.error or job.result.get("stop_reason") or "no reason given"
        super().__init__(f"{job.kind} job {job.id} {job.state}: {reason}")
        self.job = job
