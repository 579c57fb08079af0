"""The one way tests build service settings."""

from __future__ import annotations

from pathlib import Path

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def make_settings(model_dir: Path, data_dir: Path, **overrides):
    """Settings serving ``model_dir`` from ``data_dir``, with the test key, polling fast."""
    from app.settings import Settings

    values = {"model_dir": model_dir, "data_dir": data_dir, "api_keys": KEY, "version_poll_s": 0.2} | overrides
    return Settings(**values)
