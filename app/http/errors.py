"""The one place where errors become HTTP: status code and ``{"error", "message", "details"}``.

Service code raises the domain errors of ``app/errors.py`` (and the model package's
``DataError`` / ``BundleError``); routes never catch them. The HTTP edge's own refusals (auth,
content type, body encoding) are ``HttpError``. Anything unexpected is logged with its traceback
and answered with a generic 500 that leaks nothing.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from model.bundle import BundleError
from model.data import DataError

from ..errors import Conflict, Gone, InsufficientStorage, InvalidInput, NotFound, ServiceError, TooBusy, Unavailable
from .allowed_methods import allowed_methods
from .responses import JSONResponse

log = logging.getLogger(__name__)

# Domain error type -> status code; the first base class found in an error's MRO wins.
STATUS = {NotFound: 404, Gone: 410, Conflict: 409, InvalidInput: 422, TooBusy: 429, Unavailable: 503,
          InsufficientStorage: 507}


class HttpError(ServiceError):
    """A refusal by the HTTP edge itself, with its status (401, 403, 413, 415, 400...)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None, headers: dict | None = None):
        super().__init__(message, code=code, field=field)
        self.status, self.headers = status, headers


def error_body(code: str, message: str, details: list | None = None) -> dict:
    body = {"error": code, "message": message}
    if details:
        body["details"] = details
    return body


def status_of(exc: ServiceError) -> int:
    if isinstance(exc, HttpError):
        return exc.status
    return next((STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS), 500)


def _loc(loc: tuple) -> str:
    parts = [str(p) for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "body"


def validation_details(errors: list[dict]) -> list[dict]:
    details = []
    for err in errors:
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx", {}).get("error", "invalid JSON")
            position = f" at character {loc[1]}" if len(loc) > 1 else ""
            msg, loc = f"malformed JSON{position}: {ctx}", ("body",)
        elif err.get("type") == "extra_forbidden":
            msg = "unknown field"
        details.append({"field": _loc(loc), "message": msg, "type": err.get("type")})
    return details


def _validation_response(errors: list[dict]) -> JSONResponse:
    details = validation_details(errors)
    first = details[0] if details else {"field": "body", "message": "invalid request"}
    return JSONResponse(error_body("validation_error", f"{first['field']}: {first['message']}", details), 422)


def install_error_handlers(app: FastAPI) -> None:
    public = app.state.settings.public_text  # messages name no server path

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError):
        text = public(exc.message)
        details = [{"field": exc.field, "message": text}] if exc.field else None
        message = f"{exc.field}: {text}" if exc.field else text
        headers = getattr(exc, "headers", None)
        if isinstance(exc, Unavailable):
            headers = {"Retry-After": str(exc.retry_after_s)} | (headers or {})
        return JSONResponse(error_body(exc.code, message, details), status_of(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def request_validation_error(request: Request, exc: RequestValidationError):
        return _validation_response(list(exc.errors()))

    @app.exception_handler(ValidationError)
    async def validation_error(request: Request, exc: ValidationError):  # a body a route validated itself
        return _validation_response(exc.errors(include_url=False))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = str(exc.detail)
        if isinstance(exc.__cause__, UnicodeDecodeError):  # FastAPI's "error parsing the body"
            code, message = "invalid_body", f"request body is not valid UTF-8 JSON ({exc.__cause__.reason} at byte {exc.__cause__.start})"
        headers = exc.headers
        if exc.status_code == 405:  # Allow lists every method of the path, not only the first route's
            allow = ", ".join(allowed_methods(request.app, request.scope))
            headers = (headers or {}) | {"Allow": allow}
            message = f"{request.method} is not allowed here; allowed: {allow}"
        return JSONResponse(error_body(code, message), exc.status_code, headers=headers)

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError):
        details = [{"line": exc.line, "message": exc.reason}]
        return JSONResponse(error_body("invalid_dataset", str(exc), details), 422)

    @app.exception_handler(BundleError)
    async def bundle_error(request: Request, exc: BundleError):
        log.error("model bundle error: %s", exc)
        return JSONResponse(error_body("model_unavailable", public(str(exc))), 409)

    @app.exception_handler(ClientDisconnect)
    async def client_disconnected(request: Request, exc: ClientDisconnect):  # nobody is left to read it
        return JSONResponse(error_body("client_disconnected", "the client went away before sending the whole body"), 400)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "internal server error"), 500)
