"""ASGI middleware of the HTTP edge: the body-size limit and deadline; request ids, metrics and the access log."""

from __future__ import annotations

import asyncio
import sys
import time

import orjson

from ..metrics import Metrics
from .access_log import AccessLog, access_line, request_id_from
from .allowed_methods import METHODS
from .errors import error_body


class BodyLimitMiddleware:
    """Refuse bodies larger than ``max_bytes`` with 413 (by Content-Length or while streaming), and
    bodies not complete ``body_timeout_s`` after the headers with 408 (the connection then closes).
    Any answer sent before the request's body was read closes the connection.

    ``overrides`` gives other limits by path (dataset uploads may be larger than predict bodies).
    The deadline wraps each ``receive`` until the body is complete (never the wait for a disconnect
    that follows); ``None`` sets none. A refusal stands even where the app catches the error that
    ``receive`` raised and answers something else (FastAPI makes any error while it reads a body
    parameter a 400): that answer is replaced by the refusal.
    """

    def __init__(self, app, max_bytes: int, overrides: dict[str, int] | None = None,
                 body_timeout_s: float | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = overrides or {}
        self.body_timeout_s = body_timeout_s
        if body_timeout_s is not None:
            self._deadlines = _Deadlines(tick=min(0.25, body_timeout_s / 4))

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.overrides.get(scope["path"], self.max_bytes)
        has_body = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = 0
                has_body = length > 0
                if length > limit:  # refused unread: the connection closes (see below)
                    await self._refuse(send, *self._too_large(limit))
                    return
            elif name == b"transfer-encoding":
                has_body = True
        deadline = None if self.body_timeout_s is None else asyncio.get_running_loop().time() + self.body_timeout_s
        received = 0
        body_done = False
        refusal: tuple | None = None  # (status, code, message, close) once receive has refused
        app_started = answered = False

        async def limited_receive():
            nonlocal received, body_done, refusal
            if body_done or deadline is None:
                message = await receive()
            else:
                try:
                    message = await self._deadlines.receive(receive, deadline)
                except _Expired:
                    refusal = (408, "request_timeout", f"request body not complete within {self.body_timeout_s:g} s "
                               "of the headers (SENTIMENT_BODY_TIMEOUT_S)", True)
                    raise _Refused from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refusal = self._too_large(limit)
                    raise _Refused
                body_done = not message.get("more_body", False)
            else:
                body_done = True  # http.disconnect
            return message

        async def checked_send(message):
            nonlocal app_started, answered
            if refusal is not None and not app_started:  # the app's answer to a refused body
                if not answered:
                    answered = True
                    await self._refuse(send, *refusal)
                return
            if message["type"] == "http.response.start":
                app_started = True
                if has_body and not body_done:
                    # An answer before the body was read (401, 403, 404...): close the connection,
                    # or a client could dribble the body it announced for ever, each byte resetting
                    # the keep-alive timer, and hold the connection (and a file descriptor).
                    message["headers"] = [*message.get("headers", ()), (b"connection", b"close")]
            await send(message)

        try:
            await self.app(scope, limited_receive, checked_send)
        except Exception:
            if refusal is None:
                raise
        if refusal is not None and not app_started and not answered:
            await self._refuse(send, *refusal)

    @staticmethod
    def _too_large(limit: int) -> tuple:  # the rest of the body stays unread: the connection closes
        return 413, "payload_too_large", f"request body is larger than {limit} bytes", True

    @staticmethod
    async def _refuse(send, status: int, code: str, message: str, close: bool):
        body = orjson.dumps(error_body(code, message))
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _Refused(Exception):
    pass


class _Expired(Exception):
    pass


class _Deadlines:
    """``receive`` with a deadline, for every request of an event loop through one timer.

    A timer per request would cost 3.5 us (uvloop's ``call_later`` and ``cancel``) to 8 us
    (``asyncio.timeout``) of event-loop time per body, more than the rest of this middleware, on a
    path where the body has nearly always arrived with the headers. Instead, while any task waits
    in ``receive``, one timer looks every ``tick`` s for those past their deadline and cancels them;
    ``receive`` turns that cancellation into ``_Expired``. An answer is late by ``tick`` at most.
    """

    def __init__(self, tick: float):
        self.tick = tick
        self.loop: asyncio.AbstractEventLoop | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.waiting: dict[asyncio.Task, list] = {}  # task -> [deadline, expired]

    async def receive(self, receive, deadline: float):
        loop = asyncio.get_running_loop()
        if loop is not self.loop:  # first use, or a new loop (each TestClient runs its own)
            self.loop, self.timer, self.waiting = loop, None, {}
        task = asyncio.current_task()
        entry = self.waiting[task] = [deadline, False]
        if self.timer is None:
            self.timer = loop.call_later(self.tick, self._sweep)
        try:
            return await receive()
        except asyncio.CancelledError:
            if not entry[1]:
                raise
            if sys.version_info >= (3, 11):
                task.uncancel()  # the cancellation was ours, and is over
            raise _Expired from None
        finally:
            self.waiting.pop(task, None)

    def _sweep(self) -> None:
        now = self.loop.time()
        for task, entry in self.waiting.items():
            if entry[0] <= now and not entry[1]:
                entry[1] = True
                task.cancel()
        self.timer = self.loop.call_later(self.tick, self._sweep) if self.waiting else None


class ObservabilityMiddleware:
    """Per request: an id, the metrics and a line of the access log (``access_log.py``).

    Pure ASGI middleware (no per-request task overhead), and one for the three, as each layer
    costs a wrapped ``send`` per request. The request id (``X-Request-ID`` when the client sent a
    valid one, else a new one) goes back in the response's ``X-Request-ID`` and into the request's
    ``state``; headers that the request checks left in ``state["response_headers"]`` (the
    ``RateLimit-*`` ones) are added to whatever the answer is.

    The labelled metric children are looked up once per (method, route, status) and kept:
    prometheus ``labels()`` takes a lock and builds a key on every call. Routes are templates and
    unknown paths share "unmatched", so the cache stays as small as the label sets themselves.
    """

    def __init__(self, app, metrics: Metrics, access_log: bool = True):
        self.app = app
        self.metrics = metrics
        self.log = AccessLog() if access_log else None
        self.in_flight = 0  # requests under way (the access log writes when none is)
        self._counters: dict[tuple[str, str, int], object] = {}
        self._histograms: dict[tuple[str, str], object] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        started = time.time()
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        request_id = request_id_from(scope["headers"])
        state["request_id"] = request_id.decode("ascii")
        status = 500
        self.in_flight += 1

        async def send_with_headers(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id),
                                      *state.get("response_headers", ())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self.in_flight -= 1
            elapsed = time.perf_counter() - start
            path = getattr(scope.get("route"), "path", None) or "unmatched"
            # a client may send any method token: label the unknown ones alike (bounded metrics)
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            counter = self._counters.get((method, path, status))
            if counter is None:
                counter = self._counters[method, path, status] = self.metrics.requests.labels(method, path, str(status))
            histogram = self._histograms.get((method, path))
            if histogram is None:
                histogram = self._histograms[method, path] = self.metrics.latency.labels(method, path)
            counter.inc()
            histogram.observe(elapsed)
            if self.log is not None:
                self.log.write(access_line(started, scope, status, elapsed, request_id), idle=not self.in_flight)
