"""Multi-label models end to end: training, the bundle, both backends, evaluation, explanation, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from model import Predictor, load_bundle, save_bundle
from model.bundle import CONFIG_FILE, read_config
from model.data import DataError
from model.inference.explain import explain
from model.inference.scoring import best_thresholds, evaluate, multi_label_report
from model.training.card import render_card
from tests.model.multilabel_data import multi_label_dataset
from tests.model.test_cli import TINY as TINY_FLAGS
from tests.model.test_cli import run_cli

BUNDLED = Path(__file__).resolve().parents[2] / "model" / "bundled" / "sentiment-en"


@pytest.fixture(scope="module")
def result(tiny_train):
    return tiny_train(multi_label_dataset(300, 1), multi_label_dataset(120, 2), epochs=6)


@pytest.fixture(scope="module")
def bundle_path(result, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("multi") / "bundle"
    save_bundle(
        path,
        result.model,
        result.tokenizer,
        result.tokenizer_config,
        result.training_metadata(),
        card=render_card(result, "python -m model train ..."),
    )
    return path


def test_training_learns_the_keywords(result):
    assert result.model_config.task == "multi_label"
    assert result.metrics["micro_f1"] >= 0.95, result.history
    assert result.metrics["subset_accuracy"] >= 0.9
    assert set(result.metrics["per_label"]) == {"food", "music", "sport"}
    assert result.history[-1]["dev_micro_f1"] > result.history[0]["dev_micro_f1"]
    assert "dev_accuracy" not in result.history[0]
    assert "skipped" in result.calibration and result.model_config.temperature == 1.0


def test_the_bundle_holds_the_task_and_each_labels_threshold(result, bundle_path):
    model = read_config(bundle_path)["model"]
    assert model["task"] == "multi_label"
    assert model["thresholds"] == result.model_config.thresholds
    assert len(model["thresholds"]) == 3 and all(0.05 <= t <= 0.95 for t in model["thresholds"])
    assert [result.metrics["per_label"][label]["threshold"] for label in model["labels"]] == model["thresholds"]
    card = (bundle_path / "README.md").read_text()
    assert "micro-F1" in card and "no temperature calibration" in card and "| food |" in card


def test_both_backends_give_the_same_sigmoid_probabilities(bundle_path):
    texts = ["the pizza and the guitar", "we had a long day", "goal " + "the day was long " * 40, "drums"]
    torch_probs = Predictor.load(bundle_path, backend="torch").predict_proba(texts)
    numpy_probs = Predictor.load(bundle_path, backend="numpy").predict_proba(texts)
    assert np.allclose(torch_probs, numpy_probs, atol=1e-5, rtol=0), np.abs(torch_probs - numpy_probs).max()
    assert torch_probs[0, 0] > 0.5 and torch_probs[0, 1] > 0.5  # two labels at once: not a softmax
    assert torch_probs[0].sum() > 1.2


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_predict_names_every_label_that_passes_and_none_when_none_does(bundle_path, backend):
    predictor = Predictor.load(bundle_path, backend=backend)
    both, none, long_text = predictor.predict(
        ["the pizza and the guitar", "we had a long day", "the day was long race " * 30], top_k=2
    )
    assert sorted(both.labels) == ["food", "music"] and both.label is None and both.score is None
    assert [t.label for t in both.top] == both.labels  # the two best are the two predicted, in order
    assert none.labels == [] and all(p < 0.5 for p in none.probabilities.values())
    assert long_text.windows > 1 and long_text.labels == ["sport"]
    assert "label" not in both.to_dict() and "score" not in both.to_dict()
    with pytest.raises(ValueError, match="min_score is for single-label"):
        predictor.predict(["pizza"], min_score=0.5)


def test_evaluate_scores_a_multi_label_dataset_at_the_bundles_thresholds(bundle_path):
    predictor = Predictor.load(bundle_path, backend="numpy")
    report = evaluate(predictor, multi_label_dataset(60, 3))
    assert report["task"] == "multi_label" and report["n"] == 60
    assert report["micro_f1"] >= 0.9 and report["loss"] < 0.5
    assert [report["per_label"][label]["threshold"] for label in predictor.labels] == predictor.thresholds
    assert report["per_label"]["music"]["support"] == 30  # music is in 3 of the 6 label sets


def test_explain_weighs_words_for_each_predicted_label(bundle_path):
    explanation = explain(Predictor.load(bundle_path), "the pizza and the guitar")
    assert sorted(explanation.labels) == ["food", "music"]
    assert set(explanation.words_by_label) == {"food", "music"}
    top = {label: max(words, key=lambda w: w.weight).text for label, words in explanation.words_by_label.items()}
    assert top == {"food": "pizza", "music": "guitar"}
    assert (
        explanation.label == explanation.labels[0]
        and explanation.words == explanation.words_by_label[explanation.label]
    )
    nothing = explain(Predictor.load(bundle_path), "we had a long day")
    assert nothing.labels == [] and list(nothing.words_by_label) == [nothing.label]  # the top label, explained


def test_scores_and_thresholds_on_known_values():
    probs = np.array([[0.9, 0.2], [0.6, 0.7], [0.1, 0.3]])
    gold = np.array([[1, 0], [0, 1], [0, 0]])
    report = multi_label_report(probs, gold, ["a", "b"], [0.5, 0.5])
    assert report["per_label"]["a"] == {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1, "threshold": 0.5}
    assert report["micro_f1"] == pytest.approx(0.8)  # tp 2, fp 1, fn 0
    assert report["subset_accuracy"] == pytest.approx(2 / 3)
    # a's best threshold separates 0.9 from 0.6: the one nearest 0.5 of those that do; b has no F1
    # better than 1 at any threshold up to 0.7; a label without positives keeps 0.5
    assert best_thresholds(probs, gold) == [0.65, 0.5]
    assert best_thresholds(probs, np.array([[1, 0], [0, 0], [0, 0]])) == [0.65, 0.5]


def test_a_bundle_without_a_task_loads_as_single_label(tiny_bundle_path, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(tiny_bundle_path, old)
    config = json.loads((old / CONFIG_FILE).read_text())
    del config["model"]["task"]
    (old / CONFIG_FILE).write_text(json.dumps(config))
    assert load_bundle(old).config.task == "single_label"
    for backend in ("torch", "numpy"):
        predictor = Predictor.load(old, backend=backend)
        assert predictor.task == "single_label" and predictor.thresholds is None
        (prediction,) = predictor.predict(["w1 good w2"])
        assert prediction.label == "positive" and sum(prediction.probabilities.values()) == pytest.approx(1, abs=1e-5)
    assert "task" not in read_config(BUNDLED)["model"]
    assert Predictor.load(BUNDLED, backend="numpy").task == "single_label"


def test_min_score_abstains_on_a_single_label_model(tiny_bundle_path):
    predictor = Predictor.load(tiny_bundle_path, backend="numpy")
    candidates = ["w1 w2", "good bad", "not", "w3 not w4 bad good"]
    text = min(candidates, key=lambda t: predictor.predict([t])[0].score)  # the least sure
    (sure,) = predictor.predict([text])
    margin = (1.0 - sure.score) / 2
    assert margin > 1e-4, "no doubtful text to abstain on"
    (above,) = predictor.predict([text], min_score=sure.score - margin)
    (below,) = predictor.predict([text], min_score=sure.score + margin)
    assert above.label == sure.label and above.abstained is False
    assert below.label is None and below.abstained is True and below.score == sure.score


def test_cli_trains_predicts_and_evaluates_multi_label_files(tmp_path):
    train, dev = multi_label_dataset(240, 1), multi_label_dataset(60, 2)
    (tmp_path / "train.csv").write_text(
        "text,labels\n" + "".join(f"{t},{'|'.join(y)}\n" for t, y in zip(train.texts, train.labels))
    )
    (tmp_path / "dev.jsonl").write_text(
        "".join(json.dumps({"text": t, "labels": list(y)}) + "\n" for t, y in zip(dev.texts, dev.labels))
    )
    trained = run_cli("train", "--train", "train.csv", "--dev", "dev.jsonl", "--out", "m", *TINY_FLAGS, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    summary = json.loads(trained.stdout)
    assert summary["micro_f1"] >= 0.9 and set(summary["thresholds"]) == {"food", "music", "sport"}
    predicted = run_cli("predict", "--model", "m", "--top-k", "1", "the soup and the song", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    line = json.loads(predicted.stdout)
    assert sorted(line["labels"]) == ["food", "music"] and len(line["top"]) == 1 and "label" not in line
    evaluated = run_cli("evaluate", "--model", "m", "--data", "dev.jsonl", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["micro_f1"] >= 0.9


def test_the_tfidf_baseline_fits_one_regression_per_label():
    from model.training.baseline import BaselineConfig, fit_baseline

    result = fit_baseline(
        multi_label_dataset(180, 1), multi_label_dataset(60, 2), config=BaselineConfig(c_grid=(16.0,))
    )
    assert result.metrics["task"] == "multi_label" and result.metrics["micro_f1"] >= 0.9
    assert result.to_dict()["grid"] == [{"c": 16.0, "micro_f1": result.grid[16.0]}]
    assert set(result.metrics["per_label"]) == {"food", "music", "sport"}
    assert result.nb is None  # the scaled twin is single-label only (no baseline bundle is multi-label)


def test_comparing_versions_refuses_multi_label_data():
    from model.inference.scoring import gold_indices

    with pytest.raises(DataError, match="comparing versions is for single-label data"):
        gold_indices(multi_label_dataset(6, 1), ["food", "music", "sport"], {}, "1")


def test_distillation_refuses_multi_label_data(tmp_path):
    from model.distill import pipeline

    data = multi_label_dataset(12, 1)
    with pytest.raises(DataError, match="distillation is for single-label data"):
        pipeline.run(
            data,
            data,
            tmp_path / "out",
            tmp_path / "work",
            teacher_source=tmp_path,
            teacher_config=None,
            augment_config=None,
            model_config=None,
            tokenizer_config=None,
            train_config=None,
        )


def test_model_config_checks_task_and_thresholds():
    from model import ModelConfig

    base = {"labels": ["a", "b"], "vocab_size": 10}
    assert ModelConfig.from_dict(base).task == "single_label"
    assert "thresholds" not in ModelConfig.from_dict(base).to_dict()
    assert ModelConfig.from_dict({**base, "task": "multi_label", "thresholds": [0.3, 0.6]}).thresholds == [0.3, 0.6]
    with pytest.raises(ValueError, match="task must be one of single_label, multi_label; got 'tags'"):
        ModelConfig.from_dict({**base, "task": "tags"})
    with pytest.raises(ValueError, match="one number in"):
        ModelConfig.from_dict({**base, "task": "multi_label", "thresholds": [0.5]})
    with pytest.raises(ValueError, match="thresholds are for multi_label models"):
        ModelConfig.from_dict({**base, "thresholds": [0.5, 0.5]})
