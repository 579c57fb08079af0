"""Training jobs: the request (its ``config`` is generated from the model package's one
hyperparameter declaration, ``model.config.HYPERPARAMETERS``) and the job as the API shows it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, create_model

from model.config import HTTP_JOB, Hyperparameter, options_for, parse_label_names

from ...training.jobs import STATES


def _none_word(value: Any) -> Any:
    """``"none"`` (any case) is null, as the CLI reads it: the forms the docs show work in both."""
    return None if isinstance(value, str) and value.strip().lower() == "none" else value


def _label_names(value: Any) -> Any:
    """``label_names`` as a JSON object, or as the CLI writes it: ``"0=negative,1=positive"``."""
    return parse_label_names(value) if isinstance(value, str) else value


def _annotation(hp: Hyperparameter) -> Any:
    if hp.choices:
        kind: Any = Literal[hp.choices]
    elif hp.type is dict:
        return Annotated[dict[StrictStr, StrictStr], BeforeValidator(_label_names)]
    else:
        kind = hp.type
    return Annotated[kind | None, BeforeValidator(_none_word)] if hp.nullable else kind


def _field(hp: Hyperparameter) -> Any:
    limits = {}
    if hp.minimum is not None:
        limits["ge"] = hp.minimum
    if hp.maximum is not None:
        limits["le"] = hp.maximum
    default = hp.default
    if isinstance(default, dict):
        return Field(default_factory=dict, description=hp.help)
    return Field(default, description=hp.help, **limits)


def _config_model() -> type[BaseModel]:
    fields = {hp.name: (_annotation(hp), _field(hp)) for hp in options_for(HTTP_JOB)}
    return create_model(
        "TrainJobConfig",
        __config__=ConfigDict(extra="forbid", strict=False),
        __doc__="Hyperparameters (the same names, defaults and ranges as `python -m model train`); "
                "unknown keys are refused.",
        **fields,
    )


TrainJobConfig = _config_model()


class TrainJobRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"dataset_id": "3f2a9c0d1b2e4f56", "config": {"cell": "gru", "epochs": 3},
                                         "promote": "if_better"}]},
    )
    dataset_id: StrictStr = Field(description="the training data (POST /v1/datasets)")
    model: StrictStr | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="the model the new "
                                    "version belongs to: an existing name, or a new one, which creates the model "
                                    "(served from this first version); default: SENTIMENT_DEFAULT_MODEL")
    eval_dataset_id: StrictStr | None = Field(None, description="dev data for early stopping, calibration and "
                                              "promotion; default: a stratified split of the dataset")
    config: TrainJobConfig = Field(default_factory=TrainJobConfig, description="hyperparameters")  # type: ignore[valid-type]
    promote: Literal["never", "if_better", "if_better_than_baseline", "if_better_than_both", "always"] = Field(
        "never", description="what to do with the new version after training (accuracies on the eval set; every "
                             "job also fits a TF-IDF + logistic regression baseline there, reported as "
                             "result.baseline): 'never' keeps the active version; 'if_better' activates the new one "
                             "if it is more accurate than the active one; 'if_better_than_baseline' if it is more "
                             "accurate than the baseline; 'if_better_than_both' if it is more accurate than both; "
                             "'always' activates it whatever its accuracy. result.promotion records the decision "
                             "and its reason")
    time_limit_s: float | None = Field(None, gt=0, description="stop the job after this many seconds; "
                                       "at most SENTIMENT_JOB_TIMEOUT_S")
    processes: int = Field(1, ge=1, description="training processes on the trainer's node, started with "
                           "torchrun: one model trained with DistributedDataParallel (NCCL, one process per GPU, "
                           "on a GPU node; gloo on CPU), each process on its own share of every epoch's batches "
                           "(config.batch_size is per process). The bundle is the same as from one process; its "
                           "training.world_size says how many trained it. At most SENTIMENT_MAX_TRAINING_PROCESSES")
    base_version: StrictStr | None = Field(
        None, description="a version of the job's model, bundled included: the new model starts from its tokenizer and "
                          "weights; a different label set gets a new output layer. Its architecture and tokenizer "
                          "settings replace those of config (dropout and label_names excepted)")


class TrainJobOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    state: Literal[STATES]  # type: ignore[valid-type]
    dataset_id: str
    dataset_filename: str | None = Field(None, description="the training dataset's file name (its 'filename' in "
                                         "/v1/datasets); null once the dataset is deleted")
    eval_dataset_id: str | None
    eval_dataset_filename: str | None = Field(None, description="the eval dataset's file name, if one was given "
                                              "and is still stored")
    config: dict[str, Any]
    promote: str
    model: str | None = None
    base_version: str | None = None
    processes: int = 1
    progress: dict[str, Any]
    result: dict[str, Any]
    model_version: str | None
    error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
