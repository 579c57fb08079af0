"""Prometheus metrics (one registry per app, so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("sentiment_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram("sentiment_http_request_duration_seconds", "HTTP request latency",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=r)
        self.predictions = Counter("sentiment_predictions_total", "Texts classified", ["model_version", "label"], registry=r)
        self.batch_size = Histogram("sentiment_batch_size", "Texts per model call", buckets=BATCH_BUCKETS, registry=r)
        self.model_info = Gauge("sentiment_active_model", "1 for the model version being served", ["version"], registry=r)
        self.model_process_restarts = Counter("sentiment_model_process_restarts",
                                              "Model processes started again after one died", registry=r)
        self.jobs = Gauge("sentiment_train_jobs", "Training jobs by state", ["state"], registry=r)
        self.storage_writable = Gauge("sentiment_storage_writable",
                                      "1 when the data directory could be written at the last /readyz", registry=r)
        self._predicted: dict[tuple[str, str], object] = {}

    def count_predictions(self, version: str, labels: list[str]) -> None:
        for label in labels:
            child = self._predicted.get((version, label))
            if child is None:
                child = self._predicted[version, label] = self.predictions.labels(version, label)
            child.inc()

    def set_active(self, version: str) -> None:
        self.model_info.clear()
        self.model_info.labels(version=version).set(1)
