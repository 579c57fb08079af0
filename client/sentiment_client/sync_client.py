"""``Client``: the API's methods over one blocking httpx connection pool.

Each method builds its request in ``calls.py`` and sends it through ``_send``, the one place that
retries (``retries.py``) and turns error answers into ``ApiError``. ``AsyncClient`` mirrors it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

from . import calls
from .base import ClientBase
from .calls import UNSET, Call
from .errors import JobFailed
from .sse import EventParser
from .types import Dataset, Event, FeedbackSummary, Job, Model, Prediction, Version

T = TypeVar("T")


class Client(ClientBase):
    """``Client(url, key)``; ``url`` and ``key`` default to ``SENTIMENTCLIENT_URL`` and
    ``SENTIMENTCLIENT_KEY``. Use it in a ``with`` block, or ``close()`` it, to free its connections.

    ``retries``: how many times a refused (429/503) or unreachable request is sent again, waiting
    what ``Retry-After`` asks (at most ``max_retry_wait_s``) or a doubling backoff."""

    def __init__(self, url: str | None = None, key: str | None = None, **options: Any):
        super().__init__(url, key, **options)
        self._http = httpx.Client(**self._http_options())

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # Predictions and models

    def predict(self, texts: str | Iterable[str], model: str | None = None, top_k: int | None = None,
                min_score: float | None = None) -> list[Prediction]:
        """One ``Prediction`` per text, in order (a single string counts as one text)."""
        call = calls.predict(texts, model, top_k, min_score)
        return self._send(call) if call.json["texts"] else []

    def predict_frame(self, frame: Any, text_column: str = "text", *, batch_size: int = 256, **options: Any) -> Any:
        """Predictions for a pandas DataFrame's ``text_column``, as a frame on the same index with
        ``label``, ``score`` and one ``p_<label>`` column per label (``frames.py``). Sent in requests
        of ``batch_size`` texts (the server's default limit per request is 256)."""
        from .frames import frame_texts, predictions_frame

        texts = frame_texts(frame, text_column)
        predictions = [p for start in range(0, len(texts), batch_size)
                       for p in self.predict(texts[start:start + batch_size], **options)]
        return predictions_frame(predictions, index=frame.index)

    def models(self) -> list[Model]:
        return self._send(calls.models())

    def versions(self, model: str) -> list[Version]:
        return self._send(calls.versions(model))

    def activate(self, model: str, version: str, min_score: float | None = UNSET) -> Version:
        """Serve ``version`` of ``model`` from now on (activating an earlier one is the rollback);
        ``min_score`` sets the model's default (None clears it; left out, it is kept)."""
        return self._send(calls.activate(model, version, min_score))

    # Datasets and jobs

    def upload(self, source: str | os.PathLike | Iterable[Any], **options: Any) -> Dataset:
        """Upload a dataset: a CSV/TSV/JSONL file's path (``text_column``, ``label_column`` and
        ``format`` as the server takes them), or examples (``calls.examples``), or a DataFrame."""
        return self._send(calls.upload(source, **options))

    def train(self, dataset_id: str | Dataset, model: str | None = None, config: Mapping[str, Any] | None = None,
              promote: str = "never", **options: Any) -> Job:
        """Queue a training job (202); follow it with ``events`` or ``wait``. ``options``: the job's
        other fields (``eval_dataset_id``, ``base_version``, ``time_limit_s``, ``processes``)."""
        dataset_id = dataset_id.id if isinstance(dataset_id, Dataset) else dataset_id
        return self._send(calls.train(dataset_id, model=model, config=config, promote=promote, **options))

    def job(self, job_id: str, kind: str = "train") -> Job:
        return self._send(calls.job(job_id, kind))

    def cancel(self, job: str | Job, kind: str | None = None) -> Job:
        return self._send(calls.cancel(*calls.job_ref(job, kind)))

    def events(self, job: str | Job, kind: str | None = None) -> Iterator[Event]:
        """The job's events as they come, ending with its ``end`` event.

        A stream cut before the end is opened again (up to ``retries`` times in a row); the server
        then starts again with a ``snapshot``, so nothing is missed, though progress may repeat."""
        call = calls.events(*calls.job_ref(job, kind))
        failures = 0
        while True:
            try:
                with self._open(call, timeout=self._event_timeout()) as response:
                    parser = EventParser()
                    for line in response.iter_lines():
                        event = parser.feed(line)
                        if event is not None:
                            failures = 0
                            yield event
                            if event.type == "end":
                                return
                why: Exception = httpx.RemoteProtocolError("the event stream closed before the job's end event")
            except httpx.TransportError as exc:
                why = exc
            wait = self.retry.after_error(failures, why, idempotent=True)  # type: ignore[arg-type]
            if wait is None:
                raise self._connection_failed(why, failures + 1)  # type: ignore[arg-type]
            self._log_retry(call.method, call.path, wait, str(why))
            time.sleep(wait)
            failures += 1

    def wait(self, job: str | Job, kind: str | None = None, on_event: Callable[[Event], None] | None = None) -> Job:
        """Follow the job to its end (``on_event`` sees each event) and return its final record."""
        job_id, kind = calls.job_ref(job, kind)
        for event in self.events(job_id, kind):
            if on_event is not None:
                on_event(event)
            if event.type == "end":
                return Job.from_json(event.data, kind)
        raise AssertionError("events() ends with the end event")  # pragma: no cover

    # Batch scoring and feedback

    def submit_batch(self, dataset_id: str | Dataset, model: str | None = None, version: str | None = None) -> Job:
        """Queue a batch job scoring every text of the dataset (202)."""
        dataset_id = dataset_id.id if isinstance(dataset_id, Dataset) else dataset_id
        return self._send(calls.submit_batch(dataset_id, model=model, version=version))

    def download_result(self, job: str | Job, out: str | os.PathLike, format: str = "csv") -> Path:
        """Stream a finished batch job's rows into ``out``, written aside and renamed into place so
        that ``out`` is never a partial file."""
        job_id, _ = calls.job_ref(job, "batch")
        out, partial = Path(out), Path(f"{out}.partial")
        try:
            with self._open(calls.result(job_id, format)) as response, open(partial, "wb") as file:
                for chunk in response.iter_bytes():
                    file.write(chunk)
            os.replace(partial, out)
        except httpx.TransportError as exc:  # cut mid-file: the partial file goes, the error says why
            raise self._connection_failed(exc, 1) from exc
        finally:
            partial.unlink(missing_ok=True)
        return out

    def score(self, source: Any, out: str | os.PathLike, *, model: str | None = None, version: str | None = None,
              format: str = "csv", on_event: Callable[[Event], None] | None = None) -> Job:
        """Score a file (its path), texts or a DataFrame, or an uploaded ``Dataset``, as a batch job,
        and write its rows to ``out``: upload, submit, follow (``on_event``), download.

        Raises ``JobFailed`` when the job ends without succeeding: there are no rows to write."""
        calls.result("", format)  # a bad format fails here, not after the whole job
        dataset = source if isinstance(source, Dataset) else self.upload(source)
        job = self.wait(self.submit_batch(dataset, model, version), on_event=on_event)
        if job.state != "succeeded":
            raise JobFailed(job)
        self.download_result(job, out, format)
        return job

    def feedback(self, model: str, items: Iterable[Any]) -> FeedbackSummary:
        """Send corrected labels for ``model``: dicts with ``text`` and ``label`` or ``labels`` (and
        ``prediction_id``), or ``(text, label)`` pairs, or a DataFrame. The latest correction of a
        text replaces any earlier one."""
        return self._send(calls.feedback(model, items))

    def feedback_summary(self, model: str) -> FeedbackSummary:
        """The corrections stored for ``model``, with ``dataset_id`` to train on them."""
        return self._send(calls.feedback_summary(model))

    # Sending

    def _send(self, call: Call[T]) -> T:
        with self._open(call, read=True) as response:
            return calls.outcome(call, response)

    @contextmanager
    def _open(self, call: Call[Any], *, read: bool = False, timeout: Any = None) -> Iterator[httpx.Response]:
        """Send ``call``, again after a 429/503 or a transport error as the retry policy allows; yield
        the answer (an error answer only when ``read``, for ``outcome`` to raise), streamed unless ``read``."""
        attempt = 0
        while True:
            try:
                response = self._http.send(call.request(self._http, timeout), stream=True)
                try:
                    if read or not response.is_success:
                        response.read()
                except BaseException:
                    response.close()
                    raise
            except httpx.TransportError as exc:
                wait = self.retry.after_error(attempt, exc, call.idempotent)
                if wait is None:
                    raise self._connection_failed(exc, attempt + 1) from exc
                why = str(exc) or type(exc).__name__
            else:
                wait = self.retry.after_response(attempt, response)
                if wait is None:
                    try:
                        if not response.is_success:
                            raise calls.api_error(response)
                        yield response
                    finally:
                        response.close()
                    return
                response.close()
                why = f"HTTP {response.status_code}"
            self._log_retry(call.method, call.path, wait, why)
            time.sleep(wait)
            attempt += 1
