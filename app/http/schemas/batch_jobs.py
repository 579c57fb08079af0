"""Batch jobs: the request and the job as the API shows it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from ...training.jobs import STATES


class BatchJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"dataset_id": "3f2a9c0d1b2e4f56", "model": "sentiment-en"}]})
    dataset_id: StrictStr = Field(description="the texts to score (POST /v1/datasets; labelled or not)")
    model: StrictStr | None = Field(None, description="the model that scores them; default: SENTIMENT_DEFAULT_MODEL")
    version: StrictStr | None = Field(None, description="its version; default: the one active when the job is "
                                      "submitted (the whole file is scored by that one version)")


class BatchJobOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    state: Literal[STATES]  # type: ignore[valid-type]
    dataset_id: str
    dataset_filename: str | None = Field(None, description="the scored dataset's file name (its 'filename' in "
                                         "/v1/datasets); null once the dataset is deleted")
    model: str
    version: str
    rows_done: int = Field(description="texts scored so far")
    rows_total: int
    rows_per_s: float | None = Field(None, description="texts scored per second, so far")
    result: dict[str, Any]
    error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
