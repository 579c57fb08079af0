"""What a model *is* (architecture, labels, tokenizer settings) and how it is trained.

Both are plain dataclasses: ``ModelConfig`` travels with the weights as ``config.json``;
``TrainConfig`` is recorded in the bundle's training metadata.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

CELLS = ("rnn", "lstm", "gru")
NONLINEARITIES = ("tanh", "relu")
POOLINGS = ("last", "mean", "max", "attention")
TOKENIZER_KINDS = ("word", "bpe", "wordpiece")


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _range(name: str, value: float, lo: float, hi: float) -> None:
    if not (lo <= value <= hi):
        raise ValueError(f"{name} must be between {lo} and {hi}; got {value!r}")


@dataclass
class TokenizerConfig:
    kind: str = "word"  # word | bpe (trained on the data) | wordpiece (pretrained vocabulary)
    lowercase: bool = True
    max_length: int = 256  # tokens kept per text; longer texts are truncated
    min_frequency: int = 1
    vocab_size: int = 30000

    def validate(self) -> TokenizerConfig:
        _choice("tokenizer kind", self.kind, TOKENIZER_KINDS)
        _range("max_length", self.max_length, 1, 100_000)
        _range("min_frequency", self.min_frequency, 1, 1_000_000)
        _range("vocab_size", self.vocab_size, 10, 2_000_000)
        return self


@dataclass
class ModelConfig:
    labels: list[str] = field(default_factory=list)  # filled in from the training data
    vocab_size: int = 0  # filled in from the tokenizer
    cell: str = "lstm"
    nonlinearity: str = "tanh"  # only for cell="rnn"
    embedding_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.3
    pooling: str = "max"
    pad_id: int = 0
    unk_id: int = 1
    freeze_embeddings: bool = False
    temperature: float = 1.0  # divides the logits; fitted on the dev set after training
    label_aliases: dict[str, str] = field(default_factory=dict)  # raw dataset label -> name

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def validate(self) -> ModelConfig:
        _choice("cell", self.cell, CELLS)
        _choice("nonlinearity", self.nonlinearity, NONLINEARITIES)
        _choice("pooling", self.pooling, POOLINGS)
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels must be at least two distinct names; got {self.labels!r}")
        _range("vocab_size", self.vocab_size, 2, 10_000_000)
        _range("embedding_dim", self.embedding_dim, 1, 4096)
        _range("hidden_size", self.hidden_size, 1, 4096)
        _range("num_layers", self.num_layers, 1, 8)
        _range("dropout", self.dropout, 0.0, 0.9)
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive; got {self.temperature!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return cls(**_known(cls, data)).validate()


@dataclass
class TrainConfig:
    epochs: int = 6
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    max_grad_norm: float = 5.0
    patience: int = 2  # epochs without dev improvement before stopping early
    seed: int = 13
    dev_fraction: float = 0.1  # stratified split when no dev set is given
    class_weights: bool = False  # weight the loss by inverse class frequency
    calibrate: bool = True  # fit a temperature on the dev set after training
    threads: int | None = None  # torch intra-op threads; None keeps torch's default
    device: str = "auto"  # auto | cpu | cuda
    max_steps: int | None = None  # stop after this many optimiser steps (smoke tests)
    eval_batch_size: int = 256

    def validate(self) -> TrainConfig:
        _range("epochs", self.epochs, 1, 1000)
        _range("batch_size", self.batch_size, 1, 65536)
        _range("learning_rate", self.learning_rate, 1e-7, 10.0)
        _range("weight_decay", self.weight_decay, 0.0, 10.0)
        _range("max_grad_norm", self.max_grad_norm, 1e-3, 1e6)
        _range("patience", self.patience, 1, 1000)
        _range("dev_fraction", self.dev_fraction, 0.01, 0.5)
        if self.threads is not None:
            _range("threads", self.threads, 1, 512)
        if self.max_steps is not None:
            _range("max_steps", self.max_steps, 1, 10**9)
        _choice("device", self.device, ("auto", "cpu", "cuda"))
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
    return dict(data)
