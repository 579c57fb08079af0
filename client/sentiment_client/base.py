"""What ``Client`` and ``AsyncClient`` share: where the server is, the key, the timeouts and the
retry policy, and how a transport failure reads to a person."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from . import __version__
from .config import resolve_key, resolve_url
from .errors import ConnectionFailed
from .retries import RetryPolicy

log = logging.getLogger("sentiment_client")
# An event stream is quiet for up to 15 s between keep-alive comments: its reads wait longer than
# that whatever the request timeout, so that a quiet job is not taken for a dead connection.
EVENT_READ_TIMEOUT_S = 60.0


class ClientBase:
    def __init__(self, url: str | None = None, key: str | None = None, *, timeout: float = 30.0,
                 retries: int = 3, backoff_s: float = 0.5, max_retry_wait_s: float = 60.0):
        self.url = resolve_url(url)
        self.retry = RetryPolicy(retries, backoff_s, max_retry_wait_s)
        self.timeout = timeout
        key = resolve_key(key)
        self._headers = {"User-Agent": f"sentiment-client/{__version__}"}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"

    def _http_options(self) -> dict[str, Any]:
        return {"base_url": self.url, "headers": self._headers, "timeout": self.timeout}

    def _event_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, read=max(self.timeout, EVENT_READ_TIMEOUT_S))

    def _connection_failed(self, error: httpx.TransportError, tries: int) -> ConnectionFailed:
        what = str(error) or type(error).__name__
        tried = f" (tried {tries} times)" if tries > 1 else ""
        return ConnectionFailed(f"cannot reach the server at {self.url}: {what}{tried}")

    def _log_retry(self, method: str, path: str, wait: float, why: str) -> None:
        log.info("%s %s: %s; trying again in %.1f s", method, path, why, wait)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"  # never the key
