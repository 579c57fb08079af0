"""One error policy: every failure is JSON ``{"error": code, "message": text, "details": [...]}``.

Known problems map to 4xx/503 here; anything unexpected is logged with its traceback and
answered with a generic 500 that leaks nothing.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from model import BundleError, DataError

from .datasets import DatasetInUse
from .jobs import JobError
from .model_process import ModelProcessGone
from .registry import VersionNotFound
from .responses import JSONResponse

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.headers = status, code, message, field, headers


def error_body(code: str, message: str, details: list | None = None) -> dict:
    body = {"error": code, "message": message}
    if details:
        body["details"] = details
    return body


def _loc(loc: tuple) -> str:
    parts = [str(p) for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "body"


def _validation_details(exc: RequestValidationError) -> list[dict]:
    details = []
    for err in exc.errors():
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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        details = [{"field": exc.field, "message": exc.message}] if exc.field else None
        message = f"{exc.field}: {exc.message}" if exc.field else exc.message
        return JSONResponse(error_body(exc.code, message, details), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        details = _validation_details(exc)
        first = details[0] if details else {"field": "body", "message": "invalid request"}
        return JSONResponse(error_body("validation_error", f"{first['field']}: {first['message']}", details), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = str(exc.detail)
        if isinstance(exc.__cause__, UnicodeDecodeError):  # FastAPI's "error parsing the body"
            code, message = "invalid_body", f"request body is not valid UTF-8 JSON ({exc.__cause__.reason} at byte {exc.__cause__.start})"
        return JSONResponse(error_body(code, message), exc.status_code, headers=exc.headers)

    @app.exception_handler(JobError)
    async def job_error(request: Request, exc: JobError):
        details = [{"field": exc.field, "message": exc.message}] if exc.field else None
        return JSONResponse(error_body(exc.code, exc.message, details), exc.status)

    @app.exception_handler(DatasetInUse)
    async def dataset_in_use(request: Request, exc: DatasetInUse):
        return JSONResponse(error_body("dataset_in_use", str(exc)), 409)

    @app.exception_handler(VersionNotFound)
    async def version_not_found(request: Request, exc: VersionNotFound):
        return JSONResponse(error_body("not_found", str(exc)), 404)

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError):
        details = [{"line": exc.line, "message": exc.reason}]
        return JSONResponse(error_body("invalid_dataset", str(exc), details), 422)

    @app.exception_handler(ModelProcessGone)
    async def model_process_gone(request: Request, exc: ModelProcessGone):
        return JSONResponse(error_body("model_restarting", f"{exc}; it is being restarted, try again"), 503,
                            headers={"Retry-After": "1"})

    @app.exception_handler(BundleError)
    async def bundle_error(request: Request, exc: BundleError):
        log.error("model bundle error: %s", exc)
        return JSONResponse(error_body("model_unavailable", str(exc)), 409)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "internal server error"), 500)


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
