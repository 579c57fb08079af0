"""POST /v1/explain: the request and the answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from model.inference.explain import WordWeight


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "A gorgeous, witty, seductive movie."},
    ]})
    text: StrictStr = Field(description="the text to classify and explain (the served version answers, as for "
                                        "/v1/predict); at most SENTIMENT_MAX_EXPLAIN_WORDS words")
    model: StrictStr | None = Field(None, description="the model that answers, as in /v1/predict")


class ExplainResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "model": "sentiment-en", "model_version": "bundled", "label": "positive", "score": 0.99,
        "probabilities": {"negative": 0.01, "positive": 0.99}, "windows": 1, "method": "occlusion",
        "tokens": [{"text": "A", "start": 0, "end": 1, "weight": 0.0},
                   {"text": "gorgeous", "start": 2, "end": 10, "weight": 0.04}],
    }]})
    model: str = Field(examples=["sentiment-en"])
    model_version: str = Field(examples=["bundled"])
    label: str = Field(description="the predicted label, which the weights are signed toward", examples=["positive"])
    score: float = Field(description="probability of the predicted label", examples=[0.99])
    probabilities: dict[str, float] = Field(examples=[{"negative": 0.01, "positive": 0.99}])
    windows: int = Field(1, ge=1, description="windows of the model's max_length tokens the text was read in, as "
                                              "/v1/predict says")
    method: Literal["occlusion"] = Field(
        "occlusion", description="each word's tokens left out in turn; the text and all its variants go through the "
                                 "model in one call")
    tokens: list[WordWeight] = Field(description="one entry per word, in order: a run of letters or digits, a "
                                                    "punctuation mark, or a CJK character (a word the tokenizer splits "
                                                    "into pieces is one word); whitespace belongs to none")
    labels: list[str] | None = Field(None, description="multi-label models: the predicted labels, most probable "
                                     "first (possibly none); `label` and `tokens` are then those of the first, or of "
                                     "the most probable label when none is predicted")
    tokens_by_label: dict[str, list[WordWeight]] | None = Field(
        None, description="multi-label models: each explained label's word weights (a word may speak for one "
                          "label and against another)")
    warnings: list[str] | None = Field(None, description="as in /v1/predict: most of the text's letters are in "
                                                         "scripts the model was not trained on")
