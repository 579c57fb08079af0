"""POST /v1/explain: one text's prediction and each word's weight toward it (occlusion, in log-odds).

For scopes, rate limits and request limits an explanation is a prediction (``prediction_request``, the
predict checks of the text). A text with more than ``SENTIMENT_MAX_EXPLAIN_WORDS`` words is not
refused: its most decisive window is explained (``excerpt``), a bounded cost that still shows what
the prediction rests on most. The work is in ``app/serving/inference.py``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..schemas.common import ERROR_RESPONSES, json_request_body
from ..schemas.explain import Excerpt, ExplainRequest, ExplainResponse
from .predict import SECURITY, check_limits, model_named, prediction_request, response

router = APIRouter(tags=["predict"])

REQUEST_BODY = json_request_body(ExplainRequest)


@router.post(
    "/v1/explain",
    response_model=ExplainResponse,
    responses=ERROR_RESPONSES,
    openapi_extra={"requestBody": REQUEST_BODY, "security": SECURITY},  # as predict
    summary="Classify one text and weigh each of its words (occlusion, in log-odds)",
)
async def explain_text(request: Request):
    return await _explain(request, None)


@router.post(
    "/v1/models/{name}/explain",
    response_model=ExplainResponse,
    responses=ERROR_RESPONSES,
    openapi_extra={"requestBody": REQUEST_BODY, "security": SECURITY},  # as predict
    summary="Classify one text with this model and weigh each of its words (occlusion, in log-odds)",
)
async def explain_with_model(name: str, request: Request):
    return await _explain(request, name)


async def _explain(request: Request, path_model: str | None):
    state = request.app.state
    body = await prediction_request(request, ExplainRequest)
    check_limits([body.text], state.settings, "text")
    served, explanation, warning = await state.inference.explain(body.text, model_named(path_model, body.model))
    return response(ExplainResponse(
        model=served.model, model_version=served.version, label=explanation.label, score=explanation.score,
        probabilities=explanation.probabilities, windows=explanation.windows, tokens=explanation.words,
        labels=explanation.labels, tokens_by_label=explanation.words_by_label,
        excerpt=None if explanation.excerpt is None else Excerpt(start=explanation.excerpt[0],
                                                                 end=explanation.excerpt[1]),
        warnings=[warning] if warning else None))
