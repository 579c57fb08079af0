import numpy as np
import pytest
import torch

from model import Bundle, ModelConfig, Predictor, TokenizerConfig
from model.network.rnn import SentimentRNN, count_parameters
from model.text.tokenizer import build_tokenizer

WORDS = [f"w{i}" for i in range(40)]


def tiny_config(**overrides) -> ModelConfig:
    values = {"labels": ["neg", "pos", "mixed"], "vocab_size": 42, "embedding_dim": 16, "hidden_size": 16,
              "freeze_embeddings": False}
    values.update(overrides)
    return ModelConfig(**values)


def random_ids(generator: torch.Generator, length: int) -> torch.Tensor:
    return torch.randint(2, 42, (length,), generator=generator)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [True, False], ids=["bi", "uni"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
def test_predictions_do_not_depend_on_padding(pooling, bidirectional, cell):
    torch.manual_seed(0)
    config = tiny_config(cell=cell, pooling=pooling, bidirectional=bidirectional, layers=2, dropout=0.5)
    tokenizer = build_tokenizer(TokenizerConfig(tokenizer="word"), [" ".join(WORDS)])
    config.vocab_size = tokenizer.vocab_size
    bundle = Bundle(SentimentRNN(config).eval(), tokenizer, config, TokenizerConfig(tokenizer="word"))
    predictor = Predictor(bundle, batch_size=64)
    short = "w3 w17 w5"
    long_texts = [" ".join(WORDS * 3), " ".join(reversed(WORDS * 2))]
    alone = predictor.predict_proba([short])
    batched = predictor.predict_proba([long_texts[0], short, long_texts[1]])
    assert np.allclose(alone[0], batched[1], atol=1e-5, rtol=0)
    assert not np.allclose(batched[0], batched[1], atol=1e-3, rtol=0)  # the texts do differ


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
def test_values_in_padding_positions_are_ignored(pooling):
    torch.manual_seed(0)
    model = SentimentRNN(tiny_config(pooling=pooling)).eval()
    gen = torch.Generator().manual_seed(1)
    ids = torch.stack([random_ids(gen, 30), random_ids(gen, 30)])
    lengths = torch.tensor([30, 4])
    clean = ids.clone()
    clean[1, 4:] = 0  # pad id
    with torch.no_grad():
        assert torch.allclose(model(ids, lengths), model(clean, lengths), atol=1e-6)


def test_logits_have_one_column_per_label():
    model = SentimentRNN(tiny_config()).eval()
    logits = model(torch.tensor([[5, 6, 7], [8, 0, 0]]), torch.tensor([3, 1]))
    assert logits.shape == (2, 3)


def test_padding_row_starts_at_zero():
    model = SentimentRNN(tiny_config(pad_id=0))
    assert torch.count_nonzero(model.embedding.weight[0]) == 0
    assert torch.count_nonzero(model.embedding.weight[1]) > 0


def test_frozen_embeddings_are_not_trainable():
    frozen = SentimentRNN(tiny_config(freeze_embeddings=True))
    trainable = SentimentRNN(tiny_config())
    assert not frozen.embedding.weight.requires_grad
    assert count_parameters(trainable, trainable_only=True) - count_parameters(frozen, trainable_only=True) == 42 * 16
    assert count_parameters(frozen) == count_parameters(trainable)


def test_load_embeddings_checks_the_shape():
    model = SentimentRNN(tiny_config())
    with pytest.raises(ValueError, match=r"\(42, 16\)"):
        model.load_embeddings(torch.zeros(42, 8))
    model.load_embeddings(torch.ones(42, 16))
    assert torch.equal(model.embedding.weight, torch.ones(42, 16))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cell": "transformer"}, "cell must be one of rnn, lstm, gru"),
        ({"nonlinearity": "sigmoid"}, "nonlinearity must be one of tanh, relu"),
        ({"pooling": "sum"}, "pooling must be one of last, mean, max, attention"),
        ({"labels": ["only"]}, "at least two distinct"),
        ({"labels": ["a", "a"]}, "at least two distinct"),
        ({"hidden_size": 0}, "hidden_size must be between"),
        ({"dropout": 0.95}, "dropout must be between"),
        ({"temperature": 0.0}, "temperature must be positive"),
    ],
)
def test_invalid_config_fails_and_lists_what_is_allowed(overrides, message):
    with pytest.raises(ValueError, match=message):
        SentimentRNN(tiny_config(**overrides))


def test_config_dict_round_trip():
    config = tiny_config(cell="gru", pooling="attention", label_names={"0": "neg"})
    assert ModelConfig.from_dict(config.to_dict()) == config


def test_config_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown ModelConfig keys: colour"):
        ModelConfig.from_dict({**tiny_config().to_dict(), "colour": "red"})
