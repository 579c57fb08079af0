"""Start-up and shut-down: load the active model once, start the batcher (and the job runner)."""

from __future__ import annotations

import asyncio
import gc
import logging
from contextlib import asynccontextmanager

import torch
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from .background import cancel_and_wait
from .batching import Batcher
from .datasets import DatasetStore
from .jobs import JobRunner, JobService
from .registry import ModelRegistry
from .store import Store

log = logging.getLogger(__name__)


def open_registry(settings) -> ModelRegistry:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.data_dir / "sentiment.db")
    registry = ModelRegistry(settings, store)
    registry.bootstrap()
    return registry


async def _follow_activations(app: FastAPI) -> None:
    """Other worker processes may activate a version; pick it up within ``version_poll_s``."""
    registry = app.state.registry
    while True:
        await asyncio.sleep(app.state.settings.version_poll_s)
        try:
            if await run_in_threadpool(registry.sync):
                app.state.metrics.set_active(registry.current.version)
        except Exception:
            log.exception("could not follow the active model version")


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings = app.state.settings
    torch.set_num_threads(settings.inference_threads)
    registry = open_registry(settings)
    loaded = await run_in_threadpool(registry.load_active)
    log.info("serving model version %s (%s)", loaded.version, ", ".join(loaded.predictor.labels))
    app.state.registry = registry
    app.state.store = registry.store
    app.state.metrics.set_active(loaded.version)
    app.state.batcher = None
    if settings.batching:
        app.state.batcher = Batcher(lambda: registry.current, settings.max_batch_size,
                                    settings.max_wait_ms / 1000, app.state.metrics)
        app.state.batcher.start()
    app.state.datasets = DatasetStore(registry.store, settings.data_dir / "datasets")
    app.state.jobs = JobService(settings, registry.store, app.state.datasets)
    runner = JobRunner(settings, app.state.jobs, registry, app.state.metrics)
    runner.start()
    follower = asyncio.create_task(_follow_activations(app), name="follow-activations")
    # What start-up created lives as long as the process: keep it out of the garbage collector's
    # full passes, which otherwise scan ~200k objects (torch, FastAPI, pydantic) and stall the
    # event loop for 50-100 ms every few seconds under load.
    gc.freeze()
    try:
        yield
    finally:
        await runner.stop()
        await cancel_and_wait(follower)
        if app.state.batcher is not None:
            await app.state.batcher.stop()
