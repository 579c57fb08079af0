"""model/inference/explain.py: words from a tokenizer's encoding (and jieba's segmentation), the occlusion
variants, windows and the log-odds weights."""

from __future__ import annotations

import math

import pytest

from model import Predictor
from model.bundle import load_tokenizer
from model.config import TokenizerConfig
from model.inference import explain as explain_module
from model.inference.explain import Occlusion, explain, log_odds, probabilities
from model.inference.words import Word, words_of
from model.text.tokenizer import build_tokenizer
from tests.support.long_reviews import BUNDLED

BUNDLED_ZH = BUNDLED.parent / "sentiment-zh"

CORPUS = ["good bad not w1 w2 unbelievably fine things happen", "I don't like it 😀 很好", "a gorgeous, witty movie"]


@pytest.fixture(scope="module", params=["wordpiece", "word", "bpe"])
def tokenizer(request):
    """The bundled model's WordPiece tokenizer, and word / BPE ones trained on a few sentences."""
    if request.param == "wordpiece":
        return load_tokenizer(BUNDLED)[0]
    return build_tokenizer(TokenizerConfig(tokenizer=request.param, max_vocab_size=200), CORPUS)


def spans(tokenizer, text: str) -> list[str]:
    occlusion = Occlusion.of(tokenizer, text)
    for word in occlusion.words:
        assert 0 <= word.start < word.end <= len(text)
    starts = [w.start for w in occlusion.words]
    assert starts == sorted(starts) and all(a.end <= b.start for a, b in zip(occlusion.words, occlusion.words[1:]))
    return [text[w.start : w.end] for w in occlusion.words]


@pytest.mark.parametrize(("text", "words"), [
    ("a gorgeous movie", ["a", "gorgeous", "movie"]),
    ("  leading spaces\tand\nbreaks ", ["leading", "spaces", "and", "breaks"]),
    ("Witty, (really) witty!?", ["Witty", ",", "(", "really", ")", "witty", "!", "?"]),
])
def test_words_cover_the_text_between_spaces_and_punctuation(tokenizer, text, words):
    assert spans(tokenizer, text) == words


def test_a_word_split_into_pieces_is_one_word_left_out_whole():
    wordpiece = load_tokenizer(BUNDLED)[0]
    occlusion = Occlusion.of(wordpiece, "unbelievably good")
    first, second = occlusion.words
    assert (first.start, first.end) == (0, 12) and first.last - first.first > 1  # un ##bel ##ie ##va ##bly
    assert occlusion.inputs()[1] == occlusion.ids[first.last :] == wordpiece.encode_batch(["good"])[0]


def test_contractions_split_as_the_tokenizer_splits_them(tokenizer):
    got = spans(tokenizer, "isn't it")
    assert "".join(got) == "isn'tit" and got[-1] == "it"


def test_chinese_words_are_jiebas_with_offsets_into_the_text_as_sent(tokenizer):
    """苹果 (apple) is one word, not two characters; offsets index the text with its leading spaces and
    full-width punctuation, whatever the tokenizer's normalisation does to them."""
    text = "  快递很快，苹果很甜很新鲜！"
    assert spans(tokenizer, text) == ["快递", "很快", "，", "苹果", "很甜", "很", "新鲜", "！"]
    assert Occlusion.of(tokenizer, text).words[0].start == 2


def test_jiebas_words_are_whole_tokens_of_the_chinese_model():
    zh = load_tokenizer(BUNDLED_ZH)[0]
    text = " 这部电影很好看，iPhone手机也不错! "
    occlusion = Occlusion.of(zh, text)
    words = [text[w.start : w.end] for w in occlusion.words]
    assert "电影" in words and "好看" in words and "手机" in words
    tokens = [t for w in occlusion.words for t in range(w.first, w.last)]
    assert tokens == list(range(len(occlusion.ids)))  # every token in exactly one word, in order


def test_without_jieba_each_cjk_character_is_a_word(tokenizer, monkeypatch):
    """The slim image has no jieba (the 'cjk' extra): a CJK character is one word, as the tokenizer splits it."""
    monkeypatch.setattr(explain_module, "segments", lambda text: None)
    text = "  这部电影很好看!"
    assert spans(tokenizer, text) == [*"这部电影很好看", "!"]
    assert Occlusion.of(tokenizer, text).words[0].start == 2


def test_a_segment_that_cuts_a_token_merges_the_words_it_touches():
    """A token straddling two segmenter words makes them one word: each word is whole tokens."""
    word_ids, offsets = [0, 1, 2], [(0, 2), (2, 3), (3, 4)]
    assert words_of(word_ids, offsets, [(0, 1), (1, 3), (3, 4)]) == [Word(0, 3, 0, 2), Word(3, 4, 2, 3)]
    assert words_of(word_ids, offsets, [(0, 4)]) == [Word(0, 4, 0, 3)]
    assert words_of(word_ids, offsets, [(0, 2), (2, 3), (3, 4)]) == words_of(word_ids, offsets)


def test_emoji_offsets_count_code_points():
    """Offsets are Python string indices (code points), also past characters outside the BMP."""
    wordpiece = load_tokenizer(BUNDLED)[0]
    text = "great 😀👍🏽 film, café"
    assert spans(wordpiece, text) == ["great", "😀👍🏽", "film", ",", "café"]
    word, trained = build_tokenizer(TokenizerConfig(tokenizer="word"), CORPUS), "I like it 😀 很好"
    assert spans(word, trained) == ["I", "like", "it", "😀", "很", "好"]  # (jieba: 很 好)


def test_offsets_point_into_the_original_text_through_normalisation(tokenizer):
    """NFKC and lowercasing change the characters the model reads, not the offsets."""
    text = "ﬁne WITTY Café"  # a ligature, capitals, an accent
    assert spans(tokenizer, text) == ["ﬁne", "WITTY", "Café"]


def test_ids_are_those_predict_sends(tokenizer):
    text = "  Unbelievably fine, isn't it? 😀 很好 " * 3
    assert Occlusion.of(tokenizer, text).ids == tokenizer.encode_batch([text], truncate=False)[0]


def test_ids_are_not_cut_at_max_length():
    wordpiece = load_tokenizer(BUNDLED)[0]
    text = "good " * 300
    occlusion = Occlusion.of(wordpiece, text)
    assert len(occlusion.ids) == len(occlusion.words) == 300 > wordpiece.max_length


def test_inputs_are_the_text_then_each_word_left_out():
    occlusion = Occlusion("a b c", [10, 11, 12, 13], [Word(0, 1, 0, 1), Word(2, 3, 1, 3), Word(4, 5, 3, 4)], unk_id=1)
    assert occlusion.inputs() == [[10, 11, 12, 13], [11, 12, 13], [10, 13], [10, 11, 12]]
    one = Occlusion("a", [10], [Word(0, 1, 0, 1)], unk_id=1)
    assert one.inputs() == [[10], [1]]  # nothing left: [unk], as encode_batch gives for an empty text


def test_a_text_without_tokens_has_no_words(tokenizer):
    occlusion = Occlusion.of(tokenizer, " \t ")  # (the API refuses it; WordPiece also drops control characters)
    assert occlusion.words == [] and occlusion.ids == [tokenizer.unk_id] and occlusion.inputs() == [occlusion.ids]


def test_words_of_skips_tokens_without_a_word():
    words = words_of([None, 0, 0, 1, None], [(0, 0), (0, 2), (2, 4), (5, 6), (0, 0)])
    assert words == [Word(0, 4, 1, 3), Word(5, 6, 3, 4)]


def test_log_odds_come_from_logits_and_do_not_saturate():
    """p = 1 - 1e-40 is 1.0 in float32 (log(1 - p) = -inf); its logits give a finite log-odds."""
    assert log_odds([50.0, -42.0], 0) == pytest.approx(92.0)
    assert log_odds([50.0, -42.0], 1) == pytest.approx(-92.0)
    assert probabilities([50.0, -42.0])[0] == 1.0
    assert log_odds([1.0, 2.0, 3.0], 2) == pytest.approx(3 - math.log(math.e + math.e**2))
    assert log_odds([4.0, -1.0], 0, task="multi_label") == 4.0  # a sigmoid's log-odds: its logit


def test_weights_are_the_fall_of_the_labels_log_odds():
    occlusion = Occlusion("not good", [5, 6], [Word(0, 3, 0, 1), Word(4, 8, 1, 2)], unk_id=1)
    # rows: the text, then each word left out (negative, positive logits)
    explanation = occlusion.explain([[2.0, 0.0], [0.0, 1.0], [1.5, 0.0]], ["negative", "positive"])
    assert (explanation.label, explanation.windows, explanation.excerpt) == ("negative", 1, None)
    assert explanation.score == pytest.approx(1 / (1 + math.exp(-2)))
    assert [(w.text, w.start, w.end) for w in explanation.words] == [("not", 0, 3), ("good", 4, 8)]
    assert [w.weight for w in explanation.words] == pytest.approx([2.0 - (-1.0), 2.0 - 1.5])
    with pytest.raises(ValueError, match="expected 3 rows of logits"):
        occlusion.explain([[2.0, 0.0]], ["negative", "positive"])


def test_a_confident_prediction_still_shows_the_words_it_rests_on():
    """p(positive) > 0.99: each word alone barely moves the probability (the old weights were ~0 but for
    "never"), while the log-odds show gorgeous and witty speaking for it."""
    predictor = Predictor.load(BUNDLED, backend="numpy")
    explanation = explain(predictor, "a gorgeous, witty film that never drags")
    assert explanation.label == "positive" and explanation.score > 0.99
    weights = {w.text: w.weight for w in explanation.words}
    assert weights["gorgeous"] > 0.2 and weights["witty"] > 0.2 and weights["never"] > 1
    texts = [t for t in ["a, witty film that never drags", "a gorgeous, film that never drags"]]
    assert all(explanation.score - p.score < 0.01 for p in predictor.predict(texts))  # what saturated


def test_numpy_and_torch_backends_give_the_same_weights():
    text = "快递很快，苹果很甜很新鲜"
    numpy, torch = (explain(Predictor.load(BUNDLED_ZH, backend=b), text) for b in ("numpy", "torch"))
    assert [w.text for w in numpy.words] == ["快递", "很快", "，", "苹果", "很甜", "很", "新鲜"]
    assert [w.weight for w in numpy.words] == pytest.approx([w.weight for w in torch.words], abs=1e-4)
    assert max(numpy.words, key=lambda w: w.weight).text == "很快"


def test_explain_in_process_puts_the_deciding_word_first(tiny_bundle_path):
    """On the negation task: the sentiment word, or the "not" that flips it (without it the text
    reads the other way)."""
    predictor = Predictor.load(tiny_bundle_path)
    for text, label, top in [("w1 w2 good w3", "positive", "good"), ("w4 bad w5", "negative", "bad"),
                             ("w1 not good w2", "negative", "not")]:
        explanation = explain(predictor, text)
        assert explanation.label == label
        assert max(explanation.words, key=lambda w: w.weight).text == top, explanation
        assert explanation.score == pytest.approx(predictor.predict([text])[0].score, abs=1e-6)


def test_a_long_text_is_explained_by_its_windows(tiny_bundle_path):
    """The tiny model's window is 64 tokens: the prediction is predict's (the mean of the windows'
    logits), and a word's weight is the text's log-odds without it in each window that reads it."""
    predictor = Predictor.load(tiny_bundle_path)
    text = "w1 good w2 " * 25 + "w3 not good"  # 78 tokens
    explanation = explain(predictor, text)
    predicted = predictor.predict([text])[0]
    assert explanation.windows == predicted.windows == 2 and explanation.excerpt is None
    assert explanation.probabilities == pytest.approx(predicted.probabilities, abs=1e-6)
    assert len(explanation.words) == 78
    occlusion = Occlusion.of(predictor.tokenizer, text)
    assert occlusion.starts == [0, 14]
    k = predictor.labels.index(explanation.label)
    for i in (0, 30, 77):  # in the first window only, in both, in the last only
        word = occlusion.words[i]
        windows = [ids[:] for ids in occlusion.windows()]
        for w, start in enumerate(occlusion.starts):
            windows[w] = [t for j, t in enumerate(windows[w], start) if not word.first <= j < word.last]
        logits = predictor.calibrated_logits_ids(occlusion.windows() + windows)[0]
        before, after = logits[:2].mean(axis=0), logits[2:].mean(axis=0)
        assert explanation.words[i].weight == pytest.approx(log_odds(before, k) - log_odds(after, k), abs=1e-4)


def test_more_words_than_the_limit_are_explained_in_the_most_decisive_window(tiny_bundle_path):
    predictor = Predictor.load(tiny_bundle_path)
    text = "w1 w2 w3 w4 " * 12 + "w5 w6 bad w7 w8 bad"  # 54 words, one window
    explanation = explain(predictor, text, max_words=10)  # (a window with more words: its first ones)
    assert len(explanation.words) == 10 and explanation.excerpt == (0, explanation.words[-1].end)
    long = "w1 w2 w3 w4 " * 20 + "w5 w6 bad w7 w8 bad"  # 86 words: windows from 0 and 22
    explanation = explain(predictor, long, max_words=64)
    assert explanation.windows == 2 and explanation.label == "negative"
    start, end = explanation.excerpt
    assert long[start:end].endswith("bad") and len(explanation.words) == 64  # the window with "bad" in it
    assert long[:start].count(" ") == 22
    assert explanation.probabilities == pytest.approx(predictor.predict([long])[0].probabilities, abs=1e-6)
