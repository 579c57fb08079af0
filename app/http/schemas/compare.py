"""POST /v1/models/{name}/compare: the request and the answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator


class CompareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"versions": ["bundled", "v2"], "dataset_id": "3f2a9c0d1e4b5a67"},
    ]})
    versions: list[StrictStr] = Field(min_length=2, max_length=2, description="the two versions to compare: the "
                                      "model's own ('v2', 'bundled') or, for a model with the same labels, another "
                                      "model's ('other-model/v3')")
    dataset_id: StrictStr = Field(description="an uploaded dataset (POST /v1/datasets), ideally one neither version "
                                              "was trained on; at most SENTIMENT_MAX_COMPARE_EXAMPLES examples")

    @field_validator("versions")
    @classmethod
    def _distinct(cls, versions: list[str]) -> list[str]:
        if len(set(versions)) != len(versions):
            raise ValueError("give two different versions")
        return versions


class VersionScores(BaseModel):
    examples: int = Field(examples=[872])
    accuracy: float = Field(examples=[0.89])
    macro_f1: float = Field(examples=[0.89])
    labels: list[str] = Field(description="the order of the confusion matrix's rows and columns",
                              examples=[["negative", "positive"]])
    confusion_matrix: list[list[int]] = Field(description="rows: gold label, columns: predicted label",
                                              examples=[[[386, 42], [54, 390]]])


class DisagreementPrediction(BaseModel):
    label: str = Field(examples=["positive"])
    score: float = Field(description="probability of that label", examples=[0.71])


class Disagreement(BaseModel):
    index: int = Field(ge=0, description="the example's position in the dataset (0: the first)")
    text: str
    label: str = Field(description="the gold label (mapped through the versions' label names)", examples=["negative"])
    predictions: dict[str, DisagreementPrediction] = Field(description="by version")


class CompareResponse(BaseModel):
    dataset_id: str
    examples: int = Field(description="examples compared: all of the dataset's")
    versions: dict[str, VersionScores] = Field(description="each version's scores on the dataset")
    disagreements: list[Disagreement] = Field(description="examples the versions label differently, in the dataset's "
                                                          "order: the first 100 of them")
    disagreements_total: int = Field(description="how many examples the versions label differently, listed or not")
    labels_matched_by: Literal["name", "label_names"] = Field(
        description="'name': the versions have the same labels; 'label_names': they name the same raw dataset labels "
                    "differently (one trained with label_names, say, the other without) and were matched through "
                    "them (see label_mapping)")
    label_mapping: dict[str, dict[str, str]] | None = Field(
        None, description="when matched through label_names: each version's labels -> the raw dataset label each "
                          "stands for", examples=[{"v1": {"0": "0", "1": "1"}, "v2": {"负面": "0", "正面": "1"}}])
