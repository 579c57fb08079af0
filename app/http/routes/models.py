"""Model versions: list, show, activate (hot swap / rollback)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from ..deps import write_access
from ..schemas.common import ERROR_RESPONSES
from ..schemas.models import ModelInfo, ModelList

router = APIRouter(tags=["models"])


@router.get("/v1/models", response_model=ModelList, responses=ERROR_RESPONSES)
async def list_models(request: Request):
    registry = request.app.state.registry
    models = await run_in_threadpool(registry.list)
    return {"active_version": registry.current.version, "models": models}


@router.get("/v1/models/{version}", response_model=ModelInfo, responses=ERROR_RESPONSES)
async def get_model(version: str, request: Request):
    return await run_in_threadpool(request.app.state.registry.describe, version)


@router.post("/v1/models/{version}/activate", response_model=ModelInfo, responses=ERROR_RESPONSES,
             dependencies=[Depends(write_access("admin"))],
             summary="Serve this version from now on (rollback = activate an earlier one)")
async def activate_model(version: str, request: Request):
    state = request.app.state
    loaded = await run_in_threadpool(state.registry.activate, version)
    state.metrics.set_active(loaded.version)
    return await run_in_threadpool(state.registry.describe, version)
