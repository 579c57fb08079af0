"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ...data_dir import storage_status
from ...errors import ServiceError
from ..errors import error_body
from ..responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz():
    return JSONResponse({"status": "ok"})


@router.get("/readyz", summary="A model is loaded and requests can be served; the storage's state")
async def readyz(request: Request):
    """503 until the model can answer predictions. The data directory's state is reported as
    ``storage``, the records' as ``database``: when the volume is full or not writable, or the
    database cannot be reached, predictions still work (the answer stays 200, so a load balancer
    keeps sending them) but ``status`` is ``degraded`` and uploads, jobs and activations are refused
    with 507 / 503 until it is fixed."""
    if request.app.state.settings.role == "trainer":
        return await _trainer_ready(request)
    inference = getattr(request.app.state, "inference", None)
    if inference is None or inference.current is None:
        return JSONResponse(error_body("not_ready", "no model loaded yet"), 503)
    if not inference.model_process.ready:
        return JSONResponse(error_body("not_ready", "the model process is restarting"), 503,
                            headers={"Retry-After": "1"})
    storage = await run_in_threadpool(storage_status, request.app.state.settings.data_dir)
    request.app.state.metrics.storage_writable.set(1 if storage["writable"] else 0)
    database = await run_in_threadpool(database_status, request.app.state.store)
    status = "ready" if storage["writable"] and database["reachable"] is not False else "degraded"
    current = inference.current
    loaded = {name: {"version": served.version, "backend": inference.model_process.backends.get(served.key)}
              for name, served in inference.models.items()}
    return JSONResponse({"status": status, "model": current.model, "model_version": current.version,
                         "backend": inference.model_process.backends.get(current.key), "models": loaded,
                         "storage": storage, "database": database})


def database_status(store) -> dict:
    """Can the records be read? Predictions go on without them (the answer stays 200, ``degraded``);
    uploads, jobs and activations are refused with 503 until they can. ``opening``: a moment after
    ``python -m app`` starts serving, before they are open (requests that need them wait)."""
    if store is None:
        return {"reachable": None, "opening": True}
    try:
        store.schema_version()
    except Exception as exc:  # down or unreachable, whatever the driver said
        return {"reachable": False, "error": exc.message if isinstance(exc, ServiceError) else type(exc).__name__}
    return {"reachable": True, "backend": store.dialect}


async def _trainer_ready(request: Request) -> JSONResponse:
    """A trainer is ready when its job runner runs and the records answer: it can claim jobs. It
    loads no model (a training process loads what it trains from)."""
    runner = getattr(request.app.state, "runner", None)
    if runner is None or runner.task is None or runner.task.done():
        return JSONResponse(error_body("not_ready", "the job runner is not running"), 503)
    database = await run_in_threadpool(database_status, request.app.state.store)
    if not database["reachable"]:  # a trainer without its records can claim nothing: not ready
        return JSONResponse(error_body("not_ready", f"the records cannot be read: {database['error']}"), 503,
                            headers={"Retry-After": "5"})
    storage = await run_in_threadpool(storage_status, request.app.state.settings.data_dir)
    request.app.state.metrics.storage_writable.set(1 if storage["writable"] else 0)
    return JSONResponse({"status": "ready" if storage["writable"] else "degraded", "role": "trainer",
                         "running_jobs": len(runner.running), "storage": storage})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request):
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
