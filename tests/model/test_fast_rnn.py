"""The fast inference path gives the module's logits for every architecture the package builds."""

import itertools

import numpy as np
import pytest
import torch

from model import ModelConfig, Predictor, load_bundle
from model.inference.fast_rnn import FastRNN
from model.network.rnn import SentimentRNN

CASES = list(itertools.product(["lstm", "gru", "rnn"], [True, False], ["last", "mean", "max", "attention"], [1, 2]))


def random_model(cell: str, bidirectional: bool, pooling: str, layers: int, **extra) -> SentimentRNN:
    config = ModelConfig(labels=["a", "b", "c"], vocab_size=50, embedding_dim=12, hidden_size=10, cell=cell,
                         bidirectional=bidirectional, pooling=pooling, layers=layers, **extra)
    model = SentimentRNN(config).eval()
    with torch.no_grad():
        for param in model.parameters():  # away from the initialisation (zero biases, ...)
            param.normal_(0.0, 0.5)
    return model


def batch(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([3, 9, 1, 9, 5, 2, 7])  # unsorted, ties, a single token
    ids = torch.randint(1, 50, (len(lengths), 11), generator=generator)
    return ids, lengths


@pytest.mark.parametrize(("cell", "bidirectional", "pooling", "layers"), CASES)
@pytest.mark.parametrize("table", [True, False], ids=["table", "no-table"])
def test_fast_path_equals_the_module(cell, bidirectional, pooling, layers, table):
    torch.manual_seed(0)
    model = random_model(cell, bidirectional, pooling, layers)
    fast = FastRNN(model, max_table_bytes=1 << 30 if table else 0)
    assert (fast.table is not None) == table
    ids, lengths = batch(torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected, got = model(ids, lengths), fast(ids, lengths)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5), (got - expected).abs().max()


def test_relu_rnn_and_padding_values():
    torch.manual_seed(0)
    model = random_model("rnn", True, "max", 2, nonlinearity="relu")
    fast = FastRNN(model)
    ids, lengths = batch(torch.Generator().manual_seed(2))
    noisy = ids.clone()
    for row, length in enumerate(lengths):
        noisy[row, length:] = 7  # whatever sits past a sequence's end is never read
    with torch.inference_mode():
        assert torch.allclose(fast(noisy, lengths), model(ids, lengths), rtol=1e-5, atol=1e-5)


def test_fast_path_is_what_the_predictor_runs(tiny_bundle_path, make_examples):
    texts, _ = make_examples(40, seed=5)
    fast = Predictor(load_bundle(tiny_bundle_path))
    plain = Predictor(load_bundle(tiny_bundle_path), fast=False)
    assert isinstance(fast.runtime_model(), FastRNN)
    assert isinstance(plain.runtime_model(), SentimentRNN)
    assert np.allclose(fast.predict_proba(texts), plain.predict_proba(texts), atol=1e-5, rtol=0)


def test_fast_path_is_built_on_first_use(tiny_bundle_path):
    predictor = Predictor(load_bundle(tiny_bundle_path))
    assert predictor.network._fast_model is None
    predictor.warm_up()
    assert isinstance(predictor.network._fast_model, FastRNN)
