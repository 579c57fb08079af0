"""The batch process: ``python -m app.training.batch_process JOB_ID PARENT_PID [1]``.

A batch job scores every text of a dataset with one version of a model, straight through the
network in large batches (no HTTP per row), and keeps the predictions as a result file that
``GET /v1/batch-jobs/{id}/result`` streams as CSV or JSONL. ``runner.JobRunner`` starts it where
training runs (the ``trainer`` role in a scale-out) with the server's settings on its stdin, at the
lowest CPU priority and one thread: online predictions come first, the batch job takes what they
leave (``benchmarks/batch_yield.py`` measures predict p99 while one runs).

It survives restarts: each chunk's predictions are appended to ``batches/<id>.partial.jsonl`` and
flushed before its progress is recorded, so a job queued again after its server stopped (or its
node died) resumes after the last whole line written, and no row is scored twice or lost. The file
becomes ``batches/<id>.jsonl`` when the last row is written; a failed or cancelled job's partial
file is removed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

from ..errors import ServiceError
from ..processes import die_with_parent
from ..settings import Settings
from ..store import now
from .jobs import open_running_job

log = logging.getLogger("app.training.batch_process")
CHUNK = 256  # texts per model call: large enough to keep the network busy, small enough to stop quickly
WRITE_EVERY_S = 0.5


def result_path(data_dir: Path, job_id: str, partial: bool = False) -> Path:
    return data_dir / "batches" / (f"{job_id}.partial.jsonl" if partial else f"{job_id}.jsonl")


def rows_written(path: Path) -> int:
    """Whole lines in ``path``, a line cut short by a kill removed (its row is scored again)."""
    if not path.exists():
        return 0
    data = path.read_bytes()
    whole = data.rfind(b"\n") + 1
    if whole < len(data):
        with open(path, "r+b") as f:
            f.truncate(whole)
    return data.count(b"\n", 0, whole)


def run(settings: Settings, job_id: str) -> int:
    from model.inference.predictor import Predictor  # after the thread settings of child_environment()

    opened = open_running_job(settings, job_id, log)
    if opened is None:
        return 1
    store, versions, datasets, job = opened
    ours = {"state": "running", "lease_owner": job["lease_owner"]}
    partial = result_path(settings.data_dir, job_id, partial=True)
    try:
        record = datasets.get(job["dataset_id"])
        if record is None:
            raise ServiceError(f"dataset {job['dataset_id']} no longer exists")
        texts = datasets.load(record).texts
        predictor = Predictor.load(versions.path(job["model"], job["model_version"]), backend="auto")
        partial.parent.mkdir(parents=True, exist_ok=True)
        done = rows_written(partial)
        started, resumed_at, last_write = time.monotonic(), done, 0.0
        log.info("batch job %s: %s %s on %d texts, from row %d", job_id, job["model"], job["model_version"],
                 len(texts), done)
        with open(partial, "ab") as out:
            while done < len(texts):
                chunk = texts[done : done + CHUNK]
                lines = b"".join(json.dumps(p.to_dict(), separators=(",", ":")).encode() + b"\n"
                                 for p in predictor.predict(chunk))
                out.write(lines)
                out.flush()
                os.fsync(out.fileno())
                done += len(chunk)
                if time.monotonic() - last_write >= WRITE_EVERY_S or done == len(texts):
                    last_write = time.monotonic()
                    seconds = last_write - started
                    progress = {"rows_done": done, "rows_total": len(texts), "elapsed_s": round(seconds, 2),
                                "rows_per_s": round((done - resumed_at) / seconds, 1) if seconds > 0 else None}
                    if not store.update("jobs", "id", job_id, where=ours, progress=progress):
                        log.warning("batch job %s is no longer this node's; stopping", job_id)
                        return 1
                    if store.one("SELECT cancel_requested FROM jobs WHERE id = ?", job_id)["cancel_requested"]:
                        partial.unlink(missing_ok=True)
                        store.update("jobs", "id", job_id, where=ours, state="cancelled", finished_at=now(),
                                     error="cancelled by request", progress=progress)
                        return 0
        final = result_path(settings.data_dir, job_id)
        os.replace(partial, final)
        seconds = time.monotonic() - started
        store.update("jobs", "id", job_id, where=ours, state="succeeded", finished_at=now(),
                     result={"rows": len(texts), "labels": predictor.labels, "task": predictor.task,
                             "seconds": round(seconds, 2),
                             "rows_per_s": round((len(texts) - resumed_at) / seconds, 1) if seconds > 0 else None,
                             "backend": predictor.backend})
        log.info("batch job %s succeeded: %d rows", job_id, len(texts))
        return 0
    except Exception as exc:
        log.exception("batch job %s failed", job_id)
        partial.unlink(missing_ok=True)
        reason = exc.message if isinstance(exc, ServiceError) else f"{type(exc).__name__}: {exc}"
        store.update("jobs", "id", job_id, where=ours, state="failed", error=settings.public_text(reason),
                     finished_at=now())
        return 1
    finally:
        store.close()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    job_id, parent_pid = argv[1], int(argv[2])
    die_with_parent(parent_pid)
    settings = Settings.from_child(sys.stdin.buffer.read())
    os.nice(19)  # online predictions first: this takes the CPU they leave
    return run(settings, job_id)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
