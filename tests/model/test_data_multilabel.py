"""Multi-label datasets: a ``labels`` list (JSONL) or a ``|``-separated ``labels`` column (CSV/TSV)."""

import pytest

from model.data import DataError, Dataset, check_training_data, parse_dataset, stratified_split


def parse(text: str, fmt: str) -> Dataset:
    return parse_dataset(text.encode(), fmt, f"x.{fmt}")


def test_jsonl_labels_are_lists_and_may_be_empty():
    data = parse(
        '{"text": "a b", "labels": ["x", "y"]}\n{"text": "c", "labels": []}\n{"text": "d", "labels": ["y"]}\n', "jsonl"
    )
    assert data.task == "multi_label"
    assert data.labels == [("x", "y"), (), ("y",)]
    assert data.label_counts() == {"x": 1, "y": 2}


def test_csv_labels_column_is_split_on_bars():
    data = parse('text,labels\n"hello, you",x|y\nbye,\nfoo, y \n', "csv")
    assert data.task == "multi_label"
    assert data.texts == ["hello, you", "bye", "foo"]
    assert data.labels == [("x", "y"), (), ("y",)]


def test_tsv_labels_column_is_split_on_bars():
    data = parse("text\tlabels\nhello\tx|y\n", "tsv")
    assert data.labels == [("x", "y")]


def test_a_single_label_file_is_read_as_before():
    data = parse("text,label\nhello,x\nbye,y\n", "csv")
    assert data.task == "single_label" and data.labels == ["x", "y"]
    assert data.subset([1]).task == "single_label"


@pytest.mark.parametrize(
    ("text", "fmt", "where", "message"),
    [
        (
            '{"text": "a", "labels": ["x"]}\n{"text": "b", "label": "x"}\n',
            "jsonl",
            "x.jsonl:2:",
            "has 'label' but the first row has 'labels'",
        ),
        (
            '{"text": "a", "label": "x"}\n\n{"text": "b", "labels": ["x"]}\n',
            "jsonl",
            "x.jsonl:3:",
            "has 'labels' but the first row has 'label'",
        ),
        ("text,label,labels\nhello,x,y\n", "csv", "x.csv:1:", "both a 'label' and a 'labels' column"),
        ('{"text": "a", "labels": "x"}\n', "jsonl", "x.jsonl:1:", "'labels' must be a list of strings"),
        ('{"text": "a", "labels": ["x", 1]}\n', "jsonl", "x.jsonl:1:", "'labels' must be a list of strings"),
        ("text,labels\nok,x\nhello,x||y\n", "csv", "x.csv:3:", "empty label in 'x||y'"),
        ('{"text": "a", "labels": ["x", "x"]}\n', "jsonl", "x.jsonl:1:", "label 'x' given twice"),
        ('{"text": " ", "labels": ["x"]}\n', "jsonl", "x.jsonl:1:", "empty text"),
    ],
)
def test_errors_name_the_file_and_line(text, fmt, where, message):
    with pytest.raises(DataError) as caught:
        parse(text, fmt)
    assert str(caught.value).startswith(where)
    assert message in str(caught.value)


def test_training_needs_two_labels_and_dev_labels_seen_in_training():
    train = parse('{"text": "a", "labels": ["x"]}\n{"text": "b", "labels": []}\n', "jsonl")
    with pytest.raises(DataError, match="only 'x' in 2 examples"):
        check_training_data(train)
    train = parse('{"text": "a", "labels": ["x"]}\n{"text": "b", "labels": ["y", "x"]}\n', "jsonl")
    assert check_training_data(train) == ["x", "y"]
    dev = parse('{"text": "a", "labels": ["x"]}\n{"text": "b", "labels": ["z"]}\n', "jsonl")
    with pytest.raises(DataError, match=r"^x.jsonl:2: label 'z' never appears"):
        check_training_data(train, dev)
    with pytest.raises(DataError, match="has a 'label' column but the training data has 'labels'"):
        check_training_data(train, parse("text,label\na,x\n", "csv"))


def test_split_keeps_label_sets_and_pools_the_rare_ones():
    labels = [("x",)] * 10 + [("y",)] * 10 + [()] * 10 + [("x", f"r{i}") for i in range(10)]
    data = Dataset([f"t{i}" for i in range(len(labels))], labels, lines=list(range(2, len(labels) + 2)))
    assert data.task == "multi_label"
    train, dev = stratified_split(data, 0.2, seed=1)
    assert train.task == dev.task == "multi_label"
    assert len(train) + len(dev) == len(data) and not set(train.texts) & set(dev.texts)
    assert dev.labels.count(("x",)) == 2 and dev.labels.count(()) == 2
    assert sum(1 for names in dev.labels if len(names) == 2) == 2  # a fifth of the pooled rare sets
