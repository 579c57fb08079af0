"""Jobs: the queue in the records and what the routes call (submit, read, list, cancel).

Two kinds share one queue, one runner and one event stream: ``train`` jobs (a training process,
``training_process.py``) and ``batch`` jobs, which score every text of a dataset with a model
version (a batch process, ``batch_process.py``). ``runner.JobRunner`` claims queued jobs
(``queue.py``) and runs each in a process of its own; the server process never trains nor scores
whole files.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from model.config import configs_from_values
from model.data import DataError
from model.training.budget import training_bytes

from ..errors import Conflict, InvalidInput, LimitExceeded, NotFound, TooBusy
from ..settings import Settings
from ..store import Store, now
from ..versions import Versions, check_name
from .datasets import DatasetStore

# A job's states, the one list: the API's schema, the metrics and the runner read it from here.
TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")
STATES = ("queued", "running", *TERMINAL)
KINDS = {"train": "training job", "batch": "batch job"}  # kind -> what messages call it


def open_running_job(settings: Settings, job_id: str, log: logging.Logger):
    """What a job's own process (``training_process.py``, ``batch_process.py``) opens first: the
    records, the versions, the datasets and its job, which must be running; None (logged) else."""
    store = Store.from_settings(settings)
    versions = Versions(store, settings.data_dir, settings.bundled_models())
    datasets = DatasetStore(store, settings.data_dir / "datasets")
    job = store.one("SELECT * FROM jobs WHERE id = ?", job_id)
    if job is None or job["state"] != "running":
        log.error("job %s is not running here", job_id)
        store.close()
        return None
    return store, versions, datasets, job


# A job as shown: its record, and its datasets' file names, so that a list of jobs names its data
# (null once a dataset is deleted)
_WITH_FILENAMES = ("SELECT jobs.*, train.filename AS dataset_filename, dev.filename AS eval_dataset_filename FROM jobs "
                   "LEFT JOIN datasets train ON train.id = jobs.dataset_id "
                   "LEFT JOIN datasets dev ON dev.id = jobs.eval_dataset_id")


def _public(job: dict) -> dict:
    for private in ("pid", "lease_owner", "lease_expires_at", "attempts"):  # which machine runs it, and how
        job.pop(private, None)
    job["cancel_requested"] = bool(job["cancel_requested"])
    return job


class JobService:
    """What the routes call: submit, read, list, cancel."""

    def __init__(self, settings: Settings, versions: Versions, datasets: DatasetStore):
        self.settings, self.versions, self.store, self.datasets = settings, versions, versions.store, datasets
        self.wake = asyncio.Event()  # tells the runner (on the event loop) to look now
        # submit and cancel run in threadpool threads: asyncio.Event is not thread-safe, so they
        # set it through the loop (created with the service, inside the lifespan)
        self._loop = asyncio.get_running_loop()

    def submit(self, dataset_id: str, eval_dataset_id: str | None, config: dict, promote: str,
               time_limit_s: float | None = None, base_version: str | None = None, processes: int = 1,
               model: str | None = None) -> dict:
        """Queue a job; ``config`` holds validated hyperparameters (model.config names);
        ``base_version``, a model version the new model starts from (warm start); ``processes``,
        how many training processes torchrun starts for it (``training_process.py``)."""
        if config["epochs"] > self.settings.max_epochs:
            raise LimitExceeded(f"epochs is {config['epochs']}; the server allows at most "
                                f"{self.settings.max_epochs} (SENTIMENT_MAX_EPOCHS)", field="config.epochs")
        if time_limit_s is not None and time_limit_s > self.settings.job_timeout_s:
            raise LimitExceeded(f"time_limit_s is {time_limit_s}; at most "
                                f"{self.settings.job_timeout_s} (SENTIMENT_JOB_TIMEOUT_S)", field="time_limit_s")
        if processes > self.settings.max_training_processes:
            raise LimitExceeded(f"processes is {processes}; the server allows at most "
                                f"{self.settings.max_training_processes} (SENTIMENT_MAX_TRAINING_PROCESSES)",
                                field="processes")
        train = self._dataset(dataset_id, "dataset_id")
        dev = self._dataset(eval_dataset_id, "eval_dataset_id") if eval_dataset_id else None
        for record in (train, dev) if dev else (train,):
            self.datasets.check_present(record)
        labels = self._check_labels(train, dev)  # from the summaries made at upload: nothing parsed again
        self._check_memory(config, len(labels))
        model = check_name(model or self.settings.default_model)
        if base_version is not None and not self.versions.exists(model, base_version):
            raise NotFound(f"model {model!r} has no version {base_version!r} (GET /v1/models/{model}/versions lists "
                           "them)", field="base_version")
        if base_version is not None and not self.versions.has_rnn(model, base_version):
            raise InvalidInput(f"version {base_version!r} of {model!r} is a baseline (a linear model alone): it has no "
                               "RNN to start from; give a version that has one (a job with \"keep\": \"rnn\" always "
                               "publishes one)", code="base_version_without_rnn", field="base_version")
        self.versions.check_quota(self.settings.max_versions, self.settings.max_version_bytes)
        self._check_queue()
        job_id = uuid.uuid4().hex[:12]
        # The answer is read in the inserting transaction: the job as submitted, queued (a runner
        # polling the queue may claim it the moment it is committed).
        with self.store.connect("queueing the job") as db:
            self.store.insert("jobs", db=db, id=job_id, kind="train", state="queued", dataset_id=dataset_id,
                              eval_dataset_id=eval_dataset_id, config=config, promote=promote,
                              time_limit_s=time_limit_s, model=model, base_version=base_version, processes=processes,
                              progress={}, result={}, created_at=now())
            job = self.get(job_id)
        self._loop.call_soon_threadsafe(self.wake.set)
        return job

    def _check_labels(self, train: dict, dev: dict | None) -> list[str]:
        """The training labels, from the datasets' summaries: at least two, and every eval label among
        them (as ``model.data.check_training_data`` checks parsed datasets; only an eval set that
        fails is read again, to name the line)."""
        for record, field in ((train, "dataset_id"), (dev, "eval_dataset_id")):
            if record is not None and record["summary"].get("task") == "unlabelled":
                raise InvalidInput(f"dataset {record['id']} ({record['filename']}) has no labels, only texts: "
                                   "training needs a label for each text (a 'label' or 'labels' column)",
                                   code="dataset_unlabelled", field=field)
        labels = sorted(train["summary"]["label_counts"])
        if len(labels) < 2:
            raise DataError(train["filename"], None, f"only one class ({labels[0]!r}) in "
                            f"{train['summary']['examples']} examples; training needs at least two")
        unseen = sorted(set(dev["summary"]["label_counts"]) - set(labels)) if dev else []
        if unseen:
            data = self.datasets.load(dev)
            at = next(i for i, y in enumerate(data.labels) if (unseen[0] in y if isinstance(y, tuple) else y == unseen[0]))
            line = data.lines[at] if data.lines else None
            raise DataError(dev["filename"], line, f"label {unseen[0]!r} never appears in training data {labels}")
        return labels

    def _check_memory(self, config: dict, labels: int) -> None:
        """Refuse a job whose estimated memory (``model.training.budget``) exceeds the server's limit."""
        model, tokenizer, train = configs_from_values(config)
        need, limit = training_bytes(model, tokenizer, train, labels), self.settings.max_job_memory_bytes
        if need > limit:
            raise LimitExceeded(
                f"this job would need about {need / 2**30:.1f} GiB ({labels} labels, embedding_dim "
                f"{model.embedding_dim}, hidden_size {model.hidden_size} x {model.layers} layer(s), batch_size "
                f"{train.batch_size} x max_length {tokenizer.max_length}); the server allows "
                f"{limit / 2**30:.1f} GiB (SENTIMENT_MAX_JOB_MEMORY_BYTES): choose a smaller network or batch",
                code="job_too_large", field="config")

    def _dataset(self, dataset_id: str, field: str) -> dict:
        record = self.datasets.get(dataset_id)
        if record is None:
            raise NotFound(f"dataset {dataset_id!r} not found", field=field)
        return record

    def submit_batch(self, dataset_id: str, model: str | None = None, version: str | None = None) -> dict:
        """Queue a batch job: every text of the dataset scored by ``model``'s ``version`` (default:
        the version active now, recorded, so that the whole file is scored by one version)."""
        record = self._dataset(dataset_id, "dataset_id")
        self.datasets.check_present(record)
        model = model or self.settings.default_model
        version = version or self.versions.active(model)  # a 404 naming an unknown model
        if not self.versions.exists(model, version):
            raise NotFound(f"model {model!r} has no version {version!r} (GET /v1/models/{model}/versions lists "
                           "them)", field="version")
        self._check_queue()
        job_id = uuid.uuid4().hex[:12]
        with self.store.connect("queueing the job") as db:
            self.store.insert("jobs", db=db, id=job_id, kind="batch", state="queued", dataset_id=dataset_id,
                              config={}, promote="never", model=model, model_version=version, processes=1,
                              progress={"rows_done": 0, "rows_total": record["summary"]["examples"]},
                              result={}, created_at=now())
            job = self.get(job_id, "batch")
        self._loop.call_soon_threadsafe(self.wake.set)
        return job

    def _check_queue(self) -> None:
        queued = self.store.one("SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued'")["n"]
        if queued >= self.settings.max_queued_jobs:
            raise TooBusy(f"{queued} jobs are already queued; the server allows "
                          f"{self.settings.max_queued_jobs} (SENTIMENT_MAX_QUEUED_JOBS); try again later",
                          code="queue_full")

    def get(self, job_id: str, kind: str = "train") -> dict:
        job = self.store.one(f"{_WITH_FILENAMES} WHERE jobs.id = ? AND jobs.kind = ?", job_id, kind)
        if job is None:
            raise NotFound(f"{KINDS[kind]} {job_id!r} not found")
        return _public(job)

    def list(self, limit: int = 100, kind: str = "train") -> list[dict]:
        rows = self.store.all(f"{_WITH_FILENAMES} WHERE jobs.kind = ? ORDER BY jobs.created_at DESC, jobs.id DESC "
                              "LIMIT ?", kind, limit)
        return [_public(r) for r in rows]

    def cancel(self, job_id: str, kind: str = "train") -> dict:
        job = self.get(job_id, kind)
        if job["state"] in TERMINAL:
            raise Conflict(f"job {job_id} has already finished ({job['state']})", code="job_finished")
        if self.store.execute("UPDATE jobs SET state = 'cancelled', finished_at = ?, error = ? "
                              "WHERE id = ? AND state = 'queued'", now(), "cancelled before it started", job_id):
            return self.get(job_id, kind)
        self.store.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", job_id)
        self._loop.call_soon_threadsafe(self.wake.set)
        return self.get(job_id, kind)
