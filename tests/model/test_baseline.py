"""The linear baseline (model/training/baseline.py, model/training/tfidf.py): accurate where words decide, deterministic,
language-agnostic, and as good as scikit-learn's pipeline on the same features."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from model import TrainingCancelled
from model.data import Dataset, stratified_split
from model.text.tfidf import CHAR, TOKEN, WORD, HashedTfidf, csr, spaced
from model.training.baseline import BaselineConfig, fit_baseline
from model.training.sparse_linear import log_count_ratios
from tests.support.data import keyword_examples, negation_examples, order_examples

ROOT = Path(__file__).resolve().parents[2]


def split(texts: list[str], labels: list[str], dev_fraction: float = 0.25) -> tuple[Dataset, Dataset]:
    return stratified_split(Dataset(texts, labels, lines=list(range(2, len(texts) + 2))), dev_fraction, seed=13)


def test_separable_keywords_are_learned_and_reported_like_the_rnn():
    train, dev = split(*keyword_examples(400, seed=1))
    result = fit_baseline(train, dev, label_names={"0": "negative", "1": "positive"})
    assert result.metrics["accuracy"] >= 0.97, result.metrics
    assert result.metrics["labels"] == ["negative", "positive"]  # the RNN's names, via label_names
    assert result.metrics["n"] == len(dev) == 100
    assert set(result.metrics) >= {"macro_f1", "per_class", "confusion_matrix", "loss", "ece"}
    assert result.seconds > 0 and result.c in BaselineConfig().c_grid and result.train_examples == len(train)
    record = result.to_dict()
    assert record["metrics"] == result.metrics and [g["c"] for g in record["grid"]] == [1.0, 4.0, 16.0]


def test_word_bigrams_read_adjacent_negation_but_not_order():
    """What a bag of n-grams can and cannot see: "not good" is a bigram; "x ... y" against "y ... x" is not."""
    assert fit_baseline(*split(*negation_examples(600, seed=2))).metrics["accuracy"] >= 0.9
    assert fit_baseline(*split(*order_examples(600, seed=2))).metrics["accuracy"] <= 0.65


def test_same_data_give_the_same_model():
    train, dev = split(*keyword_examples(300, seed=4))
    first, second = fit_baseline(train, dev), fit_baseline(train, dev)
    assert first.metrics == second.metrics  # loss and ECE included: the same logits to the last bit
    assert first.grid == second.grid and first.c == second.c


def test_features_do_not_depend_on_pythons_hash_seed():
    """n-grams are hashed with blake2b and FNV-1a, never the per-process salted ``hash()``."""
    code = (
        "from model.text.tfidf import HashedTfidf; x = HashedTfidf().fit_transform(['a fine film!', '很好看的书']); "
        "print(x.col_indices().tolist(), [round(v, 6) for v in x.values().tolist()])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env=os.environ | {"PYTHONHASHSEED": seed},
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1 and next(iter(outputs)).startswith("[")


def test_chinese_text_without_word_boundaries_is_learned_from_characters():
    rng = random.Random(5)
    filler, positive, negative = (
        "的了是我这本书也很都还",
        ("好看", "喜欢", "满意", "推荐"),
        ("难看", "失望", "糟糕", "退货"),
    )
    texts, labels = [], []
    for _ in range(400):
        good = rng.random() < 0.5
        chars = rng.choices(filler, k=rng.randint(3, 8))
        chars.insert(rng.randint(0, len(chars)), rng.choice(positive if good else negative))
        texts.append("".join(chars))  # one "word" to the tokenizer: only character n-grams carry signal
        labels.append("好评" if good else "差评")
    assert all(len(TOKEN.findall(t)) == 1 for t in texts)
    result = fit_baseline(*split(texts, labels))
    assert result.metrics["accuracy"] >= 0.95, result.metrics
    assert result.metrics["labels"] == ["好评", "差评"]


def test_unseen_dev_text_still_gets_a_prediction():
    vectorizer = HashedTfidf()
    x = vectorizer.fit_transform(["good film", "bad film"])
    dev = vectorizer.transform(["qqq", "good"])
    assert dev.shape == (2, x.shape[1])
    assert dev.crow_indices().tolist()[:2] == [0, 0]  # nothing known in "qqq": an empty row, not an error
    row = dev.to_dense()[1]
    assert torch.isclose(row.norm(), torch.tensor(2.0).sqrt())  # word and character parts, each of norm 1


def test_a_long_training_split_is_sampled_to_the_character_budget():
    train, dev = split(*keyword_examples(400, seed=6))
    budget = sum(map(len, train.texts)) // 2
    result = fit_baseline(train, dev, config=BaselineConfig(max_train_chars=budget))
    assert len(train) // 3 < result.train_examples < len(train)
    assert result.metrics["accuracy"] >= 0.9


@pytest.mark.parametrize(
    "config,message",
    [
        (BaselineConfig(char_ngrams=(3, 2)), "char_ngrams must be"),
        (BaselineConfig(buckets=1000), "power of two"),
        (BaselineConfig(c_grid=()), "c_grid"),
        (BaselineConfig(max_train_chars=0), "max_train_chars"),
    ],
)
def test_invalid_settings_say_what_is_allowed(config, message):
    with pytest.raises(ValueError, match=message):
        config.validate()


def test_should_stop_cancels_the_fit():
    train, dev = split(*keyword_examples(200, seed=7))
    with pytest.raises(TrainingCancelled):
        fit_baseline(train, dev, should_stop=lambda: True)


def weak_cue_examples(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Each text has three cue words, each from its own class's half of 40 with probability 0.7, among
    filler: a noisy bag-of-words task (Bayes rate ~78%) where how well a model is fitted shows."""
    rng = random.Random(seed)
    cues = {"1": [f"up{i}" for i in range(20)], "0": [f"down{i}" for i in range(20)]}
    texts, labels = [], []
    for _ in range(n):
        label = rng.choice("01")
        other = "0" if label == "1" else "1"
        words = rng.choices([f"w{i}" for i in range(30)], k=rng.randint(3, 8))
        for _ in range(3):
            words.insert(rng.randint(0, len(words)), rng.choice(cues[label if rng.random() < 0.7 else other]))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def chinese_weak_cue_examples(n: int, seed: int) -> tuple[list[str], list[str]]:
    """``weak_cue_examples`` in Chinese without spaces: three two-character cue words among filler characters."""
    rng = random.Random(seed)
    hanzi = [chr(0x4E00 + i) for i in range(0, 3000, 7)]  # 429 distinct characters
    cues = {
        "好评": [a + b for a, b in zip(hanzi[:20], hanzi[20:40])],
        "差评": [a + b for a, b in zip(hanzi[40:60], hanzi[60:80])],
    }
    filler = hanzi[80:110]
    texts, labels = [], []
    for _ in range(n):
        label = rng.choice(list(cues))
        other = "差评" if label == "好评" else "好评"
        words = rng.choices(filler, k=rng.randint(3, 8))
        for _ in range(3):
            words.insert(rng.randint(0, len(words)), rng.choice(cues[label if rng.random() < 0.7 else other]))
        texts.append("".join(words))
        labels.append(label)
    return texts, labels


def sklearn_accuracy(train: Dataset, dev: Dataset, config: BaselineConfig, words: bool) -> float:
    """scikit-learn's TF-IDF (word n-grams only if ``words``) + LogisticRegression, C chosen on dev from the grid."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_union

    chars = TfidfVectorizer(analyzer="char", ngram_range=config.char_ngrams, sublinear_tf=True)
    word = TfidfVectorizer(ngram_range=config.word_ngrams, token_pattern=TOKEN.pattern, sublinear_tf=True)
    features = make_union(word, chars) if words else chars
    x_train, x_dev = features.fit_transform(train.texts), features.transform(dev.texts)
    return max(
        LogisticRegression(C=c, max_iter=1000).fit(x_train, train.labels).score(x_dev, dev.labels)
        for c in config.c_grid
    )


@pytest.mark.parametrize(
    "examples,words", [(weak_cue_examples, True), (chinese_weak_cue_examples, False)], ids=["english", "chinese"]
)
def test_accuracy_is_within_half_a_point_of_scikit_learns(examples, words):
    """The same model as scikit-learn's TfidfVectorizer + LogisticRegression, C chosen on dev for both:
    for Chinese, character n-grams alone (word n-grams are left out for unspaced text)."""
    pytest.importorskip("sklearn", reason="scikit-learn is the reference: pip install -e '.[dev]'")
    train, dev = split(*examples(4000, seed=8), dev_fraction=0.4)
    config = BaselineConfig()
    ours = fit_baseline(train, dev, config=config).metrics["accuracy"]
    theirs = sklearn_accuracy(train, dev, config, words)
    assert 0.65 < theirs < 0.9  # neither trivial nor hopeless, so the comparison means something
    assert abs(ours - theirs) <= 0.005, (ours, theirs)


def test_word_ngrams_only_for_text_written_with_spaces():
    assert spaced("a fine film!") and spaced("Ein schöner Film") and spaced("좋은 영화") and spaced("123 !")
    assert not spaced("很好看的书") and not spaced("とても良い映画") and not spaced("หนังดีมาก")
    assert not spaced("这本书 very 好看好看好看")  # mostly Han: a few Latin words do not make it spaced
    vectorizer = HashedTfidf()
    x = vectorizer.fit_transform(["很好看的书", "a fine film"])
    kinds = vectorizer.kind[x.col_indices().numpy()]
    crow = x.crow_indices().tolist()
    assert set(kinds[crow[0] : crow[1]]) == {CHAR}  # no whole-clause "word" for the Chinese text
    assert set(kinds[crow[1] : crow[2]]) == {WORD, CHAR}


def test_progress_is_reported_once_the_features_are_built_and_after_each_c():
    events = []
    fit_baseline(*split(*keyword_examples(200, seed=9)), progress=events.append)
    # the features, the plain model's grid, then the log-count-ratio scaled model's
    assert [(e["stage"], e["step"], e["steps"]) for e in events] == [("baseline", i, 7) for i in range(1, 8)]
    assert [e.get("c") for e in events] == [None, 1.0, 4.0, 16.0, 1.0, 4.0, 16.0]
    events.clear()
    fit_baseline(*split(*keyword_examples(200, seed=9)), config=BaselineConfig(nb_weights=False),
                 progress=events.append)
    assert [(e["step"], e["steps"]) for e in events] == [(i, 4) for i in (1, 2, 3, 4)]


def test_log_count_ratios_are_the_largest_one_against_the_rest_ratio_per_column():
    # three texts of class 0, one of class 1; column 0 in every text, column 1 only in class 1's,
    # column 2 in two of class 0's (the signed hash may store a feature as a negative entry)
    x = csr(np.array([0, 2, 4, 5, 7]), np.array([0, 2, 0, 2, 0, 0, 1]),
            np.array([0.5, -0.3, 0.2, 0.4, 0.1, 0.7, -0.6], dtype=np.float32), (4, 3))
    y = torch.tensor([0, 0, 0, 1])
    r = log_count_ratios(x, y, 2).numpy()
    p, q = np.array([3, 0, 2]) + 1.0, np.array([1, 1, 0]) + 1.0  # class 0's counts, class 1's, plus one
    np.testing.assert_allclose(r, np.abs(np.log(p / p.sum()) - np.log(q / q.sum())), rtol=1e-6)
    # with two classes, one class's ratio is the other's negated: one scale, whichever is "one"
    np.testing.assert_allclose(log_count_ratios(x, 1 - y, 2).numpy(), r, rtol=1e-6)


def test_the_scaled_model_serves_what_it_scored_and_is_stored_beside_the_plain_one():
    train, dev = split(*chinese_weak_cue_examples(1200, seed=4), dev_fraction=0.3)
    result = fit_baseline(train, dev)
    nb = result.nb
    assert nb is not None and nb.features == result.features and nb.labels == result.labels
    # its scale is folded into the served weights: the linear model's own predictions give its dev accuracy
    predicted = nb.linear.logits(dev.texts).argmax(1)
    assert np.mean([nb.labels[i] == y for i, y in zip(predicted, dev.labels)]) == pytest.approx(nb.metrics["accuracy"])
    assert not np.allclose(nb.linear.weight, result.linear.weight)
    again = type(result).from_dict(result.to_dict(), result.linear, nb_linear=nb.linear)
    assert again.nb.c == nb.c and again.nb.grid == nb.grid and again.nb.metrics == nb.metrics
    assert fit_baseline(train, dev, config=BaselineConfig(nb_weights=False)).nb is None


def test_ten_classes_of_16k_texts_fit_in_seconds():
    """A generous bound (the machine may be shared); benchmarks/baseline_sst2.py --ten-classes measures it."""
    rng = random.Random(10)
    cues = [[f"c{k}w{i}" for i in range(40)] for k in range(10)]
    texts, labels = [], []
    for _ in range(17_000):
        k = rng.randrange(10)
        words = rng.choices([f"f{i}x" for i in range(3000)], k=rng.randint(8, 30)) + [rng.choice(cues[k])]
        texts.append(" ".join(words))
        labels.append(str(k))
    data = Dataset(texts, labels, lines=list(range(2, len(texts) + 2)))
    result = fit_baseline(data.subset(list(range(16_000))), data.subset(list(range(16_000, 17_000))))
    assert result.metrics["accuracy"] >= 0.9
    assert result.seconds < 60, result.seconds
