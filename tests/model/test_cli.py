"""``python -m model train|evaluate|predict`` run as a user runs it: a subprocess on files."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from model import ModelConfig, TokenizerConfig, TrainConfig
from model.__main__ import build_parser, reproduce_command
from model.config import hyperparameter_values, options_for

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "--embedding-dim",
    "16",
    "--hidden-size",
    "16",
    "--dropout",
    "0",
    "--epochs",
    "8",
    "--batch-size",
    "16",
    "--learning-rate",
    "0.01",
    "--pooling",
    "max",
    "--tokenizer",
    "word",
    "--pretrained",
    "none",
    "--patience",
    "8",
    "--threads",
    "1",
    "--seed",
    "1",
    "--quiet",
]


def run_cli(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-m", "model", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_tsv(path: Path, texts: list[str], labels: list[str]) -> Path:
    path.write_text("label\tsentence\n" + "".join(f"{y}\t{t}\n" for t, y in zip(texts, labels)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, make_examples) -> Path:
    path = tmp_path_factory.mktemp("cli")
    write_tsv(path / "train.tsv", *make_examples(300, 1))
    write_tsv(path / "dev.tsv", *make_examples(100, 2))
    return path


@pytest.fixture(scope="module")
def trained(workdir) -> tuple[subprocess.CompletedProcess, Path]:
    out = workdir / "bundle"
    proc = run_cli(
        "train",
        "--train",
        "train.tsv",
        "--dev",
        "dev.tsv",
        "--out",
        str(out),
        "--label-names",
        "0=negative,1=positive",
        *TINY,
        cwd=workdir,
    )
    return proc, out


def test_train_prints_a_summary_and_writes_a_bundle(trained):
    proc, out = trained
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["accuracy"] >= 0.9
    assert summary["n"] == 100
    assert summary["out"] == str(out)
    assert {"macro_f1", "best_epoch", "seconds", "temperature", "ece_before", "ece_after"} <= set(summary)
    assert {"config.json", "tokenizer.json", "model.safetensors", "README.md"} <= {p.name for p in out.iterdir()}
    card = (out / "README.md").read_text()
    assert "python -m model train --train train.tsv" in card
    assert "--learning-rate 0.01" in card and "--label-names 0=negative,1=positive" in card
    assert "labels: negative, positive" in card


def test_evaluate_prints_metrics_json(trained, workdir):
    _, out = trained
    proc = run_cli("evaluate", "--model", str(out), "--data", "dev.tsv", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["n"] == 100
    assert report["labels"] == ["negative", "positive"]
    assert report["accuracy"] >= 0.9
    assert 0 < report["macro_f1"] <= 1
    assert sum(map(sum, report["confusion_matrix"])) == 100


def test_evaluate_reads_a_headerless_gbk_file_with_columns(trained, workdir):
    _, out = trained
    rows = (workdir / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]  # no "label<TAB>sentence" line
    (workdir / "dev-noheader.tsv").write_bytes("\n".join(rows).encode("gbk"))
    proc = run_cli("evaluate", "--model", str(out), "--data", "dev-noheader.tsv", cwd=workdir)
    assert_one_line_error(proc, "dev-noheader.tsv:1: the first row (", "looks like data, not a header")
    proc = run_cli("evaluate", "--model", str(out), "--data", "dev-noheader.tsv", "--columns", "label,sentence",
                   cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    expected = run_cli("evaluate", "--model", str(out), "--data", "dev.tsv", cwd=workdir)
    assert json.loads(proc.stdout) == json.loads(expected.stdout)


def test_predict_prints_one_json_line_per_text(trained, workdir):
    _, out = trained
    texts = ["w1 good w2", "w1 not good", "映画 😀"]
    proc = run_cli("predict", "--model", str(out), *texts, cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["text"] for line in lines] == texts
    assert [line["label"] for line in lines[:2]] == ["positive", "negative"]
    assert all(set(line["probabilities"]) == {"negative", "positive"} for line in lines)
    assert all(line["score"] == max(line["probabilities"].values()) for line in lines)


def test_predict_says_in_how_many_windows_it_read_each_text(trained, workdir):
    _, out = trained
    max_length = json.loads((out / "config.json").read_text())["tokenizer"]["max_length"]
    long_text = "w1 good w2 " * max_length  # three times max_length tokens: 5 windows at half-window steps
    proc = run_cli("predict", "--model", str(out), "w1 good", long_text, cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["windows"] for line in proc.stdout.splitlines()] == [1, 5]


def test_predict_reads_stdin(trained, workdir):
    _, out = trained
    proc = run_cli("predict", "--model", str(out), cwd=workdir, stdin="bad w3\nw4 not bad\n")
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["label"] for line in proc.stdout.splitlines()] == ["negative", "positive"]


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


BAD_INPUTS = {
    "missing label column": ("sentence\tstars\ngood\t1\n", "bad.tsv:1: missing label column 'label'"),
    "empty file": ("", "bad.tsv:1: file is empty"),
    "single class": ("label\tsentence\n1\tgood\n1\tgreat\n1\tfine\n", "bad.tsv:4: only one class"),
    "no header row": ("good film\t1\nbad film\t0\nfine\t1\n", "bad.tsv:1: the first row ('good film', '1') looks like"),
    "a quote is text in TSV, a tab is not": ('text\tlabel\n"fine"\t1\na\ttab\t0\n',
                                            "bad.tsv:3: expected 2 tab-separated fields, found 3"),
}


@pytest.mark.parametrize("bad", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_train_on_bad_input_fails_with_one_line(tmp_path, bad):
    content, message = bad
    (tmp_path / "bad.tsv").write_text(content, encoding="utf-8")
    proc = run_cli("train", "--train", "bad.tsv", "--out", "out", *TINY, cwd=tmp_path)
    assert_one_line_error(proc, message)
    assert not (tmp_path / "out").exists()


def test_train_refuses_to_replace_a_bundle(trained, workdir):
    _, out = trained
    before = (out / "config.json").read_bytes()
    proc = run_cli("train", "--train", "train.tsv", "--out", str(out), *TINY, cwd=workdir)
    assert_one_line_error(proc, str(out), "--overwrite")
    assert (out / "config.json").read_bytes() == before


def test_evaluate_with_a_broken_bundle_fails_with_one_line(tmp_path):
    (tmp_path / "notabundle").mkdir()
    (tmp_path / "dev.tsv").write_text("label\tsentence\n1\tgood\n", encoding="utf-8")
    proc = run_cli("evaluate", "--model", "notabundle", "--data", "dev.tsv", cwd=tmp_path)
    assert_one_line_error(proc, "notabundle", "missing config.json")


TRAIN_OPTIONS = options_for("train")


def parse_train(*flags: str):
    return build_parser().parse_args(["train", "--train", "x.tsv", "--out", "y", *flags])


def test_every_hyperparameter_is_a_flag_of_the_same_name_and_default(capsys):
    args = parse_train()
    defaults = hyperparameter_values(ModelConfig(), TokenizerConfig(), TrainConfig())
    assert {hp.name: getattr(args, hp.name) for hp in TRAIN_OPTIONS} == {hp.name: defaults[hp.name] for hp in TRAIN_OPTIONS}
    assert not hasattr(args, "distill_alpha")  # only distillation has a teacher: only the distill command offers it
    with pytest.raises(SystemExit):
        parse_train("--help")
    help_text = capsys.readouterr().out
    for hp in TRAIN_OPTIONS:
        assert f"--{hp.name.replace('_', '-')} " in help_text, hp.name
    assert "width of the recurrent state, per direction (default: 128)" in " ".join(help_text.split())


def test_flags_parse_into_hyperparameter_values():
    args = parse_train("--label-names", "0=negative, 1=positive", "--pretrained", "none", "--threads", "none",
                       "--max-steps", "3", "--no-bidirectional", "--learning-rate", "0.01", "--layers", "2")
    assert args.label_names == {"0": "negative", "1": "positive"}
    assert args.pretrained is None and args.threads is None and args.max_steps == 3
    assert not args.bidirectional and args.learning_rate == 0.01 and args.layers == 2
    assert parse_train("--pretrained", "vectors.txt").pretrained == "vectors.txt"


def test_reproduce_command_parses_back_to_the_same_values():
    args = parse_train("--dev", "dev.tsv", "--label-names", "0=neg,1=pos", "--no-calibrate", "--threads", "2",
                       "--pretrained", "none", "--tokenizer", "bpe")
    values = {hp.name: getattr(args, hp.name) for hp in TRAIN_OPTIONS}
    command = reproduce_command("python -m model", args, values)
    assert command.startswith("python -m model train --train x.tsv --dev dev.tsv --out y")
    assert "--device" not in command  # run-time options only when set
    words = shlex.split(command.replace("\\\n", " "))[4:]
    again = build_parser().parse_args(["train", *words])
    assert {hp.name: getattr(again, hp.name) for hp in TRAIN_OPTIONS} == values


def test_columns_flag_parses_and_is_reproduced():
    args = parse_train("--columns", "label, sentence")
    assert args.columns == ["label", "sentence"]
    values = {hp.name: getattr(args, hp.name) for hp in TRAIN_OPTIONS}
    assert "--columns label,sentence" in reproduce_command("python -m model", args, values)
    assert parse_train().columns is None


def test_a_bad_flag_value_fails_with_one_line(tmp_path):
    proc = run_cli("train", "--train", "x.tsv", "--out", "out", "--layers", "9", cwd=tmp_path)
    assert_one_line_error(proc, "layers must be between 1 and 8; got 9")
    proc = run_cli("train", "--train", "x.tsv", "--out", "out", "--tokenizer", "word", "--pretrained", "minilm",
                   cwd=tmp_path)
    assert_one_line_error(proc, "pretrained 'minilm' needs tokenizer 'wordpiece'")


def test_reproduce_command_writes_paths_inside_the_current_folder_relative(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["train", "--train", str(tmp_path / "data" / "x.tsv"), "--out", str(tmp_path / "y")])
    values = {hp.name: getattr(args, hp.name) for hp in TRAIN_OPTIONS}
    command = reproduce_command("python -m model", args, values)
    assert command.startswith("python -m model train --train data/x.tsv --out y") and str(tmp_path) not in command


def test_the_distill_command_offers_the_teacher_augment_and_student_options():
    from model.distill.config import DISTILL_OPTIONS, AugmentConfig, TeacherConfig

    args = build_parser().parse_args(["distill", "--train", "t.tsv", "--dev", "d.tsv", "--out", "o", "--work-dir", "w",
                                      "--teacher-epochs", "2", "--augment-p-mask", "0.2", "--distill-alpha", "0.3"])
    assert (args.teacher_epochs, args.augment_p_mask, args.distill_alpha) == (2, 0.2, 0.3)
    assert {hp.name for hp in DISTILL_OPTIONS} == {f"teacher_{f}" for f in TeacherConfig.__dataclass_fields__} | {
        f"augment_{f}" for f in AugmentConfig.__dataclass_fields__}
    values = {hp.name: getattr(args, hp.name) for hp in options_for("distill")}
    command = reproduce_command("python -m model", args, values, "distill")
    assert "--teacher-epochs 2" in command and "--augment-p-mask 0.2" in command and "--distill-alpha 0.3" in command
    with pytest.raises(ValueError, match="teacher_epochs must be between 1 and 1000; got 0"):
        TeacherConfig(epochs=0).validate()
