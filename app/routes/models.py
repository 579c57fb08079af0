"""Model versions: list, show, activate (hot swap / rollback)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from ..deps import require_key
from ..errors import ApiError
from ..model_process import ModelProcessError, ModelProcessGone
from ..schemas import ERROR_RESPONSES, ModelInfo, ModelList

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
             dependencies=[Depends(require_key)],
             summary="Serve this version from now on (rollback = activate an earlier one)")
async def activate_model(version: str, request: Request):
    state = request.app.state
    try:
        loaded = await run_in_threadpool(state.registry.activate, version)
    except ModelProcessGone:
        raise  # 503, by the app's error handler
    except ModelProcessError as exc:  # the server process loaded it, the model process did not
        raise ApiError(409, "model_unavailable", f"the model process cannot load {version}: {exc}") from None
    state.metrics.set_active(loaded.version)
    return await run_in_threadpool(state.registry.describe, version)
