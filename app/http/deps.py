"""Request dependencies: access to app state, content-type and API-key checks."""

from __future__ import annotations

import hmac

from fastapi import Request

from .errors import HttpError


def require_json(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise HttpError(415, "unsupported_media_type",
                       f"Content-Type must be application/json (got {content_type or 'none'!r})")


def _check_key(request: Request) -> None:
    keys: set[str] = request.app.state.api_keys
    if not keys:
        raise HttpError(403, "auth_not_configured",
                       "no API key is configured on the server; set SENTIMENT_API_KEYS=<key>[,<key>...] "
                       "and send 'Authorization: Bearer <key>'")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HttpError(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'",
                       headers={"WWW-Authenticate": "Bearer"})
    token = token.strip()
    if not any(hmac.compare_digest(token.encode(), key.encode()) for key in keys):
        raise HttpError(403, "forbidden", "API key not accepted")


def require_key(request: Request) -> None:
    """For endpoints that change state."""
    _check_key(request)


def predict_auth(request: Request) -> None:
    if request.app.state.settings.predict_requires_key:
        _check_key(request)
