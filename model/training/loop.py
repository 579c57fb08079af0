"""The training loop: backpropagation through time with AdamW, clipping, early stopping and
temperature calibration. ``train()`` is a function; the CLI in ``__main__`` is a thin wrapper.
Started by ``torchrun``, it trains with DistributedDataParallel (see ``distributed``).

Multi-label data (``Dataset.task``) trains the same network with a sigmoid per label
(``BCEWithLogitsLoss``), stops early on dev micro-F1 (at thresholds of 0.5), and then chooses each
label's threshold on the dev set (``best_thresholds``) instead of fitting a temperature: the
thresholds already decide where each label's probability is high enough, label by label.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import nn

from ..config import MULTI_LABEL, RUNTIME_OPTIONS, ModelConfig, TokenizerConfig, TrainConfig
from ..data import Dataset
from ..inference.batches import batched_logits, pad_batch
from ..inference.scoring import (
    best_thresholds,
    expected_calibration_error,
    logits_report,
    multi_label_logits_report,
)
from ..network.rnn import SentimentRNN, count_parameters
from ..text.scripts import script_shares
from ..text.tokenizer import TextTokenizer
from . import distributed
from .calibration import fit_temperature
from .setup import TrainState, setup
from .targets import SoftTargets, distillation_loss

if TYPE_CHECKING:
    from ..bundle import Bundle

log = logging.getLogger(__name__)



class TrainingCancelled(Exception):
    """Raised inside ``train()`` when ``should_stop()`` answers True."""


@dataclass
class Progress:
    """One report to the progress callback: after every step (``stage="step"``) and epoch."""

    stage: str  # "step" | "epoch"
    epoch: int
    epochs: int
    step: int
    total_steps: int
    loss: float
    tokens_per_s: float
    elapsed_s: float
    eta_s: float
    dev: dict | None = None  # dev metrics, on "epoch" reports
    stop_reason: str | None = None  # on the last "epoch" report: why training stops there


@dataclass
class TrainResult:
    model: SentimentRNN
    tokenizer: TextTokenizer
    model_config: ModelConfig
    train_config: TrainConfig
    tokenizer_config: TokenizerConfig
    metrics: dict  # dev metrics of the kept (best) epoch, after calibration
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    steps: int = 0
    stopped_early: bool = False
    stop_reason: str = ""  # "plateau: ...", "max_epochs: ...", "max_steps: ..."
    elapsed_s: float = 0.0
    calibration: dict = field(default_factory=dict)  # multi-label: {"skipped": why}
    data: dict = field(default_factory=dict)
    world_size: int = 1  # training processes; each took ``steps`` steps on its own batches
    rank: int = 0  # this process's rank: only rank 0 should save or report
    base: dict | None = None  # warm start: {"source", "weights_sha256", "output_layer": "kept" | "new"}
    resolved: dict = field(default_factory=dict)  # what ``auto`` became: {name: {"value", "reason"}}

    def training_metadata(self) -> dict:
        config = self.train_config.to_dict()
        return {
            "train_config": {k: v for k, v in config.items() if k not in RUNTIME_OPTIONS},
            "runtime": {k: config[k] for k in RUNTIME_OPTIONS},
            "metrics": self.metrics,
            "history": self.history,
            "best_epoch": self.best_epoch,
            "steps": self.steps,
            "stopped_early": self.stopped_early,
            "stop_reason": self.stop_reason,
            "train_seconds": round(self.elapsed_s, 2),
            "calibration": self.calibration,
            "data": self.data,
            "parameters": count_parameters(self.model),
            "trainable_parameters": count_parameters(self.model, trainable_only=True),
            "world_size": self.world_size,
            "base": self.base,
            "chosen": self.resolved,
        }


def length_bucketed_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar-length examples, so little time goes to padding."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def lr_factor(schedule: str, total_steps: int):
    """The learning rate's multiplier after ``step`` optimiser steps, for ``LambdaLR``.

    ``linear`` and ``cosine`` fall from 1 to 0 over ``total_steps`` (all epochs' batches, or
    ``max_steps``); a run stopped early by ``patience`` ends before the rate reaches 0.
    """
    total = max(total_steps, 1)
    if schedule == "linear":
        return lambda step: max(0.0, 1.0 - step / total)
    if schedule == "cosine":
        return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    return lambda step: 1.0


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def train(
    train_data: Dataset,
    dev_data: Dataset | None = None,
    model_config: ModelConfig | None = None,
    tokenizer_config: TokenizerConfig | None = None,
    train_config: TrainConfig | None = None,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    base: Bundle | None = None,
    base_source: str | None = None,
    soft_targets: SoftTargets | None = None,
) -> TrainResult:
    """Train a classifier; the configs passed in are not changed (the result holds the used ones).

    ``base`` (a loaded bundle) warm-starts it: the architecture, tokenizer and weights are the
    base's, the output layer too when the labels are the same (see ``warm_start``); ``base_source``
    names the base in the training metadata (default: its folder's name, never a machine path).

    ``soft_targets`` (a teacher's logits, one row per training example) make it distillation: the
    loss is ``distill_alpha`` of the cross-entropy on the labels plus the rest of the mean squared
    error to those logits (``model.training.targets``). It needs ``dev_data``: early stopping and
    calibration stay on gold labels.

    Under ``torchrun`` every process calls this with the same arguments: each trains a DDP replica
    on its share of every epoch's batches (``batch_size`` is per process), takes the same early
    stopping decisions, and returns the same model; ``progress`` is called on rank 0 only.
    """
    cfg = (train_config or TrainConfig()).validate()
    t0 = time.perf_counter()
    world, device = distributed.join(resolve_device(cfg.device))
    try:
        run = setup(
            train_data,
            dev_data,
            model_config=model_config,
            tokenizer_config=tokenizer_config,
            cfg=cfg,
            world=world,
            device=device,
            base=base,
            base_source=base_source,
            soft_targets=soft_targets,
        )
        run.progress, run.should_stop = (progress if world.rank == 0 else None), should_stop
        _start_loop(run)
        for epoch in range(1, run.cfg.epochs + 1):
            if _end_epoch(run, epoch, _train_epoch(run, epoch)):
                break
        return _finish(run, t0)
    finally:
        world.leave()


def _start_loop(run: TrainState) -> None:
    """The loss, the optimiser and its schedule, the batch-order generator and the step budget."""
    cfg, world = run.cfg, run.world
    weights = None
    if run.task == MULTI_LABEL:
        if cfg.class_weights:  # each label's negatives per positive: a rare label's positives weigh more
            positives = run.train_y.sum(dim=0)
            weights = ((len(run.train_y) - positives) / positives.clamp(min=1)).to(run.device)
        run.loss_fn = nn.BCEWithLogitsLoss(pos_weight=weights)
    else:
        if cfg.class_weights:
            counts = torch.bincount(run.train_y, minlength=len(run.names)).float()
            weights = (counts.sum() / (len(run.names) * counts.clamp(min=1))).to(run.device)
        run.loss_fn = nn.CrossEntropyLoss(weight=weights)
    run.params = [p for p in run.model.parameters() if p.requires_grad]
    run.optimizer = torch.optim.AdamW(run.params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    run.rng = random.Random(cfg.seed)
    steps_per_epoch = math.ceil(len(run.train_ids) / cfg.batch_size) // world.size
    if steps_per_epoch == 0:
        raise ValueError(
            f"{len(run.train_ids)} training examples in batches of {cfg.batch_size} make fewer batches than "
            f"the {world.size} processes; lower the batch size or start fewer processes"
        )
    run.total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps:
        run.total_steps = min(run.total_steps, cfg.max_steps)
    run.scheduler = torch.optim.lr_scheduler.LambdaLR(run.optimizer, lr_factor(cfg.lr_schedule, run.total_steps))
    run.loop_t0 = time.perf_counter()
    log.info(
        "training %s: %d examples, %d dev, %d steps, %d process(es)",
        run.arch.cell,
        len(run.train_ids),
        len(run.dev_ids),
        run.total_steps,
        world.size,
    )
    run.check_stop = world.any(run.should_stop is not None)  # every rank takes part in the vote, or none


class _Trained(NamedTuple):
    """What an epoch's training steps leave for its dev evaluation."""

    started: float  # perf_counter at the epoch's start
    train_loss: float  # mean over the epoch's examples
    tokens_per_s: float  # this epoch's training tokens per second (dev evaluation left out)


def _train_epoch(run: TrainState, epoch: int) -> _Trained:
    """One pass over the training batches (this rank's share), reporting every step."""
    cfg, device = run.cfg, run.device
    run.net.train()
    epoch_t0, epoch_loss, epoch_n, epoch_tokens = time.perf_counter(), 0.0, 0, run.tokens
    for batch in run.world.shard(length_bucketed_batches(run.lengths, cfg.batch_size, run.rng)):
        if run.check_stop and run.world.any(run.should_stop is not None and run.should_stop()):
            raise TrainingCancelled(f"cancelled at epoch {epoch}, step {run.step}")
        ids, lens = pad_batch([run.train_ids[i] for i in batch], run.arch.pad_id)
        logits = run.net(ids.to(device), lens)
        if run.train_soft is None:
            loss = run.loss_fn(logits, run.train_y[batch].to(device))
        else:
            loss = distillation_loss(
                logits, run.train_y[batch].to(device), run.train_soft[batch].to(device), cfg.distill_alpha, run.loss_fn
            )
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # backpropagation through time; under DDP also averages the gradients
        # Clip the global gradient norm: recurrent nets occasionally produce exploding
        # gradients on long sequences, and one such step can wreck the weights.
        nn.utils.clip_grad_norm_(run.params, cfg.max_grad_norm)
        run.optimizer.step()
        run.scheduler.step()
        run.step += 1
        run.tokens += int(lens.sum())
        epoch_loss += loss.item() * len(batch)
        epoch_n += len(batch)
        if run.progress is not None:
            now = time.perf_counter()
            elapsed = now - run.loop_t0
            tokens_per_s = run.tokens / max(run.train_s + now - epoch_t0, 1e-9)
            eta = elapsed / run.step * (run.total_steps - run.step)
            run.progress(
                Progress("step", epoch, cfg.epochs, run.step, run.total_steps, loss.item(), tokens_per_s, elapsed, eta)
            )
        if cfg.max_steps and run.step >= cfg.max_steps:
            break
    epoch_train_s = time.perf_counter() - epoch_t0
    run.train_s += epoch_train_s
    tokens_per_s = round((run.tokens - epoch_tokens) / max(epoch_train_s, 1e-9), 1)
    return _Trained(epoch_t0, epoch_loss / max(epoch_n, 1), tokens_per_s)


def _end_epoch(run: TrainState, epoch: int, trained: _Trained) -> bool:
    """Score the epoch on dev, keep the best weights, decide whether to stop (the same decision on
    every rank) and report; True when training stops here."""
    cfg = run.cfg
    dev_logits = _evaluate_logits(run.model, run.dev_ids, cfg, run.arch.pad_id, run.device)
    if run.task == MULTI_LABEL:
        report = multi_label_logits_report(dev_logits, run.dev_y, run.names, [0.5] * len(run.names))
        scores = {"dev_micro_f1": report["micro_f1"], "dev_subset_accuracy": report["subset_accuracy"]}
        score = report["micro_f1"]
    else:
        report = logits_report(dev_logits, run.dev_y, run.names)
        scores = {"dev_accuracy": report["accuracy"]}
        score = report["accuracy"]
    epoch_s = time.perf_counter() - trained.started
    entry = {
        "epoch": epoch,
        "train_loss": trained.train_loss,
        "dev_loss": report["loss"],
        **scores,
        "dev_macro_f1": report["macro_f1"],
        # this epoch's: wall time (its dev evaluation included), training tokens per second
        "seconds": round(epoch_s, 2),
        "tokens_per_s": trained.tokens_per_s,
        "elapsed_s": round(time.perf_counter() - run.loop_t0, 2),
    }
    run.history.append(entry)
    log.info("epoch %d: %s", epoch, entry)
    score = run.world.from_rank0(score)  # so every rank stops at the same epoch
    if score > run.best_score:
        run.best_score, run.best_epoch, run.bad_epochs = score, epoch, 0
        run.best_state = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
    else:
        run.bad_epochs += 1
    run.stop_reason = _stop_reason(run, epoch)
    if run.progress is not None:
        elapsed = time.perf_counter() - run.loop_t0
        run.progress(
            Progress(
                "epoch",
                epoch,
                cfg.epochs,
                run.step,
                run.total_steps,
                entry["train_loss"],
                run.tokens / max(run.train_s, 1e-9),
                elapsed,
                elapsed / run.step * (run.total_steps - run.step),
                dev=entry,
                stop_reason=run.stop_reason,
            )
        )
    return bool(run.stop_reason)


def _stop_reason(run: TrainState, epoch: int) -> str | None:
    cfg = run.cfg
    if cfg.max_steps and run.step >= cfg.max_steps:
        return f"max_steps: reached {run.step} steps"
    if run.bad_epochs >= cfg.patience and epoch < cfg.epochs:
        return (
            f"plateau: dev {'micro-F1' if run.task == MULTI_LABEL else 'accuracy'} did not improve for "
            f"{run.bad_epochs} epoch{'s' * (run.bad_epochs > 1)} (best {run.best_score:.3f} at epoch {run.best_epoch})"
        )
    if epoch == cfg.epochs:
        return f"max_epochs: reached {epoch} epochs"
    return None


def _finish(run: TrainState, t0: float) -> TrainResult:
    """The best epoch's weights, calibrated on dev, and the record of the run."""
    model, arch, dev_y = run.model, run.arch, run.dev_y
    model.load_state_dict(run.best_state)
    dev_logits = _evaluate_logits(model, run.dev_ids, run.cfg, arch.pad_id, run.device)
    if run.task == MULTI_LABEL:
        arch.thresholds = best_thresholds(torch.sigmoid(dev_logits.float()).numpy(), dev_y.bool().numpy())
        calibration = {
            "skipped": "temperature scaling is for single-label models; each label's threshold "
            "was chosen on the dev set instead"
        }
        metrics = multi_label_logits_report(dev_logits, dev_y, run.names, arch.thresholds)
    else:
        calibration = {"temperature": 1.0, "ece_before": expected_calibration_error(dev_logits, dev_y)}
        if run.cfg.calibrate:
            calibration["temperature"] = fit_temperature(dev_logits, dev_y)
        arch.temperature = calibration["temperature"]
        calibration["ece_after"] = expected_calibration_error(dev_logits / arch.temperature, dev_y)
        metrics = logits_report(dev_logits / arch.temperature, dev_y, run.names)
    model.cpu().eval()
    elapsed = time.perf_counter() - t0
    train_data, dev_data, record = run.train_data, run.dev_data, run.record
    return TrainResult(
        model=model,
        tokenizer=run.tokenizer,
        model_config=arch,
        train_config=run.cfg,
        tokenizer_config=run.tok_cfg,
        metrics=metrics,
        history=run.history,
        best_epoch=run.best_epoch,
        steps=run.step,
        stopped_early=run.stop_reason.startswith("plateau"),
        stop_reason=run.stop_reason,
        elapsed_s=elapsed,
        calibration=calibration,
        data={
            "train_sha256": train_data.sha256,
            "dev_sha256": dev_data.sha256,
            "train_examples": len(train_data),
            "dev_examples": len(dev_data),
            "dev_source": "split" if dev_data.source == train_data.source else "given",
            "label_counts": train_data.label_counts(),
            "pretrained": record["pretrained"],
            "pretrained_source": record["pretrained_source"],
            "scripts": script_shares(train_data.texts),  # what serving warns against (model/text/scripts.py)
            "soft_targets": record["soft_targets"],  # trained on a teacher's logits (distill_alpha applies)
        },
        world_size=run.world.size,
        rank=run.world.rank,
        resolved=record["resolved"],
        base=record["base"],
    )


def _evaluate_logits(model, seqs, cfg: TrainConfig, pad_id: int, device) -> torch.Tensor:
    model.eval()
    try:
        with torch.no_grad():
            return batched_logits(model, seqs, cfg.eval_batch_size, pad_id, device)
    finally:
        model.train()

