"""What a model *is* (architecture, labels, tokenizer settings) and how it is trained.

Plain dataclasses: ``ModelConfig`` and ``TokenizerConfig`` travel with the weights in
``config.json``; ``TrainConfig`` is recorded in the bundle's training metadata (its run-time
options, threads and device, apart).

Every setting a user chooses is declared once, with ``hyperparameter(...)``: its name, type,
default, range or choices, help text and where it applies (``applies``: the CLI's ``train``, HTTP
jobs, the CLI's ``distill``) sit on the dataclass field. ``HYPERPARAMETERS`` lists the student's
(the network, tokenizer and optimisation options here); ``model.distill.config`` declares the
teacher's and the augmentation's the same way. ``validate()``, the CLI flags (``python -m model
train --hidden-size 128``) and the HTTP job schema (``options_for(HTTP_JOB)``) are all derived from
them, under the same name. Fields declared plainly (labels, vocabulary size,
special token ids, temperature) are filled in by training, not chosen; ``eval_batch_size`` only
trades memory for speed. ``from_dict`` also reads the keys that bundles of earlier versions used.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SPEC = "hyperparameter"  # the key of a field's metadata that makes it a hyperparameter

# Where an option is offered: ``python -m model train``, an HTTP training job, ``python -m model distill``.
CLI_TRAIN, HTTP_JOB, DISTILL = "train", "http", "distill"
EVERYWHERE = frozenset({CLI_TRAIN, HTTP_JOB, DISTILL})
CLI_ONLY = frozenset({CLI_TRAIN, DISTILL})


def hyperparameter(
    default: Any,
    help: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] | None = None,
    applies: frozenset[str] = EVERYWHERE,
    runtime: bool = False,
) -> Any:
    """A dataclass field that users set: by keyword, and as ``--name`` where it ``applies``.

    ``runtime=True`` marks an option of the machine the run happens on (threads, device), not of
    the model: only the CLI offers it, and bundles record it apart.
    """
    if not applies <= EVERYWHERE:
        raise ValueError(f"applies must be a subset of {sorted(EVERYWHERE)}; got {sorted(applies)}")
    if runtime:
        applies = applies & CLI_ONLY
    spec = {"help": help, "minimum": minimum, "maximum": maximum, "choices": choices, "applies": frozenset(applies),
            "runtime": runtime}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata={_SPEC: spec})
    return field(default=default, metadata={_SPEC: spec})


@dataclass(frozen=True)
class Hyperparameter:
    name: str  # the JSON key = CLI flag --name-with-dashes (the field name, after a prefix for distill options)
    section: str  # "model" | "tokenizer" | "train" (the student's) | "teacher" | "augment" (distillation's)
    type: type  # int, float, bool, str, or dict (label_names)
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    nullable: bool = False  # None is allowed (e.g. max_steps, threads, pretrained)
    applies: frozenset[str] = EVERYWHERE  # where it is offered: CLI_TRAIN, HTTP_JOB, DISTILL
    runtime: bool = False  # an option of the machine, not of the model (threads, device): recorded apart
    field: str = ""  # the dataclass field that holds it (the name, but for distill options' prefix)

    def applies_to(self, where: str) -> bool:
        return where in self.applies

    def check(self, value: Any) -> None:
        """Raise ValueError, naming this hyperparameter, unless ``value`` is allowed."""
        if value is None:
            if not self.nullable:
                raise ValueError(f"{self.name} must not be null")
            return
        if not _has_type(value, self.type):
            raise ValueError(f"{self.name} must be {_TYPE_NAMES[self.type]}; got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}; got {value!r}")
        low = -float("inf") if self.minimum is None else self.minimum
        high = float("inf") if self.maximum is None else self.maximum
        if self.type in (int, float) and not low <= value <= high:
            raise ValueError(f"{self.name} must be between {self.minimum} and {self.maximum}; got {value!r}")


_TYPE_NAMES = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
    dict: "an object mapping raw labels to names",
}


def _has_type(value: Any, kind: type) -> bool:
    if kind is dict:
        return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


@functools.cache
def declared(cls: type, section: str, prefix: str = "") -> tuple[Hyperparameter, ...]:
    """The hyperparameters of one dataclass, from its fields' metadata, in declaration order; their
    names are ``prefix`` + the field's (``teacher_`` + ``epochs``)."""
    hints = typing.get_type_hints(cls)
    found = []
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(_SPEC)
        if spec is None:
            continue
        kind, nullable = hints[f.name], False
        if isinstance(kind, types.UnionType):  # ``int | None``
            args = [a for a in typing.get_args(kind) if a is not type(None)]
            kind, nullable = args[0], len(args) < len(typing.get_args(kind))
        kind = typing.get_origin(kind) or kind  # ``dict[str, str]`` -> dict
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        found.append(Hyperparameter(prefix + f.name, section, kind, default, nullable=nullable, field=f.name, **spec))
    return tuple(found)


def check_hyperparameters(config: ModelConfig | TokenizerConfig | TrainConfig) -> None:
    """Check the hyperparameters of one config against their declarations (not its other fields)."""
    for hp in declared(type(config), _SECTION_OF[type(config)]):
        hp.check(getattr(config, hp.field))


CELLS = ("rnn", "lstm", "gru")
NONLINEARITIES = ("tanh", "relu")
POOLINGS = ("last", "mean", "max", "attention")
AUTO = "auto"  # tokenizer and pretrained: chosen from the training texts (model/training/auto.py)
TOKENIZERS = (AUTO, "word", "bpe", "wordpiece")
DEVICES = ("auto", "cpu", "cuda")
LR_SCHEDULES = ("constant", "linear", "cosine")
PRETRAINED = (AUTO, "minilm")
# What a training run publishes: the best on the evaluation set of the RNN, the TF-IDF baselines and
# the blend, or its RNN whatever won (model/training/candidates.py). ``best`` is the default: on
# Chinese reviews the RNN alone is behind the baseline and the blend ahead of both (docs/benchmarks.md),
# and a default job should publish what measured best; ``rnn`` is for a bundle that must be an RNN
# (to warm-start from it, or to distil).
KEEPS = ("rnn", "best")
# What a model predicts: one label per text (softmax over the labels), or any number of them,
# none included (an independent sigmoid per label, each with its own threshold).
SINGLE_LABEL, MULTI_LABEL = "single_label", "multi_label"
TASKS = (SINGLE_LABEL, MULTI_LABEL)


@dataclass
class TokenizerConfig:
    tokenizer: str = hyperparameter(
        AUTO,
        "word or bpe: a vocabulary learnt from the training texts; wordpiece: MiniLM's pretrained one; "
        "auto: wordpiece for mostly Latin-script texts, word for Chinese/Japanese, bpe for other scripts",
        choices=TOKENIZERS,
    )
    lowercase: bool = hyperparameter(True, "lowercase texts before tokenizing")
    max_length: int = hyperparameter(
        256,
        "tokens per window; longer texts are read in overlapping windows (training examples are truncated to it)",
        minimum=1,
        maximum=100_000,
    )
    min_frequency: int = hyperparameter(
        1, "word/bpe: least number of times a token must occur to be kept", minimum=1, maximum=1_000_000
    )
    max_vocab_size: int = hyperparameter(
        30_000, "word/bpe: most tokens the learnt vocabulary keeps", minimum=10, maximum=2_000_000
    )

    def validate(self) -> TokenizerConfig:
        check_hyperparameters(self)
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenizerConfig:
        """From ``config.json``'s "tokenizer" section, including one written by an earlier version."""
        return cls(**_known(cls, _renamed(data, {"kind": "tokenizer", "vocab_size": "max_vocab_size"}))).validate()


@dataclass
class ModelConfig:
    labels: list[str] = field(default_factory=list)  # filled in from the training data
    vocab_size: int = 0  # filled in from the tokenizer
    cell: str = hyperparameter("lstm", "recurrent cell", choices=CELLS)
    nonlinearity: str = hyperparameter("tanh", "activation of the plain rnn cell", choices=NONLINEARITIES)
    layers: int = hyperparameter(1, "stacked recurrent layers", minimum=1, maximum=8)
    bidirectional: bool = hyperparameter(True, "also read each text right to left")
    embedding_dim: int = hyperparameter(256, "width of the token embeddings", minimum=1, maximum=4096)
    hidden_size: int = hyperparameter(128, "width of the recurrent state, per direction", minimum=1, maximum=4096)
    dropout: float = hyperparameter(
        0.3, "dropout on embeddings, between layers and before the classifier", minimum=0.0, maximum=0.9
    )
    pooling: str = hyperparameter("attention", "how the states of all tokens become one vector", choices=POOLINGS)
    freeze_embeddings: bool = hyperparameter(True, "keep pretrained embeddings fixed (with pretrained vectors only)")
    label_names: dict[str, str] = hyperparameter({}, "rename raw dataset labels, e.g. 0=negative,1=positive")
    pad_id: int = 0
    unk_id: int = 1
    temperature: float = 1.0  # divides the logits; fitted on the dev set after training (single-label)
    task: str = SINGLE_LABEL  # set by training from the data (a bundle without it is single-label)
    thresholds: list[float] | None = None  # multi-label: each label's, in label order, chosen on the dev set

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def validate(self) -> ModelConfig:
        """Check a complete config, as a trained or loaded model has it (labels, vocabulary)."""
        check_hyperparameters(self)
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels must be at least two distinct names; got {self.labels!r}")
        if not 2 <= self.vocab_size <= 10_000_000:
            raise ValueError(f"vocab_size must be between 2 and 10000000; got {self.vocab_size!r}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive; got {self.temperature!r}")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}; got {self.task!r}")
        if self.thresholds is not None:
            if self.task != MULTI_LABEL:
                raise ValueError(
                    "thresholds are for multi_label models; a single_label model takes the most probable label"
                )
            if len(self.thresholds) != len(self.labels) or not all(
                _has_type(t, float) and 0.0 < t <= 1.0 for t in self.thresholds
            ):
                raise ValueError(
                    f"thresholds must be one number in (0, 1] per label ({len(self.labels)}); got {self.thresholds!r}"
                )
        return self

    def to_dict(self) -> dict[str, Any]:
        """As ``config.json`` holds it; ``thresholds`` only where there are some (multi-label)."""
        data = dataclasses.asdict(self)
        if data["thresholds"] is None:
            del data["thresholds"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """From ``config.json``'s "model" section, including one written by an earlier version."""
        return cls(**_known(cls, _renamed(data, {"num_layers": "layers", "label_aliases": "label_names"}))).validate()


@dataclass
class TrainConfig:
    pretrained: str | None = hyperparameter(
        AUTO,
        "initial token embeddings: minilm (MiniLM's, with the wordpiece tokenizer), none (random), "
        "auto (minilm when the tokenizer is wordpiece, else none), "
        "or on the CLI the path of a GloVe/word2vec text file",
        choices=PRETRAINED,
    )
    epochs: int = hyperparameter(6, "most passes over the training data", minimum=1, maximum=1000)
    batch_size: int = hyperparameter(
        64, "examples per optimiser step (per process under torchrun)", minimum=1, maximum=65536
    )
    learning_rate: float = hyperparameter(2e-3, "AdamW learning rate", minimum=1e-7, maximum=10.0)
    weight_decay: float = hyperparameter(1e-4, "AdamW weight decay", minimum=0.0, maximum=10.0)
    lr_schedule: str = hyperparameter(
        "constant",
        "learning rate over the run: constant, or decaying from learning_rate to 0 over epochs x batches "
        "(linear or cosine)",
        choices=LR_SCHEDULES,
    )
    max_grad_norm: float = hyperparameter(5.0, "clip the gradient norm to this", minimum=1e-3, maximum=1e6)
    patience: int = hyperparameter(2, "epochs without dev improvement before stopping early", minimum=1, maximum=1000)
    seed: int = hyperparameter(
        13, "seed of every random choice: same seed and data, same model", minimum=0, maximum=2**31 - 1
    )
    dev_fraction: float = hyperparameter(
        0.1, "share of the training data split off as dev set when none is given", minimum=0.01, maximum=0.5
    )
    class_weights: bool = hyperparameter(False, "weight the loss by inverse class frequency")
    calibrate: bool = hyperparameter(True, "fit a temperature on the dev set after training")
    keep: str = hyperparameter(
        "best",
        "what is published: best (the best on the dev set of the RNN, the TF-IDF baselines and the blend; a "
        "baseline or blended bundle where one of those won), or rnn (the RNN, whatever scored best). Every run "
        "reports them all",
        choices=KEEPS,
        applies=frozenset({CLI_TRAIN, HTTP_JOB}),  # distillation publishes its student
    )
    refit: bool = hyperparameter(
        True,
        "where a baseline or a blend is published: fit its linear model again on train and dev together at the "
        "C dev chose, as scikit-learn's GridSearchCV refits (the dev scores reported are the train-only fit's)",
        applies=frozenset({CLI_TRAIN, HTTP_JOB}),
    )
    max_steps: int | None = hyperparameter(
        None, "stop after this many optimiser steps (smoke tests)", minimum=1, maximum=10**9
    )
    distill_alpha: float = hyperparameter(
        0.5,
        "with a teacher's logits (python -m model distill): weight of the cross-entropy on the labels; the "
        "rest is the mean squared error to the teacher's logits",
        minimum=0.0,
        maximum=1.0,
        applies=frozenset({DISTILL}),  # no HTTP job and no plain CLI training has a teacher
    )
    threads: int | None = hyperparameter(
        None, "torch intra-op threads; none keeps torch's default", minimum=1, maximum=512, runtime=True
    )
    device: str = hyperparameter(
        "auto", "where to train: auto picks cuda when available", choices=DEVICES, runtime=True
    )
    eval_batch_size: int = 256  # dev-set batches: memory only, the results are the same

    def validate(self) -> TrainConfig:
        for hp in declared(TrainConfig, _SECTION_OF[TrainConfig]):
            value = getattr(self, hp.name)
            if hp.name == "pretrained" and isinstance(value, str) and value not in PRETRAINED:
                if not Path(value).is_file():
                    raise ValueError(
                        f"pretrained must be one of {', '.join(PRETRAINED)}, none or the path of a word-vector "
                        f"file; got {value!r}, which is not a file"
                    )
                continue
            hp.check(value)
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SECTIONS = {"model": ModelConfig, "tokenizer": TokenizerConfig, "train": TrainConfig}
_SECTION_OF = {cls: section for section, cls in SECTIONS.items()}
HYPERPARAMETERS: tuple[Hyperparameter, ...] = tuple(
    hp for section, cls in SECTIONS.items() for hp in declared(cls, section)
)
RUNTIME_OPTIONS = tuple(hp.name for hp in HYPERPARAMETERS if hp.runtime)  # recorded apart from the train config


def parse_label_names(spec: str) -> dict[str, str]:
    """``label_names`` written as the CLI takes it, ``RAW=NAME,...`` (``none`` or empty: none); the
    HTTP API takes this form too, beside a JSON object. A ``ValueError`` says what is wrong."""
    if spec.strip().lower() in ("", "none"):
        return {}
    pairs = {}
    for item in spec.split(","):
        raw, sep, name = item.partition("=")
        if not sep or not raw.strip() or not name.strip():
            raise ValueError(f"expected RAW=NAME pairs separated by commas; got {item!r}")
        pairs[raw.strip()] = name.strip()
    return pairs


def options_for(where: str) -> tuple[Hyperparameter, ...]:
    """The student's hyperparameters offered at ``where`` (``CLI_TRAIN``, ``HTTP_JOB``, ``DISTILL``);
    the others keep their defaults there."""
    if where not in EVERYWHERE:
        raise ValueError(f"where must be one of {', '.join(sorted(EVERYWHERE))}; got {where!r}")
    return tuple(hp for hp in HYPERPARAMETERS if hp.applies_to(where))


def check_compatible(tokenizer: TokenizerConfig, train: TrainConfig) -> None:
    """Settings that are each valid but do not go together."""
    if train.pretrained == "minilm" and tokenizer.tokenizer not in ("wordpiece", AUTO):
        raise ValueError(
            f"pretrained 'minilm' needs tokenizer 'wordpiece'; got tokenizer {tokenizer.tokenizer!r} "
            "(choose tokenizer 'wordpiece', or pretrained none or a word-vector file)"
        )


def configs_from_values(values: dict[str, Any]) -> tuple[ModelConfig, TokenizerConfig, TrainConfig]:
    """Validated configs from a flat {hyperparameter name: value} dict (missing names take defaults).
    Unknown names raise ValueError listing the valid names."""
    known = {hp.name: hp for hp in HYPERPARAMETERS}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) {', '.join(map(repr, unknown))}; valid names: {', '.join(known)}")
    model, tokenizer, train = (
        cls(**{name: value for name, value in values.items() if known[name].section == section})
        for section, cls in SECTIONS.items()
    )
    check_hyperparameters(model)  # labels and vocabulary come with training: not checked yet
    tokenizer.validate()
    train.validate()
    check_compatible(tokenizer, train)
    return model, tokenizer, train


def hyperparameter_values(model: ModelConfig, tokenizer: TokenizerConfig, train: TrainConfig) -> dict[str, Any]:
    """The flat {hyperparameter name: value} dict of three configs: ``configs_from_values``' inverse."""
    configs = {"model": model, "tokenizer": tokenizer, "train": train}
    return {hp.name: _copy(getattr(configs[hp.section], hp.name)) for hp in HYPERPARAMETERS}


def _copy(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value


def _renamed(data: dict[str, Any], legacy: dict[str, str]) -> dict[str, Any]:
    """``data`` with keys written by earlier versions under their current names."""
    data = dict(data)
    for old, new in legacy.items():
        if old in data:
            if new in data:
                raise ValueError(f"both {old!r} (its name before) and {new!r} given")
            data[new] = data.pop(old)
    return data


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
    return dict(data)
