"""POST /v1/predict: decode the request, call the model (via the batcher), encode the answer.

This is the hot path, so the route skips FastAPI's generic request handling (``DirectRoute``)
and does its few steps itself: the body is validated straight from the raw bytes by
``PredictRequest.model_validate_json`` and the key and content-type checks are plain calls.
Declared as a body parameter with ``Depends`` checks, the same work cost about twice the CPU of
``/healthz`` per request (sync dependencies run in a thread pool, the body is parsed by
``email.message``, ``json.loads`` and pydantic in turn); now it costs about the same as
``/healthz`` before the model runs. The OpenAPI entry is unchanged (``REQUEST_BODY`` documents
the body) and errors go through the app's one error policy.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from ..batching import BatcherStopped
from ..deps import predict_auth, require_json
from ..errors import ApiError
from ..responses import JSONResponse
from ..schemas import ERROR_RESPONSES, PredictRequest, PredictResponse


class DirectRoute(APIRoute):
    """Calls the endpoint with the request and nothing else.

    FastAPI's usual handler (dependency solving, body parsing, response-model validation,
    telemetry hooks) costs more per request than this endpoint's own work; the endpoint does
    those steps itself. Everything about the route as seen from outside, its OpenAPI entry
    included, stays that of a normal ``APIRoute``.
    """

    def get_route_handler(self):
        endpoint = self.endpoint

        async def handler(request: Request):
            return await endpoint(request)

        return handler


router = APIRouter(tags=["predict"], route_class=DirectRoute)

_EXAMPLES = PredictRequest.model_config["json_schema_extra"]["examples"]
REQUEST_BODY = {
    "required": True,
    "content": {"application/json": {
        "schema": PredictRequest.model_json_schema(ref_template="#/components/schemas/{model}"),
        "examples": {
            "one text": {"summary": "One text", "value": _EXAMPLES[0]},
            "several texts": {"summary": "Several texts, answered in order", "value": _EXAMPLES[1]},
        },
    }},
}


def _check_limits(texts: list[str], settings, field: str) -> None:
    if not texts:
        raise ApiError(422, "empty_texts", "give at least one text", field)
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


def _decode(body: bytes) -> PredictRequest:
    try:
        return PredictRequest.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as bad:
                raise ApiError(400, "invalid_body",
                               f"request body is not valid UTF-8 JSON ({bad.reason} at byte {bad.start})") from None
        raise RequestValidationError(errors) from None


@router.post(
    "/v1/predict",
    response_model=PredictResponse,
    responses=ERROR_RESPONSES,
    openapi_extra={"requestBody": REQUEST_BODY},
    summary="Classify one text or a list of texts",
)
async def predict(request: Request):
    state = request.app.state
    registry = state.registry
    if registry is None or registry.current is None:
        raise ApiError(503, "not_ready", "no model loaded yet", headers={"Retry-After": "1"})
    predict_auth(request)
    require_json(request)
    try:
        raw = await request.body()
    except ClientDisconnect:  # nobody is left to answer; no traceback in the log
        raise ApiError(400, "client_disconnected", "the client went away before sending the whole body") from None
    body = _decode(raw)
    texts = body.all_texts()
    _check_limits(texts, state.settings, "text" if body.text is not None else "texts")
    batcher = getattr(state, "batcher", None)
    if batcher is not None:
        try:
            version, predictions = await batcher.predict(texts)
        except BatcherStopped as exc:
            raise ApiError(503, "shutting_down", str(exc), headers={"Retry-After": "1"}) from None
    else:
        loaded = registry.current
        predictions = await run_in_threadpool(loaded.predictor.predict, texts)
        version = loaded.version
    state.metrics.count_predictions(version, [p.label for p in predictions])
    return JSONResponse({
        "model_version": version,
        "predictions": [
            {"label": p.label, "score": p.score, "probabilities": p.probabilities} for p in predictions
        ],
    })
