import numpy as np
import pytest
import torch

from model.inference.scoring import classification_report, expected_calibration_error, logits_report
from model.training.calibration import fit_temperature


def test_classification_report_counts():
    # truth:      a  a  a  b  b  c
    # prediction: a  a  b  b  c  c
    logits = torch.eye(3)[[0, 0, 1, 1, 2, 2]] * 5
    targets = torch.tensor([0, 0, 0, 1, 1, 2])
    report = logits_report(logits, targets, ["a", "b", "c"])
    assert report["n"] == 6
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert report["labels"] == ["a", "b", "c"]
    assert report["per_class"]["a"] == {
        "precision": 1.0,
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(0.8),
        "support": 3,
    }
    assert report["per_class"]["b"]["f1"] == pytest.approx(0.5)
    assert report["per_class"]["c"]["f1"] == pytest.approx(2 / 3)
    assert report["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_the_report_takes_plain_indices_or_numpy_arrays_without_torch():
    gold, predicted = [0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2]
    plain = classification_report(gold, predicted, ["a", "b", "c"])
    assert plain == classification_report(np.array(gold), np.array(predicted), ["a", "b", "c"])
    from_logits = logits_report(torch.eye(3)[predicted] * 5, torch.tensor(gold), ["a", "b", "c"])
    assert {k: from_logits[k] for k in plain} == plain and plain["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_class_never_predicted_has_zero_precision():
    report = logits_report(torch.tensor([[1.0, 0.0]] * 3), torch.tensor([0, 1, 1]), ["x", "y"])
    assert report["per_class"]["y"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}


def test_empty_report():
    report = logits_report(torch.empty(0, 2), torch.empty(0, dtype=torch.long), ["x", "y"])
    assert (report["n"], report["accuracy"], report["loss"], report["ece"]) == (0, 0.0, 0.0, 0.0)


def test_expected_calibration_error():
    # Always 90% sure; right half the time: ECE 0.4.
    logits = torch.log(torch.tensor([[0.9, 0.1]] * 4))
    assert expected_calibration_error(logits, torch.tensor([0, 0, 1, 1])) == pytest.approx(0.4, abs=1e-5)
    assert expected_calibration_error(logits, torch.tensor([0, 0, 0, 0])) == pytest.approx(0.1, abs=1e-5)


def test_fit_temperature_softens_overconfident_logits():
    gen = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 2, (400,), generator=gen)
    correct = torch.rand(400, generator=gen) < 0.7  # 70% right, but logits say 99.99%
    preds = torch.where(correct, targets, 1 - targets)
    logits = torch.nn.functional.one_hot(preds, 2).float() * 10
    temperature = fit_temperature(logits, targets)
    assert temperature > 5
    before = expected_calibration_error(logits, targets)
    after = expected_calibration_error(logits / temperature, targets)
    assert after < before / 5
