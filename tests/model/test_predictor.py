from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from model import Prediction, Predictor, load_bundle
from model.inference.batches import batched_logits, pad_batch
from model.inference.windows import MAX_WINDOWS

NON_LATIN = [
    "这部电影很好",  # Chinese
    "この映画は素晴らしい",  # Japanese
    "이 영화 좋아요",  # Korean
    "الفيلم جيد",  # Arabic
    "फ़िल्म अच्छी है",  # Hindi
    "фильм хороший",  # Russian
    "😀👍🎬",
    "   ",
]


@pytest.fixture(scope="module", params=["torch", "numpy"])
def predictor(tiny_bundle_path, request) -> Predictor:
    return Predictor.load(tiny_bundle_path, backend=request.param, batch_size=8)


@pytest.fixture(scope="module")
def torch_predictor(tiny_bundle_path) -> Predictor:
    return Predictor(load_bundle(tiny_bundle_path), batch_size=8)


def test_predicts_the_learned_labels(predictor):
    predictions = predictor.predict(["w1 good w2", "w1 not good w2", "bad w3", "w4 not bad"])
    assert [p.label for p in predictions] == ["positive", "negative", "negative", "positive"]


def test_prediction_fields(predictor):
    (prediction,) = predictor.predict(["w1 good"])
    assert isinstance(prediction, Prediction)
    assert set(prediction.probabilities) == {"negative", "positive"}
    assert prediction.score == max(prediction.probabilities.values())
    assert prediction.probabilities[prediction.label] == prediction.score
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)


def test_empty_list(predictor):
    assert predictor.predict([]) == []
    assert predictor.predict_proba([]).shape == (0, 2)


def test_a_single_string_is_refused(predictor):
    with pytest.raises(TypeError, match="list of texts"):
        predictor.predict("good")


def test_a_text_that_fits_is_read_as_before(torch_predictor, make_examples):
    """Within max_length tokens: one window, and the probabilities of one model call."""
    predictor = torch_predictor
    max_length = predictor.bundle.tokenizer.max_length
    texts, _ = make_examples(20, 5)
    texts.append(" ".join(["w1", "good"] * (max_length // 2)))  # exactly max_length tokens
    ids = predictor.bundle.tokenizer.encode_batch(texts)  # truncating, as before
    assert predictor.encode(texts) == ids
    with torch.inference_mode():
        logits = batched_logits(predictor.runtime_model(), ids, predictor.batch_size, predictor.bundle.config.pad_id)
    expected = torch.softmax(logits / predictor.temperature, dim=1).numpy()
    assert np.allclose(predictor.predict_proba(texts), expected, atol=1e-6, rtol=0)
    assert [p.windows for p in predictor.predict(texts)] == [1] * len(texts)


def test_a_long_text_is_the_mean_of_its_windows_logits(tiny_bundle_path):
    bundle = load_bundle(tiny_bundle_path)
    bundle.config.temperature = 1.7  # applied to the mean, as to one window's logits
    predictor = Predictor(bundle, batch_size=8)
    text = "w1 good w2 " * 22 + "w3 not good " * 12  # 102 tokens: windows at 0, 19 and 38
    (ids,) = predictor.encode([text])
    assert len(ids) == 102
    (prediction,) = predictor.predict([text])
    assert prediction.windows == 3
    with torch.inference_mode():
        windows = [ids[0:64], ids[19:83], ids[38:102]]
        logits = predictor.model(*pad_batch(windows, bundle.config.pad_id))  # the network, not the fast path
    expected = torch.softmax(logits.mean(0) / 1.7, dim=0)
    assert [prediction.probabilities[label] for label in predictor.labels] == pytest.approx(expected.tolist(), abs=1e-5)
    short = predictor.predict(["w1 good w2", text, "bad"])
    assert [p.windows for p in short] == [1, 3, 1]  # texts in a batch keep their own
    assert short[1].probabilities == pytest.approx(prediction.probabilities, abs=1e-6)


def test_very_long_text_is_read_in_at_most_max_windows(predictor):
    max_length = predictor.tokenizer.max_length
    long_text = " ".join(["w1", "good"] * (max_length // 2)) + " not bad" * 50_000
    (prediction,) = predictor.predict([long_text])
    assert prediction.windows == MAX_WINDOWS


@pytest.mark.parametrize("text", NON_LATIN)
def test_non_latin_scripts(predictor, text):
    (prediction,) = predictor.predict([text])
    assert prediction.label in ("negative", "positive")
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)


def test_order_and_batching_do_not_change_results(predictor, make_examples):
    texts, _ = make_examples(50, 9)
    texts += NON_LATIN
    probs = predictor.predict_proba(texts)
    one_by_one = np.concatenate([predictor.predict_proba([t]) for t in texts])
    reversed_probs = predictor.predict_proba(texts[::-1])[::-1]
    assert np.allclose(probs, one_by_one, atol=1e-6, rtol=0)
    assert np.allclose(probs, reversed_probs, atol=1e-6, rtol=0)


def test_threads_predicting_at_once_match_serial_results(predictor, make_examples):
    texts, _ = make_examples(64, 11)
    batches = [texts[i:] + NON_LATIN[: i % 8] for i in range(0, 64, 4)] * 3
    serial = [predictor.predict_proba(batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=6) as pool:
        concurrent = list(pool.map(predictor.predict_proba, batches))
    assert all(np.array_equal(a, b) for a, b in zip(serial, concurrent))


def test_temperature_scales_the_probabilities(tiny_bundle_path):
    bundle = load_bundle(tiny_bundle_path)
    bundle.config.temperature = 2.0
    hot = Predictor(bundle)
    bundle.config.temperature = 0.5
    cold = Predictor(bundle)
    text = ["w1 good"]
    assert hot.temperature == 2.0 and cold.temperature == 0.5
    assert cold.predict(text)[0].score > hot.predict(text)[0].score > 0.5
    assert hot.predict(text)[0].label == cold.predict(text)[0].label


@pytest.mark.parametrize("bidirectional", [False, True], ids=["one direction", "bidirectional"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("cell", ["rnn-tanh", "rnn-relu", "lstm", "gru"])
def test_both_backends_give_the_same_probabilities(tiny_train, make_dataset, tmp_path, cell, pooling, bidirectional):
    """A small model of each cell, direction and pooling, trained and saved: the NumPy backend (what
    serving runs) and torch read the same bundle and agree within 1e-5 on short and windowed texts."""
    from model import save_bundle

    name, _, nonlinearity = cell.partition("-")
    result = tiny_train(make_dataset(60, seed=3), make_dataset(20, seed=4), cell=name,
                        nonlinearity=nonlinearity or "tanh", pooling=pooling, bidirectional=bidirectional,
                        layers=2 if name == "gru" else 1, max_steps=3, epochs=1, max_length=16)
    path = save_bundle(tmp_path / "b", result.model, result.tokenizer, result.tokenizer_config,
                       training=result.training_metadata())
    texts, _ = make_dataset(200, seed=5).texts, None
    texts = texts + [" ".join(texts[i : i + 12]) for i in range(0, 120, 12)]  # many windows of 16 tokens
    reference, numpy_backend = Predictor.load(path, backend="torch"), Predictor.load(path, backend="numpy")
    expected, windows = reference.predict_windows_ids(reference.encode(texts))
    got, got_windows = numpy_backend.predict_windows_ids(numpy_backend.encode(texts))
    assert max(windows) > 2 and got_windows == windows
    assert np.abs(got - expected).max() <= 1e-5

