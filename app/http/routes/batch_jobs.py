"""Batch jobs: score every text of an uploaded dataset with a model, asynchronously; stream the result.

A batch job runs where training jobs run (``app/training/batch_process.py``), in the same queue, and
is followed the same way (its events are those of ``/v1/train-jobs/{id}/events``, with ``rows_done``,
``rows_total`` and ``rows_per_s`` as its progress). Its result streams as CSV (the text, ``label``,
``score``, one ``p_<label>`` column per label, in the dataset's order) or JSONL (``?format=jsonl``:
the text and its prediction as ``/v1/predict`` gives it).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from ...errors import Conflict, Gone
from ...training.batch_process import result_path
from ..deps import records_open, require_json, write_access
from ..schemas.batch_jobs import BatchJobOut, BatchJobRequest
from ..schemas.common import ERROR_RESPONSES
from .jobs import event_stream

router = APIRouter(tags=["batch"], dependencies=[Depends(records_open)])


def _shown(job: dict) -> dict:
    progress = job["progress"]
    return job | {"version": job["model_version"], "rows_done": progress.get("rows_done", 0),
                  "rows_total": progress.get("rows_total", 0), "rows_per_s": progress.get("rows_per_s")}


@router.post("/v1/batch-jobs", status_code=202, response_model=BatchJobOut, responses=ERROR_RESPONSES,
             dependencies=[Depends(write_access("train")), Depends(require_json)],
             summary="Score every text of a dataset with a model, in a job; the result streams as CSV or JSONL")
async def submit_batch_job(body: BatchJobRequest, request: Request, response: Response):
    job = await run_in_threadpool(request.app.state.jobs.submit_batch, body.dataset_id, body.model, body.version)
    response.headers["Location"] = f"/v1/batch-jobs/{job['id']}"
    return _shown(job)


@router.get("/v1/batch-jobs", response_model=list[BatchJobOut], responses=ERROR_RESPONSES,
            summary="Batch jobs, newest first")
async def list_batch_jobs(request: Request, limit: int = Query(100, ge=1, le=1000)):
    return [_shown(j) for j in await run_in_threadpool(request.app.state.jobs.list, limit, "batch")]


@router.get("/v1/batch-jobs/{job_id}", response_model=BatchJobOut, responses=ERROR_RESPONSES)
async def get_batch_job(job_id: str, request: Request):
    return _shown(await run_in_threadpool(request.app.state.jobs.get, job_id, "batch"))


@router.post("/v1/batch-jobs/{job_id}/cancel", status_code=202, response_model=BatchJobOut,
             responses=ERROR_RESPONSES, dependencies=[Depends(write_access("train"))],
             summary="Cancel a queued batch job, or stop a running one within a second or so")
async def cancel_batch_job(job_id: str, request: Request):
    return _shown(await run_in_threadpool(request.app.state.jobs.cancel, job_id, "batch"))


@router.get("/v1/batch-jobs/{job_id}/events", responses=ERROR_RESPONSES | {200: {"content": {"text/event-stream": {}}}},
            response_class=StreamingResponse, summary="Server-Sent Events: a batch job's state and progress, until it ends")
async def batch_job_events(job_id: str, request: Request):
    return await event_stream(request, job_id, "batch")


@router.get("/v1/batch-jobs/{job_id}/result", responses=ERROR_RESPONSES | {200: {"content": {
            "text/csv": {}, "application/x-ndjson": {}}}}, response_class=StreamingResponse,
            summary="The scored texts, in the dataset's order: CSV, or JSONL with ?format=jsonl")
async def batch_job_result(job_id: str, request: Request, format: str = Query("csv", pattern="^(csv|jsonl)$")):
    state = request.app.state
    job = await run_in_threadpool(state.jobs.get, job_id, "batch")
    if job["state"] != "succeeded":
        raise Conflict(f"batch job {job_id} is {job['state']}: its result is there once it has succeeded",
                       code="job_not_finished")
    path = result_path(state.settings.data_dir, job_id)
    record = await run_in_threadpool(state.datasets.get, job["dataset_id"])
    if record is None or not path.is_file():
        raise Gone(f"batch job {job_id}'s result (or its dataset) is no longer in the data directory",
                   code="result_gone")
    texts = (await run_in_threadpool(state.datasets.load, record)).texts
    labels = job["result"].get("labels", [])
    rows = _jsonl(texts, path) if format == "jsonl" else _csv(texts, path, labels)
    media = "application/x-ndjson" if format == "jsonl" else "text/csv; charset=utf-8"
    return StreamingResponse(rows, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="batch-{job_id}.{format}"'})


def _predictions(path: Path) -> Iterator[dict]:
    with open(path, "rb") as f:
        for line in f:
            yield json.loads(line)


def _jsonl(texts: list[str], path: Path) -> Iterator[bytes]:
    for text, prediction in zip(texts, _predictions(path)):
        yield json.dumps({"text": text} | prediction, ensure_ascii=False).encode() + b"\n"


def _csv(texts: list[str], path: Path, labels: list[str]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["text", "label", "score", *(f"p_{label}" for label in labels)])
    for i, (text, p) in enumerate(zip(texts, _predictions(path))):
        label = "|".join(p["labels"]) if "labels" in p else p.get("label", "")
        writer.writerow([text, label, p.get("score", ""), *(p["probabilities"][k] for k in labels)])
        if i % 512 == 511:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
