"""The options of distillation that are not the student's hyperparameters: how the teacher is
fine-tuned and how the transfer set is made. Declared once, here (name, default, help); the
``python -m model distill`` flags (``--teacher-epochs``, ``--augment-per-text``) are derived from
these fields, and each stage's record in the work folder holds them (``to_dict``).

No ``transformers`` here: the CLI builds its flags without the optional extra.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


def _option(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TeacherConfig:
    epochs: int = _option(3, "passes over the training data; the epoch kept is the best on dev")
    batch_size: int = _option(32, "examples per optimiser step")
    learning_rate: float = _option(5e-5, "AdamW peak learning rate")
    weight_decay: float = _option(0.01, "AdamW weight decay (not on biases and LayerNorm weights)")
    warmup: float = _option(
        0.1, "share of the steps over which the learning rate rises linearly from 0; it then decays linearly to 0"
    )
    max_length: int = _option(128, "tokens per text (longer ones are truncated)")
    max_grad_norm: float = _option(1.0, "clip the gradient norm to this")
    seed: int = _option(13, "seed of the classifier head's initialisation, dropout and batch order")

    def validate(self) -> TeacherConfig:
        for name in ("epochs", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"teacher {name} must be at least 1; got {getattr(self, name)}")
        if not 0 < self.learning_rate <= 1:
            raise ValueError(f"teacher learning_rate must be in (0, 1]; got {self.learning_rate}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"teacher warmup must be in [0, 1); got {self.warmup}")
        if self.weight_decay < 0 or self.max_grad_norm <= 0:
            raise ValueError("teacher weight_decay must be >= 0 and max_grad_norm > 0")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AugmentConfig:
    per_text: int = _option(20, "augmentation draws per training text (Tang et al.: 20); 0: the training texts only")
    p_mask: float = _option(0.1, "probability that a word becomes [MASK]")
    p_replace: float = _option(
        0.1, "probability that a word is replaced by one drawn from the corpus's unigram distribution"
    )
    p_ngram: float = _option(0.25, "probability that a variant keeps only a random n-gram of itself")
    max_ngram: int = _option(5, "longest n-gram kept")
    seed: int = _option(13, "seed of the augmentation")

    def validate(self) -> AugmentConfig:
        if self.per_text < 0:
            raise ValueError(f"augment per_text must be at least 0; got {self.per_text}")
        for name in ("p_mask", "p_replace", "p_ngram"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"augment {name} must be between 0 and 1; got {getattr(self, name)}")
        if self.p_mask + self.p_replace > 1.0:
            raise ValueError(f"augment p_mask + p_replace must be at most 1; got {self.p_mask + self.p_replace}")
        if self.max_ngram < 1:
            raise ValueError(f"augment max_ngram must be at least 1; got {self.max_ngram}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


OPTION_GROUPS = {"teacher": TeacherConfig, "augment": AugmentConfig}  # flag prefix -> its options
