"""The prediction's shape: top-k, abstention (single-label) and multi-label thresholds."""

import pytest

from model.inference.prediction import LabelScore, Prediction, to_predictions

LABELS = ["a", "b", "c"]


def test_without_options_a_prediction_is_as_before():
    (p,) = to_predictions(LABELS, [[0.2, 0.5, 0.3]], [3])
    assert p.to_dict() == {"label": "b", "score": 0.5, "probabilities": {"a": 0.2, "b": 0.5, "c": 0.3}, "windows": 3}


def test_top_k_is_best_first_with_ties_in_label_order():
    (p,) = to_predictions(LABELS, [[0.3, 0.4, 0.3]], top_k=2)
    assert p.top == [LabelScore("b", 0.4), LabelScore("a", 0.3)]
    (p,) = to_predictions(LABELS, [[0.25, 0.25, 0.5]], top_k=3)
    assert [t.label for t in p.top] == ["c", "a", "b"]
    assert p.to_dict()["top"][0] == {"label": "c", "score": 0.5}


def test_top_k_larger_than_the_labels_gives_every_label():
    (p,) = to_predictions(LABELS, [[0.2, 0.5, 0.3]], top_k=10)
    assert [t.label for t in p.top] == ["b", "c", "a"]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_top_k_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        to_predictions(LABELS, [[0.2, 0.5, 0.3]], top_k=bad)


def test_min_score_abstains_below_and_answers_at_or_above():
    below, at, above = to_predictions(LABELS, [[0.3, 0.39, 0.31], [0.2, 0.4, 0.4], [0.1, 0.8, 0.1]], min_score=0.4)
    assert below.label is None and below.abstained is True and below.score == 0.39
    assert below.probabilities == {"a": 0.3, "b": 0.39, "c": 0.31}
    assert "label" not in below.to_dict() and below.to_dict()["abstained"] is True
    assert at.label == "b" and at.abstained is False  # ties in label order: "b" before "c"
    assert above.label == "b" and above.abstained is False


def test_field_order_is_the_documented_one():
    (p,) = to_predictions(LABELS, [[0.2, 0.5, 0.3]], top_k=1, min_score=0.1)
    assert list(p.to_dict()) == ["label", "score", "abstained", "top", "probabilities", "windows"]
    (m,) = to_predictions(LABELS, [[0.9, 0.1, 0.7]], task="multi_label", top_k=1)
    assert list(m.to_dict()) == ["labels", "top", "probabilities", "windows"]


def test_multi_label_takes_every_label_at_or_above_its_threshold_most_probable_first():
    (p,) = to_predictions(LABELS, [[0.6, 0.2, 0.9]], task="multi_label")
    assert p.labels == ["c", "a"] and p.label is None and p.score is None
    (p,) = to_predictions(LABELS, [[0.6, 0.2, 0.9]], task="multi_label", thresholds=[0.7, 0.2, 0.95])
    assert p.labels == ["b"]  # 0.2 >= 0.2: a threshold is reached by its own value


def test_multi_label_may_name_no_label():
    (p,) = to_predictions(LABELS, [[0.1, 0.2, 0.3]], task="multi_label", top_k=1)
    assert p.labels == [] and p.to_dict()["labels"] == []
    assert p.top == [LabelScore("c", 0.3)]


def test_options_that_do_not_fit_the_task_are_errors():
    with pytest.raises(ValueError, match="min_score is for single-label"):
        to_predictions(LABELS, [[0.1, 0.2, 0.3]], task="multi_label", min_score=0.5)
    with pytest.raises(ValueError, match="thresholds are for multi-label"):
        to_predictions(LABELS, [[0.1, 0.2, 0.7]], thresholds=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="one number per label"):
        to_predictions(LABELS, [[0.1, 0.2, 0.7]], task="multi_label", thresholds=[0.5])
    with pytest.raises(ValueError, match="task must be one of single_label, multi_label"):
        to_predictions(LABELS, [[0.1, 0.2, 0.7]], task="multilabel")


def test_a_prediction_is_still_built_from_label_score_probabilities():
    p = Prediction("a", 0.9, {"a": 0.9, "b": 0.1})
    assert p.probabilities == {"a": 0.9, "b": 0.1} and p.labels is None and p.top is None


def test_multi_label_labels_with_equal_probabilities_keep_label_order():
    (p,) = to_predictions(LABELS, [[0.7, 0.9, 0.7]], task="multi_label")
    assert p.labels == ["b", "a", "c"]
