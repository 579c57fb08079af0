"""The training loop: backpropagation through time with AdamW, clipping, early stopping and
temperature calibration. ``train()`` is a function; the CLI in ``__main__`` is a thin wrapper.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from . import embeddings
from .config import ModelConfig, TokenizerConfig, TrainConfig
from .data import Dataset, check_training_data, stratified_split
from .inference import batched_logits, pad_batch
from .metrics import classification_report, expected_calibration_error, fit_temperature
from .network import SentimentRNN, count_parameters
from .tokenizer import TextTokenizer, build_tokenizer

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
    elapsed_s: float = 0.0
    calibration: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)

    def training_metadata(self) -> dict:
        return {
            "train_config": self.train_config.to_dict(),
            "metrics": self.metrics,
            "history": self.history,
            "best_epoch": self.best_epoch,
            "steps": self.steps,
            "stopped_early": self.stopped_early,
            "train_seconds": round(self.elapsed_s, 2),
            "calibration": self.calibration,
            "data": self.data,
            "parameters": count_parameters(self.model),
            "trainable_parameters": count_parameters(self.model, trainable_only=True),
        }


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


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
    pretrained: str | None = None,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train a classifier. ``pretrained`` is ``"minilm"`` or the path of a word-vector text file."""
    arch = dataclasses.replace(model_config or ModelConfig())
    tok_cfg = dataclasses.replace(tokenizer_config or TokenizerConfig())
    cfg = (train_config or TrainConfig()).validate()
    t0 = time.perf_counter()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)

    labels_raw = check_training_data(train_data, dev_data)
    if dev_data is None:
        train_data, dev_data = stratified_split(train_data, cfg.dev_fraction, cfg.seed)
    aliases = arch.label_aliases
    names = [aliases.get(raw, raw) for raw in labels_raw]
    label_index = {raw: i for i, raw in enumerate(labels_raw)}

    wordpiece_file = None
    if pretrained == "minilm":
        tok_cfg.kind = "wordpiece"
        wordpiece_file = embeddings.minilm_tokenizer_file()
    tokenizer = build_tokenizer(tok_cfg, train_data.texts, wordpiece_file)
    arch.labels, arch.vocab_size = names, tokenizer.vocab_size
    arch.pad_id, arch.unk_id = tokenizer.pad_id, tokenizer.unk_id
    arch.validate()
    model = SentimentRNN(arch)
    if pretrained:
        _load_pretrained(model, tokenizer, pretrained)
    model.to(device)

    train_ids = tokenizer.encode_batch(train_data.texts)
    dev_ids = tokenizer.encode_batch(dev_data.texts)
    train_y = torch.tensor([label_index[y] for y in train_data.labels])
    dev_y = torch.tensor([label_index[y] for y in dev_data.labels])
    lengths = [len(s) for s in train_ids]

    weights = None
    if cfg.class_weights:
        counts = torch.bincount(train_y, minlength=len(names)).float()
        weights = (counts.sum() / (len(names) * counts.clamp(min=1))).to(device)
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)

    rng = random.Random(cfg.seed)
    steps_per_epoch = math.ceil(len(train_ids) / cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps:
        total_steps = min(total_steps, cfg.max_steps)
    history: list[dict] = []
    best_acc, best_epoch, best_state, bad_epochs = -1.0, 0, None, 0
    step, tokens, stopped_early = 0, 0, False
    loop_t0 = time.perf_counter()
    log.info("training %s: %d examples, %d dev, %d steps", arch.cell, len(train_ids), len(dev_ids), total_steps)

    for epoch in range(1, cfg.epochs + 1):
        model.train()
        epoch_t0, epoch_loss, epoch_n = time.perf_counter(), 0.0, 0
        for batch in length_bucketed_batches(lengths, cfg.batch_size, rng):
            if should_stop is not None and should_stop():
                raise TrainingCancelled(f"cancelled at epoch {epoch}, step {step}")
            ids, lens = pad_batch([train_ids[i] for i in batch], arch.pad_id)
            logits = model(ids.to(device), lens)
            loss = loss_fn(logits, train_y[batch].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # backpropagation through time over the packed sequences
            # Clip the global gradient norm: recurrent nets occasionally produce exploding
            # gradients on long sequences, and one such step can wreck the weights.
            nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            step += 1
            tokens += int(lens.sum())
            epoch_loss += loss.item() * len(batch)
            epoch_n += len(batch)
            if progress is not None:
                elapsed = time.perf_counter() - loop_t0
                progress(Progress("step", epoch, cfg.epochs, step, total_steps, loss.item(),
                                  tokens / max(elapsed, 1e-9), elapsed,
                                  elapsed / step * (total_steps - step)))
            if cfg.max_steps and step >= cfg.max_steps:
                break
        dev_logits = _evaluate_logits(model, dev_ids, cfg, arch.pad_id, device)
        report = classification_report(dev_logits, dev_y, names)
        epoch_s = time.perf_counter() - epoch_t0
        history.append({
            "epoch": epoch, "train_loss": epoch_loss / max(epoch_n, 1), "dev_loss": report["loss"],
            "dev_accuracy": report["accuracy"], "dev_macro_f1": report["macro_f1"],
            "seconds": round(epoch_s, 2), "tokens_per_s": round(tokens / (time.perf_counter() - loop_t0), 1),
        })
        log.info("epoch %d: %s", epoch, history[-1])
        if report["accuracy"] > best_acc:
            best_acc, best_epoch, bad_epochs = report["accuracy"], epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad_epochs += 1
        if progress is not None:
            elapsed = time.perf_counter() - loop_t0
            progress(Progress("epoch", epoch, cfg.epochs, step, total_steps, history[-1]["train_loss"],
                              tokens / max(elapsed, 1e-9), elapsed,
                              elapsed / step * (total_steps - step), dev=history[-1]))
        if cfg.max_steps and step >= cfg.max_steps:
            break
        if bad_epochs >= cfg.patience:
            stopped_early = epoch < cfg.epochs
            break

    model.load_state_dict(best_state)
    dev_logits = _evaluate_logits(model, dev_ids, cfg, arch.pad_id, device)
    calibration = {"temperature": 1.0, "ece_before": expected_calibration_error(dev_logits, dev_y)}
    if cfg.calibrate:
        calibration["temperature"] = fit_temperature(dev_logits, dev_y)
    arch.temperature = calibration["temperature"]
    calibration["ece_after"] = expected_calibration_error(dev_logits / arch.temperature, dev_y)
    metrics = classification_report(dev_logits / arch.temperature, dev_y, names)
    model.cpu().eval()
    elapsed = time.perf_counter() - t0
    return TrainResult(
        model=model, tokenizer=tokenizer, model_config=arch, train_config=cfg,
        tokenizer_config=tok_cfg, metrics=metrics, history=history, best_epoch=best_epoch,
        steps=step, stopped_early=stopped_early, elapsed_s=elapsed, calibration=calibration,
        data={
            "train_sha256": train_data.sha256, "dev_sha256": dev_data.sha256,
            "train_examples": len(train_data), "dev_examples": len(dev_data),
            "dev_source": "split" if dev_data.source == train_data.source else "given",
            "label_counts": train_data.label_counts(), "pretrained": pretrained,
        },
    )


def _evaluate_logits(model, seqs, cfg: TrainConfig, pad_id: int, device) -> torch.Tensor:
    model.eval()
    try:
        with torch.no_grad():
            return batched_logits(model, seqs, cfg.eval_batch_size, pad_id, device)
    finally:
        model.train()


def _load_pretrained(model: SentimentRNN, tokenizer: TextTokenizer, pretrained: str) -> None:
    dim = model.config.embedding_dim
    if pretrained == "minilm":
        vectors, known = embeddings.minilm_vectors(), None
        if vectors.shape[0] != tokenizer.vocab_size:
            raise ValueError("MiniLM vectors do not match the MiniLM vocabulary")
    else:
        vocab = tokenizer.tokenizer.get_vocab()
        vectors, found = embeddings.read_word_vectors(pretrained, vocab)
        known = vectors.abs().sum(dim=1) > 0
        log.info("pretrained vectors found for %d of %d tokens", found, len(vocab))
        if found == 0:
            raise ValueError(f"{pretrained}: no token of the vocabulary has a vector")
    vectors = embeddings.fit_dimension(vectors, dim, known)
    if known is not None:  # tokens without a vector keep their random initialisation
        vectors = torch.where(known[:, None], vectors, model.embedding.weight.detach())
    vectors[model.config.pad_id] = 0.0
    if model.config.freeze_embeddings:
        # Frozen vectors are stored as float16 in the bundle; round now so that a saved and
        # reloaded model gives exactly the logits it gave here.
        vectors = vectors.half().float()
    model.load_embeddings(vectors)
