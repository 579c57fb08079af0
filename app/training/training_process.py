"""The training process: ``python -m app.training.training_process JOB_ID PARENT_PID [PROCESSES]``.

Started by ``runner.JobRunner`` with the server's settings on its stdin; reads its job from
the records, turns the job's hyperparameters into the model package's configs (the same function the
CLI uses, so the same values train the same model), trains with ``model.train``, writes progress
back, and on success writes the bundle aside and renames it into place as a new version, in the
same transaction that records the version. It dies with its parent (PR_SET_PDEATHSIG), so a
killed server never leaves a training process behind.

A job that asks for N ``processes`` is trained by N ranks under ``torchrun`` on this node. The
process the runner started replaces itself (``exec``) with ``python -m torch.distributed.run
--standalone --nproc_per_node N -m app.training.training_process JOB_ID PID``: same process id, so
the runner's record, kill and death signal stay right, and torchrun starts the ranks, which die
with it in turn. The settings reach every rank in the environment variable ``SETTINGS_VARIABLE``
(readable only by the service's user, like the stdin they came from; never on a command line,
which any user can read: the database URL holds a password), which each rank removes at once from
its own environment. The ranks join one process group (gloo on CPU, NCCL on GPUs:
``model.training.distributed``) before anything else. Rank 0 alone does what one process does: the
baseline, progress, the stop checks on the records (cancel, time limit), the bundle, the version
and the promotion; the other ranks train, and stop when rank 0's stop vote (in ``train()``) says
so. Each rank gets ``SENTIMENT_TRAINING_THREADS`` (resolved) divided by N torch threads, at least
one, so that N ranks use what one process would have used where threads are to spare.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import resource
import signal
import sys
import time

import torch

from model import Predictor, TrainingCancelled, load_bundle, train
from model.bundle import write_bundle
from model.config import configs_from_values
from model.data import stratified_split
from model.files import publishing
from model.inference.scoring import evaluate
from model.training import distributed
from model.training.baseline_store import BaselineStore, fit_or_reuse
from model.training.candidates import card_notes, choose, rnn_predictor
from model.training.card import render_card
from model.training.loop import resolve_device
from model.training.warm_start import label_names_for

from ..errors import NotFound, ServiceError, storage_errors
from ..processes import die_with_parent
from ..settings import Settings
from ..store import Store, now
from ..versions import Versions
from .jobs import open_running_job

log = logging.getLogger("app.training.training_process")
WRITE_EVERY_S = 0.5
# The settings, for the ranks torchrun starts. SENTIMENT_-prefixed so that child_environment() drops
# it: a variable of that name in the server's own environment never reaches a training process.
SETTINGS_VARIABLE = "SENTIMENT_TRAINING_RANK_SETTINGS"
BASELINES_FOLDER = "baselines"  # fitted baselines, reused by jobs on the same data (in the data directory)


class LeaseLost(Exception):
    """The job is no longer this node's: its outcome is not recorded."""


class Reporter:
    """Progress into the records (throttled) and the stop conditions: cancel, time limit, parent
    gone. On ranks other than 0 (``leader`` False) only the last: the cancel and the time limit are
    rank 0's to notice (its reason is the one recorded), and ``train()`` takes every stop vote to all."""

    def __init__(self, store: Store, job_id: str, parent_pid: int, time_limit: float, leader: bool = True):
        self.store, self.job_id, self.parent_pid, self.leader = store, job_id, parent_pid, leader
        self.deadline = time.monotonic() + time_limit
        self.time_limit = time_limit
        self.last_write = self.last_check = 0.0
        self.epochs: list[dict] = []
        self.current: dict = {}  # the progress last written
        self.extra: dict = {}  # fields every progress write carries: the baseline's dev accuracy
        self.reason: str | None = None
        self.terminated = False
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, *_):
        self.terminated = True

    def progress(self, p) -> None:
        if p.stage == "epoch":
            self.epochs.append(p.dev)
        if p.stage == "epoch" or time.monotonic() - self.last_write >= WRITE_EVERY_S:
            self.last_write = time.monotonic()
            self.current = {
                "epoch": p.epoch, "epochs": p.epochs, "step": p.step, "total_steps": p.total_steps,
                "percent": round(100 * p.step / max(p.total_steps, 1), 1), "eta_s": round(p.eta_s, 1),
                "elapsed_s": round(p.elapsed_s, 1), "loss": round(p.loss, 4), "tokens_per_s": round(p.tokens_per_s),
                "seconds_per_epoch": round(sum(e["seconds"] for e in self.epochs) / len(self.epochs), 2)
                if self.epochs else None,
                "epochs_done": self.epochs,
            } | self.extra | ({"stop_reason": p.stop_reason} if p.stop_reason else {})
            self.store.update("jobs", "id", self.job_id, progress=self.current)

    def baseline(self, event: dict) -> None:
        """The baseline's progress (``fit_baseline``'s events: features built, then each C tried; or one
        event when a stored fit is reused), so that a job says what it does before its first epoch:
        ``{"baseline_step", "baseline_steps"}``, and ``"baseline_reused": true`` for a stored one."""
        self.extra = {"baseline_step": event["step"], "baseline_steps": event["steps"]}  # kept in later writes
        if event.get("reused"):
            self.extra["baseline_reused"] = True
        self.current = dict(self.extra)
        self.store.update("jobs", "id", self.job_id, progress=self.current)

    def stop_reason(self, time_limit: float) -> str:
        """Why ``should_stop`` stopped training, in the words of ``TrainResult.stop_reason``."""
        why = {"cancelled": "cancelled: by request", "time_limit": f"time_limit: {time_limit:.0f} s passed"}.get(
            self.reason, "interrupted: the server shut down or restarted")
        where = self.current
        if "baseline_step" in where and "epoch" not in where:
            return why + " (while fitting the baseline)"
        return why + (f" (at epoch {where['epoch']}, step {where['step']})" if "epoch" in where else "")

    def should_stop(self) -> bool:
        if self.terminated:
            self.reason = "interrupted"
        elif self.leader and time.monotonic() > self.deadline:
            self.reason = "time_limit"
        elif os.getppid() != self.parent_pid:
            self.reason = "interrupted"
        elif self.leader and time.monotonic() - self.last_check >= WRITE_EVERY_S:
            self.last_check = time.monotonic()
            row = self.store.one("SELECT cancel_requested FROM jobs WHERE id = ?", self.job_id)
            if row and row["cancel_requested"]:
                self.reason = "cancelled"
        return self.reason is not None


def score(metrics: dict) -> float:
    """The figure promotion and ``winner`` compare: accuracy, or micro-F1 for a multi-label model
    (whose metrics have no accuracy; ``result.promotion.metric`` says which)."""
    return metrics["accuracy"] if "accuracy" in metrics else metrics["micro_f1"]


def decide_promotion(promote: str, new_metrics: dict, versions: Versions, model: str, dev,
                     baseline_accuracy: float | None = None) -> dict:
    """Whether the new version becomes ``model``'s active one, and why (``promote`` values: the job
    schema's); the first version of a new model is its active one whatever the policy. The
    ``*_accuracy`` fields hold micro-F1 for a multi-label model (``metric`` says so)."""
    decision = {"policy": promote, "active_version": None, "new_accuracy": score(new_metrics)}
    if "accuracy" not in new_metrics:
        decision["metric"] = "micro_f1"
    if not versions.model_exists(model):
        return decision | {"promote": True, "reason": f"the first version of the new model {model!r}"}
    active = versions.active(model)
    decision["active_version"] = active
    if promote == "never":
        return decision | {"promote": False, "reason": "promote is 'never'"}
    if promote == "always":
        return decision | {"promote": True, "reason": "promote is 'always'"}
    if promote in ("if_better_than_baseline", "if_better_than_both"):  # the floor comes first
        decision["baseline_accuracy"] = baseline_accuracy
        if baseline_accuracy is None or not score(new_metrics) > baseline_accuracy:
            return decision | {"promote": False, "reason": "the baseline is at least as accurate on the eval set"}
        if promote == "if_better_than_baseline":
            return decision | {"promote": True, "reason": "new model is more accurate than the baseline on the eval set"}
    try:
        active_metrics = evaluate(Predictor.load(versions.path(model, active)), dev)
    except Exception as exc:  # different labels, or an unreadable bundle: never swap blindly
        return decision | {"promote": False, "reason": f"active model cannot be scored on the eval set: {exc}"}
    better = score(new_metrics) > score(active_metrics)
    than = " than the active model and the baseline" if promote == "if_better_than_both" else ""
    return decision | {
        "promote": better, "active_accuracy": score(active_metrics),
        "reason": f"new model is more accurate{than} on the eval set" if better else "active model is at least as accurate",
    }


def _base_bundle(versions: Versions, model: str, version: str):
    """The bundle of the model version a warm-started job begins from."""
    if not versions.exists(model, version):
        raise NotFound(f"base version {version!r} of {model!r} no longer exists")
    return load_bundle(versions.path(model, version))


def run(settings: Settings, job_id: str, parent_pid: int) -> int:
    opened = open_running_job(settings, job_id, log)
    if opened is None:
        return 1
    store, versions, datasets, job = opened
    time_limit = min(job["time_limit_s"] or settings.job_timeout_s, settings.job_timeout_s)
    # Outcomes are recorded only while this node's lease holds the job: one that took the node for
    # dead may have queued it again (app/training/queue.py).
    owner = job["lease_owner"]
    ours = {"state": "running", "lease_owner": owner}
    reporter = Reporter(store, job_id, parent_pid, time_limit)
    world = distributed.World()  # alone, until torchrun's process group is joined
    try:
        model_config, tok_config, train_config = configs_from_values(job["config"])
        world, _ = distributed.join(resolve_device(train_config.device))  # every rank, before anything else
        reporter.leader = world.rank == 0
        threads = max(1, settings.training_thread_count() // world.size)
        torch.set_num_threads(threads)
        train_config = dataclasses.replace(train_config, threads=threads)
        if world.active:
            log.info("job %s: rank %d of %d, %d torch thread(s)", job_id, world.rank, world.size, threads)
        train_data = datasets.load(datasets.get(job["dataset_id"]))
        if job["eval_dataset_id"]:
            dev_data = datasets.load(datasets.get(job["eval_dataset_id"]))
        else:
            train_data, dev_data = stratified_split(train_data, train_config.dev_fraction, train_config.seed)
        # The yardstick first (seconds, where the RNN takes minutes), recorded at once so that a user sees it
        # while the RNN trains; it draws no random numbers, so the RNN's result is the same with or without it.
        # Rank 0's alone; the other ranks wait for its stop vote.
        model = job["model"] or settings.default_model
        base = _base_bundle(versions, model, job["base_version"]) if job["base_version"] else None
        baseline, stopped = None, False
        if reporter.leader:
            try:
                # a job on the same data and settings before: its fit is reused (model.training.baseline_store);
                # its labels named as the RNN's will be (a warm start's: the base's names when none are given)
                baseline = fit_or_reuse(train_data, dev_data, label_names_for(model_config, base),
                                        store=BaselineStore(settings.data_dir / BASELINES_FOLDER),
                                        should_stop=reporter.should_stop, progress=reporter.baseline)
            except TrainingCancelled:
                stopped = True
            else:
                reporter.extra |= {"baseline_accuracy": score(baseline.metrics)}
                store.update("jobs", "id", job_id, progress=reporter.extra, result={"baseline": baseline.to_dict()})
        if world.any(stopped):
            raise TrainingCancelled("stopped while fitting the baseline")
        result = train(train_data, dev_data, model_config, tok_config, train_config,
                       progress=reporter.progress, should_stop=reporter.should_stop,
                       base=base, base_source=job["base_version"])
        if not reporter.leader:
            return 0  # rank 0 holds the same model and records it
        return _record(settings, versions, job, result, baseline, train_data, dev_data)
    except LeaseLost:
        log.warning("job %s: this node's lease was lost (the job was re-queued elsewhere); nothing recorded", job_id)
        return 1
    except TrainingCancelled:
        if not reporter.leader:
            return 0
        state, error = {
            "cancelled": ("cancelled", "cancelled by request"),
            "time_limit": ("failed", f"time limit of {time_limit:.0f} s exceeded"),
        }.get(reporter.reason, ("interrupted", "the server shut down while this job was running"))
        stop_reason = reporter.stop_reason(time_limit)
        recorded = store.one("SELECT result FROM jobs WHERE id = ?", job_id)["result"]  # e.g. the baseline's
        store.update("jobs", "id", job_id, where=ours, state=state, error=error, finished_at=now(),
                     result=recorded | {"stop_reason": stop_reason}, progress=reporter.current | {"stop_reason": stop_reason})
        return 0
    except Exception as exc:  # on any rank: the first to fail records why (the others find it ended)
        log.exception("job %s failed", job_id)
        reason = _failure_reason(exc, settings)
        if world.active:
            reason = f"rank {world.rank} of {world.size}: {reason}"
        store.update("jobs", "id", job_id, where=ours, state="failed", error=settings.public_text(reason), finished_at=now())
        return 1
    finally:
        world.leave()


def _record(settings: Settings, versions: Versions, job: dict, result, baseline, train_data, dev_data) -> int:
    """Rank 0, after training: the promotion decision, the bundle (written aside, ``model.files``),
    and the version with the job's outcome in one transaction, which renames the bundle into place."""
    job_id, store = job["id"], versions.store
    model = job["model"] or settings.default_model
    # the RNN, the baseline and their blend, scored alike on the evaluation set; keep says which is published
    keep = result.train_config.keep
    choice = choose(rnn_predictor(result), baseline, dev_data)
    published = choice.published(keep)
    if result.train_config.refit:
        choice.refit(published, baseline, train_data, dev_data)
    linear, rnn_weight = choice.bundle_parts(published)
    # the published candidate's figures (the RNN's full report, or the other candidate's scores)
    metrics = result.metrics if published == "rnn" else {"candidate": published, **choice.candidates[published]}
    promotion = decide_promotion(job["promote"], metrics, versions, model, dev_data, score(baseline.metrics))
    meta = result.training_metadata() | {"job_id": job_id, "dataset_id": job["dataset_id"],
                                         **choice.to_dict(keep)}
    card = render_card(result, f"POST /v1/train-jobs (job {job_id}, dataset {job['dataset_id']})",
                       card_notes(choice.to_dict(keep)))
    # jobs that were queued together may each have passed the quota when submitted
    versions.check_quota(settings.max_versions, settings.max_version_bytes)
    outcome = {"metrics": metrics, "history": result.history, "best_epoch": result.best_epoch,
               "stop_reason": result.stop_reason, "chosen": result.resolved,
               "calibration": result.calibration, "train_seconds": round(result.elapsed_s, 2),
               "promotion": promotion, "baseline": baseline.to_dict(), **choice.to_dict(keep)}
    with storage_errors("saving the new model version"), publishing(versions.folder / f"job-{job_id}",
                                                                    folder=True) as bundle:
        write_bundle(bundle, result.model, result.tokenizer, result.tokenizer_config, training=meta, card=card,
                     linear=linear, rnn_weight=rnn_weight)
        with store.connect("recording the new model version") as db:  # number, rename, records: all or nothing
            created = not versions.model_exists(model)  # (under the write lock: no other job creates it meanwhile)
            version = versions.publish(db, model, bundle, job_id=job_id, dataset_id=job["dataset_id"])
            _succeeded(db, versions, job, model, version, outcome, promotion if not created else None)
    log.info("job %s succeeded: %s version %s (%s, the winner: %s), dev score %.4f", job_id, model, version,
             published, choice.winner, score(metrics))
    return 0


def _succeeded(db, versions: Versions, job: dict, model: str, version: str, outcome: dict,
               promotion: dict | None) -> None:
    """The job's outcome, in the transaction that records its version (and activates it, if promoted;
    ``promotion`` None: the version of a new model, active from the start)."""
    job_id, owner = job["id"], job["lease_owner"]
    if not db.execute("UPDATE jobs SET state = 'succeeded', model_version = ?, result = ?, finished_at = ? "
                      "WHERE id = ? AND state = 'running' AND lease_owner = ?",
                      (version, json.dumps(outcome), now(), job_id, owner)).rowcount:
        raise LeaseLost  # (the version folder, renamed but unrecorded, is swept)
    if promotion is not None and promotion["promote"]:  # the serving processes follow the recorded active version
        versions.record_active(db, model, version)  # (and NOTIFY, on PostgreSQL)


# What the training process holds besides its job's estimate (model.training.budget): the interpreter,
# torch's libraries and allocator caches, the datasets and their token ids.
MEMORY_HEADROOM = 2 * 1024**3


def limit_memory(job_bytes: int) -> None:
    """An operating-system bound on this process's memory (RLIMIT_DATA: its heap and private
    mappings): past it an allocation fails, and the job fails saying so, instead of the machine
    running out of memory for the server."""
    limit = job_bytes + MEMORY_HEADROOM
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    except (ValueError, OSError) as exc:  # e.g. a hard limit already lower: keep it
        log.warning("could not limit this training process's memory to %d bytes: %s", limit, exc)


def _failure_reason(exc: BaseException, settings: Settings) -> str:
    if isinstance(exc, ServiceError):
        return exc.message
    if isinstance(exc, MemoryError) or "can't allocate memory" in str(exc) or "out of memory" in str(exc).lower():
        return (f"out of memory: the training process may use {settings.max_job_memory_bytes / 2**30:.1f} GiB "
                "plus its run time (SENTIMENT_MAX_JOB_MEMORY_BYTES); choose a smaller network, batch or vocabulary")
    return f"{type(exc).__name__}: {exc}"


def _become_torchrun(settings: Settings, job_id: str, processes: int) -> None:
    """Replace this process with torchrun starting ``processes`` ranks of this module (does not
    return). The process id stays, and with it the death signal set for it (exec keeps it)."""
    env = os.environ | {SETTINGS_VARIABLE: settings.to_child(),
                        # torchrun would set 1, with a warning; the ranks set their share themselves
                        "OMP_NUM_THREADS": str(max(1, settings.training_thread_count() // processes))}
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
            "-m", "app.training.training_process", job_id, str(os.getpid())]
    log.info("job %s: starting %d training processes with torchrun", job_id, processes)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    job_id, parent_pid = argv[1], int(argv[2])
    processes = int(argv[3]) if len(argv) > 3 else 1
    die_with_parent(parent_pid)
    inherited = os.environ.pop(SETTINGS_VARIABLE, None)
    if inherited is not None:  # a rank that torchrun started (its parent is torchrun)
        settings = Settings.from_child(inherited)
        limit_memory(settings.max_job_memory_bytes)
        return run(settings, job_id, parent_pid)
    settings = Settings.from_child(sys.stdin.buffer.read())
    limit_memory(settings.max_job_memory_bytes)
    os.nice(10)  # training yields the CPU to the server process answering predictions (ranks inherit it)
    if processes > 1:
        _become_torchrun(settings, job_id, processes)
    return run(settings, job_id, parent_pid)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
