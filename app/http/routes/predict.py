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

from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from model.text.scripts import SAMPLE_CHARS, may_warn, unseen_script_warnings

from ...errors import InvalidInput, LimitExceeded, Unavailable
from ..deps import predict_auth, require_json
from ..errors import HttpError
from ..responses import JSONResponse
from ..schemas.common import ERROR_RESPONSES
from ..schemas.predict import PredictRequest, PredictResponse


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
INLINE_SCRIPT_CHARS = 8192  # as the model process client's INLINE_TOKENIZE_CHARS: ~1 ms of work at most

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
        if not text.strip():
            raise InvalidInput("text is empty or only whitespace", code="empty_text", field=where)
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
    registry = request.app.state.registry
    if registry is None or registry.current is None:
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
    summary="Classify one text or a list of texts",
)
async def predict(request: Request):
    state = request.app.state
    registry = state.registry
    body = await prediction_request(request, PredictRequest)
    texts = body.all_texts()
    check_limits(texts, state.settings, "text" if body.text is not None else "texts")
    if registry.in_process and sum(map(len, texts)) > state.settings.max_windows_per_request:
        # The model runs in this process: count the request's windows before it is batched (the
        # model process's client does this itself). Fewer characters than the budget cannot
        # make more windows than it: every token holds at least one character.
        served = registry.current
        ids = await run_in_threadpool(served.encode, texts, True)
        served.check_windows(ids, state.settings.max_windows_per_request)
    batcher = getattr(state, "batcher", None)
    if batcher is not None:
        version, predictions = await batcher.predict(texts)
    else:
        loaded = registry.current
        predictions = await run_in_threadpool(loaded.predictor.predict, texts)
        version = loaded.version
    state.metrics.count_predictions(version, [p.label for p in predictions])
    answers = [
        {"label": p.label, "score": p.score, "probabilities": p.probabilities, "windows": p.windows}
        for p in predictions
    ]
    for answer, warning in zip(answers, await script_warnings(texts, registry.current, version)):
        if warning:
            answer["warnings"] = [warning]
    return JSONResponse({"model_version": version, "predictions": answers})


async def script_warnings(texts: list[str], served, version: str) -> list[str | None]:
    """A warning for each text mostly in scripts the model was not trained on (``model/scripts.py``).
    ASCII text for a Latin-script model is answered by one quick test (0.5 us a request); other text
    costs 10 us a sentence, 70 us at most (its first 1,000 characters are read), in a thread past
    ``INLINE_SCRIPT_CHARS``."""
    if served is None or served.version != version or not may_warn(texts, served.trained_on):
        return []  # (a version activated meanwhile: its predecessor answered; no warning then)
    name = f"the model version '{version}'"
    if sum(min(len(t), SAMPLE_CHARS) for t in texts) <= INLINE_SCRIPT_CHARS:
        return unseen_script_warnings(texts, served.trained_on, name)
    return await run_in_threadpool(unseen_script_warnings, texts, served.trained_on, name)
