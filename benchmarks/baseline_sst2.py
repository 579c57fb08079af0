"""The linear baseline every training job fits (``model/baseline.py``) on SST-2: fit time and dev accuracy,
with scikit-learn's TfidfVectorizer + LogisticRegression on the same n-grams and C grid beside it when it is
installed (``pip install -e '.[dev]'``).

    python benchmarks/baseline_sst2.py                 # SST-2 train (67k phrases) and dev, 2 threads
    python benchmarks/baseline_sst2.py --threads 1     # as a training job runs it (SENTIMENT_TRAINING_THREADS=1)
    python benchmarks/baseline_sst2.py --quick         # first 3000 training examples: checks the script
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

import torch  # noqa: E402

from model import load_dataset  # noqa: E402
from model.training.baseline import BaselineConfig, fit_baseline  # noqa: E402
from model.training.tfidf import TOKEN  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "sst2"
QUICK_EXAMPLES = 3000


def sklearn_figures(train, dev, config: BaselineConfig) -> list[tuple[str, float, float, float]]:
    """(what, seconds, dev accuracy, C) for scikit-learn on our n-grams and grid, and on word 1-2-grams
    alone at its default C (the shared data README's 0.817); [] without scikit-learn."""
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union
    except ImportError:
        print("scikit-learn is not installed (pip install -e '.[dev]'): no reference figures")
        return []

    def words(ngrams):
        return TfidfVectorizer(ngram_range=ngrams, token_pattern=TOKEN.pattern, sublinear_tf=True)

    rows = []
    t0, best = time.perf_counter(), (-1.0, None)
    features = make_union(
        words(config.word_ngrams), TfidfVectorizer(analyzer="char", ngram_range=config.char_ngrams, sublinear_tf=True)
    )
    x_train, x_dev = features.fit_transform(train.texts), None
    x_dev = features.transform(dev.texts)
    for c in config.c_grid:
        model = LogisticRegression(C=c, max_iter=1000).fit(x_train, train.labels)
        accuracy = model.score(x_dev, dev.labels)
        best = max(best, (accuracy, c), key=lambda b: b[0])
    rows.append((f"sklearn, same n-grams, C from {list(config.c_grid)}", time.perf_counter() - t0, *best))
    t0 = time.perf_counter()
    model = make_pipeline(words((1, 2)), LogisticRegression(max_iter=1000)).fit(train.texts, train.labels)
    rows.append(
        ("sklearn, word 1-2-grams only, C=1", time.perf_counter() - t0, model.score(dev.texts, dev.labels), 1.0)
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA, help=f"holds train.tsv and dev.tsv (default {DEFAULT_DATA})"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--quick", action="store_true", help=f"first {QUICK_EXAMPLES} training examples only")
    parser.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn reference")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    train = load_dataset(args.data_dir / "train.tsv")
    dev = load_dataset(args.data_dir / "dev.tsv")
    if args.quick:
        train = train.subset(list(range(QUICK_EXAMPLES)))
    config = BaselineConfig()
    print(
        f"SST-2: {len(train)} training examples, {len(dev)} dev; {args.threads} torch thread(s); "
        f"word {config.word_ngrams} + char {config.char_ngrams} n-grams, {config.buckets} buckets each"
    )
    result = fit_baseline(train, dev, config=config)
    grid = ", ".join(f"C={c:g}: {a:.4f}" for c, a in result.grid.items())
    print(
        f"{'baseline (model/baseline.py)':<52} {result.seconds:6.1f} s  dev accuracy {result.metrics['accuracy']:.4f}"
        f"  C={result.c:g}  ({grid}; {result.features} features)"
    )
    for what, seconds, accuracy, c in [] if args.no_sklearn else sklearn_figures(train, dev, config):
        print(f"{what:<52} {seconds:6.1f} s  dev accuracy {accuracy:.4f}  C={c:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
