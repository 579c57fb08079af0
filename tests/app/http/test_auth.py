"""API keys and scopes: predict, train and admin each open exactly their endpoints (RFC 6750 answers)."""

from __future__ import annotations

import hashlib
import logging

import pytest
from pydantic import ValidationError

from app.settings import SCOPES, Settings
from tests.support.settings import KEY

# every endpoint that needs a key, with the scope it needs (predict: with predict_requires_key)
ENDPOINTS = [
    ("post", "/v1/predict", "predict"),
    ("post", "/v1/datasets", "train"),
    ("post", "/v1/train-jobs", "train"),
    ("post", "/v1/train-jobs/abc/cancel", "train"),
    ("delete", "/v1/datasets/abc", "admin"),
    ("post", "/v1/models/sentiment-en/versions/bundled/activate", "admin"),
]
ONE_SCOPE_EACH = "p=key-for-predict:predict,t=key-for-train:train,a=key-for-admin:admin"
KEY_OF = {"predict": "key-for-predict", "train": "key-for-train", "admin": "key-for-admin"}
ID_OF = {"predict": "p", "train": "t", "admin": "a"}


def _call(client, method: str, path: str, key: str | None):
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    body = {"json": {"text": "w1 good"}} if path == "/v1/predict" else {}
    return client.request(method, path, headers=headers, **body)


def test_the_table_names_every_scope():
    assert {scope for *_, scope in ENDPOINTS} == set(SCOPES)


@pytest.mark.parametrize("method,path,needed", ENDPOINTS)
def test_each_scope_opens_exactly_its_endpoints(make_client, method, path, needed):
    client = make_client(api_keys=ONE_SCOPE_EACH, predict_requires_key=True)
    for scope, key in KEY_OF.items():
        r = _call(client, method, path, key)
        if scope == needed:
            assert r.status_code not in (401, 403), r.text  # past the checks (then 200, 404, 415...)
            continue
        assert r.status_code == 403, r.text
        assert r.json()["error"] == "insufficient_scope"
        message = r.json()["message"]
        assert f"(id {ID_OF[scope]})" in message and f"lacks the '{needed}' scope" in message
        assert r.headers["www-authenticate"] == f'Bearer error="insufficient_scope", scope="{needed}"'


@pytest.mark.parametrize("method,path,needed", ENDPOINTS)
def test_a_plain_key_has_every_scope(make_client, method, path, needed):
    client = make_client(api_keys=f"other,{KEY}", predict_requires_key=True)
    for key in (KEY, "other"):
        r = _call(client, method, path, key)
        assert r.status_code not in (401, 403), r.text


@pytest.mark.parametrize("method,path,needed", ENDPOINTS)
@pytest.mark.parametrize("headers,status,error,challenge", [
    ({}, 401, "unauthorized", "Bearer"),
    ({"Authorization": "Bearer wrong-key"}, 403, "forbidden", 'Bearer error="invalid_token"'),
    ({"Authorization": f"Basic {KEY}"}, 401, "unauthorized", "Bearer"),
    ({"Authorization": "Bearer "}, 401, "unauthorized", "Bearer"),
])
def test_a_missing_or_wrong_key_is_refused_with_a_bearer_challenge(make_client, method, path, needed,
                                                                   headers, status, error, challenge):
    client = make_client(api_keys=f"other,{KEY}", predict_requires_key=True)
    r = client.request(method, path, headers=headers)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error
    assert r.headers["www-authenticate"] == challenge


@pytest.mark.parametrize("method,path,needed", ENDPOINTS)
def test_without_configured_keys_they_refuse_and_say_how(make_client, method, path, needed):
    client = make_client(api_keys="", predict_requires_key=True)
    r = _call(client, method, path, KEY)
    assert r.status_code == 403
    assert r.json()["error"] == "auth_not_configured" and "SENTIMENT_API_KEYS" in r.json()["message"]


def test_right_key_passes_auth(make_client):
    client = make_client(api_keys=f"other,{KEY}")
    r = client.post("/v1/models/sentiment-en/versions/bundled/activate", headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200 and r.json()["active"] is True
    r = client.post("/v1/train-jobs/abc/cancel", headers={"Authorization": "Bearer other"})
    assert r.status_code == 404  # past auth, the job just does not exist


def test_prediction_is_open_unless_configured(make_client):
    client = make_client(api_keys="a=only-admin:admin")
    assert client.post("/v1/predict", json={"text": "w1 good"}).status_code == 200
    client = make_client(api_keys="a=only-admin:admin,p=can-predict:predict", predict_requires_key=True)
    assert client.post("/v1/predict", json={"text": "w1 good"}).status_code == 401
    r = client.post("/v1/predict", json={"text": "w1 good"}, headers={"Authorization": "Bearer can-predict"})
    assert r.status_code == 200


def test_key_ids_are_given_or_derived_from_the_key_hash():
    keys = Settings(api_keys="ops=k3y-one:admin+train+predict, dash=k3y-two:predict ,k3y-three,").keys()
    assert [k.id for k in keys] == ["ops", "dash", "key-" + hashlib.sha256(b"k3y-three").hexdigest()[:8]]
    assert [sorted(k.scopes) for k in keys] == [["admin", "predict", "train"], ["predict"], sorted(SCOPES)]
    assert "k3y" not in repr(keys)  # only digests are kept, and they are not shown


@pytest.mark.parametrize("text,key", [
    ("ops=c:d=e:admin", "c:d=e"),  # a key with ':' and '=' in it: an id and scopes make it unambiguous
    ("YWJjZGVm==", "YWJjZGVm=="),  # base64 padding is part of the key, not an id
    ("k1:train+admin", "k1"),
])
def test_keys_with_separators_in_them(text, key):
    (parsed,) = Settings(api_keys=text).keys()
    assert parsed.digest == hashlib.sha256(key.encode()).digest()


@pytest.mark.parametrize("text,problem", [
    ("ops=s3cret:admn", "entry 1 (id 'ops'): unknown scope 'admn'; scopes are admin, predict, train"),
    ("good,s3cret:", "entry 2: unknown scope ''"),
    ("s3cret:predict+root", "unknown scope 'root'"),
    ("a=s3cret,a=other", "entry 2 (id 'a'): the key id 'a' is used twice"),
    ("s3cret, s3cret", "entry 2: the same key as entry 1"),
    ("ops=:admin", "entry 1 (id 'ops'): the key is empty"),
    ("s3cret with spaces", "entry 1: the key is empty or not printable ASCII"),
    ("ops=s3crét", "not printable ASCII"),
])
def test_malformed_keys_are_settings_errors_that_never_show_the_key(text, problem):
    with pytest.raises(ValidationError) as info:
        Settings(api_keys=text)
    (error,) = info.value.errors()
    assert error["loc"] == ("api_keys",)
    assert problem in error["msg"]
    assert "s3cr" not in error["msg"]


def test_keys_never_reach_logs_or_settings_repr(make_client, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(api_keys="s3cret-key-123")
    client.post("/v1/models/sentiment-en/versions/bundled/activate", headers={"Authorization": "Bearer s3cret-key-123"})
    client.post("/v1/models/sentiment-en/versions/bundled/activate", headers={"Authorization": "Bearer wrong-guess-456"})
    assert "s3cret-key-123" not in repr(client.app.state.settings)
    assert "s3cret-key-123" not in repr(client.app.state.api_keys)
    assert "s3cret-key-123" not in caplog.text and "wrong-guess-456" not in caplog.text
    assert "activated sentiment-en version bundled" in caplog.text  # the log was captured at all
