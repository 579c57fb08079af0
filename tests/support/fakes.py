"""Stand-ins for the parts of a served version that a test replaces."""

from __future__ import annotations

from pathlib import Path

from app.serving.registry import ServedVersion


def served(version: str, predictor) -> ServedVersion:
    """A version whose model runs in this process as ``predictor`` (anything with ``predict``)."""
    return ServedVersion(version, Path("."), list(getattr(predictor, "labels", [])), None, predictor)
