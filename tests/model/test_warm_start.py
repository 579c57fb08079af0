"""Warm start: ``train(..., base=bundle)`` and ``python -m model train --base-model PATH``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model import BundleError, Dataset, load_bundle, save_bundle, train
from model.config import configs_from_values
from model.inference.batches import batched_logits
from model.training.card import render_card

ROOT = Path(__file__).resolve().parents[2]
# A hyperparameter step that barely moves a weight: what the model holds after it is where it started.
STILL = {"learning_rate": 1e-7, "weight_decay": 0.0, "max_steps": 1, "dropout": 0.0, "device": "cpu"}


def warm(train_data, dev_data, base, **values):
    """``model.train`` from ``base``; the network and tokenizer hyperparameters given are ignored."""
    return train(train_data, dev_data, *configs_from_values(values), base=base)


def relabelled(data: Dataset, names: dict[str, str]) -> Dataset:
    return Dataset(data.texts, [names[y] for y in data.labels], data.source, data.lines)


def three_labels(data: Dataset) -> Dataset:
    """The negation task with a third class: texts with "w0" in them."""
    labels = ["other" if "w0" in t.split() else y for t, y in zip(data.texts, data.labels)]
    return Dataset(data.texts, labels, data.source, data.lines)


def states_equal(a: torch.nn.Module, b: torch.nn.Module, skip=(), atol=1e-5) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.allclose(v, sb[k], atol=atol) for k, v in sa.items() if k not in skip)


def logits(model, tokenizer, texts=("w1 not good", "w3 bad w4", "good")) -> torch.Tensor:
    with torch.no_grad():
        return batched_logits(model, tokenizer.encode_batch(list(texts)), 4, model.config.pad_id)


@pytest.fixture(scope="module")
def base(tiny_bundle_path):
    return load_bundle(tiny_bundle_path)


@pytest.fixture(scope="module")
def task(make_dataset):
    return make_dataset(300, 11), make_dataset(100, 12)


def test_same_labels_keep_every_weight_and_the_tokenizer(base, task, tiny_bundle_path):
    result = warm(*task, base, **STILL, cell="gru", hidden_size=64, tokenizer="wordpiece", pretrained="minilm")
    assert states_equal(result.model, base.model)  # the output layer included
    assert result.history[0]["dev_accuracy"] >= 0.95  # the base's skill after one (tiny) step
    scratch = train(*task, *configs_from_values({**STILL, "pretrained": None, "tokenizer": "word"}))
    assert scratch.history[0]["dev_accuracy"] < 0.8
    assert result.tokenizer.tokenizer.get_vocab() == base.tokenizer.tokenizer.get_vocab()
    assert result.tokenizer_config == base.tokenizer_config
    arch = result.model_config
    assert (arch.cell, arch.hidden_size, arch.embedding_dim, arch.pooling) == ("lstm", 16, 16, "max")
    assert arch.labels == base.labels == ["negative", "positive"]  # via the base's label_names
    assert result.train_config.pretrained is None and result.data["pretrained"] is None
    config = json.loads((tiny_bundle_path / "config.json").read_text())
    assert result.base == {"source": tiny_bundle_path.name, "weights_sha256": config["files"]["model.safetensors"],
                           "output_layer": "kept"}
    assert result.training_metadata()["base"] == result.base


def test_same_label_set_in_another_order_keeps_the_base_order(base, task):
    # raw labels sort as ["a", "z"] -> ["positive", "negative"]: the base's classes are the other way round
    names = {"0": "z", "1": "a"}
    data = [relabelled(d, names) for d in task]
    result = warm(*data, base, **STILL, label_names={"z": "negative", "a": "positive"})
    assert result.base["output_layer"] == "kept"
    assert result.model_config.labels == ["negative", "positive"]
    assert result.history[0]["dev_accuracy"] >= 0.95  # each raw label scored against its own class


def test_a_different_label_set_gets_a_new_output_layer(base, task):
    data = [three_labels(d) for d in task]
    result = warm(*data, base, **STILL)
    assert result.base["output_layer"] == "new"
    assert result.model_config.labels == ["negative", "positive", "other"]  # the base's label_names apply
    assert result.model.classifier.weight.shape == (3, 2 * 16)
    assert result.model.classifier.bias.shape == (3,)
    assert states_equal(result.model, base.model, skip=("classifier.weight", "classifier.bias"))


def test_warm_start_is_deterministic_for_a_seed(base, task):
    data = [three_labels(d) for d in task]
    first, second = (warm(*data, base, epochs=1, seed=4, dropout=0.2, device="cpu") for _ in range(2))
    assert all(torch.equal(v, second.model.state_dict()[k]) for k, v in first.model.state_dict().items())
    other = warm(*data, base, epochs=1, seed=5, dropout=0.2, device="cpu")
    assert not torch.equal(first.model.classifier.weight, other.model.classifier.weight)


def test_the_base_is_not_changed(base, task, tiny_bundle_path):
    before = {k: v.clone() for k, v in base.model.state_dict().items()}
    warm(*task, base, epochs=1, learning_rate=0.05, device="cpu")
    assert all(torch.equal(v, before[k]) for k, v in base.model.state_dict().items())
    assert base.config == load_bundle(tiny_bundle_path).config


def test_a_warm_started_bundle_records_its_base_and_round_trips(base, task, tmp_path):
    result = warm(*task, base, epochs=2, device="cpu")
    card = render_card(result, "python -m model train ...")
    path = save_bundle(tmp_path / "warm", result.model, result.tokenizer, result.tokenizer_config,
                       training=result.training_metadata(), card=card)
    config = json.loads((path / "config.json").read_text())
    assert config["training"]["base"]["output_layer"] == "kept"
    assert config["model"]["hidden_size"] == 16 and config["tokenizer"]["tokenizer"] == "word"
    assert "warm start from" in (path / "README.md").read_text()
    loaded = load_bundle(path)
    assert torch.equal(logits(loaded.model, loaded.tokenizer), logits(result.model, result.tokenizer))


def test_a_missing_base_is_a_clear_error(tmp_path):
    with pytest.raises(BundleError, match="not a model bundle directory"):
        load_bundle(tmp_path / "nope")


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "model", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_cli_base_model(tiny_bundle_path, make_examples, tmp_path):
    texts, labels = make_examples(200, 21)
    (tmp_path / "train.tsv").write_text("label\tsentence\n" + "".join(f"{y}\t{t}\n" for t, y in zip(texts, labels)))
    proc = run_cli("train", "--train", "train.tsv", "--out", "warm", "--base-model", str(tiny_bundle_path),
                   "--epochs", "1", "--threads", "1", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    config = json.loads((tmp_path / "warm" / "config.json").read_text())
    assert config["training"]["base"]["source"] == tiny_bundle_path.name  # by name: no path of this machine
    assert config["training"]["base"]["output_layer"] == "kept"
    assert config["model"]["embedding_dim"] == 16  # the base's, not the default 256
    assert f"--base-model {tiny_bundle_path}" in (tmp_path / "warm" / "README.md").read_text()

    proc = run_cli("train", "--train", "train.tsv", "--out", "other", "--base-model", "missing", "--quiet",
                   cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: missing: not a model bundle directory"]
