"""``sentiment``: the API from a shell, on ``Client``.

Results go to standard output (``--json``: one JSON object per line, for scripts); progress and
errors to standard error, an error as one line ``sentiment: error: ...``. Exit codes: 0 done,
1 the server refused (or a job failed), 2 a usage error (arguments, a local file), 3 the server
could not be reached, 130 interrupted.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .calls import UNSET
from .config import DEFAULT_URL, KEY_VARIABLE, URL_VARIABLE
from .errors import ApiError, ConnectionFailed, JobFailed
from .progress import follow_job
from .sync_client import Client
from .types import Prediction

OK, API_ERROR, USAGE_ERROR, CONNECTION_ERROR, INTERRUPTED = 0, 1, 2, 3, 130
PROMOTE = ("never", "if_better", "if_better_than_baseline", "if_better_than_both", "always")


class UsageError(Exception):
    """Arguments argparse accepts but the command cannot use (exit code 2)."""


class Parser(argparse.ArgumentParser):
    """argparse with its error as one line, like every other error of the command (argparse's
    own prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"sentiment: error: {message} (see: {self.prog} --help)\n")


def build_parser() -> Parser:
    parser = Parser(prog="sentiment", description="Call the text-classification service.", epilog=(
        f"Environment: {URL_VARIABLE} (the server, default {DEFAULT_URL}) and {KEY_VARIABLE} (the API key); "
        "--url and --key override them. Exit codes: 0 ok, 1 the server refused or a job failed, 2 usage, "
        "3 server unreachable."))
    parser.add_argument("--url", help=f"the server (default: ${URL_VARIABLE}, else {DEFAULT_URL})")
    parser.add_argument("--key", help=f"API key (default: ${KEY_VARIABLE}); prefer the variable: "
                        "arguments show in the process list")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    parser.add_argument("--retries", type=int, default=3, help="retries after a 429/503 or a lost connection")
    parser.add_argument("--json", action="store_true", help="results as JSON, one object per line")
    parser.add_argument("--version", action="version", version=f"sentiment-client {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    p = commands.add_parser("predict", help="classify texts", description="Classify texts ('-' reads one per line "
                            "from standard input). Prints label, score and text, one line each.")
    p.add_argument("texts", nargs="+", metavar="TEXT")
    p.add_argument("--model", help="the model (default: the server's default model)")
    p.add_argument("--top-k", type=int, help="also list the k most probable labels")
    p.add_argument("--min-score", type=float, help="abstain below this probability")

    p = commands.add_parser("score", help="score a file as a batch job", description="Upload FILE (CSV, TSV "
                            "or JSONL with a text column), score every text in a batch job, write the rows to --out.")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="where the scored rows go")
    p.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="of --out (default csv)")
    p.add_argument("--model")
    p.add_argument("--version", dest="model_version", metavar="VERSION", help="default: the active version")

    p = commands.add_parser("upload", help="upload a dataset", description="Upload a CSV, TSV or JSONL dataset; "
                            "prints its id, which train and score take.")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--format", choices=("csv", "tsv", "jsonl"), help="default: from the file name")

    p = commands.add_parser("train", help="train a model version", description="Queue a training job and "
                            "follow it with a progress bar (--no-follow: print its id and return).")
    p.add_argument("dataset_id", metavar="DATASET_ID")
    p.add_argument("--model", help="the model the version belongs to (a new name creates the model)")
    p.add_argument("--config", action="append", default=[], metavar="NAME=VALUE",
                   help="a hyperparameter (repeat; VALUE read as JSON when it is: epochs=3, pretrained=null)")
    p.add_argument("--promote", choices=PROMOTE, default="never")
    p.add_argument("--eval-dataset", dest="eval_dataset_id", metavar="DATASET_ID")
    p.add_argument("--no-follow", dest="follow", action="store_false")

    commands.add_parser("models", help="list the models", description="The models: name, active version, task, "
                        "labels; * marks the default model.")

    p = commands.add_parser("activate", help="serve a model version", description="Serve VERSION of MODEL from "
                            "now on (an earlier version: the rollback). Needs a key with the admin scope.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("model_version", metavar="VERSION")
    p.add_argument("--min-score", type=float, help="the model's default min_score from now on")

    p = commands.add_parser("feedback", help="send corrected labels", description="Send the right label of a "
                            "text (--text and --label) or of many (--file: JSONL objects or CSV rows with text "
                            "and label); with neither, show the corrections stored for MODEL.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--text")
    p.add_argument("--label")
    p.add_argument("--prediction-id")
    p.add_argument("--file", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; its exit code (argparse's own exits, --help included, are returned, not raised)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else USAGE_ERROR
    try:
        with Client(args.url, args.key, timeout=args.timeout, retries=args.retries) as client:
            COMMANDS[args.command](client, args)
    except ApiError as exc:
        return _fail(str(exc), API_ERROR)
    except JobFailed as exc:
        return _fail(str(exc), API_ERROR)
    except ConnectionFailed as exc:
        return _fail(str(exc), CONNECTION_ERROR)
    except (UsageError, ValueError, KeyError, OSError) as exc:  # arguments or a local file
        return _fail(_local_error(exc), USAGE_ERROR)
    except KeyboardInterrupt:
        return _fail("interrupted (a job already queued goes on on the server)", INTERRUPTED)
    return OK


def _fail(message: str, code: int) -> int:
    print(f"sentiment: error: {' '.join(message.split())}", file=sys.stderr)  # one line, whatever the message
    return code


def _local_error(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, ensure_ascii=False) if args.json else text)


# The commands

def predict(client: Client, args: argparse.Namespace) -> None:
    texts = [line.rstrip("\n") for line in sys.stdin if line.strip()] if args.texts == ["-"] else args.texts
    for text, p in zip(texts, client.predict(texts, args.model, args.top_k, args.min_score)):
        _emit(args, {"text": text, **_prediction_json(p)}, f"{_answer(p)}\t{text}")


def _prediction_json(p: Prediction) -> dict[str, Any]:
    return {k: v for k, v in asdict(p).items() if v is not None}


def _answer(p: Prediction) -> str:
    if p.labels is not None:
        return ",".join(p.labels) or "(no label)"
    return f"{p.label if p.label is not None else '(abstained)'}\t{p.score:.3f}"


def models(client: Client, args: argparse.Namespace) -> None:
    listed = client.models()
    if args.json:
        for model in listed:
            print(json.dumps(model.raw, ensure_ascii=False))
        return
    rows = [("MODEL", "ACTIVE", "TASK", "LABELS")]
    rows += [(m.name + (" *" if m.default else ""), m.active_version, m.task, ",".join(m.labels)) for m in listed]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])


def activate(client: Client, args: argparse.Namespace) -> None:
    version = client.activate(args.model, args.model_version, UNSET if args.min_score is None else args.min_score)
    _emit(args, version.raw, f"{version.model} {version.version} is active")


def upload(client: Client, args: argparse.Namespace) -> None:
    dataset = client.upload(args.file, text_column=args.text_column, label_column=args.label_column,
                            format=args.format)
    labels = ", ".join(f"{k} {v}" for k, v in dataset.label_counts.items())
    _emit(args, dataset.raw, f"{dataset.id}\t{dataset.examples} examples" + (f" ({labels})" if labels else ""))


def train(client: Client, args: argparse.Namespace) -> None:
    job = client.train(args.dataset_id, model=args.model, config=_config(args.config), promote=args.promote,
                       eval_dataset_id=args.eval_dataset_id)
    if not args.follow:
        _emit(args, job.raw, job.id)
        return
    job = follow_job(client, job, "training")
    if job.state != "succeeded":
        raise JobFailed(job)
    reason = job.result.get("stop_reason")
    _emit(args, job.raw, f"{job.id} succeeded: {job.model or 'model'} {job.model_version}"
          + (f" ({reason})" if reason else ""))


def _config(pairs: list[str]) -> dict[str, Any]:
    config = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise UsageError(f"--config takes NAME=VALUE; got {pair!r}")
        try:
            config[name] = json.loads(value)
        except ValueError:
            config[name] = value  # a plain word: cell=gru
    return config


def score(client: Client, args: argparse.Namespace) -> None:
    if not args.file.is_file():
        raise UsageError(f"{args.file}: no such file")
    dataset = client.upload(args.file)
    job = follow_job(client, client.submit_batch(dataset, args.model, args.model_version), "scoring")
    if job.state != "succeeded":
        raise JobFailed(job)
    client.download_result(job, args.out, args.format)
    rows = f"{job.rows_total} rows" if job.rows_total is not None else "the rows"
    _emit(args, job.raw, f"wrote {rows} to {args.out} (job {job.id})")


def feedback(client: Client, args: argparse.Namespace) -> None:
    if args.file is not None and (args.text or args.label):
        raise UsageError("give --file, or --text and --label, not both")
    if args.file is not None:
        items = _read_items(args.file)
    elif args.text and args.label:
        items = [{"text": args.text, "label": args.label}
                 | ({"prediction_id": args.prediction_id} if args.prediction_id else {})]
    elif args.text or args.label:
        raise UsageError("give --text and --label together (or --file)")
    else:  # nothing to send: show what is stored
        summary = client.feedback_summary(args.model)
        counts = ", ".join(f"{k} {v}" for k, v in summary.label_counts.items())
        _emit(args, summary.raw, f"{summary.model}: {summary.items} corrections" + (f" ({counts})" if counts else "")
              + (f"; dataset {summary.dataset_id}" if summary.dataset_id else ""))
        return
    summary = client.feedback(args.model, items)
    _emit(args, summary.raw, f"stored {summary.stored if summary.stored is not None else len(items)} for "
          f"{summary.model}; it has {summary.items} corrections")


def _read_items(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8-sig", newline="") as file:
        if path.suffix.lower() == ".jsonl":
            return [json.loads(line) for line in file if line.strip()]
        return [{k: v for k, v in row.items() if v not in (None, "")} for row in csv.DictReader(file)]


COMMANDS: dict[str, Callable[[Client, argparse.Namespace], None]] = {
    "predict": predict, "score": score, "upload": upload, "train": train, "models": models,
    "activate": activate, "feedback": feedback,
}
