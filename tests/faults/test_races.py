"""Races a real server meets: identical uploads at the same moment, and a DELETE on a keep-alive
connection (issue 10, items 1 and 2). These need no privileges."""

from __future__ import annotations

import http.client
import threading

import httpx

from tests.faults.conftest import leftovers
from tests.support.data import csv_bytes
from tests.support.settings import AUTH, KEY


def test_identical_uploads_at_the_same_moment_are_one_dataset(serve, tiny_bundle_path, tmp_path):
    data = tmp_path / "data"
    server = serve(data_dir=data, model_dir=tiny_bundle_path, api_keys=KEY)
    body = csv_bytes(3000, seed=21)
    barrier = threading.Barrier(8)
    answers: list[httpx.Response] = []

    def upload() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            barrier.wait()
            answers.append(client.post("/v1/datasets", headers=AUTH, files={"file": ("same.csv", body)}))

    threads = [threading.Thread(target=upload) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 8
    assert sorted(r.status_code for r in answers) == [200] * 7 + [201], [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert len(httpx.get(server.url + "/v1/datasets").json()) == 1
    assert [p.name for p in (data / "datasets").iterdir()] == [f"{answers[0].json()['id']}.csv"]
    assert leftovers(data) == []
    assert "Traceback" not in server.log()


def test_delete_answers_204_without_a_body_and_the_connection_stays_usable(serve, tiny_bundle_path, tmp_path):
    server = serve(data_dir=tmp_path / "data", model_dir=tiny_bundle_path, api_keys=KEY)
    dataset = httpx.post(server.url + "/v1/datasets", headers=AUTH, files={"file": ("d.csv", csv_bytes(50))}).json()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("DELETE", f"/v1/datasets/{dataset['id']}", headers=AUTH)
        r = connection.getresponse()
        assert r.status == 204 and r.read() == b""
        assert r.getheader("content-length") in (None, "0")
        connection.request("GET", "/healthz")  # the same connection, kept alive
        r = connection.getresponse()
        assert r.status == 200 and r.read() == b'{"status":"ok"}'
    finally:
        connection.close()
    assert "Response content longer than Content-Length" not in server.log()
    assert "Traceback" not in server.log()
