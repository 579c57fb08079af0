"""POST /v1/predict: the request and the answer."""

from __future__ import annotations

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
    windows: int = Field(
        1, ge=1, examples=[1],
        description="how many overlapping windows of the model's max_length tokens the text was read in; "
                    "see the model's config.tokenizer.max_length",
    )
    warnings: list[str] | None = Field(
        None, description="present when most of the text's letters are in scripts the model was not trained on "
                          "(the bundled model: Latin script), e.g. Chinese text for an English model: its "
                          "prediction may mean little", examples=[["the model version 'bundled' was trained on "
                                                                   "Latin-script text; this text's letters are mostly "
                                                                   "in other scripts (Han (Chinese characters) 100%), "
                                                                   "so its prediction may mean little"]])


class PredictResponse(BaseModel):
    model_version: str = Field(examples=["bundled"])
    predictions: list[PredictionOut]
