"""Uploaded datasets: validated with the model package's loader, stored by content hash."""

from __future__ import annotations

import hashlib
import logging
import statistics
from collections import Counter, defaultdict
from pathlib import Path

from model.data import Dataset, parse_dataset
from model.files import PARTIAL, publishing, rename_into_place
from model.files import sweep as sweep_unpublished
from model.text.scripts import mostly_unspaced, script_shares
from model.text.tokenizer import count_tokens

from ..errors import Conflict, Gone, LimitExceeded, storage_errors
from ..store import Store, now

log = logging.getLogger(__name__)


class DatasetInUse(Conflict):
    code = "dataset_in_use"


def summarize(data: Dataset) -> dict:
    """What an upload's answer says about the data. Lengths in characters, in tokens (as the
    ``word``/``bpe`` tokenizers pre-tokenise: a word or punctuation mark, or one CJK character, is
    one token, so Chinese and Japanese texts are measured too) and in space-separated words (kept
    for existing clients; a text without spaces is one word), and the letters' scripts."""
    lengths = [len(t) for t in data.texts]
    words = [len(t.split()) for t in data.texts]
    labels_by_text: dict[str, set[str]] = defaultdict(set)
    counts = Counter(data.texts)
    for text, label in zip(data.texts, data.labels):
        labels_by_text[text].add(label)
    return {
        "rows_read": data.rows_read,  # rows in the file; those not among the examples are in "dropped"
        "examples": len(data),
        "dropped": data.dropped,
        "encoding": data.encoding,
        "task": data.task,
        "label_counts": data.label_counts(),
        "duplicate_texts": sum(1 for c in counts.values() if c > 1),
        "conflicting_texts": sum(1 for labels in labels_by_text.values() if len(labels) > 1),
        "length_chars": _stats(lengths),
        "length_tokens": _stats(count_tokens(data.texts)),
        "length_words": _stats(words),
        "scripts": script_shares(data.texts),
    }


def _stats(values: list[int]) -> dict:
    # every figure a float: the median of an even count is a mean (36.0) and was an int otherwise (34)
    return {"min": float(min(values)), "mean": round(statistics.fmean(values), 2),
            "median": float(statistics.median(values)), "max": float(max(values))}


class DatasetStore:
    def __init__(self, store: Store, root: Path, max_rows: int = 1_000_000):
        self.store = store
        self.root = root
        self.max_rows = max_rows
        with storage_errors("creating the datasets folder"):
            root.mkdir(parents=True, exist_ok=True)
        self.sweep()

    def sweep(self) -> None:
        """Remove what failed or killed uploads left: temporary files, and files without a record.
        Under the write lock: an upload renames its file and records it in one transaction, so
        no file without a record is one that is still being stored."""
        for name in sweep_unpublished(self.root):
            log.warning("removed %s, left by an upload that did not finish", name)
        with self.store.connect("cleaning up the datasets folder") as db:
            recorded = {row[0] for row in db.execute("SELECT path FROM datasets")}
            for file in self.root.iterdir():
                if file.is_file() and str(file) not in recorded and not file.name.endswith(PARTIAL):
                    file.unlink(missing_ok=True)
                    log.warning("removed %s, an upload stopped before it was recorded", file.name)

    def add(self, raw: bytes, filename: str, fmt: str, text_column: str | None, label_column: str) -> tuple[dict, bool]:
        """Validate and store; returns (record, created). Raises DataError before writing anything.

        Content-addressed and idempotent: the same bytes read the same way are one dataset,
        however many uploads of it arrive at once (each writes its own temporary file; the
        renames put identical bytes in place; the first row inserted wins)."""
        rows = raw.count(b"\n") + (not raw.endswith(b"\n"))  # before any parsing: a cheap bound on the objects
        if rows > self.max_rows:
            raise LimitExceeded(f"{filename} has {rows:,} lines; at most {self.max_rows:,} are read "
                                "(SENTIMENT_MAX_DATASET_ROWS): split the file", code="too_many_rows")
        data = parse_dataset(raw, fmt, filename, text_column, label_column, allow_unlabelled=True)
        resolved_text = data.text_column
        digest = hashlib.sha256(raw + f"\0{fmt}\0{resolved_text}\0{label_column}".encode()).hexdigest()
        dataset_id = digest[:16]
        existing = self.get(dataset_id)
        if existing is not None:
            return existing, False
        path = self.root / f"{dataset_id}.{fmt}"
        record = dict(id=dataset_id, filename=filename, format=fmt, path=str(path), text_column=resolved_text,
                      label_column=label_column, size_bytes=len(raw), summary=summarize(data), created_at=now())
        # The slow part (writing the bytes) outside the lock; the rename and the record in one
        # transaction, so that the file and its record appear together.
        with storage_errors("storing the dataset"), publishing(path, replace=True) as tmp:
            tmp.write_bytes(raw)
            with self.store.connect("storing the dataset") as db:
                rename_into_place(tmp, path, replace=True)
                created = self.store.insert("datasets", on_conflict_ignore=True, db=db, **record) == 1
        return self.get(dataset_id), created

    def check_present(self, record: dict) -> None:
        """``Gone`` when the dataset's file is no longer where its record says (a job would fail on it)."""
        if not Path(record["path"]).is_file():
            raise _gone(record)

    def get(self, dataset_id: str) -> dict | None:
        return self.store.one("SELECT * FROM datasets WHERE id = ?", dataset_id)

    def list(self) -> list[dict]:
        return self.store.all("SELECT * FROM datasets ORDER BY created_at DESC")

    def load(self, record: dict) -> Dataset:
        try:
            raw = Path(record["path"]).read_bytes()
        except FileNotFoundError:
            raise _gone(record) from None
        return parse_dataset(raw, record["format"], record["filename"], record["text_column"], record["label_column"],
                             allow_unlabelled=True)

    def delete(self, dataset_id: str) -> bool:
        record = self.get(dataset_id)
        if record is None:
            return False
        busy = self.store.one(
            "SELECT id FROM jobs WHERE state IN ('queued', 'running') AND (dataset_id = ? OR eval_dataset_id = ?)",
            dataset_id, dataset_id)
        if busy is not None:
            raise DatasetInUse(f"dataset {dataset_id} is used by job {busy['id']}, which has not finished")
        self.store.execute("DELETE FROM datasets WHERE id = ?", dataset_id)
        with storage_errors("deleting the dataset's file"):  # (a kill before this leaves an orphan: swept)
            Path(record["path"]).unlink(missing_ok=True)
        return True


def public(record: dict) -> dict:
    out = {k: v for k, v in record.items() if k != "path"}
    out.update(out.pop("summary"))
    out["length"] = length(out)
    return out


def length(summary: dict) -> dict:
    """The length per text in the unit that means something for the data's script: characters when
    most letters are in scripts written without spaces (Chinese, Japanese, Thai: there a
    space-separated "word" is a whole sentence, a median of 1), else space-separated words.

    Derived from the stored figures when the dataset is shown, so datasets stored before it have
    it too (those stored before scripts were counted are measured in words)."""
    unit = "characters" if mostly_unspaced(summary.get("scripts") or {}) else "words"
    figures = summary["length_chars" if unit == "characters" else "length_words"]
    return {"unit": unit, **{k: float(v) for k, v in figures.items()}}


def _gone(record: dict) -> Gone:
    return Gone(f"dataset {record['id']}'s file is no longer in the data directory; upload it again "
                "(or DELETE /v1/datasets/{id} to drop its record)", code="dataset_gone")

