"""Request and response models for datasets and training jobs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr


class Example(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: StrictStr
    label: StrictStr | int


class ExamplesUpload(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"examples": [
            {"text": "loved every minute", "label": "positive"},
            {"text": "a tedious mess", "label": "negative"},
        ]}]},
    )
    examples: list[Example] = Field(min_length=1)


class DatasetOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    filename: str
    format: str
    text_column: str
    label_column: str
    size_bytes: int
    examples: int
    label_counts: dict[str, int]
    duplicate_texts: int
    conflicting_texts: int
    length_chars: dict[str, float]
    length_words: dict[str, float]
    created_at: float


class TrainJobConfig(BaseModel):
    """Hyperparameters; every value is range-checked and unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")
    cell: Literal["rnn", "lstm", "gru"] = "lstm"
    nonlinearity: Literal["tanh", "relu"] = "tanh"
    bidirectional: bool = True
    layers: int = Field(1, ge=1, le=4)
    embedding_dim: int = Field(64, ge=4, le=1024)
    hidden_size: int = Field(64, ge=4, le=1024)
    dropout: float = Field(0.3, ge=0.0, le=0.9)
    pooling: Literal["last", "mean", "max", "attention"] = "max"
    tokenizer: Literal["word", "bpe"] = "word"
    vocab_size: int = Field(30000, ge=100, le=500_000)
    min_frequency: int = Field(1, ge=1, le=1000)
    max_length: int = Field(256, ge=1, le=10_000)
    lowercase: bool = True
    epochs: int = Field(5, ge=1, description="at most SENTIMENT_MAX_EPOCHS")
    batch_size: int = Field(64, ge=1, le=4096)
    learning_rate: float = Field(2e-3, gt=0.0, le=1.0)
    weight_decay: float = Field(1e-4, ge=0.0, le=1.0)
    max_grad_norm: float = Field(5.0, gt=0.0, le=1000.0)
    patience: int = Field(2, ge=1, le=1000)
    seed: int = Field(13, ge=0, le=2**31 - 1)
    dev_fraction: float = Field(0.1, ge=0.01, le=0.5)
    class_weights: bool = False
    label_names: dict[str, str] = Field(default_factory=dict, description="rename raw labels, e.g. {'0': 'negative'}")
    time_limit_s: float | None = Field(None, gt=0, description="at most SENTIMENT_JOB_TIMEOUT_S")


class TrainJobRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"dataset_id": "3f2a9c0d1b2e4f56", "config": {"cell": "gru", "epochs": 3},
                                         "promote": "if_better"}]},
    )
    dataset_id: StrictStr
    eval_dataset_id: StrictStr | None = Field(None, description="default: a stratified split of the dataset")
    config: TrainJobConfig = Field(default_factory=TrainJobConfig)
    promote: Literal["never", "if_better", "always"] = "never"


class TrainJobOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    state: Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
    dataset_id: str
    eval_dataset_id: str | None
    config: dict[str, Any]
    promote: str
    progress: dict[str, Any]
    result: dict[str, Any]
    model_version: str | None
    error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
