"""Request checks: content type, API keys and their scopes, rate limits, the records being open.

Routes that change state declare ``Depends(write_access(scope))``: a key with that scope, then
the write rate limit. These checks are ``async`` so that they run on the event loop instead of
taking a trip through the thread pool. ``/v1/predict`` calls ``predict_auth`` as a plain function
(its route skips FastAPI's dependency solving to stay cheap; see ``routes/predict.py``).

What the checks learn travels in the request's ``state`` (the ASGI scope's): the accepted key's
id as ``key_id`` (the access log shows it; the key itself goes nowhere), and the ``RateLimit-*``
headers as ``response_headers`` (the middleware adds them to the answer, whatever it is).

OpenAPI learns of the keys from ``BEARER``, a security scheme that checks nothing itself (it never
refuses: ``auto_error=False``): each ``write_access`` check declares it with its scope, so
``/openapi.json`` names the scheme and the scope per operation and ``/docs`` can send a key.

Keys are compared by their SHA-256 digests with ``hmac.compare_digest``, every configured key
each time: the time taken says neither which key matched nor how long the keys are.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..settings import ApiKey
from .errors import HttpError
from .rate_limit import RateLimit

BEARER = HTTPBearer(
    auto_error=False, scheme_name="bearer",
    description="an API key from SENTIMENT_API_KEYS, sent as 'Authorization: Bearer <key>'; an operation's "
                "security requirement names the scope its key needs (predict, train or admin)")


def require_json(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise HttpError(415, "unsupported_media_type",
                       f"Content-Type must be application/json (got {content_type or 'none'!r})")


def _bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _matching_key(keys: tuple[ApiKey, ...], token: str) -> ApiKey | None:
    digest = hashlib.sha256(token.encode()).digest()
    found = None
    for key in keys:  # no early exit: every key is compared
        if hmac.compare_digest(digest, key.digest):
            found = key
    return found


def authenticate(request: Request) -> ApiKey:
    """The key the request carries (401 without one, 403 for one not configured)."""
    keys: tuple[ApiKey, ...] = request.app.state.api_keys
    if not keys:
        raise HttpError(403, "auth_not_configured",
                        "no API key is configured on the server; set SENTIMENT_API_KEYS=<key>[,<key>...] "
                        "and send 'Authorization: Bearer <key>'")
    token = _bearer_token(request)
    if token is None:
        raise HttpError(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'",
                        headers={"WWW-Authenticate": "Bearer"})
    key = _matching_key(keys, token)
    if key is None:
        raise HttpError(403, "forbidden", "API key not accepted",
                        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    request.state.key_id = key.id
    return key


def require_scope(request: Request, scope: str) -> ApiKey:
    """The request's key, which must have ``scope`` (403 ``insufficient_scope`` naming it)."""
    key = authenticate(request)
    if scope not in key.scopes:
        path = getattr(request.scope.get("route"), "path", request.url.path)
        raise HttpError(403, "insufficient_scope",
                        f"this key (id {key.id}) lacks the {scope!r} scope needed to call {request.method} {path} "
                        f"(it has: {', '.join(sorted(key.scopes))})",
                        headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'})
    return key


def _count(request: Request, limit: RateLimit, key_id: str | None) -> None:
    """One request against ``limit``, for the key or, without one, the client address (429 past it)."""
    if key_id is not None:
        caller, who = f"key:{key_id}", f"key {key_id}"
    else:
        address = request.client.host if request.client else "unknown"
        caller, who = f"address:{address}", f"client address {address}"
    allowed, reset_s, headers = limit.hit(caller)
    request.state.response_headers = headers
    if not allowed:
        raise HttpError(429, "rate_limited",
                        f"rate limit of {limit.describe()} reached for {who}; retry in {reset_s} s",
                        headers={"Retry-After": str(reset_s)})


def write_access(scope: str) -> Callable[[Request], Awaitable[None]]:
    """The dependency of an endpoint that changes state: a key with ``scope``, then the write limit."""

    async def check(request: Request,
                    _: HTTPAuthorizationCredentials | None = Security(BEARER, scopes=[scope])) -> None:
        key = require_scope(request, scope)
        limit = request.app.state.rate_limits.write
        if limit is not None:
            _count(request, limit, key.id)

    check.__name__ = f"write_access_{scope}"
    return check


def predict_auth(request: Request) -> None:
    """Predict's checks: the ``predict`` scope when keys are required for it, and its rate limit.

    Without ``predict_requires_key``, a valid key that is sent anyway still names the caller (in
    the access log, and for the rate limit); a wrong one is ignored, as no key is needed.
    """
    state = request.app.state
    if state.settings.predict_requires_key:
        key_id: str | None = require_scope(request, "predict").id
    else:
        key_id = None
        if state.api_keys and (token := _bearer_token(request)) is not None:
            key = _matching_key(state.api_keys, token)
            if key is not None:
                key_id = request.state.key_id = key.id
    limit = state.rate_limits.predict
    if limit is not None:
        _count(request, limit, key_id)


async def records_open(request: Request) -> None:
    """Routers whose routes read or write the records declare it: they wait until the records are
    open, which ``python -m app`` does a moment after it starts serving predictions
    (``app/lifespan.py``)."""
    opened = getattr(request.app.state, "records_open", None)
    if opened is not None and not opened.is_set():
        await opened.wait()
