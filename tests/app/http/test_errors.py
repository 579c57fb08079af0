"""Bad input to /v1/predict: every case is a 4xx whose JSON body names the field and the reason."""

from __future__ import annotations

import asyncio
import json

import pytest

JSON = {"content-type": "application/json"}

# (id, body bytes, headers, status, error code, field named in details (None: no details), words in message)
CASES = [
    ("empty text", b'{"text": ""}', JSON, 422, "empty_text", "text", "empty, or only whitespace"),
    ("whitespace text", b'{"text": " \\n\\t\\u3000"}', JSON, 422, "empty_text", "text", "only whitespace"),
    ("whitespace in list", b'{"texts": ["good", "  "]}', JSON, 422, "empty_text", "texts[1]", "only whitespace"),
    ("empty list", b'{"texts": []}', JSON, 422, "empty_texts", "texts", "at least one"),
    ("number as text", b'{"text": 5}', JSON, 422, "validation_error", "text", "valid string"),
    ("bool as text", b'{"text": true}', JSON, 422, "validation_error", "text", "valid string"),
    ("object as text", b'{"text": {"a": 1}}', JSON, 422, "validation_error", "text", "valid string"),
    ("string as texts", b'{"texts": "good"}', JSON, 422, "validation_error", "texts", "valid array"),
    ("number in texts", b'{"texts": ["good", 3]}', JSON, 422, "validation_error", "texts[1]", "valid string"),
    ("null in texts", b'{"texts": [null]}', JSON, 422, "validation_error", "texts[0]", "valid string"),
    ("both fields", b'{"text": "a", "texts": ["b"]}', JSON, 422, "validation_error", "body", "exactly one"),
    ("neither field", b"{}", JSON, 422, "validation_error", "body", "exactly one"),
    ("null text", b'{"text": null}', JSON, 422, "validation_error", "body", "exactly one"),
    ("unknown field", b'{"text": "good", "lang": "en"}', JSON, 422, "validation_error", "lang", "unknown field"),
    ("misspelt field", b'{"txt": "good"}', JSON, 422, "validation_error", "txt", "unknown field"),
    ("array body", b'["good"]', JSON, 422, "validation_error", "body", "object"),
    ("string body", b'"good"', JSON, 422, "validation_error", "body", "object"),
    ("null body", b"null", JSON, 422, "validation_error", "body", "object"),
    ("malformed JSON", b'{"text": "good', JSON, 422, "validation_error", "body", "malformed JSON"),
    ("trailing comma", b'{"text": "good",}', JSON, 422, "validation_error", "body", "malformed JSON"),
    ("single quotes", b"{'text': 'good'}", JSON, 422, "validation_error", "body", "malformed JSON"),
    ("empty body", b"", JSON, 422, "validation_error", "body", "malformed JSON"),
    ("deep nesting", b"[" * 300 + b"]" * 300, JSON, 422, "validation_error", "body", "malformed JSON"),
    ("lone surrogate", b'{"text": "\\ud800"}', JSON, 422, "validation_error", "body", "malformed JSON"),
    ("invalid UTF-8", b'{"text": "caf\xe9"}', JSON, 400, "invalid_body", None, "not valid UTF-8"),
    ("UTF-16", '{"text": "good"}'.encode("utf-16"), JSON, 400, "invalid_body", None, "not valid UTF-8"),
    ("text/plain", b'{"text": "good"}', {"content-type": "text/plain"}, 415, "unsupported_media_type", None,
     "application/json"),
    ("form encoded", b"text=good", {"content-type": "application/x-www-form-urlencoded"}, 415,
     "unsupported_media_type", None, "application/json"),
    ("no content type", b'{"text": "good"}', {}, 415, "unsupported_media_type", None, "application/json"),
    ("too many texts", b'{"texts": ["a", "b", "c", "d", "e"]}', JSON, 422, "too_many_texts", "texts", "at most 4"),
    ("text too long", b'{"text": "' + b"a" * 41 + b'"}', JSON, 422, "text_too_long", "text", "at most 40"),
    ("long text in list", b'{"texts": ["a", "' + b"a" * 41 + b'"]}', JSON, 422, "text_too_long", "texts[1]",
     "41 characters"),
    ("body too large", b'{"text": "' + b"a " * 1000 + b'"}', JSON, 413, "payload_too_large", None, "1024 bytes"),
]


@pytest.fixture(scope="module")
def strict_client(tiny_bundle_path, tmp_path_factory):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings

    settings = Settings(model_dir=tiny_bundle_path, data_dir=tmp_path_factory.mktemp("data"),
                        max_texts_per_request=4, max_text_chars=40, max_body_bytes=1024)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize(("body", "headers", "status", "code", "field", "words"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_a_4xx_naming_field_and_reason(strict_client, body, headers, status, code, field, words):
    r = strict_client.post("/v1/predict", content=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    error = r.json()
    assert error["error"] == code
    assert words in error["message"]
    if field is None:
        assert "details" not in error
    else:
        assert error["details"][0]["field"] == field
        assert error["message"].startswith(f"{field}: ")


def test_body_too_large_by_streaming_without_content_length(strict_client):
    def chunks():
        yield b'{"text": "'
        for _ in range(20):
            yield b"a" * 100
        yield b'"}'

    r = strict_client.post("/v1/predict", content=chunks(), headers=JSON)
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"


def test_every_error_in_a_request_is_listed(strict_client):
    r = strict_client.post("/v1/predict", json={"texts": [1, "ok", 2], "extra": True})
    assert r.status_code == 422
    fields = {d["field"] for d in r.json()["details"]}
    assert fields == {"texts[0]", "texts[2]", "extra"}


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/v1/predict", 405, "method_not_allowed"),
    ("PUT", "/v1/predict", 405, "method_not_allowed"),
    ("GET", "/v1/nothing-here", 404, "not_found"),
    ("POST", "/healthz", 405, "method_not_allowed"),
])
def test_wrong_method_or_path_is_json(strict_client, method, path, status, code):
    r = strict_client.request(method, path)
    assert r.status_code == status
    assert r.json()["error"] == code


def test_client_gone_mid_body_is_a_4xx_not_an_error_in_the_log(strict_client, caplog):
    messages = [{"type": "http.request", "body": b'{"text": "go', "more_body": True}, {"type": "http.disconnect"}]
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/predict", "raw_path": b"/v1/predict", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json")], "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80)}
    asyncio.run(strict_client.app(scope, receive, send))
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["error"] == "client_disconnected"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
