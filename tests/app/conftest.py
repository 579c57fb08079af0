"""Fixtures for API tests: apps built from test settings around the session's tiny bundle.

Every client enters the lifespan (``with TestClient(create_app(settings))``), so the model is
loaded and the model process runs exactly as in the service.
"""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.support.settings import make_settings as support_settings


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch):
    """Settings come from the environment: no SENTIMENT_* from the developer's shell leaks in."""
    for name in [n for n in os.environ if n.startswith("SENTIMENT_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def make_settings(tiny_bundle_path, tmp_path):
    """``make_settings(**overrides) -> Settings`` serving the tiny bundle from a fresh data dir
    (``tests.support.settings.make_settings``: the test key, the model in an inference thread)."""

    def make(**overrides) -> Settings:
        model_dir = overrides.pop("model_dir", tiny_bundle_path)
        return support_settings(model_dir, overrides.pop("data_dir", tmp_path / "data"), **overrides)

    return make


@pytest.fixture
def make_client(make_settings):
    """``make_client(**settings_overrides) -> TestClient``, lifespan entered; closed after the test."""
    clients = []

    def make(**overrides) -> TestClient:
        client = TestClient(create_app(make_settings(**overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()
