"""The torch-free forward pass gives the module's logits for every architecture the package builds."""

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from model import BundleError, ModelConfig, Predictor, load_bundle, save_bundle
from model.inference.batches import batched_logits, pad_batch
from model.inference.numpy_rnn import NumpyRNN
from model.network.rnn import SentimentRNN
from tests.model.test_bundle import copy_bundle, update_checksum

ROOT = Path(__file__).resolve().parents[2]
VOCAB = 200
CELLS = [("lstm", "tanh"), ("gru", "tanh"), ("rnn", "tanh"), ("rnn", "relu")]
CASES = [
    *itertools.product(CELLS, [True, False], ["last", "mean", "max", "attention"], [1, 2]),
    (("lstm", "tanh"), True, "attention", 3),
    (("gru", "tanh"), False, "max", 3),
]


def random_model(cell: str, nonlinearity: str, bidirectional: bool, pooling: str, layers: int, **extra) -> SentimentRNN:
    config = ModelConfig(
        labels=["a", "b", "c"],
        vocab_size=VOCAB,
        embedding_dim=8,
        hidden_size=8,
        cell=cell,
        nonlinearity=nonlinearity,
        bidirectional=bidirectional,
        pooling=pooling,
        layers=layers,
        **extra,
    )
    model = SentimentRNN(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():  # away from the initialisation (zero biases, ...)
            param.normal_(0.0, 0.5)
            if nonlinearity == "relu" and "weight_hh" in name:
                param.mul_(0.2)  # a relu RNN with large recurrent weights grows without bound over 40 steps
    return model


def random_seqs(seed: int, n: int = 300) -> list[list[int]]:
    """Lengths 1..40 (many equal), in no order; ids from the whole vocabulary but padding."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 41, n)
    return [rng.integers(1, VOCAB, length).tolist() for length in lengths]


def torch_logits(model: SentimentRNN, seqs: list[list[int]]) -> np.ndarray:
    ids, lengths = pad_batch(seqs, model.config.pad_id)
    with torch.inference_mode():
        return model(ids, lengths).numpy()


def numpy_state(model: SentimentRNN) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    ("cell", "bidirectional", "pooling", "layers"), CASES, ids=lambda v: "-".join(v) if isinstance(v, tuple) else str(v)
)
@pytest.mark.parametrize("table", [True, False], ids=["table", "no-table"])
def test_numpy_logits_equal_the_module(cell, bidirectional, pooling, layers, table):
    torch.manual_seed(0)
    model = random_model(*cell, bidirectional, pooling, layers)
    network = NumpyRNN.from_state(model.config, numpy_state(model), max_table_bytes=1 << 30 if table else 0)
    assert (network.table is not None) == table
    seqs = random_seqs(1)
    expected, got = torch_logits(model, seqs), network.logits(seqs)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-5


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_one_sequence_at_a_time_equals_the_batch(cell):
    torch.manual_seed(0)
    model = random_model(cell, "tanh", True, "attention", 2)
    network = NumpyRNN.from_state(model.config, numpy_state(model))
    seqs = random_seqs(2, n=20)
    one_by_one = np.concatenate([network.logits([s]) for s in seqs])
    assert np.abs(one_by_one - network.logits(seqs)).max() <= 1e-5
    assert np.abs(one_by_one - torch_logits(model, seqs)).max() <= 1e-5


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_batches_without_padding(cell, pooling):
    """One sequence, and sequences all of one length (nothing to mask), sorted or not."""
    torch.manual_seed(0)
    model = random_model(cell, "tanh", True, pooling, 1)
    network = NumpyRNN.from_state(model.config, numpy_state(model))
    rng = np.random.default_rng(5)
    for seqs in (
        [[7]],
        [rng.integers(1, VOCAB, 13).tolist()],
        rng.integers(1, VOCAB, (9, 6)).tolist(),
        [[3, 4, 5], [6, 7], [8]],
        [[8], [6, 7], [3, 4, 5]],
    ):
        assert np.abs(network.logits(seqs) - torch_logits(model, seqs)).max() <= 1e-5


def test_features_are_what_the_classifier_reads():
    torch.manual_seed(0)
    model = random_model("lstm", "tanh", True, "mean", 1)
    network = NumpyRNN.from_state(model.config, numpy_state(model))
    seqs = random_seqs(3, n=10)
    features = network.features(seqs)
    assert features.shape == (10, 16)
    weight, bias = model.classifier.weight.detach().numpy(), model.classifier.bias.detach().numpy()
    assert np.abs(features @ weight.T + bias - network.logits(seqs)).max() <= 1e-5


def test_no_sequences_and_empty_sequences():
    torch.manual_seed(0)
    model = random_model("gru", "tanh", False, "last", 1)
    network = NumpyRNN.from_state(model.config, numpy_state(model))
    assert network.logits([]).shape == (0, 3)
    with pytest.raises(ValueError, match="at least one token"):
        network.logits([[1, 2], []])
    with pytest.raises(ValueError, match="at least one token"):
        network.logits([[]])


@pytest.mark.parametrize("bad", [-1, VOCAB])
def test_token_ids_outside_the_vocabulary(bad):
    torch.manual_seed(0)
    model = random_model("lstm", "tanh", True, "max", 1)
    network = NumpyRNN.from_state(model.config, numpy_state(model))
    for seqs in ([[3, bad]], [[3, 4], [bad]]):
        with pytest.raises(ValueError, match=f"token ids must be between 0 and {VOCAB - 1}"):
            network.logits(seqs)


def test_the_saved_tiny_bundle_gives_the_predictors_logits(tiny_bundle_path, make_examples):
    texts, _ = make_examples(60, seed=5)
    predictor = Predictor(load_bundle(tiny_bundle_path))
    seqs = predictor.encode(texts)
    with torch.inference_mode():
        expected = batched_logits(predictor.runtime_model(), seqs, 16, predictor.bundle.config.pad_id).numpy()
    network = NumpyRNN.load(tiny_bundle_path)
    assert network.config == predictor.bundle.config
    assert np.abs(network.logits(seqs) - expected).max() <= 1e-5


def test_float16_embeddings_of_a_frozen_model_are_widened(tiny_result, tmp_path):
    torch.manual_seed(0)
    model = random_model("lstm", "tanh", True, "attention", 1, freeze_embeddings=True)
    with torch.no_grad():
        model.embedding.weight.copy_(model.embedding.weight.half().float())  # stored as float16 (lossless)
    path = save_bundle(tmp_path / "frozen", model, tiny_result.tokenizer, tiny_result.tokenizer_config)
    with safe_open(str(path / "model.safetensors"), framework="numpy") as f:
        assert f.get_slice("embedding.weight").get_dtype() == "F16"
    seqs = random_seqs(4, n=50)
    for table in (True, False):
        network = NumpyRNN.load(path, max_table_bytes=1 << 30 if table else 0)
        assert (network.table if table else network.embedding).dtype == np.float32
        assert np.abs(network.logits(seqs) - torch_logits(model, seqs)).max() <= 1e-5


def rewrite_weights(bundle: Path, change) -> None:
    state = load_file(str(bundle / "model.safetensors"))
    change(state)
    save_file(state, str(bundle / "model.safetensors"))
    update_checksum(bundle, "model.safetensors")


def truncate(bundle: Path) -> None:
    data = (bundle / "model.safetensors").read_bytes()
    (bundle / "model.safetensors").write_bytes(data[: len(data) // 2])
    update_checksum(bundle, "model.safetensors")


CORRUPTIONS = {
    "truncated weights": (truncate, "model.safetensors: cannot read weights"),
    "garbage weights": (
        lambda b: ((b / "model.safetensors").write_bytes(b"not safetensors"), update_checksum(b, "model.safetensors")),
        "model.safetensors: cannot read weights",
    ),
    "tensor missing": (
        lambda b: rewrite_weights(b, lambda s: s.pop("classifier.bias")),
        "model.safetensors: missing tensor 'classifier.bias'",
    ),
    "tensor misshapen": (
        lambda b: rewrite_weights(b, lambda s: s.update({"rnn.weight_hh_l0": s["rnn.weight_hh_l0"][:, :3].copy()})),
        "model.safetensors: tensor 'rnn.weight_hh_l0' has shape",
    ),
    "tensor unexpected": (
        lambda b: rewrite_weights(b, lambda s: s.update({"extra.weight": np.zeros(2, dtype=np.float32)})),
        "model.safetensors: unexpected tensor.*extra.weight",
    ),
    "checksum mismatch": (
        lambda b: (b / "model.safetensors").write_bytes((b / "model.safetensors").read_bytes()[:-1] + b"\x00"),
        "model.safetensors: checksum mismatch",
    ),
    "weights missing": (lambda b: (b / "model.safetensors").unlink(), "missing model.safetensors"),
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_corrupt_weights_raise_bundle_error(tiny_bundle_path, tmp_path, corrupt):
    change, message = corrupt
    bundle = copy_bundle(tiny_bundle_path, tmp_path)
    change(bundle)
    with pytest.raises(BundleError, match=message) as info:
        NumpyRNN.load(bundle)
    assert str(bundle) in str(info.value)
    assert "\n" not in str(info.value)


def test_importing_numpy_rnn_does_not_import_torch():
    code = (
        "import sys, model.inference.numpy_rnn; from model import NumpyRNN; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:3])"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_loading_and_predicting_does_not_import_torch(tiny_bundle_path):
    code = (
        "import sys; from model.inference.numpy_rnn import NumpyRNN; "
        f"print(NumpyRNN.load({str(tiny_bundle_path)!r}).logits([[2, 3, 4]]).shape, "
        "sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:3])"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(1, 2) []"
