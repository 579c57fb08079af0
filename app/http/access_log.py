"""The access log and request ids: what ``ObservabilityMiddleware`` writes and echoes per request.

One JSON object per request, as the message of an INFO record on logger ``app.access``: ``time``
(UTC, when the request came), ``method``, ``path``, ``status``, ``duration_ms``, ``key_id`` (the
id of the key that was accepted, never the key; ``null`` without one), ``request_id`` and
``client`` (the peer address; behind a proxy, uvicorn's ``--forwarded-allow-ips`` decides it).

Unless something configured ``app.access`` before (then its handlers are kept), the logger writes
the bare JSON lines to standard output and does not pass them on to the root logger, as uvicorn's
own access log does: one JSON object per line in every server process, uvicorn workers included
(their root logger has no handler).

Cost, measured with ``wrk`` on ``/healthz`` (32 connections, the 2-core development machine): the
server process spent 135-150 us of CPU per request with the log off and 165-190 us with it on.
Most of the difference is the ``logging`` module (the record, the handler's lock, the write);
``AccessLog.write`` skips ``Logger.info``'s search for the caller, 3.5 of its 15 us. The request
id and the extra headers cost about 3 us (the middleware alone, without the log: 6 us against the
3 us of the metrics-only middleware before it).
"""

from __future__ import annotations

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
    """Writes the lines: ``INFO`` records on logger ``app.access``."""

    def __init__(self):
        self.logger = logging.getLogger(LOGGER)
        if not self.logger.handlers:
            self.logger.addHandler(_StdoutHandler())
            self.logger.propagate = False
            self.logger.setLevel(logging.INFO)

    def write(self, line: str) -> None:
        # What Logger.info does, less its walk up the stack to find the caller (3.5 of 15 us a
        # line, measured): the caller is always the middleware.
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.handle(self.logger.makeRecord(LOGGER, logging.INFO, __file__, 0, line, None, None))


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
