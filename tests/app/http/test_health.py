"""Liveness, readiness and the Prometheus endpoint."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(client) -> dict[tuple[str, tuple], float]:
    r = client.get("/metrics")
    assert r.status_code == 200
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics: dict, name: str, **labels) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readyz_names_the_served_version(client):
    r = client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert (body["status"], body["model_version"]) == ("ready", "bundled")
    assert body["storage"]["writable"] is True and body["storage"]["free_bytes"] > 0


def test_metrics_is_prometheus_text(client):
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    names = {f.name for f in text_string_to_metric_families(r.text)}
    assert {"sentiment_http_requests", "sentiment_http_request_duration_seconds", "sentiment_predictions",
            "sentiment_batch_size", "sentiment_active_model"} <= names


def test_counters_move(client):
    before = samples(client)
    predictions = client.post("/v1/predict", json={"texts": ["good", "w1 bad", "not good w2"]}).json()["predictions"]
    assert client.post("/v1/predict", json={"text": ""}).status_code == 422
    assert client.get("/healthz").status_code == 200
    assert client.get("/v1/models/nope").status_code == 404
    after = samples(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "sentiment_http_requests_total"
    assert delta(requests, method="POST", route="/v1/predict", status="200") == 1
    assert delta(requests, method="POST", route="/v1/predict", status="422") == 1
    assert delta(requests, method="GET", route="/healthz", status="200") == 1
    assert delta(requests, method="GET", route="/v1/models/{name}", status="404") == 1  # the template, not the path
    latency = "sentiment_http_request_duration_seconds_count"
    assert delta(latency, method="POST", route="/v1/predict") == 2
    assert delta(latency, method="GET", route="/healthz") == 1
    for label in ("negative", "positive"):
        expected = sum(p["label"] == label for p in predictions)
        assert delta("sentiment_predictions_total", model="sentiment-en", model_version="bundled", label=label) == expected
    assert delta("sentiment_batch_size_count") == 1
    assert delta("sentiment_batch_size_sum") == 3
    assert value(after, "sentiment_active_model", model="sentiment-en", version="bundled") == 1


def test_unknown_paths_share_one_label(client):
    for path in ("/a", "/b", "/c/d"):
        assert client.get(path).status_code == 404
    after = samples(client)
    assert value(after, "sentiment_http_requests_total", method="GET", route="unmatched", status="404") == 3
    assert not any(dict(labels).get("route") in ("/a", "/b", "/c/d") for _, labels in after)


def test_readyz_reports_the_records_and_a_database_outage_in_one_line_each(client, caplog):
    """An API process whose database is down keeps serving predictions (/readyz stays 200, degraded,
    and says why); the loops that read the records log one line per failed call, not a traceback."""
    import time

    from app.errors import DatabaseUnavailable

    body = client.get("/readyz").json()
    assert body["status"] == "ready" and body["database"] == {"reachable": True, "backend": "sqlite"}
    store = client.app.state.store

    def down(*args, **kwargs):
        raise DatabaseUnavailable("the database cannot be reached while reading the records; try again shortly")

    store.schema_version = store.one = store.all = down
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["status"] == "degraded" and r.json()["database"]["reachable"] is False
    assert client.post("/v1/predict", json={"text": "good"}).status_code == 200
    time.sleep(1.0)  # the job runner's ticks and the activation follower's polls meanwhile
    failures = [r for r in caplog.records if "cannot be reached" in r.getMessage()]
    assert failures and all(r.exc_info is None for r in failures)
