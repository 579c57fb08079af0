"""POST /v1/predict: the request and the answer."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from model.inference.prediction import Prediction


class PredictRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"text": "A gorgeous, witty, seductive movie."},
            {"texts": ["A gorgeous, witty, seductive movie.", "The plot is a mess and the jokes fall flat."]},
            {"texts": ["这个东西很好用", "质量太差了，不推荐"], "model": "sentiment-zh", "top_k": 2, "min_score": 0.8},
        ]},
    )
    text: StrictStr | None = Field(None, description="one text to classify")
    texts: list[StrictStr] | None = Field(None, description="several texts, answered in order")
    model: StrictStr | None = Field(None, description="the model that answers (GET /v1/models lists them); "
                                    "default: SENTIMENT_DEFAULT_MODEL. On /v1/models/{name}/predict the path names it")
    top_k: int | None = Field(None, ge=1, description="each prediction also lists its top_k most probable labels, "
                              "best first (at most the model's label count)")
    min_score: float | None = Field(None, ge=0.0, le=1.0, description="below this probability of its best label, a "
                                    "prediction abstains: label null, abstained true (default: the model's own, set "
                                    "at activation, if any)")

    @model_validator(mode="after")
    def _exactly_one(self) -> PredictRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' or 'texts'")
        return self

    def all_texts(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


class PredictResponse(BaseModel):
    """The answer: each text's ``model.inference.prediction.Prediction`` (the one declaration of its shape), in order."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "model": "sentiment-en", "model_version": "bundled",
        "predictions": [{"label": "positive", "score": 0.97, "probabilities": {"negative": 0.03, "positive": 0.97},
                         "windows": 1}],
    }]})
    model: str = Field(examples=["sentiment-en"])
    model_version: str = Field(examples=["bundled"])
    predictions: list[Prediction]
