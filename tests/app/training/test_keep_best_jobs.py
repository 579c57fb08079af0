"""A job with ``keep: best`` publishes the best of the RNN, the baseline and their blend, served by
the same endpoints; a second job on the same data reuses the first one's baseline. Real training
processes and the real model process (``make_client``), on the NumPy and the torch backend."""

from __future__ import annotations

import json

import pytest

from tests.support.api import TINY_CONFIG, upload, wait_job
from tests.support.data import csv_bytes, keyword_examples
from tests.support.settings import AUTH
from tests.support.waiting import wait_for


@pytest.fixture(params=["numpy", "torch"])
def client(make_client, request):
    """Either backend: the linear part is NumPy on both, beside the NumPy or the torch RNN."""
    return make_client(max_epochs=500, backend=request.param)


def submit(client, dataset_id: str, **body) -> dict:
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": dataset_id, **body})
    assert r.status_code == 202, r.text
    return r.json()


def test_keep_best_publishes_the_winner_which_serves_predict_and_explain(client):
    """A keyword decides the label and the RNN gets one step: the baseline (or a blend leaning on it)
    wins, is published (``keep: best``, the default) and answers; the same data again reuse the stored
    baseline."""
    ds = upload(client, csv_bytes(300, examples=keyword_examples))
    config = TINY_CONFIG | {"max_steps": 1}  # keep left out: best
    job = wait_job(client, submit(client, ds["id"], config=config, promote="always")["id"])
    assert job["state"] == "succeeded", job
    result = job["result"]
    scores = {name: c["accuracy"] for name, c in result["candidates"].items()}
    assert set(scores) == {"rnn", "baseline", "baseline_nb", "blend"} and result["keep"] == "best"
    assert result["winner"] != "rnn" and scores[result["winner"]] == max(scores.values()) > scores["rnn"]
    assert result["published"] == result["winner"] and result["metrics"]["candidate"] == result["winner"]
    assert result["metrics"]["accuracy"] == scores[result["winner"]] and not result["baseline"]["reused"]
    # the published linear model learnt from the whole upload: the split-off evaluation set too
    linear = result["winner"] if result["winner"] != "blend" else result["candidates"]["blend"]["linear"]
    assert result["refit"]["linear"] == linear and result["refit"]["examples"] == 300, result["refit"]
    version = job["model_version"]
    wait_for(lambda: client.post("/v1/predict", json={"text": "w1 great w2"}).json()["model_version"] == version,
             what=f"{version} to serve")
    r = client.post("/v1/predict", json={"texts": ["w3 superb w4", "w5 awful w6", "dull"]})
    assert r.status_code == 200, r.text
    assert [p["label"] for p in r.json()["predictions"]] == ["pos", "neg", "neg"]
    r = client.post("/v1/explain", json={"text": "w1 w2 lovely w3"})
    assert r.status_code == 200, r.text
    explained = r.json()
    assert explained["label"] == "pos" and explained["model_version"] == version
    weights = {t["text"]: t["weight"] for t in explained["tokens"]}
    assert max(weights, key=weights.get) == "lovely"  # the keyword carries the prediction
    # the same training and evaluation data: the stored baseline, not a second fit
    again = wait_job(client, submit(client, ds["id"], config=config | {"refit": False}, promote="never")["id"])
    assert again["state"] == "succeeded", again
    assert "refit" not in again["result"] and again["result"]["winner"] == result["winner"]
    assert again["result"]["baseline"]["reused"] is True and again["progress"]["baseline_reused"] is True
    assert again["result"]["baseline"]["metrics"] == result["baseline"]["metrics"]
    assert again["result"]["candidates"]["baseline"] == result["candidates"]["baseline"]
    # compare and batch jobs read the texts too: the two versions (the same winner) agree on every text
    examples = [{"text": t, "label": y} for t, y in [("w1 fun w2", "pos"), ("poor w3", "neg"), ("w4 great", "pos")]]
    r = client.post("/v1/datasets", headers=AUTH, json={"examples": examples})
    assert r.status_code in (200, 201), r.text
    r = client.post("/v1/models/sentiment-en/compare", headers=AUTH,
                    json={"versions": [version, again["model_version"]], "dataset_id": r.json()["id"]})
    assert r.status_code == 200, r.text
    assert {v["accuracy"] for v in r.json()["versions"].values()} == {1.0}
    texts = client.post("/v1/datasets", headers=AUTH, files={"file": ("t.csv", b"text\nw1 lovely\nw2 boring w3\n")})
    assert texts.status_code in (200, 201), texts.text
    batch = client.post("/v1/batch-jobs", headers=AUTH, json={"dataset_id": texts.json()["id"]})
    assert batch.status_code == 202, batch.text
    done = wait_for(lambda: (j := client.get(f"/v1/batch-jobs/{batch.json()['id']}").json())["state"]
                    in ("succeeded", "failed") and j, 60, what="the batch job")
    assert done["state"] == "succeeded" and done["version"] == version, done
    lines = client.get(f"/v1/batch-jobs/{batch.json()['id']}/result?format=jsonl").text.splitlines()
    assert [json.loads(x)["label"] for x in lines] == ["pos", "neg"]


def test_a_blended_version_serves_what_its_predictor_computes(client, tiny_result, tmp_path):
    """The tiny RNN blended with a baseline on its task, recorded as a model of its own: /v1/predict
    answers the predictor's probabilities, and /v1/explain weighs the words, on this backend."""
    from model.bundle import write_bundle
    from model.files import publishing
    from model.inference.predictor import Predictor
    from model.training.baseline import fit_baseline
    from tests.support.api import add_version
    from tests.support.data import LABEL_NAMES, negation_dataset

    baseline = fit_baseline(negation_dataset(300, seed=1), negation_dataset(100, seed=2), LABEL_NAMES)
    with publishing(tmp_path / "blended", folder=True) as folder:
        r = tiny_result
        write_bundle(folder, r.model, r.tokenizer, r.tokenizer_config, training={}, linear=baseline.linear,
                     rnn_weight=0.5)
    add_version(client, tmp_path / "blended", model="blended")
    texts = ["not good", "good", "bad , not at all", "a sentence of words never seen here"]
    r = client.post("/v1/predict", json={"texts": texts, "model": "blended"})
    assert r.status_code == 200, r.text
    expected = Predictor.load(tmp_path / "blended", backend="torch").predict(texts)
    for got, want in zip(r.json()["predictions"], expected, strict=True):
        assert got["label"] == want.label
        assert got["probabilities"]["positive"] == pytest.approx(want.probabilities["positive"], abs=1e-5)
    r = client.post("/v1/explain", json={"text": "the film was not good", "model": "blended"})
    assert r.status_code == 200, r.text
    weights = {t["text"]: t["weight"] for t in r.json()["tokens"]}
    assert set(weights) == {"the", "film", "was", "not", "good"} and any(w != 0 for w in weights.values())
