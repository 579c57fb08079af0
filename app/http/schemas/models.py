"""Model versions as the API shows them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


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
