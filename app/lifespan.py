"""Start-up and shut-down: load the active model once, start the model process, the batcher and the job runner."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from contextlib import asynccontextmanager

import torch
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from .background import cancel_and_wait
from .batching import Batcher
from .datasets import DatasetStore
from .jobs import JobRunner, JobService
from .model_process import ModelProcess
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
    # The server tokenises each batch (a few dozen short texts) itself: HF tokenizers' thread pool
    # costs more CPU there than it saves, CPU the model process on the other core needs.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    registry = open_registry(settings)
    loaded = await run_in_threadpool(registry.load_active)
    log.info("serving model version %s (%s)", loaded.version, ", ".join(loaded.predictor.labels))
    app.state.registry = registry
    app.state.store = registry.store
    app.state.metrics.set_active(loaded.version)
    app.state.batcher = None
    model_process = None
    if settings.batching and settings.inference_process:
        model_process = ModelProcess(settings, on_restart=app.state.metrics.model_process_restarts.inc,
                                     on_model_call=app.state.metrics.batch_size.observe)
        await model_process.start(loaded)
        loop = asyncio.get_running_loop()
        # Activations run in worker threads (never on the loop): they wait there for the child.
        registry.prepare = lambda new: asyncio.run_coroutine_threadsafe(model_process.prepare(new), loop).result()
        registry.on_swap = model_process.served
    app.state.model_process = model_process
    if model_process is not None:
        # Requests go to the model process as they come (no wait, several batches in flight): it
        # merges whatever waits for it into one model call.
        app.state.batcher = Batcher(lambda: registry.current, settings.max_batch_size, 0.0, app.state.metrics,
                                    run=model_process.predict, in_flight=settings.batches_in_flight)
    elif settings.batching:
        # One inference thread; the next batch waits at it while one runs.
        app.state.batcher = Batcher(lambda: registry.current, settings.max_batch_size, settings.max_wait_ms / 1000,
                                    app.state.metrics, in_flight=2)
    if app.state.batcher is not None:
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
        if model_process is not None:
            await model_process.stop()
