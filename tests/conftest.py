"""Fixtures shared by every test package: synthetic labelled data and a tiny trained bundle.

The bundle is trained once per session in about a second (embedding 16, hidden 16) on a task the
data generator makes up, so tests never read real datasets.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from model import Dataset, save_bundle, train
from model.config import configs_from_values

FILLER = tuple(f"w{i}" for i in range(12))
LABEL_NAMES = {"0": "negative", "1": "positive"}


def negation_examples(n: int, seed: int, filler: tuple[str, ...] = FILLER) -> tuple[list[str], list[str]]:
    """Texts with one of "good"/"bad", negated when "not" comes right before it.

    Label "1" when the sentiment word is "good" xor negated. Half the un-negated texts end in a
    stray "not", so counting words gets about 75%: a model must read the order to do better.
    """
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        good, negated = rng.random() < 0.5, rng.random() < 0.5
        words = rng.choices(filler, k=rng.randint(2, 6))
        at = rng.randint(0, len(words))
        words[at:at] = (["not"] if negated else []) + ["good" if good else "bad"]
        if not negated and rng.random() < 0.5:
            words.append("not")
        texts.append(" ".join(words))
        labels.append("1" if good != negated else "0")
    return texts, labels


def negation_dataset(n: int, seed: int, source: str = "<memory>", **kwargs) -> Dataset:
    texts, labels = negation_examples(n, seed, **kwargs)
    return Dataset(texts, labels, source, lines=list(range(2, n + 2)))


# Small and fast: a word vocabulary learnt from the data, random embeddings, no dropout.
TINY = {
    "embedding_dim": 16, "hidden_size": 16, "dropout": 0.0, "pooling": "max", "tokenizer": "word", "max_length": 64,
    "pretrained": None, "epochs": 8, "batch_size": 16, "learning_rate": 1e-2, "patience": 8, "seed": 1, "device": "cpu",
}


def train_tiny(train_data: Dataset, dev_data: Dataset | None = None, *, progress=None, should_stop=None, **overrides):
    """``model.train`` with the ``TINY`` hyperparameters; keyword overrides are hyperparameters too."""
    configs = configs_from_values({**TINY, **overrides})
    return train(train_data, dev_data, *configs, progress=progress, should_stop=should_stop)


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tiny models train and run fastest on one intra-op thread: on a busy 2-core machine two
    threads spin against each other (measured: the tiny bundle took 1.8 s with one, 77 s with two).
    The service itself runs SENTIMENT_INFERENCE_THREADS (1) threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_result():
    """A bidirectional LSTM trained on the negation task; labels "negative"/"positive"."""
    return train_tiny(negation_dataset(300, seed=1), negation_dataset(100, seed=2), label_names=LABEL_NAMES)


@pytest.fixture(scope="session")
def tiny_bundle_path(tiny_result, tmp_path_factory) -> Path:
    """The saved tiny bundle. Read-only: copy it (shutil.copytree) before changing anything."""
    r = tiny_result
    return save_bundle(
        tmp_path_factory.mktemp("bundles") / "tiny",
        r.model,
        r.tokenizer,
        r.tokenizer_config,
        training=r.training_metadata(),
    )


@pytest.fixture(scope="session")
def make_dataset():
    """``make_dataset(n, seed)``: a Dataset of the negation task (labels "0"/"1")."""
    return negation_dataset


@pytest.fixture(scope="session")
def make_examples():
    """``make_examples(n, seed)``: (texts, labels) lists of the negation task."""
    return negation_examples


@pytest.fixture(scope="session")
def tiny_train():
    """``tiny_train(train_data, dev_data, **overrides)``: ``model.train`` with tiny defaults."""
    return train_tiny
