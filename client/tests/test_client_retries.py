"""Retries against a small HTTP server of our own that answers what the test scripts (a 503 with
Retry-After, then 200; a dropped connection...): the real service cannot be made to refuse on cue.
Each answer the script runs out of is a 200 predict answer; the server records when each request came."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sentiment_client import ApiError, AsyncClient, Client, ConnectionFailed

PREDICT_ANSWER = {"model": "m", "model_version": "v1",
                  "predictions": [{"label": "positive", "score": 0.9, "probabilities": {"negative": 0.1,
                                                                                      "positive": 0.9}, "windows": 1}]}
DROP = "drop"  # a scripted answer: close the connection without answering


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: list):
        super().__init__(("127.0.0.1", 0), Handler)
        self.script, self.seen = list(script), []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def do_GET(self):
        self._answer()

    def do_POST(self):
        self._answer()

    def _answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append((self.command, self.path, time.monotonic()))
        step = self.server.script.pop(0) if self.server.script else (200, {}, PREDICT_ANSWER)
        if step == DROP:
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        status, headers, body = step
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # the test's output stays the test's
        pass


@contextmanager
def scripted(*script) -> Iterator[ScriptedServer]:
    """A server listening from the moment it is built (bound in the constructor: nothing to wait for)."""
    server = ScriptedServer(list(script))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def busy(status: int, retry_after: str) -> tuple:
    return status, {"Retry-After": retry_after}, {"error": "model_unavailable" if status == 503 else "rate_limited",
                                                  "message": "try again later"}


def test_a_503_is_retried_after_the_retry_after_it_gives():
    with scripted(busy(503, "1")) as server, Client(server.url, backoff_s=0.0) as client:
        [prediction] = client.predict("x")
    assert prediction.label == "positive"
    (_, _, first), (_, _, second) = server.seen
    assert second - first >= 0.95  # Retry-After: 1, not the (zero) backoff


def test_a_429_is_retried_after_the_retry_after_it_gives_async():
    async def run(url):
        async with AsyncClient(url, backoff_s=0.0) as client:
            return await client.predict("x")

    with scripted(busy(429, "1")) as server:
        [prediction] = asyncio.run(run(server.url))
    assert prediction.label == "positive"
    (_, _, first), (_, _, second) = server.seen
    assert second - first >= 0.95


def test_a_retry_after_past_the_longest_wait_is_the_callers_to_decide():
    with scripted(busy(503, "3600")) as server, Client(server.url, max_retry_wait_s=60) as client:
        with pytest.raises(ApiError) as caught:
            client.predict("x")
    assert caught.value.status == 503 and caught.value.retry_after == 3600 and len(server.seen) == 1


def test_when_the_retries_run_out_the_last_refusal_is_raised():
    with scripted(*[busy(503, "0")] * 3) as server, Client(server.url, retries=2) as client:
        with pytest.raises(ApiError) as caught:
            client.models()
    assert caught.value.status == 503 and caught.value.message == "try again later" and len(server.seen) == 3


def test_a_lost_connection_is_retried_only_for_requests_safe_to_repeat():
    with scripted(DROP) as server, Client(server.url, backoff_s=0.0) as client:
        client.predict("x")  # predicting twice changes nothing: sent again
    assert len(server.seen) == 2
    with scripted(DROP) as server, Client(server.url, backoff_s=0.0) as client:
        with pytest.raises(ConnectionFailed):
            client.train("dataset-1")  # queueing a job twice would train twice: not sent again
    assert [(method, path) for method, path, _ in server.seen] == [("POST", "/v1/train-jobs")]


def test_a_refused_job_submission_is_retried():
    """A 429 means the server did nothing: even a request that is not safe to repeat goes again."""
    job = {"id": "j1", "state": "queued", "progress": {}, "result": {}}
    with scripted(busy(429, "0"), (202, {}, job)) as server, Client(server.url) as client:
        assert client.train("dataset-1").state == "queued"
    assert len(server.seen) == 2


def test_an_unreachable_server_is_a_connection_failure_naming_the_url():
    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        with Client(url, retries=1, backoff_s=0.0) as client, pytest.raises(ConnectionFailed) as caught:
            client.models()
    assert url in str(caught.value) and "tried 2 times" in str(caught.value)


def test_an_answer_not_from_the_api_is_an_error_with_its_first_line():
    with scripted((502, {"Content-Type": "text/html"}, "<h1>Bad Gateway</h1>\n<p>nginx</p>")) as server, \
            Client(server.url) as client, pytest.raises(ApiError) as caught:
        client.models()
    assert caught.value.status == 502 and caught.value.code == "http_502" and "<h1>Bad Gateway</h1>" in str(caught.value)


def sse(*events: tuple[str, dict]) -> tuple:
    body = "".join(f"event: {kind}\ndata: {json.dumps(data)}\n\n" for kind, data in events)
    return 200, {"Content-Type": "text/event-stream"}, body


def test_an_event_stream_cut_before_the_end_is_opened_again():
    job = {"id": "j1", "state": "running", "progress": {}, "result": {}}
    done = job | {"state": "succeeded", "model_version": "v1"}
    with scripted(sse(("snapshot", job), ("progress", {"percent": 50.0})),
                  sse(("snapshot", job), ("end", done))) as server, Client(server.url, backoff_s=0.0) as client:
        events = list(client.events("j1"))
    assert [e.type for e in events] == ["snapshot", "progress", "snapshot", "end"]
    assert [path for _, path, _ in server.seen] == ["/v1/train-jobs/j1/events"] * 2


def test_an_event_stream_that_keeps_closing_without_events_gives_up():
    with scripted(*[sse()] * 3) as server, Client(server.url, retries=2, backoff_s=0.0) as client:
        with pytest.raises(ConnectionFailed, match="closed before the job's end event"):
            list(client.events("j1", kind="batch"))
    assert [path for _, path, _ in server.seen] == ["/v1/batch-jobs/j1/events"] * 3
