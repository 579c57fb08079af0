"""A 405 lists in ``Allow`` every method of its path, not only those of the first route that matched."""

from __future__ import annotations

import pytest

ALLOWED = {
    "/v1/predict": "POST",
    "/v1/models": "GET",
    "/v1/models/sentiment-en": "GET, DELETE",
    "/v1/models/sentiment-en/versions": "GET",
    "/v1/models/sentiment-en/versions/bundled": "GET, DELETE",
    "/v1/models/sentiment-en/predict": "POST",
    "/v1/models/sentiment-en/versions/bundled/activate": "POST",
    "/v1/datasets": "GET, POST",
    "/v1/datasets/abc": "GET, DELETE",
    "/v1/train-jobs": "GET, POST",
    "/v1/train-jobs/abc": "GET",
    "/v1/train-jobs/abc/cancel": "POST",
    "/v1/train-jobs/abc/events": "GET",
    "/healthz": "GET",
    "/openapi.json": "GET, HEAD",
}


@pytest.mark.parametrize("path,allow", ALLOWED.items())
def test_every_405_lists_all_allowed_methods_of_its_path(client, path, allow):
    for method in {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} - set(allow.split(", ")):
        r = client.request(method, path)
        assert r.status_code == 405, (method, path)
        assert r.headers["allow"] == allow, (method, path)
        if method != "HEAD":
            assert r.json()["error"] == "method_not_allowed" and allow in r.json()["message"]


@pytest.mark.parametrize("method,path,allow", [("PUT", "/v1/predict", "POST"), ("GET", "/v1/predict", "POST"),
                                               ("GET", "/v1/models/sentiment-en/versions/bundled/activate", "POST")])
def test_the_examples_of_the_issue(client, method, path, allow):
    r = client.request(method, path)
    assert r.status_code == 405 and r.headers["allow"] == allow
