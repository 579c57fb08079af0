"""The API's answers as dataclasses, so that callers get attribute names an editor completes and a
type checker reads, instead of dictionaries whose keys are learnt from the docs.

Each ``from_json`` reads what the server sends and keeps the whole answer in ``raw``: a field the
server adds later is still reachable before this package learns its name. Unknown keys are never
an error, for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TERMINAL_STATES = ("succeeded", "failed", "cancelled", "interrupted")


@dataclass(frozen=True)
class LabelScore:
    """One of a prediction's ``top`` labels (asked for with ``top_k``)."""

    label: str
    score: float


@dataclass(frozen=True)
class Prediction:
    """One text's prediction, and which model version made it.

    Single-label models fill ``label`` (None when the prediction abstained under ``min_score``) and
    ``score``; multi-label models fill ``labels`` (possibly empty) instead."""

    label: str | None
    score: float | None
    probabilities: dict[str, float]
    model: str
    model_version: str
    windows: int = 1
    labels: list[str] | None = None
    abstained: bool | None = None
    top: list[LabelScore] | None = None
    warnings: list[str] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any], model: str, model_version: str) -> Prediction:
        top = data.get("top")
        return cls(
            label=data.get("label"), score=data.get("score"), probabilities=dict(data.get("probabilities") or {}),
            model=model, model_version=model_version, windows=data.get("windows", 1), labels=data.get("labels"),
            abstained=data.get("abstained"), warnings=data.get("warnings"),
            top=None if top is None else [LabelScore(t["label"], t["score"]) for t in top],
        )


@dataclass(frozen=True)
class Model:
    """A named model: what it predicts and which version serves it."""

    name: str
    active_version: str
    task: str
    labels: list[str]
    versions: list[str]
    default: bool = False
    min_score: float | None = None
    previous_version: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], default_model: str | None = None) -> Model:
        return cls(name=data["name"], active_version=data["active_version"], task=data.get("task", "single_label"),
                   labels=list(data.get("labels") or []), versions=list(data.get("versions") or []),
                   default=data["name"] == default_model, min_score=data.get("min_score"),
                   previous_version=data.get("previous_version"), raw=data)


@dataclass(frozen=True)
class Version:
    """One version of a model (``activate`` answers with the version it made active)."""

    model: str
    version: str
    active: bool
    source: str | None = None
    labels: list[str] | None = None
    metrics: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Version:
        return cls(model=data["model"], version=data["version"], active=bool(data.get("active")),
                   source=data.get("source"), labels=data.get("labels"), metrics=data.get("metrics"), raw=data)


@dataclass(frozen=True)
class Dataset:
    """An uploaded dataset's summary; ``id`` is what ``train`` and ``score`` take."""

    id: str
    filename: str
    examples: int
    task: str | None = None
    label_counts: dict[str, int] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dataset:
        return cls(id=data["id"], filename=data.get("filename", ""), examples=data.get("examples", 0),
                   task=data.get("task"), label_counts=dict(data.get("label_counts") or {}), raw=data)


@dataclass(frozen=True)
class Job:
    """A training job (``kind`` "train") or a batch scoring job (``kind`` "batch").

    The two share their states and their event stream, so one type lets ``events`` and ``wait``
    follow either; ``kind`` says which endpoints it lives under."""

    id: str
    kind: str
    state: str
    model: str | None = None
    model_version: str | None = None
    error: str | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    rows_done: int | None = None
    rows_total: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def done(self) -> bool:
        """True once the job can change no more (succeeded, failed, cancelled or interrupted)."""
        return self.state in TERMINAL_STATES

    @classmethod
    def from_json(cls, data: dict[str, Any], kind: str) -> Job:
        return cls(id=data["id"], kind=data.get("kind", kind), state=data["state"], model=data.get("model"),
                   model_version=data.get("model_version") or data.get("version"), error=data.get("error"),
                   progress=dict(data.get("progress") or {}), result=dict(data.get("result") or {}),
                   rows_done=_first(data, "rows_done"), rows_total=_first(data, "rows_total"), raw=data)


def _first(job: dict[str, Any], key: str) -> Any:
    """A batch job's count: at the top of ``GET /v1/batch-jobs/{id}``, in ``progress`` in the
    job record that its events carry."""
    return job[key] if job.get(key) is not None else (job.get("progress") or {}).get(key)


@dataclass(frozen=True)
class FeedbackSummary:
    """A model's stored corrections: ``items`` (one per text, the latest kept), their
    ``label_counts``, and ``dataset_id``, the corrections as a dataset ``train`` takes. Sending
    feedback answers with ``stored`` (this request's items) and the new ``items`` count only."""

    model: str
    items: int
    stored: int | None = None
    label_counts: dict[str, int] = field(default_factory=dict)
    dataset_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeedbackSummary:
        return cls(model=data["model"], items=data.get("items", 0), stored=data.get("stored"),
                   label_counts=dict(data.get("label_counts") or {}), dataset_id=data.get("dataset_id"), raw=data)


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event of a job: its type (``snapshot``, ``state``, ``progress``, ``epoch``,
    ``end``) and its data, decoded from JSON (the text itself if it is not JSON)."""

    type: str
    data: Any
