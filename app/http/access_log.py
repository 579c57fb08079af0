"""The access log and request ids: what ``ObservabilityMiddleware`` writes and echoes per request.

One JSON object per request, as the message of an INFO record on logger ``app.access``: ``time``
(UTC, when the request came), ``method``, ``path``, ``status``, ``duration_ms``, ``key_id`` (the
id of the key that was accepted, never the key; ``null`` without one), ``request_id`` and
``client`` (the peer address; behind a proxy, uvicorn's ``--forwarded-allow-ips`` decides it).

Unless something configured ``app.access`` before (then its handlers are kept), the logger writes
the bare JSON lines to standard output and does not pass them on to the root logger, as uvicorn's
own access log does: one JSON object per line in every server process, uvicorn workers included
(their root logger has no handler).

Cheap on the hot path (``docs/benchmarks.md`` has it measured on and off): the line is one orjson
call, and lines nobody routed elsewhere are written in blocks (``AccessLog``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import uuid
from datetime import datetime, timezone

import orjson

LOGGER = "app.access"
_VALID_ID = re.compile(rb"[\x20-\x7e]{1,128}")  # up to 128 printable ASCII characters


def request_id_from(headers) -> bytes:
    """The request's ``X-Request-ID`` when it is one we can keep, else a new one (uuid4 hex)."""
    for name, value in headers:
        if name == b"x-request-id":
            if _VALID_ID.fullmatch(value):
                return value
            break
    return uuid.uuid4().hex.encode()


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time (pytest, for one, replaces it per test)."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ sets one; the property is the stream
        pass


class AccessLog:
    """Writes the lines: ``INFO`` records on logger ``app.access``.

    While that logger has only the handler this class gave it (nobody configured it), the lines
    skip the logging module (a record, a lock, a formatter and a write per request): they are
    gathered and written to standard output together, whenever no request is under way (so an idle
    server's line is out at once), ``FLUSH_LINES`` have gathered (so a busy one writes one block for
    many requests), or ``FLUSH_S`` after the first one waited (a long request, such as an event stream,
    is under way). A handler configured on ``app.access`` gets every line as a record, as before.
    """

    FLUSH_LINES = 256
    FLUSH_S = 0.5

    def __init__(self):
        self.logger = logging.getLogger(LOGGER)
        self._own: tuple = ()
        if not self.logger.handlers:
            self._own = (_StdoutHandler(),)
            self.logger.addHandler(self._own[0])
            self.logger.propagate = False
            self.logger.setLevel(logging.INFO)
        self.pending: list[str] = []
        self._timer: asyncio.TimerHandle | None = None

    def write(self, line: str, idle: bool = True) -> None:
        """Log ``line``; ``idle``: no other request is under way (write what has gathered now)."""
        if not self.logger.isEnabledFor(logging.INFO):
            return
        if self._own and tuple(self.logger.handlers) == self._own:
            self.pending.append(line)
            if idle or len(self.pending) >= self.FLUSH_LINES:
                self.flush()
            elif self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(self.FLUSH_S, self.flush)
            return
        # What Logger.info does, less its walk up the stack to find the caller: always the middleware.
        self.logger.handle(self.logger.makeRecord(LOGGER, logging.INFO, __file__, 0, line, None, None))

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.pending:
            lines, self.pending = self.pending, []
            stream = sys.stdout
            stream.write("\n".join(lines) + "\n")
            stream.flush()


def access_line(started: float, scope, status: int, duration_s: float, request_id: bytes) -> str:
    state = scope.get("state") or {}
    client = scope.get("client")
    return orjson.dumps({
        "time": datetime.fromtimestamp(started, timezone.utc),
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "duration_ms": round(duration_s * 1000, 3),
        "key_id": state.get("key_id"),
        "request_id": request_id.decode("ascii"),
        "client": client[0] if client else None,
    }, option=orjson.OPT_UTC_Z).decode()
