import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import TokenizerConfig
from model.text.tokenizer import TextTokenizer, build_tokenizer

CORPUS = [
    "This movie doesn't work, and it's dull.",
    "I loved it 😀 !",
    "日本語の映画です",
    "中文电影很好",
    "ﬁne acting",
    "they're good",
    "カタカナ",
]


@pytest.fixture(scope="module")
def word_tokenizer() -> TextTokenizer:
    return build_tokenizer(TokenizerConfig(tokenizer="word", max_length=32), CORPUS)


def test_save_and_load_gives_identical_ids(word_tokenizer, tmp_path):
    path = tmp_path / "tokenizer.json"
    word_tokenizer.save(path)
    loaded = TextTokenizer.load(path, max_length=32)
    texts = CORPUS + ["unseen words here", ""]
    assert loaded.encode_batch(texts) == word_tokenizer.encode_batch(texts)
    assert (loaded.pad_id, loaded.unk_id, loaded.vocab_size) == (
        word_tokenizer.pad_id,
        word_tokenizer.unk_id,
        word_tokenizer.vocab_size,
    )


def test_from_str_matches_file(word_tokenizer):
    loaded = TextTokenizer.from_str(word_tokenizer.tokenizer.to_str(), max_length=32)
    assert loaded.encode_batch(CORPUS) == word_tokenizer.encode_batch(CORPUS)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("日本語の映画", ["日", "本", "語", "の", "映", "画"]),
        ("中文电影", ["中", "文", "电", "影"]),
        ("カタカナ", ["カ", "タ", "カ", "ナ"]),
    ],
)
def test_each_cjk_character_is_a_token(word_tokenizer, text, tokens):
    assert word_tokenizer.tokenize(text) == tokens


def test_cjk_next_to_latin_splits(word_tokenizer):
    assert word_tokenizer.tokenize("good中文") == ["good", "中", "文"]


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("doesn't", ["does", "n't"]),
        ("Doesn't", ["does", "n't"]),
        ("doesn’t", ["does", "n't"]),  # typographic apostrophe
        ("it's", ["it", "'s"]),
        ("they're", ["they", "'re"]),
    ],
)
def test_contractions_split_off(word_tokenizer, text, tokens):
    assert word_tokenizer.tokenize(text) == tokens


def test_emoji_is_kept_as_its_own_token(word_tokenizer):
    assert word_tokenizer.tokenize("loved it😀!") == ["loved", "it", "😀", "!"]
    assert word_tokenizer.unk_id not in word_tokenizer.encode_batch(["😀"])[0]


def test_nfkc_normalisation(word_tokenizer):
    # The "ﬁ" ligature and full-width letters normalise to plain ASCII.
    assert word_tokenizer.tokenize("ﬁne") == ["fine"]
    assert word_tokenizer.tokenize("ＦＩＮＥ") == ["fine"]


def test_lowercase_option():
    cased = build_tokenizer(TokenizerConfig(tokenizer="word", lowercase=False), ["Good good"])
    assert cased.tokenize("Good good") == ["Good", "good"]
    assert len(set(cased.encode_batch(["Good good"])[0])) == 2


def test_long_text_is_truncated_to_max_length():
    tok = build_tokenizer(TokenizerConfig(tokenizer="word", max_length=5), ["a b c d e f g"])
    assert tok.encode_batch(["a b c d e f g " * 100]) == [tok.encode_batch(["a b c d e"])[0]]


def test_every_id_when_asked_not_to_truncate():
    tok = build_tokenizer(TokenizerConfig(tokenizer="word", max_length=5), ["a b c d e f g"])
    (ids,) = tok.encode_batch(["a b c d e f g " * 100], truncate=False)
    assert len(ids) == 700 and ids[:7] == tok.encode_batch(["a b c d e f g"], truncate=False)[0]
    assert tok.encode_batch(["a b c d e f g " * 100]) == [ids[:5]]  # the truncating tokenizer is untouched


def test_text_without_tokens_becomes_unk(word_tokenizer):
    assert word_tokenizer.encode_batch(["", "   "]) == [[word_tokenizer.unk_id]] * 2


def test_unknown_word_maps_to_unk(word_tokenizer):
    assert word_tokenizer.encode_batch(["zebra"]) == [[word_tokenizer.unk_id]]


def test_min_frequency_drops_rare_words():
    tok = build_tokenizer(TokenizerConfig(tokenizer="word", min_frequency=2), ["common rare", "common"])
    assert tok.tokenize("common rare") == ["common", "<unk>"]


def test_bpe_splits_unseen_words_into_known_pieces():
    tok = build_tokenizer(TokenizerConfig(tokenizer="bpe", max_vocab_size=60), ["lower lowest newer newest"] * 20)
    ids = tok.encode_batch(["nest"])[0]  # never seen whole; "n", "##e", "##s", "##t" were
    assert tok.unk_id not in ids
    assert len(ids) > 1


def test_wordpiece_needs_a_pretrained_file():
    with pytest.raises(ValueError, match="wordpiece"):
        build_tokenizer(TokenizerConfig(tokenizer="wordpiece"), ["text"])


def test_unknown_tokenizer_lists_the_choices():
    with pytest.raises(ValueError, match="word, bpe, wordpiece"):
        build_tokenizer(TokenizerConfig(tokenizer="sentencepiece"), ["text"])


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_text_encodes_to_known_ids_within_max_length(word_tokenizer, text):
    (ids,) = word_tokenizer.encode_batch([text])
    assert 1 <= len(ids) <= 32
    assert all(0 <= i < word_tokenizer.vocab_size for i in ids)
    assert word_tokenizer.pad_id not in ids


def test_text_spelling_a_special_token_is_plain_text(word_tokenizer, tmp_path):
    (ids,) = word_tokenizer.encode_batch(["<pad> <unk>"])
    assert word_tokenizer.pad_id not in ids
    assert len(word_tokenizer.tokenize("<pad>")) == 3  # "<", "pad", ">": split like any text
    word_tokenizer.save(tmp_path / "t.json")
    reloaded = TextTokenizer.load(tmp_path / "t.json", 32)
    assert reloaded.encode_batch(["<pad>"]) == word_tokenizer.encode_batch(["<pad>"])
