"""Start-up and shut-down: open the records, load the active version, start the model process and
the batcher (serving) and the job runner (training); stop them in reverse."""

from __future__ import annotations

import asyncio
import gc
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from .background import cancel_and_wait
from .serving.batcher import Batcher
from .serving.model_process.client import ModelProcess
from .serving.registry import ModelRegistry
from .settings import Settings
from .store import Store
from .training.datasets import DatasetStore
from .training.jobs import JobService
from .training.runner import JobRunner

log = logging.getLogger(__name__)


def open_registry(settings: Settings) -> ModelRegistry:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store.from_settings(settings)
    registry = ModelRegistry(settings, store)
    registry.bootstrap()
    return registry


async def _follow_activations(app: FastAPI) -> None:
    """Other server processes may activate a version; pick it up within ``version_poll_s``."""
    while True:
        await asyncio.sleep(app.state.settings.version_poll_s)
        try:
            await _sync_active_version(app)
        except Exception:
            log.exception("could not follow the active model version")


async def _sync_active_version(app: FastAPI) -> None:
    registry = app.state.registry
    if await run_in_threadpool(registry.sync):
        app.state.metrics.set_active(registry.current.version)


def _start_serving(app: FastAPI, registry: ModelRegistry) -> None:
    """The batcher in front of the model (a process of its own, or a thread of this one)."""
    settings, metrics = app.state.settings, app.state.metrics
    app.state.batcher = None
    model_process = app.state.model_process
    if model_process is not None:
        loop = asyncio.get_running_loop()
        # Activations run in threadpool threads (never on the loop): they wait there for the child.
        registry.prepare = lambda new: asyncio.run_coroutine_threadsafe(model_process.prepare(new), loop).result()
        registry.on_swap = model_process.served
        # Requests go to the model process as they come (no wait, several batches in flight): it
        # merges whatever waits for it into one model call.
        app.state.batcher = Batcher(lambda: registry.current, settings.max_batch_size, 0.0, metrics,
                                    run=model_process.predict, in_flight=settings.batches_in_flight)
    elif settings.batching:
        # One inference thread; the next batch waits at it while one runs.
        app.state.batcher = Batcher(lambda: registry.current, settings.max_batch_size, settings.max_wait_ms / 1000,
                                    metrics, in_flight=2)
    if app.state.batcher is not None:
        app.state.batcher.start()


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings = app.state.settings
    registry = open_registry(settings)
    if registry.in_process:  # the model runs in this process: torch's threads are this process's
        import torch

        torch.set_num_threads(settings.inference_threads)
    loaded = await run_in_threadpool(registry.load_active)
    log.info("serving model version %s (%s)", loaded.version, ", ".join(loaded.labels))
    app.state.registry = registry
    app.state.store = registry.store
    app.state.metrics.set_active(loaded.version)
    app.state.model_process = None
    if not registry.in_process:
        app.state.model_process = ModelProcess(settings, on_restart=app.state.metrics.model_process_restarts.inc,
                                               on_model_call=app.state.metrics.batch_size.observe)
        await app.state.model_process.start(loaded)
    _start_serving(app, registry)
    app.state.datasets = DatasetStore(registry.store, settings.data_dir / "datasets")
    app.state.upload_slots = asyncio.Semaphore(1)
    app.state.compare_slots = asyncio.Semaphore(1)  # one /v1/models/compare at a time
    app.state.jobs = JobService(settings, registry.store, app.state.datasets)
    runner = JobRunner(settings, app.state.jobs, app.state.metrics, on_promotion=lambda: _sync_active_version(app))
    runner.start()
    follower = asyncio.create_task(_follow_activations(app), name="follow-activations")
    # What start-up created lives as long as the process: keep it out of the garbage collector's
    # full passes, which otherwise scan ~200k objects (FastAPI, pydantic) and stall the event
    # loop for tens of ms every few seconds under load.
    gc.freeze()
    try:
        yield
    finally:
        await runner.stop()
        await cancel_and_wait(follower)
        if app.state.batcher is not None:
            await app.state.batcher.stop()
        if app.state.model_process is not None:
            await app.state.model_process.stop()
        registry.store.close()  # the pooled connections (PostgreSQL's are server resources)
