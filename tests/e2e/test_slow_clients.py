"""Slow, partial and malformed requests against a real server (raw sockets): bounded in time,
answered with the service's JSON error body, and harmless to everyone else."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.raw_http import connect, peer_closed, read_response, request, trickle
from tests.support.server import running_server
from tests.support.waiting import wait_for

TIMEOUT_S = 1.0  # both the header and the body deadline
SLACK_S = 2.0  # how late an answer may be on a loaded machine


@pytest.fixture(scope="module")
def server(tiny_bundle_path, tmp_path_factory):
    env = {"SENTIMENT_HEADER_TIMEOUT_S": str(TIMEOUT_S), "SENTIMENT_BODY_TIMEOUT_S": str(TIMEOUT_S)}
    with running_server(data_dir=tmp_path_factory.mktemp("slow") / "data", model_dir=tiny_bundle_path,
                        api_keys="k1", env=env) as server:
        yield server


def assert_refused(response, status: int, code: str) -> None:
    assert response.status == status, response
    assert response.headers["content-type"] == "application/json"
    assert response.headers["connection"] == "close"
    assert response.json()["error"] == code and response.json()["message"]


def test_headers_that_never_complete_get_408_and_the_connection_closes(server):
    with connect(server.port) as sock:
        started = time.monotonic()
        sent = trickle(sock, request("GET", "/healthz"), interval=0.3, budget=TIMEOUT_S + SLACK_S)
        response = read_response(sock, timeout=SLACK_S)
        elapsed = time.monotonic() - started
        assert_refused(response, 408, "request_timeout")
        assert TIMEOUT_S - 0.2 < elapsed < TIMEOUT_S + SLACK_S
        assert sent < len(request("GET", "/healthz"))
        assert peer_closed(sock, timeout=SLACK_S)
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(server):
    with connect(server.port) as sock:
        started = time.monotonic()
        assert peer_closed(sock, timeout=TIMEOUT_S + SLACK_S)
        assert time.monotonic() - started > TIMEOUT_S - 0.2


@pytest.mark.parametrize("path", ["/v1/predict", "/v1/train-jobs"])  # a DirectRoute and a FastAPI body parameter
def test_a_body_that_trickles_gets_408_and_the_connection_closes(server, path):
    body = b'{"text": "' + b"slow " * 40 + b'"}'
    head, _, _ = request("POST", path, body, {"Content-Type": "application/json",
                                             "Authorization": "Bearer k1"}).partition(b"\r\n\r\n")
    with connect(server.port) as sock:
        sock.sendall(head + b"\r\n\r\n")
        started = time.monotonic()
        trickle(sock, body, interval=0.3, budget=TIMEOUT_S + SLACK_S)
        response = read_response(sock, timeout=SLACK_S)
        assert_refused(response, 408, "request_timeout")
        assert TIMEOUT_S - 0.2 < time.monotonic() - started < TIMEOUT_S + SLACK_S
        assert peer_closed(sock, timeout=SLACK_S)
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_a_keep_alive_client_is_unaffected_and_its_next_slow_request_still_times_out(server):
    pause = TIMEOUT_S * 1.5  # longer than either deadline, shorter than uvicorn's 5 s keep-alive
    predict = request("POST", "/v1/predict", b'{"text": "fine"}', {"Content-Type": "application/json"})
    with connect(server.port) as sock:
        for raw in (request("GET", "/healthz"), predict, request("GET", "/healthz")):
            sock.sendall(raw)
            response = read_response(sock, timeout=SLACK_S + 3)
            assert response.status == 200, response
            assert "connection" not in response.headers
            assert not peer_closed(sock, timeout=pause)  # idle, like a client between requests
        sock.sendall(request("GET", "/healthz")[:20])
        assert_refused(read_response(sock, timeout=TIMEOUT_S + SLACK_S), 408, "request_timeout")


@pytest.mark.parametrize(("raw", "status", "code"), [
    (request("GET", "/" + "a" * 10_000), 414, "uri_too_long"),
    (request("GET", "/" + "a" * 70_000), 414, "uri_too_long"),
    (request("GET", "/" + "a" * 1_000_000), 414, "uri_too_long"),
    (request("GET", "/healthz", headers={f"X-Filler-{i}": "b" * 1000 for i in range(100)}), 431, "headers_too_large"),
    (request("GET", "/healthz", headers={"X-Filler": "b" * 100_000}), 431, "headers_too_large"),
    (b"GARBAGE\r\n\r\n", 400, "malformed_request"),
    (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "malformed_request"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400, "malformed_request"),
], ids=["10 KB path", "70 KB path", "1 MB path", "100 headers of 1 KB", "a 100 KB header",
        "garbage request line", "unknown HTTP version", "header without a colon"])
def test_requests_that_do_not_parse_get_json_errors(server, raw, status, code):
    with connect(server.port) as sock:
        try:
            sock.sendall(raw)
        except OSError:  # the server answered and closed before reading all of a 1 MB request
            pass
        assert_refused(read_response(sock, timeout=SLACK_S + 3), status, code)
        assert peer_closed(sock, timeout=SLACK_S)


def test_headers_that_keep_coming_get_431_before_they_end(server):
    endless = request("GET", "/healthz")[:-2] + b"X-Filler: " + b"b" * 10_000_000  # never ends
    with connect(server.port) as sock:
        sent = trickle(sock, endless, interval=0.005, budget=TIMEOUT_S * 0.8, chunk=8192)
        assert_refused(read_response(sock, timeout=SLACK_S), 431, "headers_too_large")
        assert sent < 1_000_000  # refused once the head passed the limit, not at the deadline


def test_headers_just_under_the_limits_are_served(server):
    long_but_fine = request("GET", "/healthz?pad=" + "a" * 8000, headers={"X-Filler": "b" * 50_000})
    with connect(server.port) as sock:
        sock.sendall(long_but_fine)
        assert read_response(sock, timeout=SLACK_S + 3).status == 200


@pytest.mark.parametrize(("path", "headers", "status"), [
    ("/v1/predict", {"Content-Length": str(10 * 1024 * 1024)}, 413),  # refused by its Content-Length
    ("/v1/models/sentiment-en/compare", {"Content-Length": "1000"}, 401),  # refused by the key check, body never read
    ("/v1/datasets", {"Content-Length": "1000", "Authorization": "Bearer nope"}, 403),
])
def test_an_early_answer_to_an_unread_body_closes_the_connection(server, path, headers, status):
    """Whatever the server answers before reading a body, it closes the connection: a client that
    keeps dribbling the body it announced cannot hold it (each byte would reset the keep-alive timer)."""
    head = request("POST", path, headers={"Content-Type": "application/json", **headers})
    with connect(server.port) as sock:
        sock.sendall(head)
        response = read_response(sock, timeout=SLACK_S)
        assert response.status == status, response
        assert response.headers["connection"] == "close"
        started = time.monotonic()
        trickle(sock, b"x" * 1000, interval=0.2, budget=3.0)  # the "body", a byte at a time
        assert peer_closed(sock, timeout=SLACK_S)
        assert time.monotonic() - started < SLACK_S + 0.5


def test_connections_past_the_bound_are_answered_503_at_once_and_the_rest_served(serve, tiny_bundle_path):
    """SENTIMENT_MAX_CONNECTIONS bounds the connections one server process holds (below its file
    descriptors): past it a request is answered 503 at once and its connection closed; once the
    others go, requests are served again."""
    server = serve(model_dir=tiny_bundle_path, env={"SENTIMENT_MAX_CONNECTIONS": "16"})
    held = [connect(server.port) for _ in range(16)]
    try:
        with connect(server.port) as sock:
            sock.sendall(request("GET", "/healthz"))
            response = read_response(sock, timeout=SLACK_S)
            assert response.status == 503 and response.headers["connection"] == "close"
    finally:
        for sock in held:
            sock.close()
    wait_for(lambda: httpx.get(server.url + "/healthz").status_code == 200, 10, what="/healthz served again")
