"""Named models and their versions as the API shows them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class VersionInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    version: str
    active: bool
    source: str
    read_only: bool
    status: str
    job_id: str | None = Field(None, description="the training job that made it (null: bundled)")
    dataset_id: str | None = Field(None, description="the dataset it was trained on (null: bundled)")
    dataset_filename: str | None = Field(None, description="that dataset's file name (its 'filename' in "
                                         "/v1/datasets); null for a bundled version or once the dataset is deleted")
    labels: list[str] | None = None
    task: str | None = None
    config: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None


class VersionList(BaseModel):
    model: str
    active_version: str
    versions: list[VersionInfo]


class ModelInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    active_version: str
    task: str = Field(description="single_label (one label per text) or multi_label (any number)")
    labels: list[str]
    versions: list[str] = Field(description="its versions, newest first")
    min_score: float | None = Field(None, description="the default min_score of its predictions (set at activation)")
    previous_version: str | None = Field(None, description="the version served before the active one (a rollback "
                                         "activates it)")
    loaded: bool | None = Field(None, description="held in memory by the server process that answered")
    memory_bytes: int | None = Field(None, description="memory its model process took to load it, when loaded")
    card: dict[str, Any] | None = Field(None, description="the active version's card in brief: the scripts of its "
                                        "training text, its data, its figures")


class ModelList(BaseModel):
    default_model: str
    models: list[ModelInfo]


class ActivateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"min_score": 0.7}]})
    min_score: float | None = Field(None, ge=0.0, le=1.0, description="the model's default min_score from now on "
                                    "(null: none); left out, the model keeps the one it has")


class FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=100_000)
    label: str | None = Field(None, description="the right label (a single-label model)")
    labels: list[str] | None = Field(None, description="the right labels, possibly none (a multi-label model)")
    prediction_id: str | None = Field(None, max_length=200, description="your reference to the prediction "
                                      "corrected, kept with it")


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"items": [{"text": "the battery died in a day", "label": "negative"}]}]})
    items: list[FeedbackItem] = Field(min_length=1, max_length=10_000)


class FeedbackSummary(BaseModel):
    model: str
    items: int = Field(description="corrections stored for the model (one per text: the latest)")
    label_counts: dict[str, int]
    dataset_id: str | None = Field(description="the corrections as a dataset a training job takes (POST "
                                   "/v1/train-jobs); null while there are none")


class SelectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"dataset_id": "3f2a9c0d1b2e4f56", "k": 20, "strategy": "uncertainty"}]})
    dataset_id: str = Field(description="the texts to pick from (an upload; labelled or not)")
    k: int = Field(ge=1, le=10_000, description="how many texts to pick")
    strategy: Literal["uncertainty", "random", "diverse"] = Field(
        "uncertainty", description="uncertainty: those the model is least sure of; random: a seeded sample; "
                                   "diverse: the most uncertain, spread over the labels they are predicted as")
    seed: int = Field(0, description="the random strategy's seed")
