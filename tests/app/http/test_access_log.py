"""The access log (one JSON line per request on logger app.access, on standard output) and X-Request-ID."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime

import pytest

from app.http.access_log import LOGGER

HEX_ID = re.compile(r"[0-9a-f]{32}")


def _lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_one_json_line_per_request_with_the_key_id_never_the_key(make_client, capsys):
    client = make_client(api_keys="ops=s3cret-key-123:admin")
    capsys.readouterr()
    r = client.post("/v1/models/sentiment-en/versions/bundled/activate", headers={"Authorization": "Bearer s3cret-key-123",
                                                            "X-Request-ID": "trace-42"})
    assert r.status_code == 200
    client.get("/v1/nothing-here")
    client.post("/v1/models/sentiment-en/versions/bundled/activate", headers={"Authorization": "Bearer wrong-guess-456"})
    out = capsys.readouterr().out
    assert "s3cret-key-123" not in out and "wrong-guess-456" not in out
    activated, missing, refused = [json.loads(line) for line in out.splitlines()]
    assert set(activated) == {"time", "method", "path", "status", "duration_ms", "key_id", "request_id", "client"}
    assert activated | {"time": None, "duration_ms": None} == {
        "time": None, "method": "POST", "path": "/v1/models/sentiment-en/versions/bundled/activate", "status": 200, "duration_ms": None,
        "key_id": "ops", "request_id": "trace-42", "client": "testclient"}
    assert activated["time"].endswith("Z") and datetime.fromisoformat(activated["time"].replace("Z", "+00:00"))
    assert isinstance(activated["duration_ms"], float) and activated["duration_ms"] >= 0
    assert (missing["status"], missing["key_id"], missing["path"]) == (404, None, "/v1/nothing-here")
    assert (refused["status"], refused["key_id"]) == (403, None)
    assert HEX_ID.fullmatch(missing["request_id"]) and HEX_ID.fullmatch(refused["request_id"])


def test_an_open_predict_names_a_valid_key_it_was_given(make_client, capsys):
    client = make_client(api_keys="dash=k3y-two:predict")
    capsys.readouterr()
    client.post("/v1/predict", json={"text": "w1 good"}, headers={"Authorization": "Bearer k3y-two"})
    client.post("/v1/predict", json={"text": "w1 good"})
    assert [(line["status"], line["key_id"]) for line in _lines(capsys)] == [(200, "dash"), (200, None)]


def test_the_request_id_is_kept_when_valid_and_made_otherwise(make_client, capsys):
    client = make_client()
    given = "0123456789abcdef-ABC_~ !\"#$%&'()*+,-./:;<=>?@[]^`{|}"
    assert client.get("/healthz", headers={"X-Request-ID": given}).headers["x-request-id"] == given
    assert client.get("/healthz", headers={"X-Request-ID": "x" * 128}).headers["x-request-id"] == "x" * 128
    made = [client.get("/healthz", headers=headers).headers["x-request-id"]
            for headers in ({}, {}, {"X-Request-ID": "x" * 129}, {"X-Request-ID": b"caf\xe9"})]
    assert all(HEX_ID.fullmatch(rid) for rid in made) and len(set(made)) == 4
    assert [line["request_id"] for line in _lines(capsys)][-6:] == [given, "x" * 128, *made]


@pytest.mark.parametrize("path,status", [("/v1/predict", 422), ("/v1/models/sentiment-en/versions/bundled/activate", 401),
                                         ("/v1/nothing-here", 404)])
def test_errors_echo_the_request_id_too(make_client, path, status):
    r = make_client().post(path, json={}, headers={"X-Request-ID": "err-1"})
    assert r.status_code == status and r.headers["x-request-id"] == "err-1"


def test_the_setting_turns_the_log_off_but_not_the_request_id(make_client, capsys):
    client = make_client(access_log=False)
    capsys.readouterr()
    r = client.get("/healthz", headers={"X-Request-ID": "still-here"})
    assert r.headers["x-request-id"] == "still-here"
    assert capsys.readouterr().out == ""


def test_lines_are_records_of_logger_app_access(make_client, caplog):
    """Whoever configures logging can route them: a handler on ``app.access`` gets each line."""
    client = make_client()
    caplog.handler.setLevel(0)
    logging.getLogger(LOGGER).addHandler(caplog.handler)
    try:
        client.get("/healthz")
    finally:
        logging.getLogger(LOGGER).removeHandler(caplog.handler)
    (record,) = [r for r in caplog.records if r.name == LOGGER]
    assert record.levelname == "INFO" and json.loads(record.getMessage())["path"] == "/healthz"
