"""POST /v1/predict: decode the request, call the model (``app/serving/inference.py``), encode the answer.

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

from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import Response

from model.data import is_blank

from ...errors import InvalidInput, LimitExceeded, Unavailable
from ..deps import predict_auth, require_json
from ..errors import HttpError
from ..schemas.common import ERROR_RESPONSES
from ..schemas.predict import PredictRequest, PredictResponse


class DirectRoute(APIRoute):
    """Calls the endpoint with the request and its path parameters, nothing else.

    FastAPI's usual handler (dependency solving, body parsing, response-model validation,
    telemetry hooks) costs more per request than this endpoint's own work; the endpoint does
    those steps itself. Everything about the route as seen from outside, its OpenAPI entry
    included, stays that of a normal ``APIRoute``.
    """

    def get_route_handler(self):
        endpoint = self.endpoint

        async def handler(request: Request):
            return await endpoint(request=request, **request.path_params)

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


def check_limits(texts: list[str], settings, field: str) -> None:
    if not texts:
        raise InvalidInput("give at least one text", code="empty_texts", field=field)
    if len(texts) > settings.max_texts_per_request:
        raise LimitExceeded(f"{len(texts)} texts; at most {settings.max_texts_per_request} per request",
                            code="too_many_texts", field=field)
    for i, text in enumerate(texts):
        where = field if field == "text" else f"{field}[{i}]"
        if is_blank(text):
            raise InvalidInput("text is empty, or only whitespace and invisible characters", code="empty_text",
                               field=where)
        if len(text) > settings.max_text_chars:
            raise LimitExceeded(f"{len(text)} characters; at most {settings.max_text_chars}",
                                code="text_too_long", field=where)


def decode_body(body: bytes, schema: type[BaseModel] = PredictRequest) -> Any:
    """The request, validated straight from the bytes (a ``ValidationError`` is a 422)."""
    if not body.isascii():  # JSON must be UTF-8: say so, with where, rather than "malformed JSON"
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise HttpError(400, "invalid_body",
                            f"request body is not valid UTF-8 JSON ({bad.reason} at byte {bad.start})") from None
    return schema.model_validate_json(body)


async def prediction_request(request: Request, schema: type[BaseModel]) -> Any:
    """What every prediction request (``/v1/predict``, ``/v1/explain``) passes first, in this order:
    a model is loaded, the key's scope, a JSON body; then the body, validated against ``schema``."""
    inference = request.app.state.inference
    if inference is None or inference.current is None:  # (a model process restarting answers for itself)
        raise Unavailable("no model loaded yet", code="not_ready")
    predict_auth(request)
    require_json(request)
    return decode_body(await request.body(), schema)


# a key is optional (the predict scope, when SENTIMENT_PREDICT_REQUIRES_KEY is set): {} or bearer
SECURITY = [{}, {"bearer": ["predict"]}]


@router.post(
    "/v1/predict",
    response_model=PredictResponse,
    responses=ERROR_RESPONSES,
    openapi_extra={"requestBody": REQUEST_BODY, "security": SECURITY},
    summary="Classify one text or a list of texts (with the default model, or the one the body names)",
)
async def predict(request: Request):
    return await _predict(request, None)


@router.post(
    "/v1/models/{name}/predict",
    response_model=PredictResponse,
    responses=ERROR_RESPONSES,
    openapi_extra={"requestBody": REQUEST_BODY, "security": SECURITY},
    summary="Classify one text or a list of texts with this model",
)
async def predict_with_model(name: str, request: Request):
    return await _predict(request, name)


async def _predict(request: Request, path_model: str | None) -> Response:
    state = request.app.state
    body = await prediction_request(request, PredictRequest)
    model = model_named(path_model, body.model)
    texts = body.all_texts()
    check_limits(texts, state.settings, "text" if body.text is not None else "texts")
    served, predictions, warnings = await state.inference.predict(texts, model, body.top_k, body.min_score)
    for prediction, warning in zip(predictions, warnings):
        if warning:
            prediction.warnings = [warning]
    return response(PredictResponse(model=served.model, model_version=served.version, predictions=predictions))


def model_named(path_model: str | None, body_model: str | None) -> str | None:
    """The model a prediction request names: in its path, or its body's ``model`` (not both, unless equal)."""
    if path_model is None:
        return body_model
    if body_model is not None and body_model != path_model:
        raise InvalidInput(f"the path names the model {path_model!r} and the body {body_model!r}: name one",
                           code="model_mismatch", field="model")
    return path_model


def response(answer: BaseModel) -> Response:
    """``answer`` (validated by its response model when it was made) as JSON, fields that are None left out."""
    return Response(answer.model_dump_json(exclude_none=True), media_type="application/json")
