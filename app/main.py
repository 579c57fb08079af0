"""The application factory: assembles settings, middleware, error handlers and routes."""

from __future__ import annotations

from fastapi import FastAPI

from .http.errors import install_error_handlers
from .http.middleware import BodyLimitMiddleware, ObservabilityMiddleware
from .http.rate_limit import RateLimits
from .http.routes import batch_jobs, datasets, explain, health, jobs, models, predict, trainer, ui
from .lifespan import lifespan
from .metrics import Metrics
from .settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="Text classification service",
        version="0.1.0",
        description="Sentiment classification with a recurrent neural network: predict, train, version, swap.",
        lifespan=lifespan,
        openapi_url=None if settings.role == "trainer" else "/openapi.json",  # (and so no /docs)
    )
    app.state.settings = settings
    app.state.api_keys = settings.keys()
    app.state.metrics = Metrics()
    app.state.inference = None  # set by the lifespan (serving roles)
    app.state.prestarted_model_process = None  # one ``python -m app`` started early, for the lifespan
    app.state.preloaded_version = None  # the version ``python -m app`` had it load
    app.state.preloaded_min_score = None  # its model's default min_score, when read without opening the records
    app.state.versions = app.state.store = None  # the records: opened by ``python -m app`` or the lifespan
    install_error_handlers(app)
    upload_limit = settings.max_dataset_bytes + 64 * 1024  # room for the multipart envelope
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes,
                       overrides={"/v1/datasets": max(upload_limit, settings.max_body_bytes)},
                       body_timeout_s=settings.body_timeout_s)
    app.add_middleware(ObservabilityMiddleware, metrics=app.state.metrics, access_log=settings.access_log)
    app.state.rate_limits = RateLimits(settings)  # counted in this process; the checks are in http/deps.py
    # A trainer serves its health and metrics, and says what it is on every other path. Health
    # first, then predictions: FastAPI builds a router's routes on the first request that reaches
    # it, so the first /readyz builds three routes, not every one the service has.
    api = (health, predict, explain, models, datasets, jobs, batch_jobs, ui) if settings.role != "trainer" else (health, trainer)
    for module in api:
        app.include_router(module.router)
    return app
