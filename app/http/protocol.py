"""The HTTP/1.1 connection: uvicorn's httptools protocol, plus a deadline for request headers and
JSON answers to requests that do not parse.

Why a protocol and not middleware: the ASGI app is called only once a request's headers are
complete, so it can neither stop headers that never complete (a client sending a byte every few
seconds holds its connection and buffers for ever) nor reword the answer to a request that does
not parse (uvicorn's own is a plain-text "Invalid HTTP request received."). The body's deadline
is the app's business (``BodyLimitMiddleware``), where the answer passes the metrics.

What it adds to ``HttpToolsProtocol``:

- **408** when a request's headers are not complete ``header_timeout_s`` after its first byte (or,
  for a connection's first request, after the connection opened); a connection that never sends a
  byte is closed without an answer, as uvicorn closes an idle keep-alive connection.
- **414** for a request-target longer than ``MAX_TARGET_BYTES``, **431** for a request line and
  headers longer than ``MAX_HEAD_BYTES``, **400** for anything else the parser refuses; all with
  the service's JSON error body, and the connection closed.

The hot path pays about 1 us per request on the 2-core development machine (the overridden
callbacks' Python calls), and no timer: a timer costs 3.5 us (uvloop's ``call_later`` and
``cancel``), so the header timer is armed only when a read ends inside a request's headers; a
request whose headers arrive in one read never arms one. A new connection arms one timer, for
its first request and for the case where it sends nothing at all.
"""

from __future__ import annotations

import asyncio
import sys

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .errors import error_body

# The API's paths are short (the longest, /v1/train-jobs/{id}/events, is under 100 bytes); 8 KiB is
# nginx's default limit for a request line. httptools itself refuses targets of 64 KiB and more
# (its URL parser counts in 16 bits) with a bare parse error; this says what is wrong first.
MAX_TARGET_BYTES = 8 * 1024
# Request line and headers together. llhttp sets no limit of its own, so without this a client
# could send headers for as long as the header deadline lasts, and the server would keep them all.
MAX_HEAD_BYTES = 64 * 1024
_TARGET_TOO_LONG = (414, "uri_too_long", f"request target is longer than {MAX_TARGET_BYTES} bytes")
_HEAD_TOO_LONG = (431, "headers_too_large", f"request line and headers exceed {MAX_HEAD_BYTES} bytes")


class _Refusal(Exception):
    """Raised in a parser callback; httptools wraps it in an ``HttpParserCallbackError``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class HttpProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with a header deadline, head-size limits and JSON refusals.

    Give it to uvicorn with its settings bound: ``http=functools.partial(HttpProtocol,
    header_timeout_s=...)`` (a partial pickles, so it also reaches ``--workers`` processes).
    """

    def __init__(self, *args, header_timeout_s: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = False  # between a request's first byte and the end of its headers
        self._read_len = 0  # bytes in the read being parsed
        self._head_first = 0  # bytes in the read in which the current head began
        self._head_upper = 0  # bytes in all the reads the current head overlaps: at least its size

    # Connection events

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._read_len = len(data)
        if self._in_head:  # this read continues a head begun in an earlier one
            self._head_upper += self._read_len
        super().data_received(data)
        if not self._in_head or self.transport.is_closing():
            return
        # The read ended inside a head: every byte read since the head's first read is head.
        if len(self.url) > MAX_TARGET_BYTES:
            self._refuse(*_TARGET_TOO_LONG)
        elif self._head_upper - self._head_first > MAX_HEAD_BYTES:
            self._refuse(*_HEAD_TOO_LONG)
        elif self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_first = self._head_upper = self._read_len

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._cancel_head_timer()
        # A head that arrived within one read (or ended in one) is measured here.
        if len(self.url) > MAX_TARGET_BYTES:
            raise _Refusal(*_TARGET_TOO_LONG)
        if self._head_upper > MAX_HEAD_BYTES:  # maybe too long: measure
            if len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers) > MAX_HEAD_BYTES:
                raise _Refusal(*_HEAD_TOO_LONG)
        super().on_headers_complete()

    # Refusals

    def send_400_response(self, msg: str) -> None:
        """Called by ``data_received`` while it handles the parser's error, which says what was wrong."""
        error = sys.exc_info()[1]
        refusal = error.__context__ if error is not None else None
        if isinstance(refusal, _Refusal):
            self._refuse(refusal.status, refusal.code, refusal.message)
        else:
            detail = f": {error}" if error is not None and str(error) else ""
            self._refuse(400, "malformed_request", f"malformed HTTP request{detail}")

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # An earlier request on this connection is still being answered (and, pipelined, has
            # paused reading): the client is not the slow one. Look again later.
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)
        elif self._in_head:
            self.logger.info("request headers not complete within %g s: answered 408", self.header_timeout_s)
            self._refuse(408, "request_timeout",
                         f"request headers not complete within {self.header_timeout_s:g} s")
        else:  # a connection that sent nothing: no request to answer
            self.transport.close()

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer with the service's JSON error body and close the connection."""
        self._cancel_head_timer()
        body = orjson.dumps(error_body(code, message))
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
