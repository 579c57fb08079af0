"""Named models and their versions as the API shows them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class VersionInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    version: str
    active: bool
    source: str
    read_only: bool
    status: str
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
