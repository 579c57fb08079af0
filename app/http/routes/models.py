"""Named models and their versions: list, show, activate (hot swap / rollback), delete, compare."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from ...serving.compare import compare_versions
from ...serving.select import select
from ..deps import records_open, require_json, write_access
from ..schemas.common import ERROR_RESPONSES, json_request_body
from ..schemas.compare import CompareRequest, CompareResponse
from ..schemas.models import (
    ActivateRequest,
    FeedbackRequest,
    FeedbackSummary,
    ModelInfo,
    ModelList,
    SelectRequest,
    VersionInfo,
    VersionList,
)
from .predict import decode_body

router = APIRouter(tags=["models"], dependencies=[Depends(records_open)])


def _with_memory(request: Request, info: dict) -> dict:
    inference = request.app.state.inference
    if inference is not None:
        memory = inference.loaded_bytes(info["name"])
        info |= {"loaded": memory is not None, "memory_bytes": memory}
    return info


@router.get("/v1/models", response_model=ModelList, responses=ERROR_RESPONSES)
async def list_models(request: Request):
    models = await run_in_threadpool(request.app.state.versions.list_models)
    return {"default_model": request.app.state.settings.default_model,
            "models": [_with_memory(request, m) for m in models]}


@router.get("/v1/models/{name}", response_model=ModelInfo, responses=ERROR_RESPONSES)
async def get_model(name: str, request: Request):
    return _with_memory(request, await run_in_threadpool(request.app.state.versions.describe_model, name))


@router.get("/v1/models/{name}/versions", response_model=VersionList, responses=ERROR_RESPONSES)
async def list_versions(name: str, request: Request):
    versions = request.app.state.versions
    listed = await run_in_threadpool(versions.list, name)
    active = next((v["version"] for v in listed if v["active"]), None)
    return {"model": name, "active_version": active, "versions": listed}


@router.get("/v1/models/{name}/versions/{version}", response_model=VersionInfo, responses=ERROR_RESPONSES)
async def get_version(name: str, version: str, request: Request):
    return await run_in_threadpool(request.app.state.versions.describe, name, version)


async def _card(request: Request, name: str, version: str | None, format: str):
    card = await run_in_threadpool(request.app.state.versions.card, name, version)
    if format == "json":
        return JSONResponse(card)
    return Response(card["markdown"], media_type="text/markdown; charset=utf-8")


CARD_RESPONSES = ERROR_RESPONSES | {200: {"content": {"text/markdown": {}, "application/json": {}}}}


@router.get("/v1/models/{name}/card", responses=CARD_RESPONSES, response_class=Response,
            summary="The model card of the active version: markdown, or JSON with ?format=json")
async def get_model_card(name: str, request: Request, format: str = Query("markdown", pattern="^(markdown|json)$")):
    return await _card(request, name, None, format)


@router.get("/v1/models/{name}/versions/{version}/card", responses=CARD_RESPONSES, response_class=Response,
            summary="A version's model card: markdown, or JSON with ?format=json")
async def get_version_card(name: str, version: str, request: Request,
                           format: str = Query("markdown", pattern="^(markdown|json)$")):
    return await _card(request, name, version, format)


ACTIVATE_BODY = json_request_body(ActivateRequest, required=False)


@router.post("/v1/models/{name}/versions/{version}/activate", response_model=VersionInfo, responses=ERROR_RESPONSES,
             dependencies=[Depends(write_access("admin"))], openapi_extra={"requestBody": ACTIVATE_BODY},
             summary="Serve this version of the model from now on, everywhere (rollback: activate the "
                     "previous_version)")
async def activate_version(name: str, version: str, request: Request):
    """An optional JSON body sets the model's default ``min_score``."""
    raw = await request.body()
    options = {}
    if raw.strip():
        require_json(request)
        body = decode_body(raw, ActivateRequest)
        if "min_score" in body.model_fields_set:
            options = {"min_score": body.min_score, "set_min_score": True}
    state = request.app.state
    await state.inference.activate(name, version, **options)
    return await run_in_threadpool(state.versions.describe, name, version)


@router.delete("/v1/models/{name}/versions/{version}", status_code=204, responses=ERROR_RESPONSES,
               dependencies=[Depends(write_access("admin"))],
               summary="Delete a trained version (not a bundled one, not the one being served)")
async def delete_version(name: str, version: str, request: Request):
    await run_in_threadpool(request.app.state.versions.delete, name, version)
    return Response(status_code=204)


@router.delete("/v1/models/{name}", status_code=204, responses=ERROR_RESPONSES,
               dependencies=[Depends(write_access("admin"))],
               summary="Delete a model trained here, with its versions and feedback (not a bundled or the default model)")
async def delete_model(name: str, request: Request):
    state = request.app.state
    await run_in_threadpool(state.versions.delete_model, name, state.settings.default_model, state.feedback.forget)
    await state.inference.drop(name)  # (other server processes drop it when they next follow the records)
    return Response(status_code=204)


COMPARE_BODY = json_request_body(CompareRequest)


@router.post("/v1/models/{name}/compare", response_model=CompareResponse, responses=ERROR_RESPONSES,
             dependencies=[Depends(write_access("train"))], openapi_extra={"requestBody": COMPARE_BODY},
             summary="Two versions side by side on an uploaded dataset: metrics, and the texts they label differently")
async def compare_models(name: str, request: Request):
    """Each version predicts every example of the dataset (at most SENTIMENT_MAX_COMPARE_EXAMPLES); the answer
    has each version's accuracy, macro-F1 and confusion matrix, and the first 100 examples the two label
    differently. A version is one of this model's (``v2``) or, for a model with the same labels, another's
    (``other-model/v3``). Needs a key with the ``train`` scope; counted against SENTIMENT_RATE_LIMIT_WRITE."""
    require_json(request)
    body = decode_body(await request.body(), CompareRequest)
    state = request.app.state
    async with state.compare_slots:  # one comparison at a time per server process: each is seconds of model time
        result = await compare_versions(state.inference, state.datasets, body.dataset_id, name, body.versions)
    return result


@router.post("/v1/models/{name}/feedback", response_model=dict, responses=ERROR_RESPONSES,
             dependencies=[Depends(write_access("train"))],
             openapi_extra={"requestBody": json_request_body(FeedbackRequest)},
             summary="Store corrections of the model's predictions (one per text, the latest kept)")
async def add_feedback(name: str, request: Request):
    require_json(request)
    body = decode_body(await request.body(), FeedbackRequest)
    items = [item.model_dump() for item in body.items]
    return await run_in_threadpool(request.app.state.feedback.add, name, items)


@router.get("/v1/models/{name}/feedback", response_model=FeedbackSummary, responses=ERROR_RESPONSES,
            summary="The corrections stored for the model: counts, and a dataset_id to train on")
async def get_feedback(name: str, request: Request):
    return await run_in_threadpool(request.app.state.feedback.summary, name)


@router.post("/v1/models/{name}/select", response_model=dict, responses=ERROR_RESPONSES,
             dependencies=[Depends(write_access("train"))],
             openapi_extra={"requestBody": json_request_body(SelectRequest)},
             summary="Pick k texts of a dataset to label next (uncertainty, random or diverse)")
async def select_texts(name: str, request: Request):
    """Texts the model already has feedback for are skipped. Counted against SENTIMENT_RATE_LIMIT_WRITE."""
    require_json(request)
    body = decode_body(await request.body(), SelectRequest)
    state = request.app.state
    skip = await run_in_threadpool(state.feedback.texts, name)
    async with state.compare_slots:  # one dataset-wide prediction at a time per server process
        return await select(state.inference, state.datasets, skip, name, body.dataset_id, body.k, body.strategy,
                            body.seed)
