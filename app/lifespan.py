"""Start-up and shut-down: open the records, start serving (the model process with the active
version; not on a trainer) and the job runner (not on an API replica); stop them in reverse."""

from __future__ import annotations

import asyncio
import gc
import logging
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


@asynccontextmanager
async def lifespan(app: FastAPI):
    """What runs depends on ``SENTIMENT_ROLE``: serving (the model process, following activations)
    unless this process is a trainer; the job runner unless it is an API replica."""
    state = app.state
    settings: Settings = state.settings
    versions = open_versions(settings)
    state.versions, state.store = versions, versions.store
    state.inference = state.runner = None
    follower = listener = None
    if settings.role != "trainer":
        state.inference = Inference(settings, versions, state.metrics)
        state.inference.model_process.prestarted = state.prestarted_model_process  # (python -m app's)
        state.inference.model_process.preloaded = state.preloaded_version
        await state.inference.start()
        wake = asyncio.Event()
        follower = asyncio.create_task(_follow_activations(state.inference, wake, settings.version_poll_s),
                                       name="follow-activations")
        if versions.store.dialect == "postgresql":
            loop = asyncio.get_running_loop()
            listener = ActivationListener(versions.store, lambda: loop.call_soon_threadsafe(wake.set))
            listener.start()
    state.activation_listener = listener
    state.datasets = DatasetStore(versions.store, settings.data_dir / "datasets", settings.max_dataset_rows)
    state.upload_slots = asyncio.Semaphore(1)
    state.compare_slots = asyncio.Semaphore(1)  # one /v1/models/compare at a time
    state.jobs = JobService(settings, versions, state.datasets)
    state.feedback = Feedback(versions.store, versions, state.datasets)
    if settings.role != "api":  # an API replica only queues jobs: trainers claim them
        serving = state.inference
        state.runner = JobRunner(settings, state.jobs, state.metrics,
                                 on_promotion=serving.sync if serving is not None else None)
        state.runner.start()
    # What start-up created lives as long as the process: keep it out of the garbage collector's
    # full passes, which otherwise scan every object FastAPI and pydantic made and stall the event
    # loop every few seconds under load.
    gc.freeze()
    trim_heap()
    try:
        yield
    finally:
        if state.runner is not None:
            await state.runner.stop()
        await cancel_and_wait(follower)
        if listener is not None:
            await asyncio.to_thread(listener.stop)
        if state.inference is not None:
            await state.inference.stop()
        versions.store.close()  # the pooled connections (PostgreSQL's are server resources)
