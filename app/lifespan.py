"""Start-up and shut-down: open the records, start serving (the model process with the active
version; not on a trainer) and the job runner (not on an API replica); stop them in reverse."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .errors import ServiceError
from .processes import trim_heap
from .serving.activations import ActivationListener
from .serving.inference import Inference
from .settings import Settings
from .tasks import cancel_and_wait
from .training.datasets import DatasetStore
from .training.feedback import Feedback
from .training.jobs import JobService
from .training.runner import JobRunner
from .versions import open_versions

log = logging.getLogger(__name__)


async def _follow_activations(inference: Inference, wake: asyncio.Event, poll_s: float) -> None:
    """Other server processes (here or on other machines) may activate a version: pick it up within
    ``poll_s``, or as soon as ``wake`` is set (PostgreSQL's NOTIFY: ``serving/activations.py``)."""
    while True:
        try:
            await asyncio.wait_for(wake.wait(), poll_s)
        except TimeoutError:
            pass
        wake.clear()
        try:
            await inference.sync()
        except ServiceError as exc:  # the records cannot be read (the database is down): one line, not a traceback
            log.warning("could not follow the active model version: %s", exc.message)
        except Exception:
            log.exception("could not follow the active model version")


async def _open_records(app: FastAPI) -> None:
    """The records and what needs them: following activations, datasets, jobs, feedback and the job
    runner; then ``records_open`` is set, which requests that need them wait for (``http/deps.py``)."""
    state = app.state
    settings: Settings = state.settings
    if state.versions is None:  # python -m app served from what the records say: open them now
        try:
            state.versions = await asyncio.to_thread(open_versions, settings)
        except Exception as exc:  # as when they cannot be opened before serving: one line, status 1
            if isinstance(exc, (ServiceError, OSError)):
                log.error("cannot start: the records do not open: %s", exc)
            else:  # (unexpected: its traceback)
                log.exception("cannot start: the records do not open")
            if state.inference is not None:
                await state.inference.stop()
            logging.shutdown()
            os._exit(1)
        if state.inference is not None:
            state.inference.attach(state.versions)
            try:  # an activation between python -m app's read and now (else the follower's next turn)
                await state.inference.sync()
            except ServiceError as exc:
                log.warning("could not follow the active model version: %s", exc.message)
    versions = state.versions
    state.store = versions.store
    if state.inference is not None:
        wake = asyncio.Event()
        state.follower = asyncio.create_task(_follow_activations(state.inference, wake, settings.version_poll_s),
                                             name="follow-activations")
        if versions.store.dialect == "postgresql":
            loop = asyncio.get_running_loop()
            state.activation_listener = ActivationListener(versions.store, lambda: loop.call_soon_threadsafe(wake.set))
            state.activation_listener.start()
    state.datasets = DatasetStore(versions.store, settings.data_dir / "datasets", settings.max_dataset_rows)
    state.jobs = JobService(settings, versions, state.datasets)
    state.feedback = Feedback(versions.store, versions, state.datasets)
    if settings.role != "api":  # an API replica only queues jobs: trainers claim them
        serving = state.inference
        state.runner = JobRunner(settings, state.jobs, state.metrics,
                                 on_promotion=serving.sync if serving is not None else None)
        state.runner.start()
    state.records_open.set()
    gc.freeze()  # (what opening the records made, when it was after start-up's freeze)


@asynccontextmanager
async def lifespan(app: FastAPI):
    """What runs depends on ``SENTIMENT_ROLE``: serving (the model process, following activations)
    unless this process is a trainer; the job runner unless it is an API replica. When ``python -m
    app`` loaded the default model without opening the records (``versions.peek_active``), it serves
    first and the records open behind it: predictions and health answer at once, and requests that
    need the records wait the tenth of a second it takes."""
    state = app.state
    settings: Settings = state.settings
    state.records_open = asyncio.Event()
    state.inference = state.runner = state.follower = state.activation_listener = None
    state.upload_slots = asyncio.Semaphore(1)
    state.compare_slots = asyncio.Semaphore(1)  # one /v1/models/compare at a time
    serve_first = settings.role != "trainer" and state.versions is None and state.preloaded_version is not None
    if state.versions is None and not serve_first:
        state.versions = open_versions(settings)
    opening = None
    if settings.role != "trainer":
        state.inference = Inference(settings, state.versions, state.metrics)
        state.inference.model_process.prestarted = state.prestarted_model_process  # (python -m app's)
        state.inference.model_process.preloaded = state.preloaded_version
        await state.inference.start(state.preloaded_min_score)
    if serve_first:
        opening = asyncio.create_task(_open_records(app), name="open-records")
    else:
        await _open_records(app)
    # What start-up created lives as long as the process: keep it out of the garbage collector's
    # full passes, which otherwise scan every object FastAPI and pydantic made and stall the event
    # loop every few seconds under load.
    gc.freeze()
    trim_heap()
    try:
        yield
    finally:
        await cancel_and_wait(opening)
        if state.runner is not None:
            await state.runner.stop()
        await cancel_and_wait(state.follower)
        if state.activation_listener is not None:
            await asyncio.to_thread(state.activation_listener.stop)
        if state.inference is not None:
            await state.inference.stop()
        if state.versions is not None:
            state.versions.store.close()  # the pooled connections (PostgreSQL's are server resources)
