"""Everything a training run does before its first step, and the state it then carries.

``setup`` resolves the configs (a base's, ``auto`` made a choice), checks and splits the data,
builds the tokenizer and the network (from the seed, a base's weights or pretrained vectors) and
encodes the texts, in an order that fixes every random draw: the same seed gives the same network.
It returns a ``TrainState``, which ``model.training.loop`` carries through the epochs.

The task follows from the data (``Dataset.task``): single-label targets are class indices,
multi-label targets one row of 0/1 per example (a column per label).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..config import (
    MULTI_LABEL,
    RUNTIME_OPTIONS,
    SINGLE_LABEL,
    ModelConfig,
    TokenizerConfig,
    TrainConfig,
    check_compatible,
    check_hyperparameters,
)
from ..data import Dataset, check_training_data, stratified_split
from ..network import embeddings
from ..network.rnn import SentimentRNN
from ..text.tokenizer import TextTokenizer, build_tokenizer
from . import distributed, warm_start
from .auto import resolve_auto

if TYPE_CHECKING:
    from ..bundle import Bundle
    from .loop import Progress

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainState:
    """What one training run carries from phase to phase: setup, epochs, finish."""

    cfg: TrainConfig
    arch: ModelConfig
    tok_cfg: TokenizerConfig
    world: distributed.World
    device: torch.device
    train_data: Dataset
    dev_data: Dataset
    names: list[str]
    tokenizer: TextTokenizer
    model: SentimentRNN
    net: nn.Module  # what training steps call (the DDP wrapper under torchrun); the rest uses ``model``
    train_ids: list[list[int]]
    dev_ids: list[list[int]]
    train_y: torch.Tensor
    dev_y: torch.Tensor
    train_soft: torch.Tensor | None
    lengths: list[int]
    record: dict  # what the result records of the run's inputs: data, pretrained, base, resolved
    task: str = SINGLE_LABEL  # the data's: MULTI_LABEL makes targets 0/1 rows and the loss a sigmoid's
    progress: Callable[[Progress], None] | None = None
    should_stop: Callable[[], bool] | None = None
    # set by _start_loop
    loss_fn: nn.Module | None = None
    params: list = field(default_factory=list)
    optimizer: torch.optim.Optimizer | None = None
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    rng: random.Random | None = None
    total_steps: int = 0
    check_stop: bool = False
    # updated by every epoch
    history: list[dict] = field(default_factory=list)
    best_score: float = -1.0  # the early-stopping score of the best epoch: dev accuracy (multi-label: micro-F1)
    best_epoch: int = 0
    best_state: dict | None = None
    bad_epochs: int = 0
    step: int = 0
    tokens: int = 0
    stop_reason: str | None = None
    train_s: float = 0.0  # seconds in training steps (dev evaluations left out): what tokens/s divides by
    loop_t0: float = 0.0


def resolve_configs(train_data, model_config, tokenizer_config, cfg: TrainConfig, base: Bundle | None):
    """The architecture, tokenizer and train configs this run uses (a base's, ``auto`` resolved),
    what ``auto`` became, the base's weights digest and the MiniLM files (when they are used)."""
    arch = dataclasses.replace(model_config or ModelConfig())
    tok_cfg = dataclasses.replace(tokenizer_config or TokenizerConfig()).validate()
    check_hyperparameters(arch)
    base_digest = None
    if base is not None:  # what the network is comes from the base; its vectors are in its weights
        arch, tok_cfg = warm_start.base_configs(base, arch)
        cfg = dataclasses.replace(cfg, pretrained=None)
        base_digest = warm_start.weights_sha256(base)
    else:
        check_compatible(tok_cfg, cfg)
    # ``auto`` becomes a choice made from the texts' scripts (the same on every rank: the same texts)
    tok_cfg, cfg, resolved = resolve_auto(tok_cfg, cfg, train_data.texts)
    if resolved:
        log.info("chosen for the data: %s", "; ".join(f"{k} {v['value']}: {v['reason']}" for k, v in resolved.items()))
    if not cfg.pretrained and base is None:
        arch.freeze_embeddings = False  # nothing to keep: random embeddings are trained (recorded so)
    minilm = None
    if base is None and (cfg.pretrained == "minilm" or tok_cfg.tokenizer == "wordpiece"):
        minilm = embeddings.minilm()
    if cfg.pretrained == "minilm":
        minilm.check_dim(arch.embedding_dim)
    return arch, tok_cfg, cfg, resolved, base_digest, minilm


def setup(train_data, dev_data, *, model_config, tokenizer_config, cfg, world, device, base, base_source,
           soft_targets) -> TrainState:
    """Everything before the first step: configs, data checks and split, tokenizer, network (from
    the seed, a base or pretrained vectors), encoded ids."""
    arch, tok_cfg, cfg, resolved, base_digest, minilm = resolve_configs(
        train_data, model_config, tokenizer_config, cfg, base
    )
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    if world.active:  # a rank started with other files or flags would train a different model
        world.check_same(
            "data or settings",
            {
                "train data": fingerprint(train_data),
                "dev data": dev_data is not None and fingerprint(dev_data),
                "model config": arch.to_dict(),
                "tokenizer config": tok_cfg.to_dict(),
                "train config": {k: v for k, v in cfg.to_dict().items() if k not in RUNTIME_OPTIONS},
                "base model": base_digest,
                "soft targets": soft_targets is not None and tensor_sha256(soft_targets.logits),
            },
        )
    labels_raw = check_training_data(train_data, dev_data)
    task = train_data.task
    if soft_targets is not None and task == MULTI_LABEL:
        raise ValueError("training on a teacher's logits is for single-label data; this data has 'labels' (multi-label)")
    if soft_targets is not None and dev_data is None:
        raise ValueError(
            "training on a teacher's logits needs a dev set (--dev): a split of the training data "
            "would hold augmented texts and teacher labels, not gold ones"
        )
    if dev_data is None:
        train_data, dev_data = stratified_split(train_data, cfg.dev_fraction, cfg.seed)
    names = [arch.label_names.get(raw, raw) for raw in labels_raw]
    label_index = {raw: i for i, raw in enumerate(labels_raw)}
    output_layer = None
    if base is not None:  # the base's classes keep their order (and its output layer its rows)
        names, output_layer = warm_start.class_order(names, base)
        label_index = {raw: names.index(arch.label_names.get(raw, raw)) for raw in labels_raw}
    arch.task, arch.thresholds = task, None  # (a base's thresholds were chosen for its own data)
    tokenizer, model = build_network(train_data, arch, tok_cfg, cfg, names, world, base, output_layer, minilm)
    model.to(device)
    net = world.wrap(model)
    if world.active:
        # Each rank its own dropout masks; the batch order comes from ``rng`` (_start_loop), shared.
        torch.manual_seed(cfg.seed + world.rank)
    train_ids = tokenizer.encode_batch(train_data.texts)
    record = {
        "pretrained": cfg.pretrained,
        "pretrained_source": minilm.name if cfg.pretrained == "minilm" else cfg.pretrained,
        "soft_targets": soft_targets is not None,
        "resolved": resolved,
        "base": None
        if base is None
        else {"source": base_source or base.path.name, "weights_sha256": base_digest, "output_layer": output_layer},
    }
    return TrainState(
        cfg=cfg,
        arch=arch,
        tok_cfg=tok_cfg,
        world=world,
        device=device,
        train_data=train_data,
        dev_data=dev_data,
        names=names,
        tokenizer=tokenizer,
        model=model,
        net=net,
        train_ids=train_ids,
        dev_ids=tokenizer.encode_batch(dev_data.texts),
        train_y=targets(train_data, label_index),
        dev_y=targets(dev_data, label_index),
        train_soft=None if soft_targets is None else soft_targets.aligned(len(train_ids), label_index),
        lengths=[len(s) for s in train_ids],
        record=record,
        task=task,
    )


def targets(data: Dataset, label_index: dict[str, int]) -> torch.Tensor:
    """Class indices (single-label), or [examples, labels] float rows of 0/1 (multi-label)."""
    if data.task != MULTI_LABEL:
        return torch.tensor([label_index[y] for y in data.labels])
    rows = torch.zeros(len(data), len(set(label_index.values())))
    for i, labels in enumerate(data.labels):
        for label in labels:
            rows[i, label_index[label]] = 1.0
    return rows


def build_network(train_data, arch, tok_cfg, cfg, names, world, base, output_layer, minilm):
    """The tokenizer (a base's, or built from the texts on rank 0 and shared) and the network,
    whose new layers are initialised here, from the seed. Fills in ``arch``'s data-given fields."""
    if base is not None:  # every rank loaded the same base
        tokenizer = warm_start.base_tokenizer(base)
    elif world.rank == 0:
        tokenizer = build_tokenizer(tok_cfg, train_data.texts, minilm and minilm.tokenizer_file)
    if world.active and base is None:  # every rank encodes with rank 0's vocabulary, token for token
        text = world.object_from_rank0(tokenizer.tokenizer.to_str() if world.rank == 0 else None)
        tokenizer = TextTokenizer.from_str(text, tok_cfg.max_length)
    arch.labels, arch.vocab_size = names, tokenizer.vocab_size
    arch.pad_id, arch.unk_id = tokenizer.pad_id, tokenizer.unk_id
    arch.validate()
    model = SentimentRNN(arch)  # a new output layer is initialised here, from the seed
    if base is not None:
        warm_start.load_base_weights(model, base, output_layer)
    elif cfg.pretrained:
        load_pretrained(model, tokenizer, cfg.pretrained, minilm)
    return tokenizer, model


def fingerprint(data: Dataset) -> str:
    """A digest of a data set's texts and labels (what it holds, whatever file it came from)."""
    return hashlib.sha256(json.dumps([data.texts, data.labels]).encode()).hexdigest()


def tensor_sha256(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def load_pretrained(
    model: SentimentRNN, tokenizer: TextTokenizer, pretrained: str, minilm: embeddings.MiniLM | None
) -> None:
    dim = model.config.embedding_dim
    if pretrained == "minilm":
        vectors, known = minilm.vectors(), None
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
