"""The options of distillation that are not the student's hyperparameters: how the teacher is
fine-tuned and how the transfer set is made. Declared once, here, with the student's mechanism
(``model.config.hyperparameter``: name, default, range, help, where it applies); the ``python -m
model distill`` flags (``--teacher-epochs``, ``--augment-per-text``) are derived from these
declarations (``DISTILL_OPTIONS``) as the student's flags are from ``HYPERPARAMETERS``, and each
stage's record in the work folder holds them (``to_dict``).

No ``transformers`` here: the CLI builds its flags without the optional extra.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..config import DISTILL, Hyperparameter, declared, hyperparameter

_HERE = frozenset({DISTILL})


def _option(default: Any, help: str, **limits: Any) -> Any:
    return hyperparameter(default, help, applies=_HERE, **limits)


@dataclass(frozen=True)
class TeacherConfig:
    epochs: int = _option(3, "passes over the training data; the epoch kept is the best on dev", minimum=1, maximum=1000)
    batch_size: int = _option(32, "examples per optimiser step", minimum=1, maximum=65536)
    learning_rate: float = _option(5e-5, "AdamW peak learning rate", minimum=1e-9, maximum=1.0)
    weight_decay: float = _option(
        0.01, "AdamW weight decay (not on biases and LayerNorm weights)", minimum=0.0, maximum=10.0
    )
    warmup: float = _option(
        0.1,
        "share of the steps over which the learning rate rises linearly from 0; it then decays linearly to 0",
        minimum=0.0,
        maximum=0.99,
    )
    max_length: int = _option(128, "tokens per text (longer ones are truncated)", minimum=1, maximum=100_000)
    max_grad_norm: float = _option(1.0, "clip the gradient norm to this", minimum=1e-3, maximum=1e6)
    seed: int = _option(
        13, "seed of the classifier head's initialisation, dropout and batch order", minimum=0, maximum=2**31 - 1
    )

    def validate(self) -> TeacherConfig:
        _check(self, TEACHER_OPTIONS)
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AugmentConfig:
    per_text: int = _option(
        20, "augmentation draws per training text (Tang et al.: 20); 0: the training texts only", minimum=0,
        maximum=10_000,
    )
    p_mask: float = _option(0.1, "probability that a word becomes [MASK]", minimum=0.0, maximum=1.0)
    p_replace: float = _option(
        0.1,
        "probability that a word is replaced by one drawn from the corpus's unigram distribution",
        minimum=0.0,
        maximum=1.0,
    )
    p_ngram: float = _option(
        0.25, "probability that a variant keeps only a random n-gram of itself", minimum=0.0, maximum=1.0
    )
    max_ngram: int = _option(5, "longest n-gram kept", minimum=1, maximum=1000)
    seed: int = _option(13, "seed of the augmentation", minimum=0, maximum=2**31 - 1)

    def validate(self) -> AugmentConfig:
        _check(self, AUGMENT_OPTIONS)
        if self.p_mask + self.p_replace > 1.0:  # each is in range; together they must leave words alone
            raise ValueError(
                f"augment p_mask + p_replace must be at most 1; got {self.p_mask + self.p_replace}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(config: TeacherConfig | AugmentConfig, options: tuple[Hyperparameter, ...]) -> None:
    for hp in options:
        hp.check(getattr(config, hp.field))


TEACHER_OPTIONS = declared(TeacherConfig, "teacher", "teacher_")
AUGMENT_OPTIONS = declared(AugmentConfig, "augment", "augment_")
DISTILL_OPTIONS = TEACHER_OPTIONS + AUGMENT_OPTIONS  # the flags of ``python -m model distill`` beside the student's
OPTION_GROUPS = {"teacher": TeacherConfig, "augment": AugmentConfig}  # section -> the config its options fill
