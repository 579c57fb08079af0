import csv
import hashlib
import io
import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import DataError, Dataset, load_dataset, parse_dataset
from model.data import check_training_data, detect_format, is_blank, stratified_split, with_header_row


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
    """The file a spreadsheet or pandas would write: CSV quoted where needed with CRLF line ends,
    TSV as plain tab-separated lines (no quoting: a quote is text)."""
    if fmt == "jsonl":
        return "".join(json.dumps({"text": t, "label": y}, ensure_ascii=False) + "\n" for t, y in rows).encode()
    if fmt == "tsv":
        return "".join(f"{t}\t{y}\n" for t, y in [("text", "label"), *rows]).encode("utf-8")
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows([("text", "label"), *rows])
    return buffer.getvalue().encode("utf-8")


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.text(min_size=1).filter(lambda t: not is_blank(t)), min_size=1, max_size=5),
    st.sampled_from(["tsv", "csv", "jsonl"]),
)
def test_any_text_survives_writing_and_parsing(texts, fmt):
    if fmt == "tsv":  # a TSV line cannot hold a tab or a line break
        texts = [t for t in (t.translate({9: " ", 10: " ", 13: " "}) for t in texts) if not is_blank(t)] or ["x"]
    data = parse(write_rows(fmt, [(t, "pos") for t in texts]), fmt, f"data.{fmt}")
    assert data.texts == [t.strip() for t in texts]
    assert data.labels == ["pos"] * len(texts)
    assert (data.rows_read, data.dropped) == (len(texts), {})


REVIEWS = ["\"酒店不错 “", "质量很差", "物流很快", '书的"包装"很好', "太失望了"]
REVIEW_LABELS = ["positive", "negative", "positive", "positive", "negative"]
# Issue 10: this file parsed as 2 examples when TSV followed the csv module's quoting rules.
PRINTF_TSV = "text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in zip(REVIEWS, REVIEW_LABELS))


def test_tsv_is_plain_tab_separated_lines():
    data = parse(PRINTF_TSV)
    assert data.texts == REVIEWS
    assert data.labels == REVIEW_LABELS
    assert data.lines == [2, 3, 4, 5, 6]
    assert (data.rows_read, data.dropped, data.encoding) == (5, {}, "utf-8")
    assert parse(PRINTF_TSV.replace("\n", "\r\n")).texts == REVIEWS


TRICKY_TEXTS = ['say "hi" twice', '"quoted" start', "中文“引号”和「括号」，句号。", "a, b, and c", "tab\there",
                "first line\nsecond, line", "ends with a quote\"", '""']


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "tsv"])
def test_quotes_cjk_punctuation_tabs_commas_and_line_breaks_round_trip(fmt):
    texts = [t for t in TRICKY_TEXTS if fmt != "tsv" or not {"\t", "\n"} & set(t)]
    labels = ["pos", "neg"] * (len(texts) // 2) + ["pos"] * (len(texts) % 2)
    data = parse(write_rows(fmt, list(zip(texts, labels))), fmt, f"data.{fmt}")
    assert (data.texts, data.labels) == (texts, labels)


def test_csv_with_a_line_break_inside_quotes_is_one_row():
    content = 'text,label\n"Great acting.\nPlot, though: weak",neg\n"fine, ""really""",pos\nok,pos\n'
    data = parse(content, "csv", "data.csv")
    assert data.texts == ["Great acting.\nPlot, though: weak", 'fine, "really"', "ok"]
    assert (data.lines, data.rows_read) == ([2, 4, 5], 3)


UNBALANCED_CSV = [
    # the quote that opens line 2 closes on line 5 and is followed by text
    ("text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(REVIEWS, REVIEW_LABELS)), 2, "closing quote, on line 5"),
    # it never closes
    ('text,label\nfine,pos\n"bad start,neg\nok,pos\n', 3, "never ends"),
    # it closes cleanly three lines later: strict mode sees one long field, the rows inside it give it away
    ('text,label\nfine,pos\n"stray quote,neg\nnext row,pos\nthe screen is 5",pos\nlast,neg\n', 3,
     "swallowing line 4 ('next row,pos')"),
]


@pytest.mark.parametrize(("content", "line", "message"), UNBALANCED_CSV)
def test_an_unbalanced_csv_quote_names_its_line_instead_of_merging_rows(content, line, message):
    with pytest.raises(DataError, match="probably unbalanced") as info:
        parse(content, "csv", "reviews.csv")
    assert str(info.value).startswith(f"reviews.csv:{line}: ")
    assert message in str(info.value) and '""' in str(info.value)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
@pytest.mark.parametrize("fmt", ["tsv", "csv"])
def test_other_encodings_read_the_same_texts_and_say_which(encoding, fmt):
    rows = [(t, y) for t, y in zip(REVIEWS, REVIEW_LABELS) if fmt == "tsv" or '"' not in t]
    sep = "\t" if fmt == "tsv" else ","
    content = "".join(f"{t}{sep}{y}\n" for t, y in [("text", "label"), *rows])
    data = parse(content.encode(encoding), fmt, f"data.{fmt}")
    assert data.texts == [t for t, _ in rows] and data.labels == [y for _, y in rows]
    assert data.encoding == {"gbk": "gb18030", "utf-8-sig": "utf-8"}.get(encoding, encoding)
    assert data.sha256 == hashlib.sha256(content.encode(encoding)).hexdigest()  # of the bytes as sent


def test_damaged_utf8_is_refused_not_guessed_at():
    content = ("text\tlabel\n" + "很好的一本书\tpos\n" * 20).encode() + b"\xe5\xbe\tneg\n"
    with pytest.raises(DataError, match="invalid UTF-8 byte 0xe5") as info:
        parse(content)
    assert str(info.value).startswith("data.tsv:22: ")


def test_blank_lines_are_counted_as_dropped():
    data = parse("text\tlabel\n\ngood\tpos\n  \n\t\nbad\tneg\n")
    assert (len(data), data.rows_read, data.dropped) == (2, 5, {"blank_lines": 3})
    data = parse('{"text": "a", "label": 1}\n\n{"text": "b", "label": 0}\n', "jsonl", "data.jsonl")
    assert (len(data), data.rows_read, data.dropped) == (2, 3, {"blank_lines": 1})


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_a_file_without_a_header_row_says_so_and_reads_with_columns(fmt):
    sep = "," if fmt == "csv" else "\t"
    content = f"a gorgeous movie{sep}1\na tedious mess{sep}0\nwitty{sep}1\n"
    with pytest.raises(DataError, match=r"the first row \('a gorgeous movie', '1'\) looks like data, not a header"
                       ) as info:
        parse(content, fmt, f"data.{fmt}")
    assert str(info.value).startswith(f"data.{fmt}:1: ") and "columns=text,label" in str(info.value)
    data = parse(content, fmt, f"data.{fmt}", columns=["text", "label"])
    assert (data.texts, data.labels, data.lines) == (["a gorgeous movie", "a tedious mess", "witty"], ["1", "0", "1"],
                                                     [1, 2, 3])


def test_columns_refuse_a_file_that_has_a_header_and_jsonl():
    with pytest.raises(DataError, match="is a header, but columns were given") as info:
        parse("sentence,label\ngood,1\n", "csv", "data.csv", columns=["text", "label"])
    assert str(info.value).startswith("data.csv:1: ")
    with pytest.raises(DataError, match="for CSV and TSV"):
        parse('{"text": "a", "label": 1}\n', "jsonl", "data.jsonl", columns=["text", "label"])


def test_with_header_row_writes_the_header_in_the_files_encoding():
    raw = "好看\t1\r\n难看\t0\r\n".encode("utf-16")
    out = with_header_row(raw, "tsv", "x.tsv", ["text", "label"])
    assert out == raw[:2] + "text\tlabel\r\n".encode("utf-16-le") + raw[2:]
    assert parse(out).texts == ["好看", "难看"]
    with pytest.raises(DataError, match="x.tsv:2: expected 2 tab-separated fields"):
        with_header_row(b"a\t1\nb\n", "tsv", "x.tsv", ["text", "label"])  # lines of the file as sent


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
        ("text\tlabel\nok\t1\ntoo\tmany\tfields\n", "tsv", 3, "expected 2 tab-separated fields, found 3"),
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


@pytest.mark.parametrize("line,why", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"text": "big", "label": ' + "9" * 5000 + "}", "cannot be read"),
])
def test_jsonl_python_cannot_hold_is_an_error_naming_its_line(line, why):
    content = '{"text": "fine", "label": "pos"}\n' + line + "\n"
    with pytest.raises(DataError, match=rf"data.jsonl:2: .*{why}"):
        parse(content, "jsonl", "data.jsonl")


@pytest.mark.parametrize("text", ["\u200b", "\u200b\u200d\ufeff", " \u2060 ", "\x00\x01"])
def test_a_text_with_nothing_visible_is_empty(text):
    from model.data import is_blank

    assert is_blank(text)
    with pytest.raises(DataError, match="data.jsonl:2: empty text"):
        parse('{"text": "fine", "label": "pos"}\n' + json.dumps({"text": text, "label": "neg"}) + "\n", "jsonl",
              "data.jsonl")
    assert not is_blank("\u200bok") and not is_blank("好") and not is_blank("a")


def test_a_stray_quote_on_a_line_with_commas_never_merges_the_rows_it_swallows():
    """The quote on line 3 opens a field that a later quote closes cleanly; the text on line 3 has
    commas, so the line itself does not look like a row: the swallowed rows inside still give it away."""
    content = 'text,label\ngood film,1\n"bad, really, bad,0\nnice,1\nmeh,0\nso so",1\nfine,0\n'
    with pytest.raises(DataError, match=r"data.csv:3: a quoted field starts here and runs to line 6, swallowing line 4"):
        parse(content, "csv", "data.csv")
    # a review with a line break inside its quotes is still one row
    assert parse('text,label\n"a long review,\nthat goes on",1\nbad,0\n', "csv", "data.csv").texts[0] == \
        "a long review,\nthat goes on"
