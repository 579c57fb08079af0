"""Fixtures shared by every test package: synthetic labelled data, a tiny trained bundle, and
the records on both backends (SQLite, and a real PostgreSQL server started for the session).

The bundle is trained once per session in about a second (embedding 16, hidden 16) on a task the
data generator makes up (``tests/support/data.py``), so tests never read real datasets.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from model import Dataset, save_bundle, train
from model.config import configs_from_values
from tests.support.data import LABEL_NAMES, negation_dataset, negation_examples
from tests.support.postgres import PostgresServer, find_bin
from tests.support.server import ServerProcess, start_server

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


@pytest.fixture
def serve(tmp_path):
    """``serve(**start_server_kwargs) -> ServerProcess``: a real server (``python -m app`` in a
    subprocess, ``tests/support/server.py``); every server started is stopped afterwards.

    ``data_dir`` defaults to a fresh ``tmp_path / "data"``.
    """
    started: list[ServerProcess] = []

    def _serve(**kwargs) -> ServerProcess:
        kwargs.setdefault("data_dir", tmp_path / "data")
        server = start_server(**kwargs)
        started.append(server)
        return server

    yield _serve
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the session (``tests/support/postgres.py``). Without Debian's
    ``postgresql`` package the tests that need it skip, saying so; with ``REQUIRE_POSTGRES=1``
    (CI) they fail instead."""
    bin_dir = find_bin()
    if bin_dir is None:
        message = ("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/pg_ctl): "
                   "apt-get install -y postgresql")
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(message + " (REQUIRE_POSTGRES=1)")
        pytest.skip(message)
    server = PostgresServer(bin_dir).start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on the session's server; dropped after the test."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request, tmp_path):
    """What ``Store(...)`` opens, once per backend: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "records" / "sentiment.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def make_store(store_target):
    """``make_store() -> Store`` on ``store_target`` (both backends); each call opens another
    ``Store`` on the same records, as another process or machine would. All are closed afterwards."""
    from app.store import Store

    opened: list[Store] = []

    def make() -> Store:
        opened.append(Store(store_target))
        return opened[-1]

    yield make
    for store in opened:
        store.close()
