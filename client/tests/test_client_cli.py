"""The ``sentiment`` command against the real server: results, exit codes, one-line errors.

Most tests call ``main(argv)`` in this process (what the console script calls); one runs
``python -m sentiment_client`` as a real process, to hold the entry point and the environment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sentiment_client.cli import main
from sentiment_client.config import KEY_VARIABLE, URL_VARIABLE

from tests.support.api import TINY_CONFIG

ADMIN = ["--key", "client-admin-key"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sentiment: error: "), err
    return lines[0]


def test_predict_prints_label_score_and_text_per_line(server, capsys):
    code, out, err = run(capsys, "--url", server.url, "predict", "w1 good w2", "w3 not good")
    assert code == 0 and err == ""
    lines = [line.split("\t") for line in out.splitlines()]
    assert [line[2] for line in lines] == ["w1 good w2", "w3 not good"]
    assert all(line[0] in ("negative", "positive") and 0.5 <= float(line[1]) <= 1 for line in lines)


def test_predict_json_gives_one_object_per_text(server, capsys):
    code, out, _ = run(capsys, "--url", server.url, "--json", "predict", "--top-k", "2", "w1 good")
    [answer] = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and answer["text"] == "w1 good" and answer["model"] == "sentiment-en"
    assert len(answer["top"]) == 2 and set(answer["probabilities"]) == {"negative", "positive"}


def test_models_lists_them_and_stars_the_default(server, capsys):
    code, out, _ = run(capsys, "--url", server.url, "models")
    header, *rows = out.splitlines()
    assert code == 0 and header.split() == ["MODEL", "ACTIVE", "TASK", "LABELS"]
    assert any(row.startswith("sentiment-en *") for row in rows)


def test_upload_and_train_follow_the_job_to_its_end(server, capsys, examples, tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in examples(200, seed=7)))
    code, out, err = run(capsys, "--url", server.url, *ADMIN, "upload", str(path))
    assert code == 0 and err == ""
    dataset_id, summary = out.strip().split("\t")
    assert summary.startswith("200 examples")

    config = [arg for name, value in TINY_CONFIG.items() for arg in ("--config", f"{name}={json.dumps(value)}")]
    code, out, err = run(capsys, "--url", server.url, *ADMIN, "train", dataset_id, *config, "--model", "cli-model")
    assert code == 0, err
    assert out.strip().startswith(tuple("0123456789abcdef")) and " succeeded: cli-model v1" in out
    assert f"training {out.split()[0]} [" in err and "100%" in err  # the bar, on standard error


def test_activate_without_the_admin_scope_is_exit_1_with_the_servers_message(server, capsys):
    code, out, err = run(capsys, "--url", server.url, "--key", "client-predict-key", "activate", "sentiment-en",
                         "bundled")
    line = one_error_line(err)
    assert code == 1 and out == "" and "admin" in line and "HTTP 403 insufficient_scope" in line


def test_a_key_the_server_does_not_know_is_exit_1(server, capsys, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\nw1 good,pos\nw2 bad,neg\n")
    code, _, err = run(capsys, "--url", server.url, "--key", "wrong-key", "upload", str(path))
    assert code == 1 and "HTTP 403 forbidden" in one_error_line(err)


def test_a_server_error_is_exit_1_and_one_line(server, capsys):
    code, _, err = run(capsys, "--url", server.url, "predict", "--model", "no-such-model", "w1")
    assert code == 1 and "no-such-model" in one_error_line(err)


def test_an_unreachable_server_is_exit_3(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        code, _, err = run(capsys, "--url", url, "--retries", "0", "models")
    assert code == 3 and f"cannot reach the server at {url}" in one_error_line(err)


@pytest.mark.parametrize("argv, says", [
    ([], "required"),
    (["predict"], "TEXT"),
    (["--url", "ftp://x", "models"], "http://HOST"),
    (["train", "d1", "--config", "epochs"], "NAME=VALUE"),
    (["upload", "/no/such/file.csv"], "/no/such/file.csv"),
    (["feedback", "sentiment-en", "--text", "w1"], "--text and --label"),
    (["--frobnicate", "models"], "unrecognized arguments"),
])
def test_usage_errors_are_exit_2_and_one_line(capsys, argv, says):
    code, _, err = run(capsys, *argv)
    assert code == 2 and says in one_error_line(err)


def test_the_environment_gives_url_and_key_and_the_module_runs_as_a_command(server, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")}
    env |= {URL_VARIABLE: server.url, KEY_VARIABLE: "client-predict-key",
            "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])}
    models = subprocess.run([sys.executable, "-m", "sentiment_client", "models"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert models.returncode == 0 and "sentiment-en" in models.stdout, models.stderr
    refused = subprocess.run([sys.executable, "-m", "sentiment_client", "activate", "sentiment-en", "bundled"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "reader" in refused.stderr  # the key from the environment was sent
