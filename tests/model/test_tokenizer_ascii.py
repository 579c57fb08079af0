"""The ASCII fast path of the BERT WordPiece tokenizer gives the library's ids exactly."""

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordPiece

from model import TokenizerConfig
from model.text.tokenizer import AsciiBertWordPiece, TextTokenizer, build_tokenizer

WORDS = ["the", "movie", "good", "bad", "not", "don", "fun", "##ny", "##s", "##ing", "un", "##believ", "##able"]


def bert_wordpiece(lowercase: bool = True, max_length: int = 64) -> TextTokenizer:
    """A small tokenizer built like the pretrained one (``build_tokenizer`` with tokenizer "wordpiece")."""
    pieces = list(string.ascii_letters + string.digits + string.punctuation)
    vocab = ["[PAD]", "[UNK]", *WORDS, *pieces, *(f"##{p}" for p in string.ascii_letters + string.digits)]
    tok = Tokenizer(WordPiece({t: i for i, t in enumerate(dict.fromkeys(vocab))}, unk_token="[UNK]",
                              max_input_chars_per_word=20))
    tok.add_special_tokens(["[PAD]", "[UNK]"])
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.BertNormalizer(lowercase=lowercase)])
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return TextTokenizer(tok, max_length)


def library_ids(tok: TextTokenizer, texts: list[str]) -> list[list[int]]:
    """The library's ids, the first max_length of each (the pipeline itself never truncates)."""
    return [enc.ids[: tok.max_length] or [tok.unk_id] for enc in tok.tokenizer.encode_batch(texts)]


@pytest.mark.parametrize("lowercase", [True, False])
@settings(max_examples=300, deadline=None)
@given(texts=st.lists(st.text(alphabet=st.characters(max_codepoint=127), max_size=80), min_size=1, max_size=5))
def test_ascii_path_equals_the_library(lowercase, texts):
    tok = bert_wordpiece(lowercase)
    assert tok._ascii is not None
    assert tok.encode_batch(texts) == library_ids(tok, texts)


def test_edge_cases_and_mixed_batches_keep_order():
    tok = bert_wordpiece(max_length=8)
    texts = ["The MOVIE wasn't funny!!", "Été naïve 東京 good", "tab\tnew\nline\x0bvt\x00nul\x7fdel",
             "", "   ", "[UNK] [PAD] don't", "x" * 30 + " good", "good " * 20, "unbelievable"]
    assert tok.encode_batch(texts) == library_ids(tok, texts)
    assert len(tok.encode_batch(["good " * 20])[0]) == 8  # truncated to max_length


def test_the_word_cache_stays_bounded(monkeypatch):
    monkeypatch.setattr(AsciiBertWordPiece, "MAX_CACHED_WORDS", 5)
    tok = bert_wordpiece()
    texts = [f"w{i} good movie {i}" for i in range(50)]
    assert tok.encode_batch(texts) == library_ids(tok, texts)
    assert len(tok._ascii.cache) <= 5


def test_other_tokenizers_take_the_library_path():
    texts = ["a good movie", "a bad movie"] * 5
    for kind in ("word", "bpe"):
        tok = build_tokenizer(TokenizerConfig(tokenizer=kind, max_vocab_size=60), texts)
        assert tok._ascii is None
    plain = bert_wordpiece()
    plain.tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    assert AsciiBertWordPiece.for_tokenizer(plain.tokenizer, 64) is None


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.text(alphabet=st.characters(max_codepoint=127), max_size=120), min_size=1, max_size=5))
def test_untruncated_ascii_path_equals_the_library_beyond_max_length(texts):
    """For prediction in windows the server asks for every id (``truncate=False``): the ASCII path
    goes on past ``max_length`` and still gives the library's ids."""
    tok = bert_wordpiece(max_length=8)
    full = tok.encode_batch(texts, truncate=False)
    assert full == tok.encode_batch(texts, library_only=True, truncate=False)
    assert [ids[:8] for ids in full] == tok.encode_batch(texts)  # the truncated ids are their start


def test_untruncated_ids_go_past_max_length():
    tok = bert_wordpiece(max_length=8)
    texts = ["good " * 20, "naïve good " * 10]  # the ASCII path, the library's path
    assert [len(ids) for ids in tok.encode_batch(texts, truncate=False)] == [20, 60]  # n ##a ##i ##v ##e good
    assert [len(ids) for ids in tok.encode_batch(texts)] == [8, 8]  # the default still truncates
