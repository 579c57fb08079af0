"""model/scripts.py: which scripts text is written in, what a model was trained on, the warning."""

from __future__ import annotations

import pytest

from model.text.scripts import (
    LATIN,
    TrainedScripts,
    letter_scripts,
    mostly_unspaced,
    script_of,
    script_shares,
    script_units,
    trained_scripts,
    unseen_script_warning,
    unseen_script_warnings,
)

ENGLISH = TrainedScripts(frozenset({LATIN}), "English")


@pytest.mark.parametrize(("letter", "script"), [
    ("a", "latin"), ("é", "latin"), ("ß", "latin"), ("中", "han"), ("の", "hiragana"), ("カ", "katakana"),
    ("ｶ", "katakana"), ("ａ", "latin"), ("한", "hangul"), ("ก", "thai"), ("ب", "arabic"), ("ж", "cyrillic"),
    ("λ", "greek"), ("ק", "hebrew"), ("क", "devanagari"),
])
def test_script_of_a_letter(letter, script):
    assert script_of(letter) == script


def test_letters_are_counted_and_the_rest_ignored():
    assert letter_scripts("a good film, 10/10!") == {LATIN: 9}
    assert letter_scripts("这个movie太boring了 😡") == {"han": 4, LATIN: 11}
    assert letter_scripts("123 !? 😍") == {}


def test_units_are_words_of_alphabets_and_cjk_characters_and_codes_are_not_counted():
    assert script_units("a good film, 10/10!") == {LATIN: 3}
    assert script_units("这个movie太boring了 😡") == {"han": 4, LATIN: 2}
    assert script_units("支持TF卡（256M）DVMP3") == {"han": 3, LATIN: 1}  # 256M, DVMP3: codes
    assert script_units("an MP3 player, 4K") == {LATIN: 2}
    assert script_units("очень хороший фильм 2024") == {"cyrillic": 3}
    assert script_units("123 !? 😍") == {}


def test_a_chinese_product_line_with_latin_model_codes_gets_no_warning():
    chinese_model = TrainedScripts(frozenset({"han"}), "Han (Chinese characters)-script text")
    for text in ["支持TF卡（256M）DVMP3", "这个iPhone很好用", "买了个SSD硬盘，速度很快"]:
        assert unseen_script_warning(text, chinese_model, "m") is None, text
    assert unseen_script_warning("great phone, fast SSD, 好", chinese_model, "m") is not None


def test_shares_over_many_texts_largest_first():
    shares = script_shares(["这部电影很好", "good", "", "🎬"])
    assert list(shares) == ["han", LATIN] and shares == {"han": 0.6, LATIN: 0.4}
    assert script_shares(["123"]) == {}


def test_mostly_unspaced_when_more_than_half_the_letters_are_in_scripts_without_spaces():
    assert mostly_unspaced(script_shares(["这部电影很好", "good"]))  # han 0.6
    assert mostly_unspaced({"thai": 1.0}) and mostly_unspaced({"hiragana": 0.3, "han": 0.3, "latin": 0.4})
    assert not mostly_unspaced({"han": 0.5, "latin": 0.5}) and not mostly_unspaced({"hangul": 1.0})  # Korean: spaces
    assert not mostly_unspaced({})  # no letters


def test_what_a_model_was_trained_on():
    recorded = trained_scripts({"data": {"scripts": {"han": 0.9, LATIN: 0.08, "greek": 0.02}}}, "word")
    assert recorded == TrainedScripts(frozenset({"han", LATIN}), "Han (Chinese characters) and Latin-script text")
    # bundles from before scripts were recorded: a wordpiece model reads MiniLM's English vocabulary...
    assert trained_scripts({"data": {}}, "wordpiece") == ENGLISH
    assert trained_scripts({}, "wordpiece", ["中", "的"]) == ENGLISH
    # ... a word/bpe vocabulary was learnt from the training text
    assert trained_scripts({}, "word", ["<pad>", "<unk>", "电", "影", "##好"]).scripts == {"han"}
    assert trained_scripts({}, "bpe", ["<pad>", "<unk>", "good", "##ly"]).scripts == {LATIN}
    assert trained_scripts({}, "bpe", ["<pad>", "<unk>", "1"]) is None  # no letters (special tokens aside)
    assert trained_scripts({"data": {"scripts": {}}}, "word") is None  # no letters at all: nothing to warn about


def test_a_text_mostly_in_an_unseen_script_gets_a_warning():
    warning = unseen_script_warning("这部电影非常好看，演员的表演很出色。", ENGLISH, "the model version 'bundled'")
    assert warning == ("the model version 'bundled' was trained on English; this text's words are mostly in "
                       "other scripts (Han (Chinese characters) 100%), so its prediction may mean little")
    japanese = unseen_script_warning("この映画はとても面白かったです。", ENGLISH, "m")
    assert "Hiragana (Japanese) 73%" in japanese and "Han (Chinese characters) 27%" in japanese
    for text in ["a gorgeous, witty film", "un film très émouvant", "loved it 😍🔥", "the film was 很好, really",
                 "🎬🍿👍"]:
        assert unseen_script_warning(text, ENGLISH, "m") is None, text
    chinese_model = TrainedScripts(frozenset({"han"}), "Han (Chinese characters)-script text")
    assert "Latin 100%" in unseen_script_warning("a gorgeous film", chinese_model, "m")
    assert unseen_script_warning("好看", chinese_model, "m") is None


def test_warnings_for_a_request_are_empty_when_there_are_none():
    assert unseen_script_warnings(["good", "bad"], ENGLISH, "m") == []
    assert unseen_script_warnings(["good", "très bon"], ENGLISH, "m") == []
    assert unseen_script_warnings(["good", "很好"], None, "m") == []
    first, second = unseen_script_warnings(["good", "很好"], ENGLISH, "m")
    assert first is None and second.startswith("m was trained on English")
