"""Fixtures for end-to-end tests against a real server process (see ``server.py``)."""

from __future__ import annotations

import pytest

from tests.support.server import ServerProcess, start_server


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
