"""Start-up and shut-down: open the records, load the active version, start the model process and
the batcher (serving; not on a trainer) and the job runner (training; not on an API replica); stop
them in reverse."""

from __future__ import annotations

import asyncio
import gc
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from .background import cancel_and_wait
from .serving.activations import ActivationListener
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


async def _follow_activations(app: FastAPI, wake: asyncio.Event) -> None:
    """Other server processes (here or on other machines) may activate a version: pick it up within
    ``version_poll_s``, or as soon as ``wake`` is set (PostgreSQL's NOTIFY: ``serving/activations.py``)."""
    while True:
        try:
            await asyncio.wait_for(wake.wait(), app.state.settings.version_poll_s)
        except TimeoutError:
            pass
        wake.clear()
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
    """What runs depends on ``SENTIMENT_ROLE``: serving (the model and its batcher, following
    activations) unless this process is a trainer; the job runner unless it is an API replica."""
    settings = app.state.settings
    registry = open_registry(settings)
    app.state.store = registry.store
    app.state.model_process = app.state.batcher = app.state.runner = None
    follower = listener = None
    if settings.role != "trainer":
        await _load_and_serve(app, registry)
        wake = asyncio.Event()
        follower = asyncio.create_task(_follow_activations(app, wake), name="follow-activations")
        if registry.store.dialect == "postgresql":
            loop = asyncio.get_running_loop()
            listener = ActivationListener(registry.store, lambda: loop.call_soon_threadsafe(wake.set))
            listener.start()
    app.state.activation_listener = listener
    app.state.datasets = DatasetStore(registry.store, settings.data_dir / "datasets")
    app.state.upload_slots = asyncio.Semaphore(1)
    app.state.compare_slots = asyncio.Semaphore(1)  # one /v1/models/compare at a time
    app.state.jobs = JobService(settings, registry.store, app.state.datasets)
    if settings.role != "api":  # an API replica only queues jobs: trainers claim them
        serving = settings.role == "all"
        app.state.runner = JobRunner(settings, app.state.jobs, app.state.metrics,
                                     on_promotion=(lambda: _sync_active_version(app)) if serving else None)
        app.state.runner.start()
    # What start-up created lives as long as the process: keep it out of the garbage collector's
    # full passes, which otherwise scan ~200k objects (FastAPI, pydantic) and stall the event
    # loop for tens of ms every few seconds under load.
    gc.freeze()
    try:
        yield
    finally:
        if app.state.runner is not None:
            await app.state.runner.stop()
        await cancel_and_wait(follower)
        if listener is not None:
            await asyncio.to_thread(listener.stop)
        if app.state.batcher is not None:
            await app.state.batcher.stop()
        if app.state.model_process is not None:
            await app.state.model_process.stop()
        registry.store.close()  # the pooled connections (PostgreSQL's are server resources)


async def _load_and_serve(app: FastAPI, registry: ModelRegistry) -> None:
    """Load the active version, start the model process (or torch in this process) and the batcher."""
    settings = app.state.settings
    if registry.in_process:  # the model runs in this process: torch's threads are this process's
        import torch

        torch.set_num_threads(settings.inference_threads)
    loaded = await run_in_threadpool(registry.load_active)
    log.info("serving model version %s (%s)", loaded.version, ", ".join(loaded.labels))
    app.state.registry = registry
    app.state.metrics.set_active(loaded.version)
    if not registry.in_process:
        app.state.model_process = ModelProcess(settings, on_restart=app.state.metrics.model_process_restarts.inc,
                                               on_model_call=app.state.metrics.batch_size.observe)
        await app.state.model_process.start(loaded)
    _start_serving(app, registry)
