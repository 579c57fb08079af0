"""Request and response models (they also drive the OpenAPI document at /docs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator


class PredictRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"text": "A gorgeous, witty, seductive movie."},
            {"texts": ["A gorgeous, witty, seductive movie.", "The plot is a mess and the jokes fall flat."]},
        ]},
    )
    text: StrictStr | None = Field(None, description="one text to classify")
    texts: list[StrictStr] | None = Field(None, description="several texts, answered in order")

    @model_validator(mode="after")
    def _exactly_one(self) -> PredictRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' or 'texts'")
        return self

    def all_texts(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


class PredictionOut(BaseModel):
    label: str = Field(examples=["positive"])
    score: float = Field(description="probability of the predicted label", examples=[0.97])
    probabilities: dict[str, float] = Field(examples=[{"negative": 0.03, "positive": 0.97}])


class PredictResponse(BaseModel):
    model_version: str = Field(examples=["bundled"])
    predictions: list[PredictionOut]


class ModelInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    version: str
    active: bool
    source: str
    read_only: bool
    status: str
    labels: list[str] | None = None
    config: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None


class ModelList(BaseModel):
    active_version: str
    models: list[ModelInfo]


class ErrorOut(BaseModel):
    error: str = Field(examples=["validation_error"])
    message: str = Field(examples=["texts[0]: text is empty or only whitespace"])
    details: list[dict[str, Any]] | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
}
