"""The parts that need no server: the event-stream parser, Retry-After, and where the URL and key
come from (including that the server accepts the client's variables in its environment)."""

from __future__ import annotations

import httpx
import pytest
from sentiment_client.config import DEFAULT_URL, KEY_VARIABLE, URL_VARIABLE, resolve_key, resolve_url
from sentiment_client.retries import RetryPolicy, retry_after_s
from sentiment_client.sse import EventParser
from sentiment_client.types import Event


def test_the_parser_reads_events_skips_comments_and_joins_data_lines():
    lines = ["event: progress", 'data: {"step": 3}', "", ": keep-alive", "", "data: one", "data: two", "",
             "event: end", 'data: {"state": "succeeded"}', ""]
    parser = EventParser()
    events = [e for e in map(parser.feed, lines) if e is not None]
    assert events == [Event("progress", {"step": 3}), Event("message", "one\ntwo"),
                      Event("end", {"state": "succeeded"})]


@pytest.mark.parametrize("header, seconds", [("3", 3.0), ("0", 0.0), ("soon", None), (None, None),
                                             ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)])
def test_retry_after_in_seconds_or_as_a_date(header, seconds):
    response = httpx.Response(503, headers={"Retry-After": header} if header else {})
    assert retry_after_s(response) == seconds


def test_the_backoff_doubles_and_stops_after_the_retries():
    policy = RetryPolicy(retries=3, backoff_s=1.0, max_wait_s=3.0)
    waits = [policy.delay(attempt) for attempt in range(4)]
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0 and 1.5 <= waits[2] <= 3.0 and waits[3] is None


def test_url_and_key_come_from_the_arguments_then_the_environment(monkeypatch):
    assert resolve_url(None) == DEFAULT_URL and resolve_key(None) is None
    monkeypatch.setenv(URL_VARIABLE, "https://api.example/")
    monkeypatch.setenv(KEY_VARIABLE, "k")
    assert resolve_url(None) == "https://api.example" and resolve_key(None) == "k"
    assert resolve_url("http://other:8000") == "http://other:8000" and resolve_key("k2") == "k2"
    for wrong in ("localhost:8000", "http://", "ftp://host"):
        with pytest.raises(ValueError, match="must be http://HOST"):
            resolve_url(wrong)


def test_the_server_settings_accept_the_clients_variables(monkeypatch):
    """The server refuses unknown settings; the client's variables must not read as its own."""
    settings_module = pytest.importorskip("app.settings", reason="the service package is not importable here")
    monkeypatch.setenv(URL_VARIABLE, "http://127.0.0.1:8000")
    monkeypatch.setenv(KEY_VARIABLE, "client-key")
    settings = settings_module.Settings()
    assert not settings.keys()  # the client's key is not taken for a server key


def test_importing_the_client_imports_neither_the_service_nor_torch():
    """The client installs without them (httpx only): it must not import them either."""
    import subprocess
    import sys

    code = ("import sys, sentiment_client, sentiment_client.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'pandas', 'app', 'model', "
            "'fastapi', 'pydantic')))")
    import os
    from pathlib import Path

    here = str(Path(__file__).resolve().parents[1])  # the client's folder, importable as when installed
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         env=env).stdout
    assert out.strip() == "[]"
