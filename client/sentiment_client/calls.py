"""What each API method sends and how its answer is read, declared once for both clients.

``Client`` and ``AsyncClient`` differ only in how they send a ``Call`` (blocking or awaiting);
the paths, bodies, which calls may be repeated, and the decoding of answers and errors live here,
so the two cannot drift apart.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from .errors import ApiError
from .retries import retry_after_s
from .types import Dataset, FeedbackSummary, Job, Model, Prediction, Version

T = TypeVar("T")
JOB_PATHS = {"train": "/v1/train-jobs", "batch": "/v1/batch-jobs"}
RESULT_FORMATS = ("csv", "jsonl")


class Unset:
    """The default of an argument whose absence differs from None (``activate``'s ``min_score``:
    None clears the model's default, leaving it out keeps it)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = Unset()


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how to read its answer. ``idempotent``: sending it twice has the effect of
    sending it once, so it may be sent again after a connection lost mid-request (``retries.py``)."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: Any = None
    files: Any = None
    data: Any = None
    params: Mapping[str, str] | None = None
    idempotent: bool = False

    def request(self, http: httpx.Client | httpx.AsyncClient, timeout: Any = None) -> httpx.Request:
        extra = {} if timeout is None else {"timeout": timeout}
        return http.build_request(self.method, self.path, json=self.json, files=self.files, data=self.data,
                                  params=self.params, **extra)


def segment(value: str) -> str:
    """A name or id as one path segment: a '/' or '?' in it cannot reach another endpoint."""
    return quote(str(value), safe="")


def api_error(response: httpx.Response) -> ApiError:
    """The server's ``{"error", "message", "details"}`` as an ``ApiError``; an answer that is not
    that shape (a proxy's HTML page, say) becomes one with its status and first line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return ApiError(response.status_code, str(body.get("error") or f"http_{response.status_code}"),
                        body["message"], body.get("details"), retry_after_s(response))
    first_line = (response.text.strip().splitlines() or [response.reason_phrase or "no body"])[0][:200]
    return ApiError(response.status_code, f"http_{response.status_code}",
                    f"{response.request.method} {response.request.url.path}: {first_line}", None,
                    retry_after_s(response))


def outcome(call: Call[T], response: httpx.Response) -> T:
    """The call's result, or its ``ApiError`` for an error status."""
    if not response.is_success:
        raise api_error(response)
    return call.parse(response)


def json_of(response: httpx.Response) -> Any:
    """The answer's JSON; an answer that is not JSON is an ``ApiError`` (the URL is likely not this API)."""
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("content-type", "no content type")
        raise ApiError(response.status_code, "unexpected_response",
                       f"{response.request.method} {response.request.url} answered {kind}, not JSON: "
                       "is the URL that of the service?") from None


# The calls, in the order of the API's docs

def predict(texts: str | Iterable[str], model: str | None = None, top_k: int | None = None,
            min_score: float | None = None) -> Call[list[Prediction]]:
    body: dict[str, Any] = {"texts": [texts] if isinstance(texts, str) else list(texts)}
    body |= {k: v for k, v in (("model", model), ("top_k", top_k), ("min_score", min_score)) if v is not None}

    def parse(response: httpx.Response) -> list[Prediction]:
        answer = json_of(response)
        return [Prediction.from_json(p, answer["model"], answer["model_version"]) for p in answer["predictions"]]

    return Call("POST", "/v1/predict", parse, json=body, idempotent=True)  # predicting twice changes nothing


def models() -> Call[list[Model]]:
    def parse(response: httpx.Response) -> list[Model]:
        answer = json_of(response)
        return [Model.from_json(m, answer.get("default_model")) for m in answer["models"]]

    return Call("GET", "/v1/models", parse, idempotent=True)


def versions(model: str) -> Call[list[Version]]:
    return Call("GET", f"/v1/models/{segment(model)}/versions",
                lambda r: [Version.from_json(v) for v in json_of(r)["versions"]], idempotent=True)


def activate(model: str, version: str, min_score: float | None | Unset = UNSET) -> Call[Version]:
    # Activating the active version again changes nothing: safe to repeat.
    return Call("POST", f"/v1/models/{segment(model)}/versions/{segment(version)}/activate",
                lambda r: Version.from_json(json_of(r)), json=None if min_score is UNSET else {"min_score": min_score},
                idempotent=True)


def upload(source: Any, *, text_column: str | None = None, label_column: str | None = None,
           format: str | None = None) -> Call[Dataset]:
    """A file (path) goes as a multipart upload, read now so that a retry sends it again; examples
    (dicts, ``(text, label)`` pairs, plain texts to score, or a DataFrame) go as JSON."""
    # The same content twice is one dataset (the server answers 200 with it): safe to repeat.
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        form = {k: v for k, v in (("text_column", text_column), ("label_column", label_column),
                                  ("format", format)) if v is not None}
        return Call("POST", "/v1/datasets", _dataset, files={"file": (path.name, path.read_bytes())},
                    data=form or None, idempotent=True)
    if text_column or label_column or format:
        raise ValueError("text_column, label_column and format are for uploading a file; examples name "
                         "'text' and 'label' (or 'labels') themselves")
    return Call("POST", "/v1/datasets", _dataset, json={"examples": examples(source)}, idempotent=True)


def _dataset(response: httpx.Response) -> Dataset:
    return Dataset.from_json(json_of(response))


def examples(source: Any) -> list[dict[str, Any]]:
    """Examples as the API takes them: ``{"text", "label"}``, ``{"text", "labels"}`` or ``{"text"}``."""
    if _is_frame(source):
        from .frames import frame_examples

        return frame_examples(source)
    out = []
    for number, item in enumerate(source):
        if isinstance(item, str):
            out.append({"text": item})
        elif isinstance(item, Mapping):
            out.append(dict(item))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            text, label = item
            out.append({"text": text, "labels" if isinstance(label, (list, tuple)) else "label": label})
        else:
            raise ValueError(f"example {number}: give a text, a (text, label) pair or a dict with 'text' and "
                             f"'label' or 'labels'; got {type(item).__name__}")
    return out


def train(dataset_id: str, *, model: str | None = None, config: Mapping[str, Any] | None = None,
          promote: str = "never", **options: Any) -> Call[Job]:
    body = {"dataset_id": dataset_id, "config": dict(config or {}), "promote": promote}
    body |= {k: v for k, v in ({"model": model} | options).items() if v is not None}
    return Call("POST", JOB_PATHS["train"], lambda r: Job.from_json(json_of(r), "train"), json=body)


def job(job_id: str, kind: str = "train") -> Call[Job]:
    return Call("GET", f"{job_path(kind)}/{segment(job_id)}", lambda r: Job.from_json(json_of(r), kind),
                idempotent=True)


def cancel(job_id: str, kind: str = "train") -> Call[Job]:
    return Call("POST", f"{job_path(kind)}/{segment(job_id)}/cancel", lambda r: Job.from_json(json_of(r), kind),
                idempotent=True)


def submit_batch(dataset_id: str, *, model: str | None = None, version: str | None = None) -> Call[Job]:
    body = {"dataset_id": dataset_id} | {k: v for k, v in (("model", model), ("version", version)) if v is not None}
    return Call("POST", JOB_PATHS["batch"], lambda r: Job.from_json(json_of(r), "batch"), json=body)


def events(job_id: str, kind: str) -> Call[None]:
    """The job's event stream; read line by line by the clients, never parsed whole."""
    return Call("GET", f"{job_path(kind)}/{segment(job_id)}/events", lambda r: None, idempotent=True)


def result(job_id: str, format: str = "csv") -> Call[None]:
    """A batch job's scored rows, streamed to a file by the clients."""
    if format not in RESULT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(RESULT_FORMATS)}; got {format!r}")
    return Call("GET", f"{JOB_PATHS['batch']}/{segment(job_id)}/result", lambda r: None,
                params={"format": format} if format != "csv" else None, idempotent=True)


def feedback(model: str, items: Any) -> Call[FeedbackSummary]:
    # The server keeps one correction per text, the latest: sending the same items twice is safe.
    return Call("POST", f"/v1/models/{segment(model)}/feedback", lambda r: FeedbackSummary.from_json(json_of(r)),
                json={"items": examples(items)}, idempotent=True)


def feedback_summary(model: str) -> Call[FeedbackSummary]:
    return Call("GET", f"/v1/models/{segment(model)}/feedback", lambda r: FeedbackSummary.from_json(json_of(r)),
                idempotent=True)


def job_path(kind: str) -> str:
    try:
        return JOB_PATHS[kind]
    except KeyError:
        raise ValueError(f"kind must be one of {', '.join(JOB_PATHS)}; got {kind!r}") from None


def job_ref(job: str | Job, kind: str | None) -> tuple[str, str]:
    """``(id, kind)`` of a ``Job`` or of an id (``kind`` default: a training job)."""
    if isinstance(job, Job):
        return job.id, kind or job.kind
    return job, kind or "train"


def _is_frame(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and type(value).__module__.startswith("pandas")
