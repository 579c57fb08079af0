"""POST /v1/models/{name}/compare: two versions on an uploaded dataset; and the confusion matrix in the model info."""

from __future__ import annotations

import pytest

from model import Predictor, save_bundle
from model.data import Dataset
from tests.support.api import add_version as record_version
from tests.support.data import LABEL_NAMES, negation_dataset, negation_examples
from tests.support.settings import AUTH, KEY

TEXTS, LABELS = negation_examples(60, seed=21)


@pytest.fixture(scope="module")
def weak_bundle_path(tiny_train, tmp_path_factory):
    """A version trained for one epoch: it labels many texts differently from the tiny bundle."""
    r = tiny_train(negation_dataset(300, seed=1), negation_dataset(100, seed=2), label_names=LABEL_NAMES, epochs=1)
    return save_bundle(tmp_path_factory.mktemp("bundles") / "weak", r.model, r.tokenizer, r.tokenizer_config,
                       training=r.training_metadata())


def add_version(client, bundle_path, version: str = "v1") -> None:
    record_version(client, bundle_path, version=version)


def upload(client, texts=TEXTS, labels=LABELS) -> str:
    examples = [{"text": t, "label": int(y) if y.isdigit() else y} for t, y in zip(texts, labels)]
    r = client.post("/v1/datasets", json={"examples": examples}, headers=AUTH)
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


def compare(client, versions=("bundled", "v1"), dataset_id=None, headers=AUTH):
    return client.post("/v1/models/sentiment-en/compare", json={"versions": list(versions), "dataset_id": dataset_id},
                       headers=headers)


def expected(bundle_path, texts=TEXTS, labels=LABELS) -> tuple[list, dict]:
    predictions = Predictor.load(bundle_path).predict(texts)
    gold = [LABEL_NAMES[y] for y in labels]
    names = ["negative", "positive"]
    confusion = [[sum(1 for g, p in zip(gold, predictions) if g == a and p.label == b) for b in names] for a in names]
    accuracy = sum(g == p.label for g, p in zip(gold, predictions)) / len(gold)
    return predictions, {"examples": len(texts), "accuracy": pytest.approx(accuracy), "labels": names,
                         "confusion_matrix": confusion}


def test_two_versions_side_by_side(client, tiny_bundle_path, weak_bundle_path):
    add_version(client, weak_bundle_path)
    dataset_id = upload(client)
    r = compare(client, dataset_id=dataset_id)
    assert r.status_code == 200, r.text
    body = r.json()
    strong, strong_scores = expected(tiny_bundle_path)
    weak, weak_scores = expected(weak_bundle_path)
    assert body["dataset_id"] == dataset_id and body["examples"] == len(TEXTS)
    assert set(body["versions"]) == {"bundled", "v1"}
    assert {k: body["versions"]["bundled"][k] for k in strong_scores} == strong_scores
    assert {k: body["versions"]["v1"][k] for k in weak_scores} == weak_scores
    assert 0 <= body["versions"]["v1"]["macro_f1"] <= 1
    differ = [i for i, (a, b) in enumerate(zip(strong, weak)) if a.label != b.label]
    assert differ and body["disagreements_total"] == len(differ)
    assert [d["index"] for d in body["disagreements"]] == differ
    for d in body["disagreements"]:
        i = d["index"]
        assert d["text"] == TEXTS[i] and d["label"] == LABEL_NAMES[LABELS[i]]
        assert d["predictions"]["bundled"]["label"] == strong[i].label
        assert d["predictions"]["v1"]["label"] == weak[i].label
        assert d["predictions"]["v1"]["score"] == pytest.approx(weak[i].score, abs=1e-5)
    # the version borrowed for the comparison is dropped again
    assert set(client.app.state.inference.model_process.loaded) == {"sentiment-en/bundled"}
    predicted = client.post("/v1/predict", json={"text": TEXTS[0]}).json()
    assert predicted["model_version"] == "bundled"  # serving went on with the served version
    assert predicted["predictions"][0]["label"] == strong[0].label


def test_at_most_the_first_disagreements_are_listed_and_all_counted(client, weak_bundle_path, monkeypatch):
    monkeypatch.setattr("app.serving.compare.MAX_LISTED_DISAGREEMENTS", 1)
    add_version(client, weak_bundle_path)
    body = compare(client, dataset_id=upload(client)).json()
    assert len(body["disagreements"]) == 1 and body["disagreements_total"] > 1


def test_a_dataset_larger_than_the_limit_is_a_422(make_client, weak_bundle_path):
    client = make_client(max_compare_examples=59)
    add_version(client, weak_bundle_path)
    r = compare(client, dataset_id=upload(client))
    assert r.status_code == 422 and r.json()["error"] == "too_many_examples"
    assert "has 60 examples; at most 59" in r.json()["message"]
    assert compare(client, dataset_id=upload(client, TEXTS[:59], LABELS[:59])).status_code == 200


def test_long_texts_count_once_per_window(make_client, weak_bundle_path):
    client = make_client(max_compare_examples=10)
    add_version(client, weak_bundle_path)
    r = compare(client, dataset_id=upload(client, ["w1 good w2 " * 30, "bad"], ["1", "0"]))  # 90 tokens: 2 windows
    assert r.status_code == 200, r.text
    r = compare(client, dataset_id=upload(client, ["w1 good w2 " * 30] * 6, ["1"] * 6))
    assert r.status_code == 422 and r.json()["error"] == "too_many_windows", r.text


def test_labels_the_versions_do_not_know_are_a_422_naming_the_line(client, weak_bundle_path):
    add_version(client, weak_bundle_path)
    r = compare(client, dataset_id=upload(client, ["w1 good", "w2 bad"], ["pos", "neg"]))
    assert r.status_code == 422 and r.json()["error"] == "invalid_dataset"
    assert "label 'pos' is not one that model version 'bundled' knows (negative, positive)" in r.json()["message"]


def test_versions_naming_the_same_labels_differently_are_matched_through_label_names(client, tiny_train, tmp_path,
                                                                                      tiny_bundle_path):
    # "bundled" says negative/positive for the data's 0/1 (label_names); this one was trained on 0/1 without names
    r = tiny_train(negation_dataset(100, seed=1), negation_dataset(40, seed=2), epochs=1)
    raw = save_bundle(tmp_path / "raw", r.model, r.tokenizer, r.tokenizer_config, training=r.training_metadata())
    add_version(client, raw)
    r = compare(client, dataset_id=upload(client))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["labels_matched_by"] == "label_names"
    assert body["label_mapping"] == {"bundled": {"negative": "0", "positive": "1"}, "v1": {"0": "0", "1": "1"}}
    assert body["versions"]["v1"]["labels"] == ["0", "1"]
    # a disagreement is a different raw label, not a different name: "negative" and "0" agree
    named = {"negative": "0", "positive": "1"}
    bundled, mine = (Predictor.load(path).predict(TEXTS) for path in (tiny_bundle_path, raw))
    assert body["disagreements_total"] == sum(named[b.label] != m.label for b, m in zip(bundled, mine)) > 0
    for d in body["disagreements"]:
        assert named[d["predictions"]["bundled"]["label"]] != d["predictions"]["v1"]["label"]


def test_versions_whose_labels_match_neither_by_name_nor_through_label_names_are_a_422(client, tiny_train, tmp_path):
    def lettered(data):  # raw labels "a"/"b": neither "0"/"1" nor negative/positive
        return Dataset(data.texts, ["ab"[int(y)] for y in data.labels], data.source, lines=data.lines)

    r = tiny_train(lettered(negation_dataset(100, seed=1)), lettered(negation_dataset(40, seed=2)), epochs=1)
    add_version(client, save_bundle(tmp_path / "lettered", r.model, r.tokenizer, r.tokenizer_config,
                                    training=r.training_metadata()))
    r = compare(client, dataset_id=upload(client))
    assert r.status_code == 422 and r.json()["error"] == "labels_differ", r.text
    assert "'bundled': negative (from '0'), positive (from '1'); 'v1': a, b" in r.json()["message"]


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"versions": ["bundled", "v1"], "dataset_id": "nope"}, 404, "not_found"),
    ({"versions": ["bundled", "v9"], "dataset_id": None}, 404, "not_found"),
    ({"versions": ["bundled", "bundled"], "dataset_id": None}, 422, "validation_error"),
    ({"versions": ["bundled"], "dataset_id": None}, 422, "validation_error"),
    ({"versions": ["bundled", "v1", "v2"], "dataset_id": None}, 422, "validation_error"),
    ({"versions": "bundled,v1", "dataset_id": None}, 422, "validation_error"),
    ({"versions": ["bundled", "v1"]}, 422, "validation_error"),
])
def test_bad_requests_are_4xx_json(client, weak_bundle_path, body, status, error):
    add_version(client, weak_bundle_path)
    if body.get("dataset_id", "") is None:
        body = {**body, "dataset_id": upload(client)}
    r = client.post("/v1/models/sentiment-en/compare", json=body, headers=AUTH)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error


def test_comparing_needs_a_key_with_the_train_scope(make_client):
    client = make_client(api_keys=f"{KEY}:train,reader=other:predict")
    assert compare(client, dataset_id="x", headers={}).status_code == 401
    r = compare(client, dataset_id="x", headers={"Authorization": "Bearer other"})
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    assert compare(client, dataset_id="x").status_code == 404  # past the key check


def test_the_model_info_has_the_dev_confusion_matrix(client, tiny_result):
    metrics = client.get("/v1/models/sentiment-en/versions/bundled").json()["metrics"]
    assert metrics["labels"] == ["negative", "positive"]
    assert metrics["confusion_matrix"] == tiny_result.metrics["confusion_matrix"]
    listed = client.get("/v1/models/sentiment-en/versions").json()["versions"][0]["metrics"]
    assert listed["confusion_matrix"] == metrics["confusion_matrix"]


def test_a_version_of_another_model_with_the_same_labels_is_compared_by_its_qualified_name(
        client, tiny_bundle_path, weak_bundle_path):
    record_version(client, weak_bundle_path, model="reviews")
    dataset_id = upload(client)
    r = compare(client, versions=("bundled", "reviews/v1"), dataset_id=dataset_id)
    assert r.status_code == 200, r.text
    weak, weak_scores = expected(weak_bundle_path)
    assert {k: r.json()["versions"]["reviews/v1"][k] for k in weak_scores} == weak_scores
    r = compare(client, versions=("bundled", "nope/v1"), dataset_id=dataset_id)
    assert r.status_code == 404 and "'nope'" in r.json()["message"]
