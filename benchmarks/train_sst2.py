"""Train the default recipe on SST-2 from the labels and print its training and prediction speed.

The default recipe made the BiLSTM-128 that was the bundled model before the distilled student
(``distill_sst2.py``), and is that student's co-teacher. Runs exactly the CLI training
(``python -m model train``) on ``train.tsv`` with early stopping on ``dev.tsv``, using the
default recipe unless overridden, then times ``model.Predictor``
on the dev sentences at batch 1 and batch 256 with 1 and 2 torch threads.

    python benchmarks/train_sst2.py                      # full run (about 4 minutes on 2 cores)
    python benchmarks/train_sst2.py --quick              # 3000 examples, 1 epoch: checks the script
    python benchmarks/train_sst2.py --cell gru --epochs 3  # any `python -m model train` option

The bundle goes to ``--out`` (default: a new temporary folder, never the repository).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

import torch  # noqa: E402

from model import Predictor, load_dataset  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "sst2"
# The recipe is the CLI's defaults (the bundled student's differs in the few options that
# tests/model/test_config.py names); SST-2's labels are 0/1, trained on 2 threads. Our own options win.
RECIPE = "--label-names 0=negative,1=positive --threads 2".split()
QUICK_EXAMPLES = 3000


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Unrecognised options are passed to `python -m model train` after the recipe, so they override it.",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA, help=f"holds train.tsv and dev.tsv (default {DEFAULT_DATA})"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="bundle directory to create (default: in a new temp folder)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"first {QUICK_EXAMPLES} training examples, 1 epoch; time prediction on 256 dev sentences for 0.5 s",
    )
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=None,
        help="time each prediction setting for at least this long (default 2, --quick 0.5)",
    )
    return parser.parse_known_args(argv)


def first_lines(source: Path, dest: Path, examples: int) -> Path:
    with open(source, encoding="utf-8") as f:
        lines = [line for _, line in zip(range(examples + 1), f)]  # header + examples
    dest.write_text("".join(lines), encoding="utf-8")
    return dest


def run_training(train: Path, dev: Path, out: Path, extra: list[str]) -> dict:
    files = ["--train", str(train), "--dev", str(dev), "--out", str(out)]
    command = [sys.executable, "-m", "model", "train", *files, *RECIPE, *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    print("$ python " + " ".join(command[1:]), flush=True)
    proc = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"training failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def sentences_per_second(predictor: Predictor, texts: list[str], batch: int, min_seconds: float) -> float:
    predictor.predict(texts[:batch])  # warm-up
    done, start = 0, time.perf_counter()
    while True:
        for i in range(0, len(texts), batch):
            predictor.predict(texts[i : i + batch])
        done += len(texts)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done / elapsed


def main(argv: list[str] | None = None) -> int:
    args, extra = parse_args(argv)
    train, dev = args.data_dir / "train.tsv", args.data_dir / "dev.tsv"
    for path in (train, dev):
        if not path.is_file():
            sys.exit(f"error: {path} not found (pass --data-dir)")
    workdir = Path(tempfile.mkdtemp(prefix="train_sst2."))
    out = args.out or workdir / "bundle"
    if args.quick:
        train = first_lines(train, workdir / "train.tsv", QUICK_EXAMPLES)
        extra = ["--epochs", "1", *extra]

    wall = time.perf_counter()
    summary = run_training(train, dev, out, extra)
    wall = time.perf_counter() - wall
    training = json.loads((out / "config.json").read_text(encoding="utf-8"))["training"]
    history = training["history"]
    epoch_seconds = [h["seconds"] for h in history]

    predictor = Predictor.load(out)
    texts = load_dataset(dev).texts[:256] if args.quick else load_dataset(dev).texts
    min_seconds = args.min_seconds or (0.5 if args.quick else 2.0)
    speeds = {}  # (threads, batch) -> sentences/s
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for batch in (1, 256):
            predictor.batch_size = batch
            speeds[threads, batch] = sentences_per_second(predictor, texts, batch, min_seconds)

    mean_epoch = sum(epoch_seconds) / len(epoch_seconds)
    print(f"bundle:               {out}")
    print(
        f"dev accuracy:         {summary['accuracy']:.4f} (best epoch {summary['best_epoch']} of {len(history)}, "
        f"macro-F1 {summary['macro_f1']:.4f}, temperature {summary['temperature']:.3f})"
    )
    print(
        f"wall time per epoch:  {', '.join(f'{s:.1f}' for s in epoch_seconds)} s (mean {mean_epoch:.1f} s, "
        f"dev evaluation included; whole run {wall:.0f} s)"
    )
    print(f"training tokens/s:    {history[-1]['tokens_per_s']:.0f}")
    for (threads, batch), value in speeds.items():
        print(
            f"predict sentences/s:  {value:8.1f} at batch {batch:>3}, {threads} thread(s), {len(texts)} dev sentences"
        )
    print(
        json.dumps(
            {
                "dev_accuracy": summary["accuracy"],
                "epoch_seconds": epoch_seconds,
                "wall_seconds": round(wall, 1),
                "train_tokens_per_s": history[-1]["tokens_per_s"],
                "predict_sentences_per_s": {f"threads{t}_batch{b}": round(v, 1) for (t, b), v in speeds.items()},
                "bundle": str(out),
                "quick": args.quick,
                "extra_args": extra,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
