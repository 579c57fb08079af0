import pytest

from model import DataError, Dataset, Predictor, load_bundle
from model.inference.scoring import evaluate, evaluate_file


@pytest.fixture(scope="module")
def predictor(tiny_bundle_path) -> Predictor:
    return Predictor(load_bundle(tiny_bundle_path))


def test_raw_labels_are_mapped_through_the_aliases(predictor, make_dataset):
    data = make_dataset(60, 21)  # raw labels "0" / "1"
    report = evaluate(predictor, data)
    assert report["labels"] == ["negative", "positive"]
    assert report["n"] == 60
    assert report["accuracy"] >= 0.9
    assert sum(map(sum, report["confusion_matrix"])) == 60


def test_label_names_are_accepted_too(predictor):
    data = Dataset(["w1 good", "bad w2"], ["positive", "negative"], "x.tsv", [2, 3])
    assert evaluate(predictor, data)["accuracy"] == 1.0


def test_unknown_label_names_the_line(predictor, tmp_path):
    path = tmp_path / "eval.tsv"
    path.write_text("text\tlabel\nw1 good\t1\nw2 bad\tneutral\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"eval.tsv:3: label 'neutral' is not one the model knows"):
        evaluate_file(predictor, path)


def test_evaluate_file_with_other_columns(predictor, tmp_path):
    path = tmp_path / "eval.csv"
    path.write_text("review,stars\nw1 good,1\nw1 not good,0\n", encoding="utf-8")
    report = evaluate_file(predictor, path, text_column="review", label_column="stars")
    assert report["n"] == 2 and report["accuracy"] == 1.0
