"""Model versions: list, show, activate (hot swap / rollback), compare two on a dataset."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ...serving.compare import compare_versions
from ..deps import require_json, write_access
from ..schemas.common import ERROR_RESPONSES, inline_schema
from ..schemas.compare import CompareRequest, CompareResponse
from ..schemas.models import ModelInfo, ModelList
from .predict import decode_body

router = APIRouter(tags=["models"])


@router.get("/v1/models", response_model=ModelList, responses=ERROR_RESPONSES)
async def list_models(request: Request):
    state = request.app.state
    models = await run_in_threadpool(state.versions.list)
    return {"active_version": state.inference.served().version, "models": models}


@router.get("/v1/models/{version}", response_model=ModelInfo, responses=ERROR_RESPONSES)
async def get_model(version: str, request: Request):
    state = request.app.state
    return await run_in_threadpool(state.versions.describe, version)


@router.post("/v1/models/{version}/activate", response_model=ModelInfo, responses=ERROR_RESPONSES,
             dependencies=[Depends(write_access("admin"))],
             summary="Serve this version from now on (rollback = activate an earlier one)")
async def activate_model(version: str, request: Request):
    state = request.app.state
    await state.inference.activate(version)
    return await run_in_threadpool(state.versions.describe, version)


@router.delete("/v1/models/{version}", status_code=204, responses=ERROR_RESPONSES,
               dependencies=[Depends(write_access("admin"))],
               summary="Delete a trained version (not the bundled one, not the one being served)")
async def delete_model(version: str, request: Request):
    await run_in_threadpool(request.app.state.versions.delete, version)
    return Response(status_code=204)


COMPARE_BODY = {"required": True, "content": {"application/json": {
    "schema": inline_schema(CompareRequest),
    "example": CompareRequest.model_config["json_schema_extra"]["examples"][0],
}}}


@router.post("/v1/models/compare", response_model=CompareResponse, responses=ERROR_RESPONSES,
             dependencies=[Depends(write_access("train"))], openapi_extra={"requestBody": COMPARE_BODY},
             summary="Two versions side by side on an uploaded dataset: metrics, and the texts they label differently")
async def compare_models(request: Request):
    """Each version predicts every example of the dataset (at most SENTIMENT_MAX_COMPARE_EXAMPLES); the answer
    has each version's accuracy, macro-F1 and confusion matrix, and the first 100 examples the two label
    differently. Needs a key with the ``train`` scope; counted against SENTIMENT_RATE_LIMIT_WRITE."""
    require_json(request)
    body = decode_body(await request.body(), CompareRequest)
    state = request.app.state
    async with state.compare_slots:  # one comparison at a time per server process: each is seconds of model time
        result = await compare_versions(state.inference, state.datasets, body.dataset_id, body.versions)
    return result
