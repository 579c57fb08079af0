"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from ..errors import error_body
from ..responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz():
    return JSONResponse({"status": "ok"})


@router.get("/readyz", summary="A model is loaded and requests can be served")
async def readyz(request: Request):
    registry = getattr(request.app.state, "registry", None)
    if registry is None or registry.current is None:
        return JSONResponse(error_body("not_ready", "no model loaded yet"), 503)
    model_process = getattr(request.app.state, "model_process", None)
    if model_process is not None and not model_process.ready:
        return JSONResponse(error_body("not_ready", "the model process is restarting"), 503,
                            headers={"Retry-After": "1"})
    return JSONResponse({"status": "ready", "model_version": registry.current.version})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request):
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
