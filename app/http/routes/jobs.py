"""Training jobs: submit (202), list, show, follow as Server-Sent Events, cancel."""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from ...training.jobs import TERMINAL
from ..deps import require_json, write_access
from ..responses import JSONResponse
from ..schemas.common import ERROR_RESPONSES
from ..schemas.jobs import TrainJobOut, TrainJobRequest

router = APIRouter(tags=["training"])
EVENT_POLL_S = 0.25


@router.post("/v1/train-jobs", status_code=202, response_model=TrainJobOut, responses=ERROR_RESPONSES,
             dependencies=[Depends(write_access("train")), Depends(require_json)],
             summary="Queue a training job; it runs in a separate process")
async def submit_job(body: TrainJobRequest, request: Request):
    job = await run_in_threadpool(request.app.state.jobs.submit, body.dataset_id, body.eval_dataset_id,
                                  body.config.model_dump(), body.promote, body.time_limit_s)
    return JSONResponse(job, status_code=202, headers={"Location": f"/v1/train-jobs/{job['id']}"})


@router.get("/v1/train-jobs", response_model=list[TrainJobOut], responses=ERROR_RESPONSES,
            summary="Jobs, newest first")
async def list_jobs(request: Request, limit: int = Query(100, ge=1, le=1000)):
    return JSONResponse(await run_in_threadpool(request.app.state.jobs.list, limit))


@router.get("/v1/train-jobs/{job_id}", response_model=TrainJobOut, responses=ERROR_RESPONSES)
async def get_job(job_id: str, request: Request):
    return JSONResponse(await run_in_threadpool(request.app.state.jobs.get, job_id))


@router.post("/v1/train-jobs/{job_id}/cancel", status_code=202, response_model=TrainJobOut,
             responses=ERROR_RESPONSES, dependencies=[Depends(write_access("train"))],
             summary="Cancel a queued job, or stop a running one within a few seconds")
async def cancel_job(job_id: str, request: Request):
    job = await run_in_threadpool(request.app.state.jobs.cancel, job_id)
    return JSONResponse(job, status_code=202)


@router.get("/v1/train-jobs/{job_id}/events", responses=ERROR_RESPONSES | {200: {"content": {"text/event-stream": {}}}},
            response_class=StreamingResponse, summary="Server-Sent Events with the job's state until it ends")
async def job_events(job_id: str, request: Request):
    service = request.app.state.jobs
    job = await run_in_threadpool(service.get, job_id)  # 404 before the stream starts

    async def stream():
        nonlocal job
        last = None
        while True:
            snapshot = json.dumps(job, sort_keys=True)
            if snapshot != last:
                last = snapshot
                event = "end" if job["state"] in TERMINAL else "progress"
                yield f"event: {event}\ndata: {snapshot}\n\n"
            if job["state"] in TERMINAL or await request.is_disconnected():
                return
            await asyncio.sleep(EVENT_POLL_S)
            job = await run_in_threadpool(service.get, job_id)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
