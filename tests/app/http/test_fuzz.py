"""Property-based fuzzing of the HTTP API: no input produces a 5xx, and every error is JSON.

Bodies are arbitrary JSON values, JSON shaped like the OpenAPI request schema (with any
Unicode, lone surrogates included), and arbitrary bytes under arbitrary content types.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.main import create_app
from app.settings import Settings
from model.data import is_blank

MAX_TEXTS, MAX_CHARS = 8, 200
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)
# Any code point, lone surrogates included (json.dumps writes them as \\udxxx escapes).
any_text = st.text(st.characters(codec=None, categories=None), max_size=MAX_CHARS + 20)
schema_shaped = st.one_of(
    st.fixed_dictionaries({"text": any_text}),
    st.fixed_dictionaries({"texts": st.lists(any_text, max_size=MAX_TEXTS + 2)}),
    st.fixed_dictionaries({"text": json_values}),
    st.fixed_dictionaries({"texts": json_values}),
    st.dictionaries(st.sampled_from(["text", "texts", "extra", ""]), json_values, max_size=3),
)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
content_types = st.one_of(
    st.sampled_from(["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "text/plain",
                     "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json;"]),
    header_text,
)


@pytest.fixture(scope="module")
def client(tiny_bundle_path, tmp_path_factory):
    settings = Settings(model_dir=tiny_bundle_path, data_dir=tmp_path_factory.mktemp("data"), max_wait_ms=0,
                        max_texts_per_request=MAX_TEXTS, max_text_chars=MAX_CHARS, max_body_bytes=64 * 1024)
    with TestClient(create_app(settings)) as client:  # raises on any unhandled exception in the app
        yield client


def check_error(r) -> None:
    assert r.status_code < 500, (r.status_code, r.text)
    if r.status_code >= 400:
        body = r.json()
        assert isinstance(body["error"], str) and isinstance(body["message"], str) and body["message"]


def acceptable(texts) -> bool:
    """What the service must answer with 200 (a lone surrogate is not valid JSON text: 422)."""
    return 0 < len(texts) <= MAX_TEXTS and all(
        isinstance(t, str) and not is_blank(t) and len(t) <= MAX_CHARS and not any(0xD800 <= ord(c) <= 0xDFFF for c in t)
        for t in texts
    )


@FUZZ
@given(value=json_values)
def test_any_json_value(client, value):
    check_error(client.post("/v1/predict", content=json.dumps(value), headers={"content-type": "application/json"}))


@FUZZ
@given(body=schema_shaped)
def test_schema_shaped_bodies_are_answered_or_refused_exactly(client, body):
    r = client.post("/v1/predict", content=json.dumps(body), headers={"content-type": "application/json"})
    check_error(r)
    body = json.loads(json.dumps(body))  # what the server decodes: escaped surrogate pairs become one character
    if set(body) == {"text"} and isinstance(body["text"], str):
        texts = [body["text"]]
    elif set(body) == {"texts"} and isinstance(body["texts"], list):
        texts = body["texts"]
    else:
        assert r.status_code == 422
        return
    if acceptable(texts):
        assert r.status_code == 200, r.text
        assert len(r.json()["predictions"]) == len(texts)
    else:
        assert r.status_code == 422, r.text


@FUZZ
@given(body=st.binary(max_size=300), content_type=content_types)
def test_any_bytes_any_content_type(client, body, content_type):
    check_error(client.post("/v1/predict", content=body, headers={"content-type": content_type}))


@FUZZ
@given(version=st.text(min_size=1, max_size=30))
def test_any_model_or_version_name(client, version):
    r = client.get("/v1/models/" + quote(version, safe=""))
    check_error(r)
    assert r.status_code in (200, 404)
    r = client.get("/v1/models/sentiment-en/versions/" + quote(version, safe=""))
    check_error(r)
    assert r.status_code in (200, 404)


@FUZZ
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
       path=st.sampled_from(["/v1/predict", "/v1/models", "/healthz", "/readyz", "/metrics", "/docs"]),
       body=st.binary(max_size=50))
def test_any_method_on_the_routes(client, method, path, body):
    check_error(client.request(method, path, content=body))
