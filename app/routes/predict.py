"""POST /v1/predict: decode the request, call the model (via the batcher), encode the answer."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from ..deps import predict_auth, require_json
from ..errors import ApiError
from ..responses import JSONResponse
from ..schemas import ERROR_RESPONSES, PredictRequest, PredictResponse

router = APIRouter(tags=["predict"])


def _check_limits(texts: list[str], settings, field: str) -> None:
    if len(texts) > settings.max_texts_per_request:
        raise ApiError(422, "too_many_texts",
                       f"{len(texts)} texts; at most {settings.max_texts_per_request} per request", field)
    for i, text in enumerate(texts):
        where = field if field == "text" else f"{field}[{i}]"
        if not text.strip():
            raise ApiError(422, "empty_text", "text is empty or only whitespace", where)
        if len(text) > settings.max_text_chars:
            raise ApiError(422, "text_too_long",
                           f"{len(text)} characters; at most {settings.max_text_chars}", where)


@router.post(
    "/v1/predict",
    response_model=PredictResponse,
    responses=ERROR_RESPONSES,
    dependencies=[Depends(require_json), Depends(predict_auth)],
    summary="Classify one text or a list of texts",
)
async def predict(body: PredictRequest, request: Request):
    state = request.app.state
    texts = body.all_texts()
    _check_limits(texts, state.settings, "text" if body.text is not None else "texts")
    if not texts:
        version, predictions = state.registry.current.version, []
    elif state.batcher is not None:
        version, predictions = await state.batcher.predict(texts)
    else:
        loaded = state.registry.current
        predictions = await run_in_threadpool(loaded.predictor.predict, texts)
        version = loaded.version
    counter = state.metrics.predictions
    for p in predictions:
        counter.labels(version, p.label).inc()
    return JSONResponse({
        "model_version": version,
        "predictions": [
            {"label": p.label, "score": p.score, "probabilities": p.probabilities} for p in predictions
        ],
    })
