"""``python -m app``: check the model loads, then serve with uvicorn (``SENTIMENT_*`` settings)."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import secrets
import signal
import sys
from pathlib import Path


def local_key(data_dir: Path) -> str:
    """A key kept in the data directory for local use, created on first start."""
    path = data_dir / "local-api-key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def _exit_on_sigterm(signum, frame) -> None:
    sys.exit(128 + signum)


def _stopped(process, status: int) -> int:
    """``status``, once ``process`` (the model process started early, if any) is gone."""
    if process is not None:
        process.kill()
        process.wait()
    return status


def _serve_first(settings):
    """The default model's active version, loaded from what the records say without opening them
    (``peek_active``), and its default ``min_score``; or None where that cannot be done: the records
    are then opened first."""
    if settings.role == "trainer" or settings.workers != 1:
        return None
    from model.bundle import BundleError

    from .serving.inference import load_version
    from .versions import peek_active

    active = peek_active(settings, settings.default_model)
    if active is None:
        return None
    try:
        loaded = load_version(active.model, active.version, active.path)
    except (BundleError, LookupError, OSError):  # opening the records says what is wrong, and falls back
        return None
    return loaded, active.min_score


def main(argv: list[str] | None = None) -> int:
    # As PID 1 in a container, SIGTERM with no handler is ignored: `docker stop` during start-up
    # (imports, the model check below: a second or more) would wait for its kill timeout. Exit at
    # once instead, until uvicorn takes over; hence also the imports here rather than at the top.
    # The previous handler comes back before uvicorn.run, because uvicorn restores the handler it
    # found and re-raises the signal after a graceful shutdown (exit status as before: 0 or -15).
    previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    # No garbage collection while start-up imports and builds what lives as long as the process:
    # the collector's passes over every module's objects slow the imports down (the lifespan then
    # freezes it all, gc.freeze, for the same reason under load).
    gc.disable()
    from pydantic import ValidationError

    from .settings import Settings

    parser = argparse.ArgumentParser(prog="python -m app", description="Serve the text-classification models over HTTP.")
    parser.add_argument("--local-key", action="store_true",
                        help="when SENTIMENT_API_KEYS is unset, create (once) and use a key in the data directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("app")
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(f"SENTIMENT_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        log.error("invalid settings: %s", problems)
        return 2
    # The model process starts now: its interpreter and libraries (NumPy, or torch) load on the other
    # core while this process imports the rest, and the lifespan takes it over. (One server process
    # only: each of SENTIMENT_WORKERS' processes starts its own.)
    model_process = loaded = None
    if settings.role != "trainer" and settings.workers == 1:
        from .serving.model_process.client import prestart

        model_process = prestart(settings)
    from model.bundle import BundleError

    from .errors import ServiceError, StoreError
    from .serving.inference import load_active
    from .versions import open_versions

    versions = None
    try:  # fail fast with one clear line instead of a half-alive server (the model process
        # checks the weights when it loads them: a bad weights file also stops start-up)
        loaded, min_score = _serve_first(settings) or (None, None)
        if loaded is None:  # the records open first (and say what is wrong, if anything)
            versions = open_versions(settings)
            if settings.role != "trainer":  # a trainer loads no model
                loaded = load_active(versions, settings.default_model)
        if model_process is not None and loaded is not None:  # it loads the version now, while this
            from .serving.model_process.client import preload  # process imports the rest

            preload(model_process, loaded)
    except (StoreError, ServiceError) as exc:  # the records cannot be opened or written
        log.error("cannot start: %s", exc)
        return _stopped(model_process, 1)
    except (BundleError, LookupError, OSError) as exc:
        log.error("cannot start: model does not load: %s", exc)
        return _stopped(model_process, 1)
    import uvicorn

    if args.local_key and not settings.keys():
        key = local_key(settings.data_dir)
        os.environ["SENTIMENT_API_KEYS"] = key  # uvicorn's worker processes read their settings from here
        # Printed for the person at the terminal, never logged.
        print(f"API key for local use (stored in {settings.data_dir / 'local-api-key'}):\n  {key}\n"
              f"Send it as: -H 'Authorization: Bearer {key}'", flush=True)
    elif not settings.keys() and settings.role != "trainer":
        log.warning("no API key configured: training, dataset and activation endpoints will refuse "
                    "requests until SENTIMENT_API_KEYS is set")
    signal.signal(signal.SIGTERM, previous_sigterm)
    from functools import partial

    from .http.protocol import HttpProtocol

    app = "app.main:create_app"  # what each worker process imports and calls (factory)
    if model_process is not None:
        from .main import create_app

        app = create_app()  # (as the factory would: the settings read again, SENTIMENT_API_KEYS included)
        app.state.prestarted_model_process = model_process
        app.state.preloaded_version = loaded
        app.state.preloaded_min_score = min_score  # (when read without opening the records)
        app.state.versions = versions  # None: the lifespan opens the records once it serves
    gc.enable()
    uvicorn.run(
        app, factory=model_process is None, host=settings.host, port=settings.port,
        workers=settings.workers, log_level=settings.log_level, access_log=False,
        timeout_graceful_shutdown=30, limit_concurrency=settings.max_connections,
        # httptools with a header deadline and JSON answers to unparsable requests (a partial
        # pickles, so the worker processes of SENTIMENT_WORKERS get it too)
        http=partial(HttpProtocol, header_timeout_s=settings.header_timeout_s),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
