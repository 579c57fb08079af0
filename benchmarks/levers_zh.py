"""Which lever moves a Chinese job's published accuracy: linear models and blends, scored on dev and test.

A job publishes the best on dev of its RNN, its TF-IDF baseline, the baseline's log-count-ratio
twin and a blend (``model/training/candidates.py``). The RNN takes minutes, the rest seconds, so
the linear levers are measured here against RNN bundles trained once (``python -m model train ...
--keep rnn``): each linear model alone, and each RNN blended with each of them, the weight chosen on
dev as a job chooses it (on the 0.1 grid a job used before and on today's 0.05 grid). With
``--sklearn``: scikit-learn variants that the job does not fit (longer character n-grams, jieba's
words, naive-Bayes scaling of binary features), to say what else was tried.

    python benchmarks/levers_zh.py --train zh/train.tsv --dev zh/dev.tsv --test zh/test.tsv \\
        --rnn default=model/bundled/sentiment-zh --rnn linear-lr=rnn_A --sklearn

Prints one markdown table: dev and test accuracy and the seconds each linear fit took; with ``--refit``,
also the test accuracy with the job's linear models refitted on train and dev (a job's ``refit``).
``--write-split SEED --out DIR`` draws another split of the same examples, the same sizes, to train
an RNN on and score again (how much one split's figures move). ``--write-halves SEED --out DIR`` splits
the same examples into two disjoint halves ``DIR/a`` and ``DIR/b``, each with train, dev and test
files and a ``source.tsv`` (its train and test together): an RNN trained on one half's source is a
warm start (``--base-model``) for a job on the other half that has never seen its texts.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from model.data import load_dataset  # noqa: E402
from model.inference.linear import blend_log_probs, log_softmax  # noqa: E402
from model.inference.predictor import Predictor  # noqa: E402
from model.training.baseline import fit_baseline, refit  # noqa: E402
from model.training.candidates import RNN_WEIGHTS  # noqa: E402

OLD_WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # the grid before issue 25


def accuracy(log_probs: np.ndarray, gold: np.ndarray) -> float:
    return float((log_probs.argmax(1) == gold).mean())


def job_linears(train, dev, test, names: dict, labels: list[str], refits: dict | None = None) -> dict:
    """The job's baseline and its twin: name -> (dev log-probs, test log-probs, seconds); with ``refits``,
    each one's test log-probs once refitted on train and dev (``model.training.baseline.refit``) go there."""
    t0 = time.perf_counter()
    fitted = fit_baseline(train, dev, names)
    seconds = time.perf_counter() - t0
    order = [fitted.labels.index(label) for label in labels]
    out = {}
    for name, result in (("job baseline", fitted), ("job baseline_nb", fitted.nb)):
        logs = [log_softmax(result.linear.logits(d.texts).astype(np.float64))[:, order] for d in (dev, test)]
        out[f"{name} (C={result.c:g})"] = (*logs, seconds)
        if refits is not None:  # what a job serves with refit: the same C, fitted on train and dev together
            linear = refit(train, dev, result.c, result is fitted.nb)
            refits[f"{name} (C={result.c:g})"] = log_softmax(linear.logits(test.texts).astype(np.float64))[:, order]
    return out


def write_split(paths: list[Path], seed: int, out: Path) -> None:
    """The examples of ``paths`` (train, dev, test) shuffled with ``seed`` and split again into files of
    the same sizes under ``out``: another draw of the same data, to see how much one split's figures move."""
    header, rows, sizes = shuffled_lines(paths, seed)
    out.mkdir(parents=True, exist_ok=True)
    start = 0
    for path, size in zip(paths, sizes):
        write_lines(out / path.name, header, rows[start : start + size])
        start += size


def shuffled_lines(paths: list[Path], seed: int) -> tuple[str, list[str], list[int]]:
    """The header of the first file, every file's example lines shuffled together with ``seed``, and
    how many lines each file had."""
    files = [path.read_text(encoding="utf-8").rstrip("\n").split("\n") for path in paths]
    header, parts = files[0][0], [lines[1:] for lines in files]
    rows = [row for part in parts for row in part]
    random.Random(seed).shuffle(rows)
    return header, rows, [len(part) for part in parts]


def write_halves(paths: list[Path], seed: int, out: Path, dev: int = 1000, test: int = 1680) -> None:
    """The examples of ``paths`` shuffled with ``seed`` and cut into two disjoint halves, each written as
    train/dev/test (``dev`` and ``test`` examples, the rest train) and source (train and test), so that
    a model trained on one half's source can be the warm start of a job on the other half."""
    header, rows, _ = shuffled_lines(paths, seed)
    half = len(rows) // 2
    for name, block in (("a", rows[:half]), ("b", rows[half:])):
        cut = len(block) - dev - test
        files = {"train": block[:cut], "dev": block[cut : cut + dev], "test": block[cut + dev :],
                 "source": block[:cut] + block[cut + dev :]}
        (out / name).mkdir(parents=True, exist_ok=True)
        for file, lines in files.items():
            write_lines(out / name / f"{file}.tsv", header, lines)


def write_lines(path: Path, header: str, lines: list[str]) -> None:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")


def sklearn_linears(train, dev, test, gold: dict[str, np.ndarray]) -> dict:
    """scikit-learn variants, C chosen on dev: name -> (dev log-probs, test log-probs, seconds)."""
    import jieba
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    jieba.setLogLevel(40)
    texts = [[" ".join(t.lower().split()) for t in d.texts] for d in (train, dev, test)]
    gold_train, gold_dev = gold["train"], gold["dev"]
    out = {}

    def fit(name, build, grid=(1.0, 4.0, 16.0, 64.0)):
        t0 = time.perf_counter()
        x_train, x_dev, x_test = build()
        best = None
        for c in grid:
            clf = LogisticRegression(C=c, max_iter=2000).fit(x_train, gold_train)
            score = clf.score(x_dev, gold_dev)
            if best is None or score > best[0]:
                best = (score, c, clf)
        out[f"{name} (C={best[1]:g})"] = (best[2].predict_log_proba(x_dev), best[2].predict_log_proba(x_test),
                                          time.perf_counter() - t0)

    def tfidf(**kw):
        v = TfidfVectorizer(sublinear_tf=True, lowercase=False, **kw)
        return [v.fit_transform(texts[0]), v.transform(texts[1]), v.transform(texts[2])]

    def words():
        segmented = [[" ".join(w for w in jieba.lcut(t) if w.strip()) for t in ts] for ts in texts]
        v = TfidfVectorizer(analyzer="word", token_pattern=r"\S+", ngram_range=(1, 2), sublinear_tf=True,
                            lowercase=False)
        return [v.fit_transform(segmented[0]), v.transform(segmented[1]), v.transform(segmented[2])]

    def nb(mats, binary):
        present = [(m > 0).astype(np.float64) for m in mats]
        p = 1 + present[0][gold_train == 1].sum(0)
        q = 1 + present[0][gold_train == 0].sum(0)
        r = np.asarray(np.log((p / p.sum()) / (q / q.sum()))).ravel()
        return [(b if binary else m).multiply(r).tocsr() for b, m in zip(present, mats)]

    chars = tfidf(analyzer="char", ngram_range=(1, 3))
    both = None

    def char_and_words():
        nonlocal both
        both = [sparse.hstack([a, b]).tocsr() for a, b in zip(chars, words())]
        return both

    fit("scikit-learn char 1-3", lambda: chars)
    fit("scikit-learn char 1-5", lambda: tfidf(analyzer="char", ngram_range=(1, 5)))
    fit("scikit-learn jieba words 1-2", words)
    fit("scikit-learn char 1-3 + jieba words 1-2", char_and_words)
    fit("NB-LR binary char 1-3", lambda: nb(chars, True), grid=(0.1, 0.3, 1.0, 4.0))
    fit("NB-LR tf-idf char 1-3", lambda: nb(chars, False))
    fit("NB-LR tf-idf char 1-3 + jieba words", lambda: nb(both, False))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", type=Path, required=True)
    p.add_argument("--dev", type=Path, required=True)
    p.add_argument("--test", type=Path, required=True)
    p.add_argument("--rnn", action="append", default=[], help="NAME=BUNDLE: an RNN bundle trained on --train")
    p.add_argument("--label-names", default="0=negative,1=positive")
    p.add_argument("--sklearn", action="store_true", help="also the scikit-learn variants (the [bench] extra, jieba)")
    p.add_argument("--refit", action="store_true", help="also each job linear model and blend with the linear "
                   "model refitted on train and dev (what a job serves with refit, the default)")
    write = p.add_mutually_exclusive_group()
    write.add_argument("--write-split", type=int, metavar="SEED", help="instead: write the three files' examples "
                       "shuffled with SEED and split again, same sizes, under --out, and stop")
    write.add_argument("--write-halves", type=int, metavar="SEED", help="instead: write the three files' examples "
                       "shuffled with SEED as two disjoint halves (a/ and b/, each train, dev, test and source) "
                       "under --out, and stop")
    p.add_argument("--out", type=Path, help="with --write-split or --write-halves: the folder")
    args = p.parse_args()
    for option, seed, writer in (("--write-split", args.write_split, write_split),
                                 ("--write-halves", args.write_halves, write_halves)):
        if seed is not None:
            if args.out is None:
                p.error(f"{option} needs --out")
            writer([args.train, args.dev, args.test], seed, args.out)
            return 0
    names = dict(pair.split("=") for pair in args.label_names.split(","))
    train, dev, test = (load_dataset(path) for path in (args.train, args.dev, args.test))
    labels = sorted(set(names.values()))
    gold = {k: np.array([labels.index(names.get(y, y)) for y in d.labels]) for k, d in
            (("train", train), ("dev", dev), ("test", test))}
    refits = {} if args.refit else None
    linears = job_linears(train, dev, test, names, labels, refits)
    if args.sklearn:
        linears |= sklearn_linears(train, dev, test, gold)
    print("| model | dev | test | fit s | test, refitted |\n|---|---|---|---|---|")
    if args.sklearn:  # the yardstick job_vs_baseline.py compares a job with (its C grid, its refit)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from job_vs_baseline import char_ngram_baseline, read_tsv

        y = char_ngram_baseline(*(read_tsv(path) for path in (args.train, args.dev, args.test)))
        print(f"| scikit-learn yardstick of job_vs_baseline.py (C={y['C']:g}) | {y['dev_accuracy']:.4f} | "
              f"{y['test_accuracy']:.4f} | {y['seconds']:.1f} | {y['refit_test_accuracy']:.4f} |")
    for name, (d, t, s) in linears.items():
        refitted = f"{accuracy(refits[name], gold['test']):.4f}" if refits and name in refits else ""
        print(f"| {name} | {accuracy(d, gold['dev']):.4f} | {accuracy(t, gold['test']):.4f} | {s:.1f} | {refitted} |")
    for spec in args.rnn:
        rnn_name, _, path = spec.partition("=")
        predictor = Predictor.load(path)
        if predictor.linear is not None:
            sys.exit(f"error: {path} is not an RNN bundle (train it with --keep rnn)")
        order = [predictor.labels.index(label) for label in labels]
        rnn = [np.log(np.maximum(predictor.predict_proba(d.texts)[:, order].astype(np.float64), 1e-30))
               for d in (dev, test)]
        print(f"| RNN {rnn_name} | {accuracy(rnn[0], gold['dev']):.4f} | {accuracy(rnn[1], gold['test']):.4f} | | |")
        for name, (d, t, _) in linears.items():
            for grid in (OLD_WEIGHTS, RNN_WEIGHTS):
                w = max(grid, key=lambda w: accuracy(blend_log_probs(rnn[0], d, w), gold["dev"]))
                refitted = (f"{accuracy(blend_log_probs(rnn[1], refits[name], w), gold['test']):.4f}"
                            if refits and name in refits and grid is RNN_WEIGHTS else "")
                print(f"| RNN {rnn_name} + {name}, weight {w} on dev (grid step {grid[1] - grid[0]:.2f}) | "
                      f"{accuracy(blend_log_probs(rnn[0], d, w), gold['dev']):.4f} | "
                      f"{accuracy(blend_log_probs(rnn[1], t, w), gold['test']):.4f} | | {refitted} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
