"""Reading and validating labelled text datasets (TSV, CSV, JSONL).

Every problem is a ``DataError`` whose message starts with ``file:line:`` so a user can jump
straight to it. No row is lost silently: TSV has no quoting (the csv module's quoting once merged
hundreds of rows of a file of Chinese reviews whose texts held ASCII quotes); CSV keeps RFC 4180
quoting but a row with the wrong field count or an unbalanced quote is an error, not a merge; and
blank lines, the only rows skipped, are counted in ``Dataset.dropped``.

A dataset is single-label (a ``label`` column: one label per text) or multi-label (a ``labels``
column: any number of labels per text, none included). JSONL rows give ``"labels"`` as a list of
strings; CSV/TSV cells separate them with ``|`` (an empty cell: no label). A file uses one or the
other: a row with the other field is an error naming it. ``Dataset.labels`` then holds one string
per example, or one tuple of strings per example (hashable, so duplicate and conflicting texts are
found the same way).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import random
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .config import MULTI_LABEL, SINGLE_LABEL

FORMATS = ("tsv", "csv", "jsonl")
DEFAULT_TEXT_COLUMNS = ("text", "sentence")
LABELS_COLUMN = "labels"  # a multi-label dataset's column (JSONL: a list of strings)
LABEL_SEPARATOR = "|"  # between the labels of a CSV/TSV ``labels`` cell
UNLABELLED = "unlabelled"  # the task of a dataset of texts alone (``parse_dataset(allow_unlabelled=True)``)


class DataError(ValueError):
    """A dataset that cannot be used, with the file and line that show why."""

    def __init__(self, source: str, line: int | None, message: str):
        self.source, self.line, self.reason = source, line, message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


@dataclass
class Dataset:
    texts: list[str]
    labels: list  # single-label: one str per example; multi-label: one tuple of str per example
    source: str = "<memory>"
    lines: list[int] = field(default_factory=list)  # source line of each example
    sha256: str = ""
    text_column: str = ""  # the column the texts were read from
    rows_read: int = 0  # rows in the file (not the header); rows_read - len(self) were dropped:
    dropped: dict[str, int] = field(default_factory=dict)  # why, e.g. {"blank_lines": 2}
    encoding: str = ""  # what the bytes were decoded as: "utf-8", "utf-16", "gb18030"...
    task: str = ""  # SINGLE_LABEL, MULTI_LABEL or UNLABELLED; "": from the labels (tuples are multi-label)

    def __post_init__(self) -> None:
        if not self.task:
            self.task = MULTI_LABEL if self.labels and isinstance(self.labels[0], tuple) else SINGLE_LABEL

    def __len__(self) -> int:
        return len(self.texts)

    def label_counts(self) -> dict[str, int]:
        """How many examples carry each label (multi-label: each label of each example counts once)."""
        if self.task == UNLABELLED:
            return {}
        if self.task == MULTI_LABEL:
            return dict(sorted(Counter(label for labels in self.labels for label in labels).items()))
        return dict(sorted(Counter(self.labels).items()))

    def label_set(self) -> list[str]:
        """Every label that occurs, sorted."""
        return list(self.label_counts())

    def subset(self, indices: list[int]) -> Dataset:
        return Dataset(
            [self.texts[i] for i in indices],
            [self.labels[i] for i in indices],
            self.source,
            [self.lines[i] for i in indices] if self.lines else [],
            self.sha256,
            self.text_column,
            encoding=self.encoding,
            task=self.task,
        )


# What a reader cannot see: whitespace, control and format characters (zero-width space, joiners,
# byte order marks, direction marks), unassigned and private-use code points.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


def is_blank(text: str) -> bool:
    """True when ``text`` holds nothing visible: a model would score it all the same, as if it said
    something (a zero-width space alone read as 0.96 positive)."""
    if text.isascii():
        return not text.strip(" \t\n\r\x0b\x0c") or all(c <= " " or c == "\x7f" for c in text)
    return all(c.isspace() or unicodedata.category(c) in _INVISIBLE for c in text)


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
    columns: list[str] | None = None,
) -> Dataset:
    """Read a labelled dataset file. ``text_column=None`` takes ``text`` or else ``sentence``;
    ``columns`` names the columns of a CSV/TSV file that has no header row."""
    path = Path(path)
    source = name or str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(source, None, "no such file") from None
    except IsADirectoryError:
        raise DataError(source, None, "is a directory, not a file") from None
    return parse_dataset(raw, fmt or detect_format(name or path), source, text_column, label_column, columns)


def parse_dataset(
    raw: bytes,
    fmt: str,
    source: str,
    text_column: str | None = None,
    label_column: str = "label",
    columns: list[str] | None = None,
    allow_unlabelled: bool = False,
) -> Dataset:
    """The examples of ``raw``; with ``allow_unlabelled``, a file without a label column is a dataset
    of texts alone (``task`` ``unlabelled``: for scoring and for picking what to label next)."""
    if fmt not in FORMATS:
        raise DataError(source, None, f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    content, encoding = decode_text(raw, source)
    if not content.strip():
        raise DataError(source, 1, "file is empty")
    if fmt == "jsonl":
        if columns:
            raise DataError(source, None, "columns is for CSV and TSV files; each JSONL line names its own fields")
        table = _jsonl_table(content, source)
    else:
        table = _delimited_table(content, fmt, source, _check_columns(columns, source) if columns else None)
    if not table.rows:
        raise DataError(source, 1, "no examples (only a header?)")
    text_key, label_key = _pick_columns(table, text_column, label_column, source, fmt, columns, allow_unlabelled)
    multi_label = label_key == LABELS_COLUMN
    if label_key is None:
        texts, lines = _text_rows(table, text_key, source)
        labels = [None] * len(texts)
    elif multi_label:
        single_key = label_column if label_column != LABELS_COLUMN else "label"
        texts, labels, lines = _multi_label_rows(table, text_key, single_key, source)
    else:
        texts, labels, lines = _single_label_rows(table, text_key, label_key, source)
    if table.spans and label_key is not None:
        cells = {r[label_key].strip() for _, r in table.rows} if multi_label else set(labels)
        _check_quoted_spans(table, content, label_key, cells, source)
    dropped = {"blank_lines": table.blank_lines} if table.blank_lines else {}
    return Dataset(
        texts,
        labels,
        source,
        lines,
        hashlib.sha256(raw).hexdigest(),
        text_key,
        rows_read=len(table.rows) + table.blank_lines,
        dropped=dropped,
        encoding=encoding,
        task=UNLABELLED if label_key is None else MULTI_LABEL if multi_label else SINGLE_LABEL,
    )


def _text_rows(table: _Table, text_key: str, source: str):
    texts, lines = [], []
    for line, row in table.rows:
        text = row.get(text_key)
        if text is None:
            raise DataError(source, line, f"missing value for column {text_key!r}")
        text = str(text).strip()
        if is_blank(text):
            raise DataError(source, line, "empty text (nothing visible)")
        texts.append(text)
        lines.append(line)
    return texts, lines


def _single_label_rows(table: _Table, text_key: str, label_column: str, source: str):
    texts, labels, lines = [], [], []
    for line, row in table.rows:
        text, label = row.get(text_key), row.get(label_column)
        if text is None or label is None:
            missing = text_key if text is None else label_column
            raise DataError(source, line, f"missing value for column {missing!r}")
        text, label = str(text).strip(), str(label).strip()
        if is_blank(text):
            raise DataError(source, line, "empty text (nothing visible)")
        if not label:
            raise DataError(source, line, "empty label")
        texts.append(text)
        labels.append(label)
        lines.append(line)
    return texts, labels, lines


def _multi_label_rows(table: _Table, text_key: str, single_key: str, source: str):
    """Each row's labels as a tuple: a JSONL list of strings, or a CSV/TSV cell split on ``|``.
    ``single_key`` is the single-label field, which no row may have."""
    texts, labels, lines = [], [], []
    for line, row in table.rows:
        if single_key in row:  # JSONL: each row names its own fields
            raise DataError(source, line, _MIXED.format(this=single_key, other=LABELS_COLUMN))
        text, value = row.get(text_key), row.get(LABELS_COLUMN)
        if text is None or value is None:
            missing = text_key if text is None else LABELS_COLUMN
            raise DataError(source, line, f"missing value for column {missing!r}")
        text = str(text).strip()
        if is_blank(text):
            raise DataError(source, line, "empty text (nothing visible)")
        if isinstance(value, str):
            if table.header is None:
                raise DataError(source, line, f'\'labels\' must be a list of strings, e.g. ["a", "b"]; got {value!r}')
            value = value.split(LABEL_SEPARATOR) if value.strip() else []
        elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DataError(source, line, f'\'labels\' must be a list of strings, e.g. ["a", "b"]; got {value!r}')
        names = tuple(v.strip() for v in value)
        if not all(names):
            raise DataError(source, line, f"empty label in {row[LABELS_COLUMN]!r}")
        if len(set(names)) != len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise DataError(source, line, f"label {twice!r} given twice")
        texts.append(text)
        labels.append(names)
        lines.append(line)
    return texts, labels, lines


_MIXED = (
    "this row has {this!r} but the first row has {other!r}: a file is single-label (a 'label' per text) "
    "or multi-label (a list of 'labels' per text), not both"
)


# Tried on a file that is not UTF-8, in this order: a byte order mark says what the file is.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16"),
)
# Without a BOM, charset-normalizer's guess is taken only when it is one of these multi-byte encodings
# (Chinese, Japanese and Korean Excel's "CSV", UTF-16 without a BOM): random bytes rarely decode in
# them, so "it decodes the whole file" means something. A single-byte code page decodes any bytes, and
# on small files the detector's pick among them is a guess (seen: cp1006 for one stray 0xff, cp852
# for damaged UTF-8, cp1250 for French cp1252 text), so those files are refused rather than garbled.
# Ties go to the earlier entry (one short GBK line scores the same as cp949); GBK and GB2312 decode as
# GB18030, their superset.
_DETECTED = {
    "gb18030": "gb18030",
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "big5": "big5",
    "big5hkscs": "big5hkscs",
    "cp950": "cp950",
    "cp932": "cp932",
    "shift_jis": "shift_jis",
    "euc_jp": "euc_jp",
    "cp949": "cp949",
    "euc_kr": "euc_kr",
    "utf_16_le": "utf-16-le",
    "utf_16_be": "utf-16-be",
    "utf_32_le": "utf-32-le",
    "utf_32_be": "utf-32-be",
}


def decode_text(raw: bytes, source: str) -> tuple[str, str]:
    """The file's text and the encoding it was read with (``utf-8``, ``utf-16``, ``gb18030``...)."""
    text, encoding, _, _ = _decode(raw, source)
    return text, encoding


def _decode(raw: bytes, source: str) -> tuple[str, str, bytes, str]:
    """(text, encoding's name, byte order mark, codec of the bytes after the BOM)."""
    utf8_bom = codecs.BOM_UTF8 if raw.startswith(codecs.BOM_UTF8) else b""
    try:
        return raw[len(utf8_bom) :].decode("utf-8"), "utf-8", utf8_bom, "utf-8"
    except UnicodeDecodeError as exc:
        bad = exc.start + len(utf8_bom)
    if not utf8_bom:  # with a UTF-8 BOM, a bad byte is damage, not another encoding
        bom, codec, name = next((m for m in _BOMS if raw.startswith(m[0])), (b"", None, None))
        codec = codec or _detect(raw)
        if codec is not None:
            try:
                return raw[len(bom) :].decode(codec), name or codec, bom, codec
            except UnicodeDecodeError as exc:
                if bom:
                    line = raw[len(bom) : len(bom) + exc.start].decode(codec).count("\n") + 1
                    raise DataError(
                        source,
                        line,
                        f"the file starts with a {name} byte order mark but is not valid {name}; save it as UTF-8",
                    ) from None
    line = raw[:bad].count(b"\n") + 1
    raise DataError(
        source,
        line,
        f"invalid UTF-8 byte 0x{raw[bad]:02x} (and not UTF-16 or a Chinese, Japanese or "
        "Korean encoding either); save the file as UTF-8",
    )


def _detect(raw: bytes) -> str | None:
    """charset-normalizer's best guess among ``_DETECTED``, or None."""
    damaged = raw.decode("utf-8", errors="replace")
    bad = damaged.count("\ufffd")
    valid_non_ascii = len(damaged) - len(damaged.encode("ascii", errors="ignore")) - bad
    if valid_non_ascii > bad:  # mostly valid UTF-8 text: a damaged UTF-8 file, not another encoding
        return None
    from charset_normalizer import from_bytes  # imported only for files that are not UTF-8

    # The first MiB, cut after a line break (and the NULs that end one in UTF-16/32-LE), is enough to
    # tell, and the whole file is decoded anyway: the detector's time grows with what it reads.
    end = raw.rfind(b"\n", 0, 1 << 20) + 1 if len(raw) > 1 << 20 else len(raw)
    while raw[end : end + 1] == b"\0":
        end += 1
    order = list(_DETECTED)
    matches = [m for m in from_bytes(raw[:end] or raw) if m.encoding in _DETECTED]
    if not matches:
        return None
    best = min(matches, key=lambda m: (m.chaos, -m.coherence, order.index(m.encoding)))
    return _DETECTED[best.encoding]


def with_header_row(
    raw: bytes, fmt: str, source: str, columns: list[str], text_column: str | None = None, label_column: str = "label"
) -> bytes:
    """A CSV/TSV file without a header row, validated with ``columns`` and returned with them written as
    its first line, in its own encoding and line ending: the file then describes itself wherever it goes.
    Errors name the lines of ``raw``."""
    parse_dataset(raw, fmt, source, text_column, label_column, columns)
    text, _, bom, codec = _decode(raw, source)
    end = text.find("\n")
    newline = "\r\n" if end > 0 and text[end - 1] == "\r" else "\n"
    header = ("\t" if fmt == "tsv" else ",").join(_check_columns(columns, source)) + newline
    return bom + header.encode(codec) + raw[len(bom) :]


@dataclass
class _Table:
    rows: list[tuple[int, dict]]  # (line where the row starts, column -> value)
    header: list[str] | None = None  # CSV/TSV: the names; None for JSONL
    first_row: list[str] | None = None  # the header row's values, as read (for "looks like data")
    blank_lines: int = 0
    spans: list[tuple[int, int]] = field(default_factory=list)  # CSV rows running over several lines


def _check_columns(columns: list[str], source: str) -> list[str]:
    names = [str(c).strip() for c in columns]
    if not all(names) or len(set(names)) != len(names) or any(set(n) & set(',\t"\r\n') for n in names):
        raise DataError(source, None, f"columns must be distinct names without commas, tabs or quotes; got {columns}")
    return names


def _pick_columns(table: _Table, text_column, label_column, source, fmt, columns,
                  allow_unlabelled: bool = False) -> tuple[str, str | None]:
    """The text column, and the label column: ``label_column``, or ``labels`` (multi-label) when the file
    has that and not ``label_column``. A file with both the default ``label`` and ``labels`` is an error."""
    row = table.rows[0][1]
    names = table.header if table.header is not None else list(row)
    where = None if columns else 1 if fmt != "jsonl" else table.rows[0][0]
    candidates = (text_column,) if text_column else DEFAULT_TEXT_COLUMNS
    text_key = next((c for c in candidates if c in names), None)
    if text_key is not None and label_column in names and label_column != LABELS_COLUMN:
        if label_column == "label" and LABELS_COLUMN in names:
            raise DataError(
                source,
                where,
                "both a 'label' and a 'labels' column: a file is single-label (a 'label' per text) or "
                "multi-label (a list of 'labels' per text), not both",
            )
        if table.header is None:
            _check_no_labels_field(table, label_column, source)
        return text_key, label_column
    if text_key is not None and LABELS_COLUMN in names:
        return text_key, LABELS_COLUMN
    if fmt != "jsonl" and not columns and _looks_like_data(table, {*candidates, label_column, LABELS_COLUMN}):
        shown = ", ".join(repr(v) for v in table.first_row)
        example = "text,label" if fmt == "csv" else "text<TAB>label"
        raise DataError(
            source,
            1,
            f"the first row ({shown}) looks like data, not a header: add a header row such as "
            f"'{example}', or pass the column names (columns=text,label)",
        )
    if text_key is None:
        wanted = text_column or " or ".join(repr(c) for c in DEFAULT_TEXT_COLUMNS)
        raise DataError(source, where, f"missing text column {wanted!r}; columns are {names}")
    if allow_unlabelled:
        return text_key, None
    raise DataError(source, where, f"missing label column {label_column!r}; columns are {names}")


def _check_no_labels_field(table: _Table, label_column: str, source: str) -> None:
    """A single-label JSONL file (its first row has ``label_column``) in which a row has ``labels``."""
    for line, row in table.rows:
        if LABELS_COLUMN in row:
            raise DataError(source, line, _MIXED.format(this=LABELS_COLUMN, other=label_column))


def _looks_like_data(table: _Table, wanted: set[str]) -> bool:
    """A header names each column once; data repeats itself: the first row is taken for data when none
    of its values is a column name we look for and one of them (a label, typically) recurs below it
    in the same column."""
    first = [v.strip() for v in table.first_row]
    if {v.lower() for v in first} & {w.lower() for w in wanted}:
        return False
    return any(
        value and any(row.get(name, "").strip() == value for _, row in table.rows)
        for name, value in zip(table.header, first)
    )


def _delimited_table(content: str, fmt: str, source: str, columns: list[str] | None) -> _Table:
    table = _Table([], header=columns)
    header_names = {n.lower() for n in (*(columns or ()), *DEFAULT_TEXT_COLUMNS, "label", LABELS_COLUMN)}
    records = _tsv_records(content) if fmt == "tsv" else _csv_records(content, source, table)
    delimiter = "tab" if fmt == "tsv" else "comma"
    for first_line, values in records:
        if not any(v.strip() for v in values):
            table.blank_lines += 1  # a blank line (or only separators): nothing to read
            continue
        if table.header is None:
            table.header, table.first_row = [v.strip() for v in values], values
            continue
        if columns and not table.rows and {v.strip().lower() for v in values} & header_names:
            shown = ", ".join(repr(v) for v in values)
            raise DataError(
                source,
                first_line,
                f"the first row ({shown}) is a header, but columns were given "
                "for a file without one: remove that row or the columns",
            )
        if len(values) != len(table.header):
            too_many = fmt == "tsv" and len(values) > len(table.header)
            hint = " (TSV has no quoting: a text with a tab needs CSV)" if too_many else ""
            raise DataError(
                source,
                first_line,
                f"expected {len(table.header)} {delimiter}-separated fields, found {len(values)}{hint}",
            )
        table.rows.append((first_line, dict(zip(table.header, values))))
    return table


def _tsv_records(content: str):
    """TSV is one row per line (LF, CRLF or CR) and fields split on tabs, with no quoting at all: a
    review's own quotes (书的"包装"很好) are text, as in SST-2 and GLUE files."""
    for number, line in enumerate(io.StringIO(content, newline=""), start=1):
        yield number, line.rstrip("\r\n").split("\t")


def _csv_records(content: str, source: str, table: _Table):
    """RFC 4180: a quoted field may hold commas, doubled quotes and line breaks. ``strict`` turns text
    after a closing quote and a quote left open at the end into errors instead of merged rows."""
    reader = csv.reader(io.StringIO(content, newline=""), strict=True)
    while True:
        first_line = reader.line_num + 1  # a quoted field may span lines: report where it starts
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "end of data" in str(exc):
                why = "a quoted field starts here and never ends"
            elif "field limit" in str(exc):
                why = f"a field starts here and runs on for more than {csv.field_size_limit():,} characters"
            elif "expected after" in str(exc):
                why = (
                    f"a quoted field starts here and its closing quote, on line {reader.line_num}, is followed by text"
                )
            else:
                raise DataError(source, first_line, f"malformed CSV row: {exc}") from None
            raise DataError(source, first_line, f"{why}: the '\"' here is probably unbalanced; {_QUOTE_FIX}") from None
        if reader.line_num > first_line:
            table.spans.append((first_line, reader.line_num))
        yield first_line, values


_QUOTE_FIX = 'inside a quoted field write a quote as "", and quote a field that contains quotes ("say ""hi""")'


def _check_quoted_spans(table: _Table, content: str, label_column: str, labels: set[str], source: str) -> None:
    """Strict CSV still reads a stray opening quote as a field that swallows the next rows when a later
    quote happens to close it cleanly. Some line inside such a field looks like a row of the file (the
    header's number of fields, a known label); a review with a line break does not."""
    lines = io.StringIO(content, newline="").readlines()
    at = table.header.index(label_column)

    def looks_like_row(number: int) -> bool:
        values = lines[number - 1].rstrip("\r\n").split(",")
        return len(values) == len(table.header) and values[at].strip() in labels

    for first, last in table.spans:
        # A line wholly inside the field that looks like a row of its own is a swallowed row, whatever
        # the first line holds (its text may have commas); when the first line itself looks like a row,
        # so may the last, where the stray quote happened to close.
        inside = range(first + 1, last + 1) if looks_like_row(first) else range(first + 1, last)
        swallowed = next((n for n in inside if looks_like_row(n)), None)
        if swallowed is not None:
            row = lines[swallowed - 1].strip()
            raise DataError(
                source,
                first,
                f"a quoted field starts here and runs to line {last}, swallowing line "
                f"{swallowed} ({row!r}), which looks like a row of its own: the '\"' here "
                f"is probably unbalanced; {_QUOTE_FIX}",
            )


def _jsonl_table(content: str, source: str) -> _Table:
    # Split on "\n" only: str.splitlines() also breaks on U+2028, U+0085, form feeds..., which
    # json.dumps(ensure_ascii=False) leaves raw inside strings. A trailing "\r" is JSON whitespace.
    table = _Table([])
    lines = content.split("\n")
    if not lines[-1].strip():
        lines.pop()  # what follows the last line break is not a line
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            table.blank_lines += 1
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(source, number, f"invalid JSON: {exc.msg}") from None
        except RecursionError:
            raise DataError(source, number, "JSON nested too deeply to read (a line is one flat object)") from None
        except ValueError as exc:  # e.g. an integer of more than 4,300 digits
            raise DataError(source, number, f"JSON value that cannot be read: {exc}") from None
        if not isinstance(row, dict):
            raise DataError(source, number, "each line must be a JSON object")
        table.rows.append((number, row))
    return table


def check_training_data(train: Dataset, dev: Dataset | None = None) -> list[str]:
    """The sorted label set; raises if there is a single class, dev has unseen labels or the two
    are not the same task (single- or multi-label)."""
    for data in (train, dev) if dev is not None else (train,):
        if data.task == UNLABELLED:
            raise DataError(data.source, None, "has no labels (only texts): training needs a label for each text")
    if train.task == MULTI_LABEL:
        return _check_multi_label(train, dev)
    if dev is not None and dev.task != train.task:
        raise DataError(dev.source, None, "has a 'labels' column (multi-label) but the training data has 'label'")
    labels = sorted(set(train.labels))
    if len(labels) < 2:
        last = train.lines[-1] if train.lines else None
        raise DataError(
            train.source,
            last,
            f"only one class ({labels[0]!r}) in {len(train)} examples; training needs at least two",
        )
    if dev is not None:
        known = set(labels)
        for i, label in enumerate(dev.labels):
            if label not in known:
                line = dev.lines[i] if dev.lines else None
                raise DataError(dev.source, line, f"label {label!r} never appears in training data {labels}")
    return labels


def _check_multi_label(train: Dataset, dev: Dataset | None) -> list[str]:
    labels = train.label_set()
    if len(labels) < 2:
        last = train.lines[-1] if train.lines else None
        found = f"only {labels[0]!r}" if labels else "none"
        raise DataError(
            train.source, last, f"labels: {found} in {len(train)} examples; a multi-label model needs at least two"
        )
    if dev is not None:
        if dev.task != MULTI_LABEL:
            raise DataError(dev.source, None, "has a 'label' column but the training data has 'labels' (multi-label)")
        known = set(labels)
        for i, names in enumerate(dev.labels):
            unseen = next((label for label in names if label not in known), None)
            if unseen is not None:
                line = dev.lines[i] if dev.lines else None
                raise DataError(dev.source, line, f"label {unseen!r} never appears in training data {labels}")
    return labels


def stratified_split(data: Dataset, dev_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """Split off a dev set with the same label proportions; deterministic given ``seed``.

    Multi-label examples are grouped by their set of labels; the sets seen only once are pooled into
    one group, so that a dataset of many rare combinations still gives a dev set."""
    rng = random.Random(seed)
    by_label: dict = {}
    for i, label in enumerate(data.labels):
        by_label.setdefault(label, []).append(i)
    if data.task == MULTI_LABEL:
        rare = [idx[0] for idx in by_label.values() if len(idx) == 1]
        by_label = {"|".join(k): v for k, v in by_label.items() if len(v) > 1}
        if rare:
            by_label["\0rare"] = rare  # (no label set joins to a NUL)
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
