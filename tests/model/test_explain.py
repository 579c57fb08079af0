"""model/explain.py: words from a tokenizer's encoding, the occlusion variants and the weights."""

from __future__ import annotations

import pytest

from model.bundle import load_tokenizer
from model.config import TokenizerConfig
from model.inference.explain import Occlusion, Word, explain, words_of
from model.inference.prediction import Prediction
from model.text.tokenizer import build_tokenizer
from tests.support.long_reviews import BUNDLED

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


def test_each_cjk_character_is_a_word_with_its_offset(tokenizer):
    text = "  这部电影很好看!"
    assert spans(tokenizer, text) == [*"这部电影很好看", "!"]
    assert Occlusion.of(tokenizer, text).words[0].start == 2


def test_emoji_offsets_count_code_points():
    """Offsets are Python string indices (code points), also past characters outside the BMP."""
    wordpiece = load_tokenizer(BUNDLED)[0]
    text = "great 😀👍🏽 film, café"
    assert spans(wordpiece, text) == ["great", "😀👍🏽", "film", ",", "café"]
    word, trained = build_tokenizer(TokenizerConfig(tokenizer="word"), CORPUS), "I like it 😀 很好"
    assert spans(word, trained) == ["I", "like", "it", "😀", "很", "好"]


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


def p(positive: float) -> Prediction:
    return Prediction("positive" if positive >= 0.5 else "negative", max(positive, 1 - positive),
                      {"negative": 1 - positive, "positive": positive})


def test_weights_are_the_fall_of_the_predicted_labels_probability():
    occlusion = Occlusion("not good", [5, 6], [Word(0, 3, 0, 1), Word(4, 8, 1, 2)], unk_id=1)
    explanation = occlusion.explain([p(0.25), p(0.75), p(0.375)])  # label negative, 0.75
    assert (explanation.label, explanation.score, explanation.windows) == ("negative", 0.75, 1)
    assert [(w.text, w.start, w.end, w.weight) for w in explanation.words] == [
        ("not", 0, 3, 0.75 - 0.25),  # without "not" the text reads positive: "not" speaks for negative
        ("good", 4, 8, 0.75 - 0.625),
    ]
    with pytest.raises(ValueError, match="expected 3 predictions"):
        occlusion.explain([p(0.25)])


def test_explain_in_process_puts_the_deciding_word_first(tiny_bundle_path):
    """On the negation task: the sentiment word, or the "not" that flips it (without it the text
    reads the other way)."""
    from model import Predictor

    predictor = Predictor.load(tiny_bundle_path)
    for text, label, top in [("w1 w2 good w3", "positive", "good"), ("w4 bad w5", "negative", "bad"),
                             ("w1 not good w2", "negative", "not")]:
        explanation = explain(predictor, text)
        assert explanation.label == label
        assert max(explanation.words, key=lambda w: w.weight).text == top, explanation
        assert explanation.score == predictor.predict([text])[0].score
    with pytest.raises(ValueError, match="has 4 words; at most 3"):
        explain(predictor, "w1 w2 good w3", max_words=3)
