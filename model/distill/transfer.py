"""The transfer set on disk, and its teacher logits as a cache the student can be trained from.

``texts.jsonl``: one ``{"text", "label", "source"}`` object per line: the training texts first
with their gold labels, then the augmented variants with ``"label": null`` and the index of the
text they came from. ``logits.safetensors``: one float32 tensor ``logits`` [texts, classes].
``logits.json``: the columns' labels, the teacher's identity (its folder, weights SHA-256, dev
accuracy) and the SHA-256 of both files, so a cache that was truncated, edited or paired with
other texts is refused (``TransferCacheError``) instead of silently teaching the wrong thing.
The cache folder holds all three files (the texts hard-linked where it can), so it can be copied
elsewhere and the student retrained without the teacher. Nothing is pickled.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..bundle import sha256_file

TEXTS_FILE, LOGITS_FILE, RECORD_FILE = "texts.jsonl", "logits.safetensors", "logits.json"


class TransferCacheError(ValueError):
    """A logits cache that cannot be used: missing files, or ones that do not match their record."""


@dataclass
class TransferSet:
    texts: list[str]
    labels: list[str | None]  # gold for training texts, None for augmented variants
    sources: list[int]  # index of the training text each example is (or was made from)

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class LogitsCache:
    transfer: TransferSet
    logits: torch.Tensor  # [texts, classes] float32
    labels: list[str]  # raw label of each column
    teacher: dict  # {"path", "weights_sha256", "dev_accuracy", ...}
    record: dict  # the whole logits.json


def write_texts(path: Path, transfer: TransferSet) -> str:
    """Write ``texts.jsonl``; returns its SHA-256."""
    with open(path, "w", encoding="utf-8") as f:
        for text, label, source in zip(transfer.texts, transfer.labels, transfer.sources):
            f.write(json.dumps({"text": text, "label": label, "source": source}, ensure_ascii=False) + "\n")
    return sha256_file(path)


def read_texts(path: Path) -> TransferSet:
    texts, labels, sources = [], [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            try:
                row = json.loads(line)
                texts.append(row["text"])
                labels.append(row["label"])
                sources.append(row["source"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise TransferCacheError(f"{path}:{number}: not a transfer-set line ({exc})") from None
    return TransferSet(texts, labels, sources)


def save_cache(folder: Path, texts_file: Path, logits: torch.Tensor, labels: list[str], teacher: dict) -> dict:
    """Write a cache into ``folder`` (which exists and is empty: the caller renames it into place)."""
    if logits.shape[1] != len(labels):
        raise ValueError(f"{logits.shape[1]} logit columns for {len(labels)} labels")
    try:
        os.link(texts_file, folder / TEXTS_FILE)
    except OSError:  # another file system, or no hard links here
        shutil.copyfile(texts_file, folder / TEXTS_FILE)
    save_file(
        {"logits": logits.detach().cpu().float().contiguous()}, str(folder / LOGITS_FILE), metadata={"format": "pt"}
    )
    record = {
        "examples": int(logits.shape[0]),
        "labels": list(labels),
        "teacher": teacher,
        "texts_file": TEXTS_FILE,
        "texts_sha256": sha256_file(folder / TEXTS_FILE),
        "logits_file": LOGITS_FILE,
        "logits_sha256": sha256_file(folder / LOGITS_FILE),
    }
    (folder / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def read_record(folder: Path) -> dict:
    path = Path(folder) / RECORD_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TransferCacheError(f"{folder}: missing {RECORD_FILE}: not a logits cache") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TransferCacheError(f"{path}: not valid JSON ({exc})") from None
    missing = {"examples", "labels", "teacher", "texts_sha256", "logits_sha256"} - set(record)
    if missing:
        raise TransferCacheError(f"{path}: not a logits cache record (missing {', '.join(sorted(missing))})")
    return record


def load_cache(folder: str | Path) -> LogitsCache:
    """Read a cache, verifying both files against the checksums its record holds."""
    folder = Path(folder)
    record = read_record(folder)
    for name, key in ((TEXTS_FILE, "texts_sha256"), (LOGITS_FILE, "logits_sha256")):
        path = folder / name
        if not path.is_file():
            raise TransferCacheError(f"{folder}: missing {name}")
        if sha256_file(path) != record[key]:
            raise TransferCacheError(
                f"{path}: checksum mismatch with {RECORD_FILE} (truncated, edited or replaced); refusing the cache: "
                "delete its folder to label the transfer set again"
            )
    transfer = read_texts(folder / TEXTS_FILE)
    try:
        logits = load_file(str(folder / LOGITS_FILE))["logits"]
    except Exception as exc:  # safetensors raises its own error type on a corrupt file
        raise TransferCacheError(f"{folder / LOGITS_FILE}: cannot read logits ({exc})") from None
    if tuple(logits.shape) != (len(transfer), len(record["labels"])) or len(transfer) != record["examples"]:
        raise TransferCacheError(
            f"{folder}: {tuple(logits.shape)} logits for {len(transfer)} texts and labels {record['labels']}"
        )
    return LogitsCache(transfer, logits.float(), list(record["labels"]), record["teacher"], record)
