"""Training jobs: submit (202), list, show, follow as Server-Sent Events, cancel."""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from ...training.jobs import TERMINAL
from ..deps import records_open, require_json, write_access
from ..schemas.common import ERROR_RESPONSES
from ..schemas.jobs import TrainJobOut, TrainJobRequest

router = APIRouter(tags=["training"], dependencies=[Depends(records_open)])
EVENT_POLL_S = 0.25


@router.post("/v1/train-jobs", status_code=202, response_model=TrainJobOut, responses=ERROR_RESPONSES,
             dependencies=[Depends(write_access("train")), Depends(require_json)],
             summary="Queue a training job; it runs in a separate process")
async def submit_job(body: TrainJobRequest, request: Request, response: Response):
    job = await run_in_threadpool(request.app.state.jobs.submit, body.dataset_id, body.eval_dataset_id,
                                  body.config.model_dump(), body.promote, body.time_limit_s, body.base_version,
                                  body.processes, body.model)
    response.headers["Location"] = f"/v1/train-jobs/{job['id']}"
    return job


@router.get("/v1/train-jobs", response_model=list[TrainJobOut], responses=ERROR_RESPONSES,
            summary="Jobs, newest first")
async def list_jobs(request: Request, limit: int = Query(100, ge=1, le=1000)):
    return await run_in_threadpool(request.app.state.jobs.list, limit)


@router.get("/v1/train-jobs/{job_id}", response_model=TrainJobOut, responses=ERROR_RESPONSES)
async def get_job(job_id: str, request: Request):
    return await run_in_threadpool(request.app.state.jobs.get, job_id)


@router.post("/v1/train-jobs/{job_id}/cancel", status_code=202, response_model=TrainJobOut,
             responses=ERROR_RESPONSES, dependencies=[Depends(write_access("train"))],
             summary="Cancel a queued job, or stop a running one within a few seconds")
async def cancel_job(job_id: str, request: Request):
    job = await run_in_threadpool(request.app.state.jobs.cancel, job_id)
    return job


EVENTS_DESCRIPTION = """Server-Sent Events that follow one job until it ends; each event's `data` is one JSON object.

* `snapshot`: first, the job record (as `GET /v1/train-jobs/{id}`).
* `state`: the state changed: `{"state": "running", "previous": "queued"}` (plus `error` once there is one).
* `progress`: while it trains, at most two a second: only the progress fields whose value changed since
  the last event (`epoch`, `step`, `total_steps`, `percent`, `loss`, `eta_s`, `elapsed_s`, `tokens_per_s`
  (training tokens per second so far), `seconds_per_epoch`, and `stop_reason` with the last epoch); before
  the first epoch, the baseline's `baseline_step` of `baseline_steps` (features built, then each C tried;
  or at once `baseline_reused: true`, when a job on the same data and settings fitted it before), then
  `baseline_accuracy`.
* `epoch`: an epoch ended: its metrics (`epoch`, `train_loss`, `dev_loss`, `dev_accuracy`, `dev_macro_f1`,
  `seconds` (its wall time), `tokens_per_s` (its training tokens per second), `elapsed_s`).
* `end`: last, once the job has ended (succeeded, failed, cancelled or interrupted): the final job record,
  with `result.stop_reason`. The stream then closes.

A line starting with `:` is a keep-alive comment, sent after 15 s without an event."""
PROGRESS_EVERY_S = 0.5  # progress events: at most two a second
KEEPALIVE_S = 15.0


def _event(kind: str, data: dict) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class _Sent:
    """What a client of the event stream has been told so far; ``changes`` tells it the rest."""

    def __init__(self, job: dict):
        self.state = job["state"]
        self.progress = {k: v for k, v in job["progress"].items() if k != "epochs_done"}
        self.epochs = len(job["progress"].get("epochs_done", []))

    def changes(self, job: dict, progress_due: bool) -> list[str]:
        events = []
        if job["state"] != self.state:
            change = {"state": job["state"], "previous": self.state}
            events.append(_event("state", change | ({"error": job["error"]} if job.get("error") else {})))
            self.state = job["state"]
        epochs = job["progress"].get("epochs_done", [])
        events += [_event("epoch", entry) for entry in epochs[self.epochs:]]
        self.epochs = max(self.epochs, len(epochs))
        if progress_due and job["state"] not in TERMINAL:  # the end event carries the final progress
            changed = {k: v for k, v in job["progress"].items() if k != "epochs_done" and self.progress.get(k) != v}
            if changed:
                events.append(_event("progress", changed))
                self.progress.update(changed)
        return events


@router.get("/v1/train-jobs/{job_id}/events", responses=ERROR_RESPONSES | {200: {"content": {"text/event-stream": {}}}},
            response_class=StreamingResponse, summary="Server-Sent Events: what changes in a job, until it ends",
            description=EVENTS_DESCRIPTION)
async def job_events(job_id: str, request: Request):
    return await event_stream(request, job_id, "train")


async def event_stream(request: Request, job_id: str, kind: str) -> StreamingResponse:
    """The events of job ``job_id`` of ``kind`` (training and batch jobs alike), until it ends."""
    service = request.app.state.jobs
    job = await run_in_threadpool(service.get, job_id, kind)  # 404 before the stream starts

    async def stream():
        nonlocal job
        sent = _Sent(job)
        yield _event("snapshot", job)
        loop = asyncio.get_running_loop()
        last_progress = last_event = loop.time()
        while True:
            if job["state"] in TERMINAL:
                for event in sent.changes(job, progress_due=False):
                    yield event
                yield _event("end", job)
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(EVENT_POLL_S)
            job = await run_in_threadpool(service.get, job_id, kind)
            due = loop.time() - last_progress >= PROGRESS_EVERY_S
            events = sent.changes(job, due)
            if due and any(e.startswith("event: progress") for e in events):
                last_progress = loop.time()
            if events:
                last_event = loop.time()
            elif loop.time() - last_event >= KEEPALIVE_S:
                events, last_event = [": keep-alive\n\n"], loop.time()
            for event in events:
                yield event

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
