"""POST /v1/explain: the request and the answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from model.inference.explain import METHOD, WordWeight


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "A gorgeous, witty, seductive movie."},
    ]})
    text: StrictStr = Field(description="the text to classify and explain (the served version answers, as for "
                                        "/v1/predict); a text with more than SENTIMENT_MAX_EXPLAIN_WORDS words is "
                                        "explained in its most decisive window (`excerpt`)")
    model: StrictStr | None = Field(None, description="the model that answers, as in /v1/predict")


class Excerpt(BaseModel):
    start: int = Field(description="offset of the first explained word's first character")
    end: int = Field(description="offset just past the last explained word")


class ExplainResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "model": "sentiment-en", "model_version": "bundled", "label": "positive", "score": 0.99,
        "probabilities": {"negative": 0.01, "positive": 0.99}, "windows": 1, "method": METHOD,
        "tokens": [{"text": "A", "start": 0, "end": 1, "weight": 0.12},
                   {"text": "gorgeous", "start": 2, "end": 10, "weight": 2.31}],
    }]})
    model: str = Field(examples=["sentiment-en"])
    model_version: str = Field(examples=["bundled"])
    label: str = Field(description="the predicted label, which the weights are signed toward", examples=["positive"])
    score: float = Field(description="probability of the predicted label", examples=[0.99])
    probabilities: dict[str, float] = Field(examples=[{"negative": 0.01, "positive": 0.99}])
    windows: int = Field(1, ge=1, description="windows of the model's max_length tokens the text was read in, as "
                                              "/v1/predict says")
    method: Literal["occlusion-log-odds"] = Field(
        METHOD, description="each word's tokens left out in turn; a weight is the fall of the label's log-odds, "
                            "logodds(label | text) - logodds(label | text without the word), with logodds(l) = "
                            "log(p(l) / (1 - p(l))) computed from the model's logits: positive when the word speaks "
                            "for the label, unbounded (+2: without the word the odds of the label are e^2 = 7.4 times "
                            "lower), not saturated near p = 1 as a fall of the probability is")
    tokens: list[WordWeight] = Field(description="one entry per explained word, in order: a run of letters or digits, "
                                                 "a punctuation mark, or, in Chinese text, a word as jieba segments it "
                                                 "(one character per word where jieba is not installed); a word the "
                                                 "tokenizer splits into pieces is one word; whitespace belongs to none")
    excerpt: Excerpt | None = Field(None, description="present when the text has more words than are explained "
                                    "(SENTIMENT_MAX_EXPLAIN_WORDS): the span of its most decisive window's words, "
                                    "which `tokens` weigh; the prediction is still the whole text's")
    labels: list[str] | None = Field(None, description="multi-label models: the predicted labels, most probable "
                                     "first (possibly none); `label` and `tokens` are then those of the first, or of "
                                     "the most probable label when none is predicted")
    tokens_by_label: dict[str, list[WordWeight]] | None = Field(
        None, description="multi-label models: each explained label's word weights (a word may speak for one "
                          "label and against another)")
    warnings: list[str] | None = Field(None, description="as in /v1/predict: most of the text's letters are in "
                                                         "scripts the model was not trained on")
