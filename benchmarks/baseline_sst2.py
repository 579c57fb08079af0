"""The linear baseline every training job fits (``model/training/baseline.py``) on SST-2: fit time and dev
accuracy, with scikit-learn's TfidfVectorizer + LogisticRegression on the same n-grams and C grid beside it when it
is installed (``pip install -e '.[dev]'``). ``--ten-classes`` times both on a synthetic 10-class set of 16k texts
(the case where one-vs-rest or a slow fit would show); ``baseline_zh.py`` does the same on Chinese.

    python benchmarks/baseline_sst2.py --train-examples 20000   # a seeded 20k sample of SST-2 train, 2 threads
    python benchmarks/baseline_sst2.py --threads 1              # as a training job runs it (SENTIMENT_TRAINING_THREADS=1)
    python benchmarks/baseline_sst2.py --ten-classes            # 16k training texts, 2k dev, 10 classes
    python benchmarks/baseline_sst2.py --quick                  # first 3000 training examples: checks the script
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

import torch  # noqa: E402

from model import load_dataset  # noqa: E402
from model.data import Dataset  # noqa: E402
from model.text.tfidf import TOKEN, spaced  # noqa: E402
from model.training.baseline import BaselineConfig, fit_baseline  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "sst2"
QUICK_EXAMPLES = 3000


def sklearn_figures(train, dev, config: BaselineConfig) -> tuple[float, float, float] | None:
    """(seconds, dev accuracy, C) for scikit-learn on our n-grams (word n-grams only if most texts are
    spaced, as ``tfidf.py`` decides per text) and C grid; None without scikit-learn."""
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_union
    except ImportError:
        print("scikit-learn is not installed (pip install -e '.[dev]'): no reference figures")
        return None
    t0, best = time.perf_counter(), (-1.0, None)
    chars = TfidfVectorizer(analyzer="char", ngram_range=config.char_ngrams, sublinear_tf=True)
    if 2 * sum(map(spaced, train.texts)) > len(train):
        words = TfidfVectorizer(ngram_range=config.word_ngrams, token_pattern=TOKEN.pattern, sublinear_tf=True)
        features = make_union(words, chars)
    else:
        features = chars
    x_train = features.fit_transform(train.texts)
    x_dev = features.transform(dev.texts)
    for c in config.c_grid:
        model = LogisticRegression(C=c, max_iter=1000).fit(x_train, train.labels)
        accuracy = model.score(x_dev, dev.labels)
        best = max(best, (accuracy, c), key=lambda b: b[0])
    return time.perf_counter() - t0, *best


def compare(name: str, train: Dataset, dev: Dataset, with_sklearn: bool = True) -> None:
    """Fit ours and scikit-learn's on ``train``, choose C on ``dev``, print a line for each."""
    config = BaselineConfig()
    print(
        f"{name}: {len(train)} training examples, {len(dev)} dev, {len(set(train.labels))} classes; "
        f"{torch.get_num_threads()} torch thread(s); word {config.word_ngrams} (spaced scripts) + "
        f"char {config.char_ngrams} n-grams, C from {list(config.c_grid)}"
    )
    result = fit_baseline(train, dev, config=config)
    grid = ", ".join(f"C={c:g}: {a:.4f}" for c, a in result.grid.items())
    print(
        f"  {'ours (model/training/baseline.py)':<36} {result.seconds:6.1f} s  dev accuracy "
        f"{result.metrics['accuracy']:.4f}  C={result.c:g}  ({grid}; {result.features} features)"
    )
    reference = sklearn_figures(train, dev, config) if with_sklearn else None
    if reference is not None:
        seconds, accuracy, c = reference
        print(f"  {'scikit-learn':<36} {seconds:6.1f} s  dev accuracy {accuracy:.4f}  C={c:g}")


def ten_classes(n: int, seed: int = 0) -> Dataset:
    """Texts of 8-30 filler words (of 3000) and 3 cue words, each from the text's class's 40 with
    probability 0.6 and else from a random class's: a noisy 10-class bag-of-words task."""
    rng = random.Random(seed)
    filler = [f"f{i}x" for i in range(3000)]
    cues = [[f"c{k}w{i}" for i in range(40)] for k in range(10)]
    texts, labels = [], []
    for _ in range(n):
        k = rng.randrange(10)
        words = rng.choices(filler, k=rng.randint(8, 30))
        for _ in range(3):
            words.insert(rng.randint(0, len(words)), rng.choice(cues[k if rng.random() < 0.6 else rng.randrange(10)]))
        texts.append(" ".join(words))
        labels.append(str(k))
    return Dataset(texts, labels, lines=list(range(2, n + 2)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA, help=f"holds train.tsv and dev.tsv (default {DEFAULT_DATA})"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--train-examples", type=int, help="a seeded random sample of this many training examples")
    parser.add_argument("--quick", action="store_true", help=f"first {QUICK_EXAMPLES} training examples only")
    parser.add_argument("--ten-classes", action="store_true", help="a synthetic 10-class set (16k train, 2k dev)")
    parser.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn reference")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.ten_classes:
        data = ten_classes(18_000)
        compare(
            "10 classes (synthetic)",
            data.subset(list(range(16_000))),
            data.subset(list(range(16_000, 18_000))),
            not args.no_sklearn,
        )
        return 0
    train = load_dataset(args.data_dir / "train.tsv")
    dev = load_dataset(args.data_dir / "dev.tsv")
    if args.quick:
        train = train.subset(list(range(QUICK_EXAMPLES)))
    elif args.train_examples and args.train_examples < len(train):
        train = train.subset(sorted(random.Random(0).sample(range(len(train)), args.train_examples)))
    compare("SST-2", train, dev, not args.no_sklearn)
    return 0


if __name__ == "__main__":
    sys.exit(main())
