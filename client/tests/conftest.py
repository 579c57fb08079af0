"""The client's tests run it against the real service: ``python -m app`` in a subprocess
(``tests/support/server.py``), serving the tiny bundle the repository's tests train once per
session (``tests/conftest.py``). Run from the repository root with the client importable:

    PYTHONPATH=/work/main:/work/main/client .venv/bin/python -m pytest -q -p no:cacheprovider client/tests
"""

from __future__ import annotations

import pytest
from sentiment_client import Client
from sentiment_client.config import KEY_VARIABLE, URL_VARIABLE

from tests.conftest import one_torch_thread, tiny_bundle_path, tiny_result  # noqa: F401  (fixtures)
from tests.support.data import LABEL_NAMES, negation_examples
from tests.support.server import running_server

ADMIN_KEY = "client-admin-key"  # every scope
PREDICT_KEY = "client-predict-key"  # the predict scope only: activation and training refuse it


@pytest.fixture(autouse=True)
def clean_client_environ(monkeypatch):
    """The client reads its URL and key from the environment: no test sees another's (or the shell's)."""
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    monkeypatch.delenv(KEY_VARIABLE, raising=False)


@pytest.fixture(scope="session")
def server(tiny_bundle_path, tmp_path_factory):  # noqa: F811
    """One server for the session. Started with the client's own variables set, as in a shell that
    runs both: the server refuses unknown settings, and must not take these for its own."""
    data_dir = tmp_path_factory.mktemp("client-server") / "data"
    env = {URL_VARIABLE: "http://127.0.0.1:1", KEY_VARIABLE: "not-a-server-setting"}
    with running_server(data_dir=data_dir, model_dir=tiny_bundle_path,
                        api_keys=f"admin={ADMIN_KEY},reader={PREDICT_KEY}:predict", env=env) as server:
        yield server


@pytest.fixture
def client(server):
    with Client(server.url, ADMIN_KEY, timeout=30) as client:
        yield client


@pytest.fixture
def client_env(server, monkeypatch):
    """The client's variables pointing at the test server with the admin key, as a user would set them."""
    monkeypatch.setenv(URL_VARIABLE, server.url)
    monkeypatch.setenv(KEY_VARIABLE, ADMIN_KEY)


@pytest.fixture
def reader(server):
    """A client whose key has the predict scope only."""
    with Client(server.url, PREDICT_KEY, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def examples():
    """``examples(n, seed)``: labelled examples of the negation task, labelled "negative"/"positive"
    as the served model's are: a model's labels are its newest version's, and feedback must use them,
    so a version trained on these keeps ``sentiment-en``'s labels for the tests that follow."""

    def make(n: int = 200, seed: int = 3) -> list[dict[str, str]]:
        texts, labels = negation_examples(n, seed)
        return [{"text": t, "label": LABEL_NAMES[y]} for t, y in zip(texts, labels)]

    return make
