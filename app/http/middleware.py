"""ASGI middleware of the HTTP edge: the body-size limit and the request metrics."""

from __future__ import annotations

import time

import orjson

from ..metrics import Metrics
from .errors import error_body


class BodyLimitMiddleware:
    """Refuse bodies larger than ``max_bytes`` with 413, by Content-Length or while streaming.

    ``overrides`` gives other limits by path (dataset uploads may be larger than predict bodies).
    """

    def __init__(self, app, max_bytes: int, overrides: dict[str, int] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = overrides or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.overrides.get(scope["path"], self.max_bytes)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(send, limit)
                    return
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send, limit)

    async def _reject(self, send, limit: int):
        body = orjson.dumps(error_body("payload_too_large", f"request body is larger than {limit} bytes"))
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class MetricsMiddleware:
    """Pure ASGI middleware (no per-request task overhead) counting requests by route template.

    The labelled children are looked up once per (method, route, status) and kept: prometheus
    ``labels()`` takes a lock and builds a key on every call. Routes are templates and unknown
    paths share "unmatched", so the cache stays as small as the label sets themselves.
    """

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics
        self._counters: dict[tuple[str, str, int], object] = {}
        self._histograms: dict[tuple[str, str], object] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - start
            path = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            counter = self._counters.get((method, path, status))
            if counter is None:
                counter = self._counters[method, path, status] = self.metrics.requests.labels(method, path, str(status))
            histogram = self._histograms.get((method, path))
            if histogram is None:
                histogram = self._histograms[method, path] = self.metrics.latency.labels(method, path)
            counter.inc()
            histogram.observe(elapsed)
