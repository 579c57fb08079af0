from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from model import Prediction, Predictor, load_bundle

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


@pytest.fixture(scope="module")
def predictor(tiny_bundle_path) -> Predictor:
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


def test_very_long_text_is_truncated(predictor):
    max_length = predictor.bundle.tokenizer.max_length
    head = " ".join(["w1", "good"] * (max_length // 2))
    long_text = head + " not bad" * 50_000
    probs = predictor.predict_proba([long_text, head])
    assert torch.allclose(probs[0], probs[1], rtol=0, atol=1e-6)  # everything past max_length tokens is dropped


@pytest.mark.parametrize("text", NON_LATIN)
def test_non_latin_scripts(predictor, text):
    (prediction,) = predictor.predict([text])
    assert prediction.label in ("negative", "positive")
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)


def test_order_and_batching_do_not_change_results(predictor, make_examples):
    texts, _ = make_examples(50, 9)
    texts += NON_LATIN
    probs = predictor.predict_proba(texts)
    one_by_one = torch.cat([predictor.predict_proba([t]) for t in texts])
    reversed_probs = predictor.predict_proba(texts[::-1]).flip(0)
    assert torch.allclose(probs, one_by_one, atol=1e-6)
    assert torch.allclose(probs, reversed_probs, atol=1e-6)


def test_threads_predicting_at_once_match_serial_results(predictor, make_examples):
    texts, _ = make_examples(64, 11)
    batches = [texts[i:] + NON_LATIN[: i % 8] for i in range(0, 64, 4)] * 3
    serial = [predictor.predict_proba(batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=6) as pool:
        concurrent = list(pool.map(predictor.predict_proba, batches))
    assert all(torch.equal(a, b) for a, b in zip(serial, concurrent))


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


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")  # torch.ao.quantization
def test_quantized_predictor_agrees_with_float(tiny_bundle_path, make_examples):
    texts, _ = make_examples(40, 12)
    exact = Predictor(load_bundle(tiny_bundle_path)).predict_proba(texts)
    quantized = Predictor(load_bundle(tiny_bundle_path), quantize=True).predict_proba(texts)
    assert torch.allclose(exact, quantized, atol=0.1)
    assert (exact.argmax(1) == quantized.argmax(1)).float().mean() >= 0.9
