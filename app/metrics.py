"""Prometheus metrics (one registry per app, so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ABSTAINED = "<abstained>"  # the label counted for a prediction that abstained (below min_score)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("sentiment_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram("sentiment_http_request_duration_seconds", "HTTP request latency",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=r)
        self.predictions = Counter("sentiment_predictions_total", "Texts classified (abstentions under the label "
                                   "'<abstained>'; a multi-label prediction counts once per label)",
                                   ["model", "model_version", "label"], registry=r)
        self.batch_size = Histogram("sentiment_batch_size", "Texts per model call", buckets=BATCH_BUCKETS, registry=r)
        self.model_info = Gauge("sentiment_active_model", "1 for each model's version served by this process",
                                ["model", "version"], registry=r)
        self.model_memory = Gauge("sentiment_model_memory_bytes", "Memory the model process took to load each "
                                  "loaded model's served version", ["model"], registry=r)
        self.model_process_restarts = Counter("sentiment_model_process_restarts",
                                              "Model processes started again after one died", registry=r)
        self.jobs = Gauge("sentiment_train_jobs", "Training jobs by state", ["state"], registry=r)
        self.storage_writable = Gauge("sentiment_storage_writable",
                                      "1 when the data directory could be written at the last /readyz", registry=r)
        self._predicted: dict[tuple[str, str], object] = {}

    def count_predictions(self, model: str, version: str, predictions: list) -> None:
        for prediction in predictions:
            labels = prediction.labels if getattr(prediction, "labels", None) is not None else \
                [prediction.label if prediction.label is not None else ABSTAINED]
            for label in labels:
                child = self._predicted.get((model, version, label))
                if child is None:
                    child = self._predicted[model, version, label] = self.predictions.labels(model, version, label)
                child.inc()

    def set_active(self, model: str, version: str, memory_bytes: int | None = None) -> None:
        self.drop_model(model)
        self.model_info.labels(model=model, version=version).set(1)
        if memory_bytes is not None:
            self.model_memory.labels(model=model).set(memory_bytes)

    def drop_model(self, model: str) -> None:
        """``model`` is no longer loaded here."""
        for labels in [s.labels for m in self.model_info.collect() for s in m.samples]:
            if labels.get("model") == model:
                self.model_info.remove(labels["model"], labels["version"])
        try:
            self.model_memory.remove(model)
        except KeyError:
            pass
