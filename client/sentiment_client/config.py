"""Where the client finds the server and its key when the caller names neither.

The variables are ``SENTIMENTCLIENT_URL`` and ``SENTIMENTCLIENT_KEY``, outside the ``SENTIMENT_*``
names: those are the server's settings (pydantic-settings, prefix ``SENTIMENT_``; the docs are
held to naming no other). Out of that namespace, no server setting added later can take a client
variable for its own, a client key is not confused with the server's ``SENTIMENT_API_KEYS``, and
the server and the client run in one shell (the client's tests start the server with both set).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

URL_VARIABLE = "SENTIMENTCLIENT_URL"
KEY_VARIABLE = "SENTIMENTCLIENT_KEY"
DEFAULT_URL = "http://127.0.0.1:8000"  # where `make serve` listens


def resolve_url(url: str | None) -> str:
    """``url``, else ``SENTIMENTCLIENT_URL``, else the local server; checked to be http(s)."""
    url = (url or os.environ.get(URL_VARIABLE) or DEFAULT_URL).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the server URL must be http://HOST[:PORT] or https://...; got {url!r}")
    return url


def resolve_key(key: str | None) -> str | None:
    """``key``, else ``SENTIMENTCLIENT_KEY``, else none (reads and predictions need none by default)."""
    return key or os.environ.get(KEY_VARIABLE) or None
