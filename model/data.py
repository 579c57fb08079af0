"""Reading and validating labelled text datasets (TSV, CSV, JSONL).

Every problem is a ``DataError`` whose message starts with ``file:line:`` so a user can jump
straight to it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

FORMATS = ("tsv", "csv", "jsonl")
DEFAULT_TEXT_COLUMNS = ("text", "sentence")


class DataError(ValueError):
    """A dataset that cannot be used, with the file and line that show why."""

    def __init__(self, source: str, line: int | None, message: str):
        self.source, self.line, self.reason = source, line, message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


@dataclass
class Dataset:
    texts: list[str]
    labels: list[str]
    source: str = "<memory>"
    lines: list[int] = field(default_factory=list)  # source line of each example
    sha256: str = ""
    text_column: str = ""  # the column the texts were read from

    def __len__(self) -> int:
        return len(self.texts)

    def label_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.labels).items()))

    def subset(self, indices: list[int]) -> Dataset:
        return Dataset(
            [self.texts[i] for i in indices],
            [self.labels[i] for i in indices],
            self.source,
            [self.lines[i] for i in indices] if self.lines else [],
            self.sha256,
            self.text_column,
        )


def detect_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in ("json", "ndjson"):
        return "jsonl"
    if suffix in FORMATS:
        return suffix
    raise DataError(str(path), None, f"unknown file type {suffix!r}; use one of {', '.join(FORMATS)}")


def load_dataset(
    path: str | Path,
    text_column: str | None = None,
    label_column: str = "label",
    fmt: str | None = None,
    name: str | None = None,
) -> Dataset:
    """Read a labelled dataset file. ``text_column=None`` takes ``text`` or else ``sentence``."""
    path = Path(path)
    source = name or str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(source, None, "no such file") from None
    except IsADirectoryError:
        raise DataError(source, None, "is a directory, not a file") from None
    return parse_dataset(raw, fmt or detect_format(name or path), source, text_column, label_column)


def parse_dataset(
    raw: bytes,
    fmt: str,
    source: str,
    text_column: str | None = None,
    label_column: str = "label",
) -> Dataset:
    if fmt not in FORMATS:
        raise DataError(source, None, f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(source, line, f"invalid UTF-8 byte 0x{raw[exc.start]:02x}; save the file as UTF-8") from None
    if not content.strip():
        raise DataError(source, 1, "file is empty")
    rows = _jsonl_rows(content, source) if fmt == "jsonl" else _delimited_rows(content, fmt, source)
    texts, labels, lines = [], [], []
    text_key = None
    for line, row in rows:
        if text_key is None:
            text_key = _pick_text_column(row, text_column, label_column, source, line, fmt)
        text, label = row.get(text_key), row.get(label_column)
        if text is None or label is None:
            missing = text_key if text is None else label_column
            raise DataError(source, line, f"missing value for column {missing!r}")
        text, label = str(text).strip(), str(label).strip()
        if not text:
            raise DataError(source, line, "empty text")
        if not label:
            raise DataError(source, line, "empty label")
        texts.append(text)
        labels.append(label)
        lines.append(line)
    if not texts:
        raise DataError(source, 1, "no examples (only a header?)")
    return Dataset(texts, labels, source, lines, hashlib.sha256(raw).hexdigest(), text_key)


def _pick_text_column(row: dict, text_column, label_column, source, line, fmt) -> str:
    columns = list(row)
    where = 1 if fmt != "jsonl" else line
    candidates = (text_column,) if text_column else DEFAULT_TEXT_COLUMNS
    text_key = next((c for c in candidates if c in row), None)
    if text_key is None:
        wanted = text_column or " or ".join(repr(c) for c in DEFAULT_TEXT_COLUMNS)
        raise DataError(source, where, f"missing text column {wanted!r}; columns are {columns}")
    if label_column not in row:
        raise DataError(source, where, f"missing label column {label_column!r}; columns are {columns}")
    return text_key


def _delimited_rows(content: str, fmt: str, source: str):
    delimiter = "\t" if fmt == "tsv" else ","
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise DataError(source, 1, f"cannot parse header: {exc}") from None
    header = [h.strip() for h in header]
    while True:
        first_line = reader.line_num + 1  # a quoted field may span lines: report where it starts
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(source, first_line, f"malformed {fmt.upper()} row: {exc}") from None
        if not any(v.strip() for v in values):
            continue  # blank line
        if len(values) != len(header):
            raise DataError(
                source, first_line,
                f"expected {len(header)} fields ({delimiter!r}-separated), found {len(values)}",
            )
        yield first_line, dict(zip(header, values))


def _jsonl_rows(content: str, source: str):
    # Split on "\n" only: str.splitlines() also breaks on U+2028, U+0085, form feeds..., which
    # json.dumps(ensure_ascii=False) leaves raw inside strings. A trailing "\r" is JSON whitespace.
    for number, text in enumerate(content.split("\n"), start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(source, number, f"invalid JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise DataError(source, number, "each line must be a JSON object")
        yield number, row


def check_training_data(train: Dataset, dev: Dataset | None = None) -> list[str]:
    """The sorted label set; raises if there is a single class or dev has unseen labels."""
    labels = sorted(set(train.labels))
    if len(labels) < 2:
        last = train.lines[-1] if train.lines else None
        raise DataError(
            train.source, last,
            f"only one class ({labels[0]!r}) in {len(train)} examples; training needs at least two",
        )
    if dev is not None:
        known = set(labels)
        for i, label in enumerate(dev.labels):
            if label not in known:
                line = dev.lines[i] if dev.lines else None
                raise DataError(dev.source, line, f"label {label!r} never appears in training data {labels}")
    return labels


def stratified_split(data: Dataset, dev_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """Split off a dev set with the same label proportions; deterministic given ``seed``."""
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(data.labels):
        by_label.setdefault(label, []).append(i)
    train_idx, dev_idx = [], []
    for label in sorted(by_label):
        idx = by_label[label]
        rng.shuffle(idx)
        n_dev = round(len(idx) * dev_fraction)
        if len(idx) >= 2:
            n_dev = min(max(n_dev, 1), len(idx) - 1)
        else:
            n_dev = 0
        dev_idx += idx[:n_dev]
        train_idx += idx[n_dev:]
    if not dev_idx:
        raise DataError(data.source, None, "too few examples to split off a dev set")
    return data.subset(sorted(train_idx)), data.subset(sorted(dev_idx))
