"""Distil a fine-tuned transformer into the RNN on SST-2, and print what the issue asks for.

Runs the pipeline of ``python -m model distill`` (teacher -> transfer set -> teacher logits ->
student; ``model/distill/``) on ``train.tsv`` / ``dev.tsv``, then prints, in one run:

1. the teacher's dev accuracy (and its fine-tuning time, on CUDA when there is one);
2. the student's dev accuracy with distillation and without (the same hyperparameters trained on
   the gold labels of train.tsv alone), for each of ``--seeds`` (3 by default), mean and range;
3. in-process sentences/s at batch 1, 16 and 64 (``--threads`` torch threads, 1 by default) of
   a reference bundle (``--reference``, the bundled model by default) and of the first seed's
   student, side by side, on texts neither has seen (``unseen.py``: SST-2's phrases and sentences,
   none sent twice). ``--speed-of A --speed-of B ...`` only times bundles side by side.

    python benchmarks/distill_sst2.py                                   # the full run: hours on 2 CPU cores
    python benchmarks/distill_sst2.py --limit 200 --teacher-epochs 1 \\
        --augment-per-text 2 --seeds 13 --epochs 1 --min-seconds 0.2   # checks the script (a minute)
    python benchmarks/distill_sst2.py --hidden-size 64 --cell gru        # any `python -m model train` option

The work folder (``--work-dir``, default a new temporary folder) keeps every stage, so a second
run with the same data and options skips the teacher and its logits (see the README's
Distillation section). Needs the ``[distill]`` extra (``pip install -e '.[distill]'``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402
from unseen import unseen_texts  # noqa: E402

from model import Predictor, load_dataset, train  # noqa: E402
from model.__main__ import build_parser  # noqa: E402
from model.config import DISTILL, configs_from_values, options_for  # noqa: E402
from model.distill import pipeline  # noqa: E402
from model.distill.config import AugmentConfig, TeacherConfig  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "sst2"
BUNDLED = ROOT / "model" / "bundled" / "sentiment-en"
RECIPE = "--label-names 0=negative,1=positive".split()  # SST-2's labels; the rest are the CLI's defaults
BATCHES = (1, 16, 64)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Unrecognised options are student hyperparameters, as for `python -m model train`.",
    )
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="holds train.tsv and dev.tsv")
    parser.add_argument("--work-dir", type=Path, default=None, help="the stages' folder (default: a new temp one)")
    parser.add_argument("--teacher", type=Path, default=None, help="model folder to fine-tune (default: MiniLM)")
    parser.add_argument(
        "--co-teacher", type=Path, default=None, help="a model bundle teaching beside the transformer (distill's)"
    )
    parser.add_argument("--teacher-epochs", type=int, default=TeacherConfig().epochs)
    parser.add_argument("--teacher-batch-size", type=int, default=TeacherConfig().batch_size)
    parser.add_argument("--teacher-learning-rate", type=float, default=TeacherConfig().learning_rate)
    parser.add_argument("--augment-per-text", type=int, default=AugmentConfig().per_text)
    parser.add_argument("--seeds", default="13,14,15", help="student seeds, comma-separated")
    parser.add_argument(
        "--no-labels-only",
        action="store_true",
        help="skip the same student trained on the labels alone (the other points of a sweep)",
    )
    parser.add_argument(
        "--name", default="student", help="students go to WORK_DIR/NAME-seedN (runs side by side need their own)"
    )
    parser.add_argument("--no-speed", action="store_true", help="skip the speed measurement (sweeps)")
    parser.add_argument(
        "--reference",
        type=Path,
        default=BUNDLED,
        help="the bundle the student's speed is compared with (default: the bundled model)",
    )
    parser.add_argument(
        "--speed-of",
        type=Path,
        action="append",
        default=[],
        metavar="BUNDLE",
        help="only time these bundles side by side (repeat; ratios are to the first), no training",
    )
    parser.add_argument("--limit", type=int, default=None, help="first N training and dev examples (smoke tests)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the speed measurement")
    parser.add_argument("--min-seconds", type=float, default=2.0, help="time each speed setting this long")
    return parser.parse_known_args(argv)


def limited(data, limit: int | None):
    return data if limit is None else data.subset(list(range(min(limit, len(data)))))


def spread(values: list[float]) -> str:
    return f"{statistics.mean(values):.4f} ({min(values):.4f}-{max(values):.4f}, {len(values)} seeds)"


def sentences_per_s(predictor: Predictor, texts: list[str], start: int, batch: int, min_seconds: float):
    """Sentences/s over ``texts[start:]`` taken in order for ``min_seconds``, and where the next
    measurement starts: no text is sent twice in a run."""
    predictor.predict(texts[start : start + batch])  # warm-up (these texts are not timed)
    done, t0 = 0, time.perf_counter()
    for i in range(start + batch, len(texts) - batch + 1, batch):
        predictor.predict(texts[i : i + batch])
        done += batch
        if time.perf_counter() - t0 >= min_seconds:
            return done / (time.perf_counter() - t0), i + batch
    raise SystemExit(f"error: {len(texts):,} texts ran out; pass a smaller --min-seconds")


def model_speeds(bundles: dict[str, Path], min_seconds: float, rounds: int = 3) -> dict[str, dict[int, float]]:
    """Sentences/s of each bundle at each of BATCHES, on texts no model has seen in this run (no
    cache carries a figure): the bundles take turns for ``rounds`` rounds, the median is kept."""
    calls = len(bundles) * rounds * len(BATCHES)
    texts, source = unseen_texts(int(25_000 * min_seconds * calls))  # enough at up to 25,000 sentences/s
    print(f"speed: {len(texts):,} distinct texts ({source}), {rounds} rounds of {min_seconds:g} s, medians", flush=True)
    predictors = {name: Predictor.load(path) for name, path in bundles.items()}
    rates: dict[str, dict[int, list[float]]] = {name: {b: [] for b in BATCHES} for name in bundles}
    cursor = 0
    for _ in range(rounds):
        for b in BATCHES:
            for name, predictor in predictors.items():
                rate, cursor = sentences_per_s(predictor, texts, cursor, b, min_seconds)
                rates[name][b].append(rate)
    return {name: {b: round(statistics.median(r), 1) for b, r in by_batch.items()} for name, by_batch in rates.items()}


def print_speeds(bundles: dict[str, Path], threads: int, min_seconds: float) -> dict[str, dict[int, float]]:
    """Time ``bundles`` side by side (``model_speeds``) and print sentences/s, with ratios to the first."""
    torch.set_num_threads(threads)
    speeds = model_speeds(bundles, min_seconds)
    first = next(iter(bundles))
    for b in BATCHES:
        row = [f"{name} {speeds[name][b]:,.0f}" for name in bundles]
        ratios = [f"{name} {speeds[name][b] / speeds[first][b]:.2f}x" for name in list(bundles)[1:]]
        print(
            f"sentences/s at batch {b:>2} ({threads} thread): {', '.join(row)}"
            + (f" ({', '.join(ratios)})" if ratios else "")
        )
    return speeds


def main(argv: list[str] | None = None) -> int:
    args, rest = parse_args(argv)
    if args.speed_of:
        print_speeds({str(path): path for path in args.speed_of}, args.threads, args.min_seconds)
        return 0
    seeds = [int(s) for s in args.seeds.split(",")]
    hp_args = build_parser().parse_args(
        ["distill", "--train", "-", "--dev", "-", "--out", "-", "--work-dir", "-", *RECIPE, *rest]
    )
    values = {hp.name: getattr(hp_args, hp.name) for hp in options_for(DISTILL)}
    train_data = limited(load_dataset(args.data_dir / "train.tsv"), args.limit)
    dev_data = limited(load_dataset(args.data_dir / "dev.tsv"), args.limit)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="distill-sst2-"))
    source = args.teacher or pipeline.default_teacher_source()
    teacher_config = TeacherConfig(
        epochs=args.teacher_epochs, batch_size=args.teacher_batch_size, learning_rate=args.teacher_learning_rate
    )
    augment_config = AugmentConfig(per_text=args.augment_per_text)
    print(f"SST-2: {len(train_data)} training, {len(dev_data)} dev sentences; work folder {work}", flush=True)

    command = " ".join(["python benchmarks/distill_sst2.py", *(argv if argv is not None else sys.argv[1:])])
    summary: dict = {
        "train_examples": len(train_data),
        "dev_examples": len(dev_data),
        "seeds": seeds,
        "student_hyperparameters": {k: v for k, v in values.items() if k not in ("threads", "device")},
    }
    distilled, gold_only, first_out = [], [], None
    for seed in seeds:
        configs = configs_from_values({**values, "seed": seed})
        out = work / f"{args.name}-seed{seed}"
        result = pipeline.run(
            train_data,
            dev_data,
            out,
            work,
            teacher_source=source,
            teacher_config=teacher_config,
            augment_config=augment_config,
            model_config=configs[0],
            tokenizer_config=configs[1],
            train_config=configs[2],
            command=command,
            overwrite=True,
            say=lambda message: print(message, flush=True),
            co_teacher=args.co_teacher,
        )
        first_out = first_out or out
        training = json.loads((out / "config.json").read_text())["training"]
        accuracy = training["metrics"]["accuracy"]
        distilled.append(accuracy)
        print(f"seed {seed}: distilled student: dev accuracy {accuracy:.4f}, calibration {training.get('calibration')}")
        if args.no_labels_only:
            continue
        plain = train(train_data, dev_data, *configs)
        gold_only.append(plain.metrics["accuracy"])
        print(
            f"seed {seed}: student dev accuracy {accuracy:.4f} distilled, {plain.metrics['accuracy']:.4f} "
            f"from the labels alone",
            flush=True,
        )
    summary.update(
        teacher_dev_accuracy=result.teacher["dev_accuracy"],
        teacher_seconds=result.teacher["seconds"],
        teacher_device=result.teacher["device"],
        transfer_examples=result.cache["examples"],
        ensemble=result.ensemble and {k: v for k, v in result.ensemble.items() if k != "inputs"},
        student_distilled=distilled,
        student_gold_only=gold_only,
    )
    print(
        f"teacher ({source}): dev accuracy {result.teacher['dev_accuracy']:.4f}, "
        f"{result.teacher['seconds']} s on {result.teacher['device']}"
    )
    if result.ensemble:
        print(
            f"co-teacher ({args.co_teacher}): dev accuracy {result.ensemble['co_teacher_dev_accuracy']:.4f}; "
            f"the two teachers' ensemble: {result.ensemble['ensemble_dev_accuracy']:.4f}"
        )
    print(f"student, distilled ({result.cache['examples']} transfer texts): {spread(distilled)}")
    if gold_only:
        print(f"student, labels alone (same size): {spread(gold_only)}")

    if args.no_speed:
        print(json.dumps(summary))
        return 0
    speeds = print_speeds({"reference": args.reference, "student": first_out}, args.threads, args.min_seconds)
    summary["sentences_per_s"] = speeds
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
