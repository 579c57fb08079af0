"""Fixtures for end-to-end tests against a real server process (see ``server.py``)."""

from __future__ import annotations

import pytest
import torch

from tests.e2e.server import ServerProcess, start_server


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Train the session's tiny bundle on one intra-op thread: on a busy 2-core machine two threads
    spin against each other and the other processes (measured: 1.8 s with one thread, 77 s with two).
    The service itself runs SENTIMENT_INFERENCE_THREADS (1) threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def serve(tmp_path):
    """``serve(**start_server_kwargs) -> ServerProcess``; every server started is stopped afterwards.

    ``data_dir`` defaults to a fresh ``tmp_path / "data"``.
    """
    started: list[ServerProcess] = []

    def _serve(**kwargs) -> ServerProcess:
        kwargs.setdefault("data_dir", tmp_path / "data")
        server = start_server(**kwargs)
        started.append(server)
        return server

    yield _serve
    for server in started:
        server.stop()
