"""``auto`` tokenizer and vectors: chosen from the scripts of the training texts, and recorded."""

from __future__ import annotations

import random

import pytest

from model import Dataset, TokenizerConfig, TrainConfig
from model.training.auto import resolve_auto

ENGLISH = ["a gripping, funny film", "the plot goes nowhere", "lovely"]
CHINESE = ["这个手机很好用，电池也耐用", "质量太差了，不推荐", "物流很快"]
RUSSIAN = ["отличный телефон", "ужасное качество", "быстрая доставка"]


def chosen(texts, **overrides):
    tokenizer = TokenizerConfig(**{k: v for k, v in overrides.items() if k == "tokenizer"})
    train = TrainConfig(**{k: v for k, v in overrides.items() if k == "pretrained"})
    tok, tr, why = resolve_auto(tokenizer, train, texts)
    return tok.tokenizer, tr.pretrained, why


@pytest.mark.parametrize(("texts", "tokenizer", "pretrained"), [
    (ENGLISH, "wordpiece", "minilm"),
    (CHINESE, "word", None),
    (CHINESE + ["a short English line"], "word", None),  # mostly Han letters
    (RUSSIAN, "bpe", None),
    (["12345", ":-)"], "wordpiece", "minilm"),  # no letters: the English recipe
])
def test_auto_follows_the_script_of_the_texts(texts, tokenizer, pretrained):
    tok, vectors, why = chosen(texts)
    assert (tok, vectors) == (tokenizer, pretrained)
    assert why["tokenizer"]["value"] == tokenizer and why["pretrained"]["value"] == pretrained
    assert why["tokenizer"]["reason"] and why["pretrained"]["reason"]


def test_a_value_the_user_chose_is_kept_and_decides_the_other():
    assert chosen(CHINESE, tokenizer="wordpiece")[:2] == ("wordpiece", "minilm")
    assert chosen(ENGLISH, tokenizer="word")[:2] == ("word", None)
    assert chosen(CHINESE, pretrained="minilm")[:2] == ("wordpiece", "minilm")
    tok, vectors, why = chosen(ENGLISH, tokenizer="bpe", pretrained=None)
    assert (tok, vectors, why) == ("bpe", None, {})  # nothing auto: nothing chosen


def test_the_reason_names_the_scripts_seen():
    why = chosen(CHINESE)[2]
    assert "Han (Chinese characters) 100%" in why["tokenizer"]["reason"]


def test_training_chinese_texts_with_defaults_records_the_choice(tiny_train):
    rng = random.Random(0)
    good, bad = "好 棒 赞 满意".split(), "差 烂 坏 失望".split()
    texts, labels = [], []
    for _ in range(240):
        positive = rng.random() < 0.5
        texts.append("".join(rng.choices("这个东西我们买了用", k=4)) + rng.choice(good if positive else bad))
        labels.append("1" if positive else "0")
    data = Dataset(texts[:200], labels[:200], "<zh>")
    dev = Dataset(texts[200:], labels[200:], "<zh-dev>")
    result = tiny_train(data, dev, tokenizer="auto", pretrained="auto")
    assert result.tokenizer_config.tokenizer == "word" and result.train_config.pretrained is None
    assert result.resolved["tokenizer"]["value"] == "word"
    assert result.training_metadata()["chosen"] == result.resolved
    assert result.tokenizer.tokenize("东西好")[:3] == ["东", "西", "好"]  # one token per character
    assert result.metrics["accuracy"] > 0.9
