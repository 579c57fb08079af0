import csv
import io
import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import DataError, Dataset, load_dataset, parse_dataset
from model.data import check_training_data, detect_format, stratified_split


def parse(text: str | bytes, fmt: str = "tsv", source: str = "data.tsv", **kwargs) -> Dataset:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return parse_dataset(raw, fmt, source, **kwargs)


def test_tsv_with_sentence_column():
    data = parse("label\tsentence\n0\tbad film\n1\tgood film\n")
    assert data.texts == ["bad film", "good film"]
    assert data.labels == ["0", "1"]
    assert data.lines == [2, 3]
    assert data.text_column == "sentence"
    assert len(data) == 2


def test_text_column_is_preferred_and_can_be_named():
    data = parse("sentence\ttext\treview\tlabel\nA\tB\tC\tpos\n")
    assert data.texts == ["B"]
    assert parse("review\tstars\nC\t5\n", text_column="review", label_column="stars").texts == ["C"]


def test_byte_order_mark_and_crlf():
    data = parse(b"\xef\xbb\xbftext,label\r\nfirst,a\r\nsecond,b\r\n", "csv", "data.csv")
    assert data.texts == ["first", "second"]
    assert data.labels == ["a", "b"]
    assert data.lines == [2, 3]


def test_quoted_csv_fields():
    content = 'text,label\n"Good, really ""good""",pos\n"two\nlines",neg\nplain,pos\n'
    data = parse(content, "csv", "data.csv")
    assert data.texts == ['Good, really "good"', "two\nlines", "plain"]
    assert data.labels == ["pos", "neg", "pos"]
    assert data.lines == [2, 3, 5]  # a multi-line field counts from the line where it starts


def test_blank_lines_are_skipped_and_values_stripped():
    data = parse("text\tlabel\n\n  padded  \t pos \n\t\n")
    assert data.texts == ["padded"]
    assert data.labels == ["pos"]
    assert data.lines == [3]


def test_jsonl_with_numeric_labels_and_crlf():
    content = '{"text": "good", "label": 1}\r\n\r\n{"text": "bad", "label": 0}\r\n'
    data = parse(content, "jsonl", "data.jsonl")
    assert data.texts == ["good", "bad"]
    assert data.labels == ["1", "0"]
    assert data.lines == [1, 3]


def test_jsonl_text_with_unicode_line_separators():
    # json.dumps(ensure_ascii=False) leaves U+2028 and U+0085 raw inside strings.
    lines = [json.dumps({"text": t, "label": "x"}, ensure_ascii=False) for t in ("a\u2028b", "c\x85d", "e\x0cf")]
    data = parse("\n".join(lines) + "\n", "jsonl", "data.jsonl")
    assert data.texts == ["a\u2028b", "c\x85d", "e\x0cf"]
    assert data.lines == [1, 2, 3]


def write_rows(fmt: str, rows: list[tuple[str, str]]) -> bytes:
    """The file a spreadsheet or pandas would write: quoted where needed, CRLF line ends."""
    if fmt == "jsonl":
        return "".join(json.dumps({"text": t, "label": y}, ensure_ascii=False) + "\n" for t, y in rows).encode()
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter="\t" if fmt == "tsv" else ",")
    writer.writerows([("text", "label"), *rows])
    return buffer.getvalue().encode("utf-8")


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.text(min_size=1).filter(str.strip), min_size=1, max_size=5),
    st.sampled_from(["tsv", "csv", "jsonl"]),
)
def test_any_text_survives_writing_and_parsing(texts, fmt):
    data = parse(write_rows(fmt, [(t, "pos") for t in texts]), fmt, f"data.{fmt}")
    assert data.texts == [t.strip() for t in texts]
    assert data.labels == ["pos"] * len(texts)


def test_sha256_identifies_the_bytes():
    assert parse("text\tlabel\na\tb\n").sha256 == parse("text\tlabel\na\tb\n").sha256
    assert parse("text\tlabel\na\tb\n").sha256 != parse("text\tlabel\na\tc\n").sha256


@pytest.mark.parametrize(
    ("content", "fmt", "line", "message"),
    [
        ("text\tstars\nnice\t1\n", "tsv", 1, "missing label column 'label'"),
        ("review\tlabel\nnice\t1\n", "tsv", 1, "missing text column"),
        ("text\tlabel\nfine\t1\n\t0\n", "tsv", 3, "empty text"),
        ("text\tlabel\nfine\t1\nfine\t\n", "tsv", 3, "empty label"),
        ("", "tsv", 1, "file is empty"),
        ("  \n\n", "csv", 1, "file is empty"),
        ("text\tlabel\n", "tsv", 1, "no examples"),
        ("text\tlabel\nok\t1\ntoo\tmany\tfields\n", "tsv", 3, "expected 2 fields"),
        ("text,label\nok,1\nshort\n", "csv", 3, "found 1"),
        ('{"text": "ok", "label": 1}\n{"text": "broken", \n', "jsonl", 2, "invalid JSON"),
        ('{"text": "ok", "label": 1}\n["a", "list"]\n', "jsonl", 2, "JSON object"),
        ('{"text": "ok", "label": 1}\n{"text": "no label"}\n', "jsonl", 2, "missing value for column 'label'"),
        ('{"review": "ok", "label": 1}\n', "jsonl", 1, "missing text column"),
        (b"text\tlabel\nfine\t1\ncaf\xe9\t0\n", "tsv", 3, "invalid UTF-8 byte 0xe9"),
    ],
)
def test_errors_name_file_and_line(content, fmt, line, message):
    source = f"reviews.{fmt}"
    with pytest.raises(DataError, match=message) as info:
        parse(content, fmt, source)
    assert str(info.value).startswith(f"{source}:{line}: ")
    assert (info.value.source, info.value.line) == (source, line)


def test_single_class_is_rejected_with_a_line():
    data = parse("text\tlabel\na\tpos\nb\tpos\n", source="one.tsv")
    with pytest.raises(DataError, match="only one class") as info:
        check_training_data(data)
    assert str(info.value).startswith("one.tsv:3: ")


def test_dev_label_unseen_in_training():
    train = parse("text\tlabel\na\tpos\nb\tneg\n", source="train.tsv")
    dev = parse("text\tlabel\nc\tpos\nd\tmixed\n", source="dev.tsv")
    with pytest.raises(DataError, match="label 'mixed' never appears") as info:
        check_training_data(train, dev)
    assert str(info.value).startswith("dev.tsv:3: ")


def test_check_training_data_returns_sorted_labels():
    train = parse("text\tlabel\na\tpos\nb\tneg\nc\tpos\n")
    assert check_training_data(train, parse("text\tlabel\nx\tneg\n")) == ["neg", "pos"]


def test_load_dataset_reads_the_file(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\ngood,1\nbad,0\n", encoding="utf-8")
    data = load_dataset(path)
    assert (data.texts, data.source) == (["good", "bad"], str(path))


def test_load_dataset_format_can_be_forced(tmp_path):
    path = tmp_path / "reviews.txt"
    path.write_text("text\tlabel\ngood\t1\n", encoding="utf-8")
    assert load_dataset(path, fmt="tsv").texts == ["good"]


def test_load_dataset_names_a_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file") as info:
        load_dataset(tmp_path / "nope.tsv")
    assert str(tmp_path / "nope.tsv") in str(info.value)


def test_load_dataset_rejects_a_directory(tmp_path):
    with pytest.raises(DataError, match="directory"):
        load_dataset(tmp_path)


@pytest.mark.parametrize(
    ("name", "fmt"), [("a.TSV", "tsv"), ("a.csv", "csv"), ("a.jsonl", "jsonl"), ("a.json", "jsonl")]
)
def test_detect_format(name, fmt):
    assert detect_format(name) == fmt


def test_unknown_format_lists_the_choices():
    with pytest.raises(DataError, match="tsv, csv, jsonl"):
        detect_format("data.xlsx")
    with pytest.raises(DataError, match="tsv, csv, jsonl"):
        parse("text\tlabel\na\tb\n", fmt="parquet")


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)


def make_imbalanced() -> Dataset:
    labels = ["a"] * 60 + ["b"] * 30 + ["c"] * 10
    return Dataset([f"text {i}" for i in range(100)], labels, "x.tsv", list(range(2, 102)))


def test_stratified_split_keeps_proportions():
    train, dev = stratified_split(make_imbalanced(), 0.2, seed=3)
    assert Counter(dev.labels) == {"a": 12, "b": 6, "c": 2}
    assert Counter(train.labels) == {"a": 48, "b": 24, "c": 8}
    assert not set(train.texts) & set(dev.texts)
    assert dev.lines == sorted(dev.lines)  # line numbers travel with their examples
    assert dev.source == train.source == "x.tsv"
    assert all(dev.texts[i] == f"text {dev.lines[i] - 2}" for i in range(len(dev)))


def test_stratified_split_is_deterministic():
    first = stratified_split(make_imbalanced(), 0.2, seed=3)[1].texts
    assert stratified_split(make_imbalanced(), 0.2, seed=3)[1].texts == first
    assert stratified_split(make_imbalanced(), 0.2, seed=4)[1].texts != first


def test_stratified_split_keeps_each_class_in_training():
    data = Dataset(["a1", "a2", "b1", "b2", "c1"], ["a", "a", "b", "b", "c"], "x", [1, 2, 3, 4, 5])
    train, dev = stratified_split(data, 0.5, seed=0)
    assert set(train.labels) == {"a", "b", "c"}
    assert Counter(dev.labels) == {"a": 1, "b": 1}


def test_label_counts():
    assert make_imbalanced().label_counts() == {"a": 60, "b": 30, "c": 10}
