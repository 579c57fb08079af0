"""model/inference/scoring.py compare: scores without torch, gold labels through label names, disagreements."""

from __future__ import annotations

import random

import pytest
import torch

from model.data import DataError, Dataset
from model.inference.prediction import Prediction
from model.inference.scoring import classification_report, compare, gold_indices, logits_report

LABELS = ["negative", "neutral", "positive"]


def test_scores_agree_with_the_training_report():
    rng = random.Random(3)
    gold = [rng.randrange(3) for _ in range(200)]
    predicted = [g if rng.random() < 0.7 else rng.randrange(3) for g in gold]
    got = classification_report(gold, predicted, LABELS)
    report = logits_report(torch.nn.functional.one_hot(torch.tensor(predicted), 3).float(),
                                   torch.tensor(gold), LABELS)
    assert got["confusion_matrix"] == report["confusion_matrix"]
    assert got["accuracy"] == pytest.approx(report["accuracy"]) and got["macro_f1"] == pytest.approx(report["macro_f1"])
    assert got["n"] == 200 and got["labels"] == LABELS


def test_gold_labels_go_through_the_versions_label_names():
    data = Dataset(["a", "b", "c"], ["1", "0", "positive"], "held-out.csv", lines=[2, 3, 4])
    assert gold_indices(data, ["negative", "positive"], {"0": "negative", "1": "positive"}, "v1") == [1, 0, 1]
    with pytest.raises(DataError, match=r"held-out.csv:2: label '1' is not one that model version 'v2' knows"):
        gold_indices(data, ["negative", "positive"], {}, "v2")


def pred(label: str, score: float) -> Prediction:
    return Prediction(label, score, {})


def test_disagreements_are_listed_in_order_up_to_the_cap_and_all_counted():
    data = Dataset([f"text {i}" for i in range(5)], ["1", "0", "1", "0", "1"])
    labels = {"a": ["negative", "positive"], "b": ["negative", "positive"]}
    gold = {"a": [1, 0, 1, 0, 1], "b": [1, 0, 1, 0, 1]}
    a = [pred("positive", 0.9), pred("positive", 0.6), pred("positive", 0.8), pred("negative", 0.7), pred("negative", 0.5)]
    b = [pred("positive", 0.8), pred("negative", 0.9), pred("negative", 0.6), pred("negative", 0.9), pred("positive", 0.7)]
    result = compare(data, gold, {"a": a, "b": b}, labels, max_listed=2)
    assert result["examples"] == 5 and result["disagreements_total"] == 3
    assert result["disagreements"] == [
        {"index": 1, "text": "text 1", "label": "negative",
         "predictions": {"a": {"label": "positive", "score": 0.6}, "b": {"label": "negative", "score": 0.9}}},
        {"index": 2, "text": "text 2", "label": "positive",
         "predictions": {"a": {"label": "positive", "score": 0.8}, "b": {"label": "negative", "score": 0.6}}},
    ]
    assert result["versions"]["a"]["accuracy"] == 3 / 5 and result["versions"]["b"]["accuracy"] == 4 / 5
    assert result["versions"]["a"]["confusion_matrix"] == [[1, 1], [1, 2]]
    assert result["versions"]["b"]["confusion_matrix"] == [[2, 0], [1, 2]]
