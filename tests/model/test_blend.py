"""The RNN, the TF-IDF baseline and their blend as candidates (model/training/candidates.py), the
baseline kept and reused (model/training/baseline_store.py), and baseline or blended bundles served
by the predictor (model/inference/linear.py) with the features training computed."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest
import torch

from model.bundle import LINEAR_FILE, BundleError, load_bundle, read_config, write_bundle
from model.config import ModelConfig
from model.data import Dataset, stratified_split
from model.files import publishing
from model.inference.linear import LinearModel
from model.inference.predictor import Predictor, TorchNetwork
from model.training.baseline import BaselineConfig, fit_baseline, refit
from model.training.baseline_store import BaselineStore, baseline_key, fit_or_reuse
from model.training.candidates import BASELINE, BASELINE_NB, BLEND, RNN, RNN_WEIGHTS, Choice, choose
from tests.support.data import LABEL_NAMES, keyword_examples, negation_dataset

TEXTS = ["not good at all", "good", "really bad , not", "一个 没见过 的 句子", "", "!!! ???"]


@pytest.fixture(scope="module")
def negation_baseline():
    """The baseline fitted on the tiny bundle's task and labels (so the two blend)."""
    return fit_baseline(negation_dataset(300, seed=1), negation_dataset(100, seed=2), LABEL_NAMES)


def _bundle(tmp_path, result, linear=None, rnn_weight=1.0, name="b"):
    with publishing(tmp_path / name, folder=True) as folder:
        write_bundle(folder, result.model, result.tokenizer, result.tokenizer_config, training={},
                     linear=linear, rnn_weight=rnn_weight)
    return tmp_path / name


def _training_time_probs(baseline, texts):
    """What the fit computes: the torch CSR features times the weights, then a softmax."""
    lin = baseline.linear
    x = lin.vectorizer.transform(texts)
    logits = torch.sparse.mm(x, torch.from_numpy(lin.weight)) + torch.from_numpy(lin.bias)
    return torch.softmax(logits, dim=1).numpy()


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_a_baseline_bundle_serves_the_probabilities_training_computed(tmp_path, tiny_result, negation_baseline,
                                                                      backend):
    assert negation_baseline.labels == tiny_result.model.config.labels == ["negative", "positive"]
    path = _bundle(tmp_path, tiny_result, negation_baseline.linear, rnn_weight=0.0)
    config = read_config(path)
    assert not (path / "model.safetensors").exists() and LINEAR_FILE in config["files"]
    assert config["linear"]["rnn_weight"] == 0.0 and config["linear"]["char_ngrams"] == [1, 3]
    predictor = Predictor.load(path, backend=backend)
    served = predictor.predict_proba(TEXTS)
    np.testing.assert_allclose(served, _training_time_probs(negation_baseline, TEXTS), atol=1e-6)
    assert [p.windows for p in predictor.predict(TEXTS)] == [1] * len(TEXTS)
    with pytest.raises(ValueError, match="reads the texts"):  # token ids alone are not enough for it
        predictor.predict_proba_ids(predictor.encode(TEXTS))
    with pytest.raises(BundleError, match="baseline bundle"):  # no RNN to warm-start from
        load_bundle(path)


def test_a_blended_bundle_saves_loads_and_predicts_the_same(tmp_path, tiny_result, negation_baseline):
    model = tiny_result.model.eval()
    in_memory = Predictor(network=TorchNetwork(model), tokenizer=tiny_result.tokenizer, config=model.config,
                          linear=negation_baseline.linear, rnn_weight=0.3)
    expected = in_memory.predict_proba(TEXTS)
    rnn = Predictor(network=TorchNetwork(model), tokenizer=tiny_result.tokenizer, config=model.config)
    linear = _training_time_probs(negation_baseline, TEXTS)
    by_hand = np.exp(0.3 * np.log(rnn.predict_proba(TEXTS)) + 0.7 * np.log(linear))
    np.testing.assert_allclose(expected, by_hand / by_hand.sum(1, keepdims=True), atol=1e-5)
    path = _bundle(tmp_path, tiny_result, negation_baseline.linear, rnn_weight=0.3)
    for backend in ("numpy", "torch"):
        loaded = Predictor.load(path, backend=backend)
        np.testing.assert_allclose(loaded.predict_proba(TEXTS), expected, atol=1e-5)
    assert load_bundle(path).model is not None  # the RNN part still warm-starts
    damaged = path / LINEAR_FILE
    damaged.chmod(0o644)
    damaged.write_bytes(damaged.read_bytes()[:-8])
    with pytest.raises(BundleError, match="checksum"):
        Predictor.load(path, backend="numpy")


def _keyword_split(n=400, seed=1):
    texts, labels = keyword_examples(n, seed=seed)
    return stratified_split(Dataset(texts, labels, lines=list(range(2, n + 2))), 0.25, seed=13)


def test_the_baseline_is_reused_for_the_same_data_and_settings(tmp_path):
    train, dev = _keyword_split()
    store = BaselineStore(tmp_path / "baselines")
    events = []
    first = fit_or_reuse(train, dev, {"0": "neg", "1": "pos"}, store=store, progress=events.append)
    assert not first.reused and not any(e.get("reused") for e in events)
    events.clear()
    again = fit_or_reuse(train, dev, {"0": "neg", "1": "pos"}, store=store, progress=events.append)
    assert again.reused and events == [{"stage": "baseline", "step": 7, "steps": 7, "reused": True}]
    assert again.metrics == first.metrics and again.c == first.c and again.grid == first.grid
    assert again.labels == first.labels == ["neg", "pos"]
    np.testing.assert_array_equal(again.linear.weight, first.linear.weight)
    assert again.nb.reused and again.nb.metrics == first.nb.metrics and again.nb.c == first.nb.c
    np.testing.assert_array_equal(again.nb.linear.weight, first.nb.linear.weight)
    np.testing.assert_array_equal(again.linear.logits(dev.texts), first.linear.logits(dev.texts))
    assert len(list((tmp_path / "baselines").iterdir())) == 1  # renamed into place, nothing left aside
    # other settings, other evaluation data or other label names: another key, fitted again
    other = BaselineConfig(c_grid=(2.0,))
    assert not fit_or_reuse(train, dev, {"0": "neg", "1": "pos"}, other, store=store).reused
    assert not fit_or_reuse(train, dev.subset(list(range(50))), {"0": "neg", "1": "pos"}, store=store).reused
    assert baseline_key(train, dev, {}, BaselineConfig()) != baseline_key(train, dev, {"0": "n"}, BaselineConfig())
    # a damaged entry is fitted again, not an error
    for entry in (tmp_path / "baselines").iterdir():
        (entry / "result.json").write_text("{")
    assert not fit_or_reuse(train, dev, {"0": "neg", "1": "pos"}, store=store).reused


def test_the_store_keeps_the_most_recently_used_baselines_only(tmp_path):
    train, dev = _keyword_split()
    store = BaselineStore(tmp_path / "baselines", keep=2)
    config = BaselineConfig(c_grid=(1.0,))
    keys = []
    for n in (60, 70, 80):  # three evaluation sets: three keys
        fit_or_reuse(train, dev.subset(list(range(n))), {"0": "neg", "1": "pos"}, config, store=store)
        keys.append(baseline_key(train, dev.subset(list(range(n))), {"0": "neg", "1": "pos"}, config))
        os.utime(store.folder / keys[-1], (1000.0 + n, 1000.0 + n))  # stored in this order, seconds apart
    assert sorted(p.name for p in store.folder.iterdir()) == sorted(keys[1:])  # the oldest went
    assert store.get(keys[1]) is not None  # read: used now, the newest
    fit_or_reuse(train, dev.subset(list(range(90))), {"0": "neg", "1": "pos"}, config, store=store)
    names = {p.name for p in store.folder.iterdir()}
    assert keys[1] in names and keys[2] not in names and len(names) == 2


class _FixedRNN:
    """A stand-in for the RNN's predictor: given probabilities for the evaluation texts."""

    def __init__(self, probs: dict[str, list[float]], labels=("0", "1")):
        self.probs = probs
        self.config = ModelConfig(labels=list(labels), vocab_size=10)

    def predict_proba(self, texts):
        return np.array([self.probs[t] for t in texts], dtype=np.float32)


def test_winner_is_the_best_candidate_and_keep_best_publishes_it():
    train, dev = _keyword_split()
    baseline = fit_baseline(train, dev)
    assert baseline.metrics["accuracy"] == 1.0  # a keyword decides: the baseline is perfect here
    rng = random.Random(0)
    coin = _FixedRNN({t: [p, 1 - p] for t in dev.texts for p in [rng.random()]})  # an RNN at chance
    choice = choose(coin, baseline, dev)
    scores = {name: c["accuracy"] for name, c in choice.candidates.items()}
    assert set(scores) == {RNN, BASELINE, BASELINE_NB, BLEND} and scores[RNN] < 0.7
    assert choice.winner in (BASELINE, BLEND) and scores[choice.winner] == max(scores.values())
    assert choice.winner == BASELINE or scores[BLEND] > scores[BASELINE]  # a tie goes to the simpler one
    assert choice.published("rnn") == RNN and choice.published("best") == choice.winner
    linear, rnn_weight = choice.bundle_parts(choice.published("best"))
    assert linear is not None and rnn_weight == (0.0 if choice.winner == BASELINE else choice.rnn_weight)
    # each linear candidate's bundle is its own model alone
    assert choice.bundle_parts(BASELINE_NB) == (choice.linears[BASELINE_NB], 0.0)
    assert choice.bundle_parts(BLEND) == (choice.linears[choice.blended_with], choice.rnn_weight)
    assert choice.to_dict("best")["published"] == choice.winner
    # a perfect, confident RNN ties the baseline: the RNN stays the winner
    perfect = _FixedRNN({t: [0.999, 0.001] if y == "0" else [0.001, 0.999] for t, y in zip(dev.texts, dev.labels)})
    assert choose(perfect, baseline, dev).winner == RNN


def test_the_blend_weight_is_the_best_on_the_evaluation_set():
    """Where the RNN is right on some texts and the baseline on others, the weight that gets both
    right is chosen: the blend beats both, and its grid says why."""
    train, dev = _keyword_split()
    baseline = fit_baseline(train, dev)
    # an RNN that is right and sure on the first half, wrong but unsure on the rest
    probs = {}
    for i, (t, y) in enumerate(zip(dev.texts, dev.labels)):
        right = 0.999 if i < len(dev) // 2 else 0.4
        probs[t] = [right, 1 - right] if y == "0" else [1 - right, right]
    choice = choose(_FixedRNN(probs), baseline, dev)
    blend = choice.candidates[BLEND]
    grid = {g["rnn_weight"]: g["accuracy"] for g in blend["grid"]}
    assert list(grid) == list(RNN_WEIGHTS) and blend["rnn_weight"] == choice.rnn_weight
    assert blend["accuracy"] == max(grid.values()) == grid[choice.rnn_weight]
    assert blend["accuracy"] >= choice.candidates[RNN]["accuracy"]
    assert "evaluation set" in blend["chosen_on"]


def test_the_blend_takes_the_linear_partner_that_blends_best():
    """The scaled baseline and the plain one each blend with the RNN; the blend kept is the better of
    the two on the evaluation set, and says which it is (what a bundle of it serves)."""
    train, dev = _keyword_split()
    baseline = fit_baseline(train, dev)
    rng = random.Random(1)
    choice = choose(_FixedRNN({t: [p, 1 - p] for t in dev.texts for p in [rng.random()]}), baseline, dev)
    assert set(choice.linears) == {BASELINE, BASELINE_NB}
    blend = choice.candidates[BLEND]
    assert blend["linear"] == choice.blended_with in (BASELINE, BASELINE_NB)
    without_nb = fit_baseline(train, dev, config=BaselineConfig(nb_weights=False))
    plain = choose(_FixedRNN({t: [p, 1 - p] for t in dev.texts for p in [random.Random(1).random()]}), without_nb, dev)
    assert BASELINE_NB not in plain.candidates and plain.blended_with == BASELINE
    assert blend["accuracy"] >= plain.candidates[BLEND]["accuracy"]


@pytest.mark.parametrize("nb", [False, True])
def test_a_refit_is_the_chosen_model_fitted_on_train_and_dev_together(nb):
    """``refit`` is ``fit_baseline`` at the chosen C on the two sets joined (features, log-count ratios
    and weights all from both), reached along the same warm-started grid; not the train-only model."""
    train, dev = _keyword_split()
    grid = BaselineConfig(c_grid=(1.0, 4.0))
    joined = Dataset(train.texts + dev.texts, train.labels + dev.labels)
    on_both = fit_baseline(joined, dev, config=grid)  # dev is perfect for C=1 and 4: a tie keeps C=1
    on_both = on_both.nb if nb else on_both
    assert on_both.c == 1.0
    model = refit(train, dev, 1.0, nb, config=grid)
    np.testing.assert_allclose(model.weight, on_both.linear.weight, atol=1e-6)
    np.testing.assert_allclose(model.bias, on_both.linear.bias, atol=1e-6)
    train_only = fit_baseline(train, dev, config=grid)
    train_only = (train_only.nb if nb else train_only).linear
    assert not np.allclose(model.logits(dev.texts), train_only.logits(dev.texts), atol=1e-3)
    path = refit(train, dev, 4.0, nb, config=grid)  # C=1, then 4 from there: what fit_baseline's grid did
    assert not np.allclose(path.weight, model.weight)


def test_choice_refit_replaces_the_published_linear_part_and_says_so():
    """Publishing a blend refits its partner (columns in the RNN's label order), a baseline itself;
    the RNN has nothing to refit; the scores stay those measured before."""
    train, dev = _keyword_split()
    baseline = fit_baseline(train, dev)
    rng = random.Random(1)
    # an RNN whose labels run the other way: the linear models' columns follow it
    rnn = _FixedRNN({t: [p, 1 - p] for t in dev.texts for p in [rng.random()]}, labels=("1", "0"))
    choice = choose(rnn, baseline, dev)
    before = {name: linear for name, linear in choice.linears.items()}
    scores = json.dumps(choice.candidates)
    choice.refit(RNN, baseline, train, dev)
    assert choice.refitted is None and "refit" not in choice.to_dict("rnn")
    choice.refit(BLEND, baseline, train, dev)
    name = choice.blended_with
    assert choice.refitted["linear"] == name and choice.refitted["examples"] == len(train) + len(dev)
    assert choice.to_dict("best")["refit"] == choice.refitted and json.dumps(choice.candidates) == scores
    expected = refit(train, dev, (baseline.nb if name == BASELINE_NB else baseline).c, name == BASELINE_NB)
    np.testing.assert_allclose(choice.linears[name].weight, expected.weight[:, ::-1], atol=1e-6)
    other = BASELINE if name == BASELINE_NB else BASELINE_NB
    assert choice.linears[other] is before[other]  # only the published one is fitted again
    assert choice.bundle_parts(BLEND)[0] is choice.linears[name]


def test_choice_refuses_an_unknown_keep():
    with pytest.raises(ValueError, match="keep must be"):
        Choice({}, RNN).published("all")


def test_linear_model_rejects_mismatched_shapes(negation_baseline):
    lin = negation_baseline.linear
    with pytest.raises(ValueError, match="weight is"):
        LinearModel(lin.vectorizer, lin.weight[:-1], lin.bias)
    assert json.loads(json.dumps(lin.settings())) == {"word_ngrams": [1, 2], "char_ngrams": [1, 3],
                                                      "buckets": 1 << 20}


def test_the_served_linear_part_needs_no_torch(tmp_path, tiny_result, negation_baseline):
    """The model process on the NumPy backend has no torch: a baseline bundle must load and predict there."""
    import subprocess
    import sys

    path = _bundle(tmp_path, tiny_result, negation_baseline.linear, rnn_weight=0.0)
    code = ("import sys; from model.inference.predictor import Predictor; "
            f"p = Predictor.load({str(path)!r}, backend='numpy', tokenizer=False); "
            "print(p.predict_proba_ids([[1]], texts=['good']).round(6).tolist()); "
            "assert 'torch' not in sys.modules and 'sklearn' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    expected = _training_time_probs(negation_baseline, ["good"]).round(6).tolist()
    np.testing.assert_allclose(json.loads(out.stdout), expected, atol=2e-6)


def test_multi_label_jobs_keep_the_rnn():
    """A multi-label choice keeps no linear part (its bundles would be single-label): keep=best gives the RNN."""
    choice = Choice({RNN: {"micro_f1": 0.5}, BASELINE: {"micro_f1": 0.9}}, BASELINE)
    assert choice.published("best") == RNN


def test_the_cli_saves_the_best_with_keep_best(tmp_path):
    """``python -m model train --keep best`` on data where a keyword decides the label and the RNN
    gets three steps: the winner is saved, and it predicts through the CLI."""
    from tests.model.test_cli import TINY, run_cli, write_tsv

    write_tsv(tmp_path / "train.tsv", *keyword_examples(300, seed=1))
    write_tsv(tmp_path / "dev.tsv", *keyword_examples(100, seed=2))
    flags = [f for f in TINY]
    flags[flags.index("--epochs") + 1] = "1"
    flags += ["--max-steps", "3"]  # an RNN that has barely started
    proc = run_cli("train", "--train", "train.tsv", "--dev", "dev.tsv", "--out", "best", "--keep", "best", *flags,
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    scores = summary["candidates"]
    assert set(scores) == {RNN, BASELINE, BASELINE_NB, BLEND} and summary["published"] == summary["winner"]
    assert scores[summary["winner"]] == max(scores.values()) and summary["winner"] != RNN, summary
    config = read_config(tmp_path / "best")
    assert config["training"]["published"] == summary["winner"] and "linear" in config
    assert config["training"]["train_config"]["keep"] == "best" and config["training"]["train_config"]["refit"]
    linear = summary["winner"] if summary["winner"] != BLEND else config["training"]["candidates"][BLEND]["linear"]
    assert summary["refit"]["linear"] == linear and summary["refit"]["examples"] == 400, summary
    assert config["training"]["refit"] == summary["refit"]
    card = (tmp_path / "best" / "README.md").read_text()
    assert "## Candidates (scored on dev)" in card and f"this bundle is the {summary['winner']}" in card
    assert f"fitted again on train and dev together ({summary['refit']['examples']} examples)" in card
    predicted = run_cli("predict", "--model", "best", cwd=tmp_path, stdin="w1 great w3\n")
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout.splitlines()[0])["label"] == "1"


def test_a_baseline_that_cannot_be_stored_is_still_returned(tmp_path):
    """Storing is an economy: an unwritable store logs, and the job gets its fit all the same."""
    train, dev = _keyword_split()
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    result = fit_or_reuse(train, dev, store=BaselineStore(blocked / "baselines"))
    assert not result.reused and result.metrics["accuracy"] == 1.0
