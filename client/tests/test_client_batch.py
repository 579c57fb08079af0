"""Batch scoring (``score``) and feedback against the real server.

These endpoints were being built while the client was written: each test first reads the
server's /openapi.json and skips, naming the endpoint, when the server lacks it (a checkout
of the service from before them)."""

from __future__ import annotations

import csv
import json

import httpx
import pytest
from sentiment_client import FeedbackSummary, Job
from sentiment_client.cli import main


@pytest.fixture(scope="module")
def paths(server) -> set[str]:
    return set(httpx.get(server.url + "/openapi.json", timeout=30).json()["paths"])


def needs(paths: set[str], *wanted: str) -> None:
    missing = [path for path in wanted if path not in paths]
    if missing:
        pytest.skip(f"the server lacks {', '.join(missing)} (not built yet when this was written)")


def test_score_uploads_runs_a_batch_job_and_writes_its_rows(client, paths, tmp_path):
    needs(paths, "/v1/batch-jobs", "/v1/batch-jobs/{job_id}/events", "/v1/batch-jobs/{job_id}/result")
    texts = ["w1 good w2", "w3 not good", "w4 bad"]
    events: list[str] = []
    job = client.score(texts, tmp_path / "scored.csv", on_event=lambda e: events.append(e.type))
    assert isinstance(job, Job) and job.kind == "batch" and job.state == "succeeded" and job.rows_total == 3
    assert events[0] == "snapshot" and events[-1] == "end"
    with open(tmp_path / "scored.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 3 and not (tmp_path / "scored.csv.partial").exists()

    client.download_result(job, tmp_path / "scored.jsonl", format="jsonl")
    lines = (tmp_path / "scored.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(isinstance(json.loads(line), dict) for line in lines)


def test_score_command_writes_the_out_file_with_a_progress_bar(server, paths, capsys, tmp_path):
    needs(paths, "/v1/batch-jobs", "/v1/batch-jobs/{job_id}/events", "/v1/batch-jobs/{job_id}/result")
    source = tmp_path / "texts.csv"
    source.write_text("text\nw1 good\nw2 not bad\n")
    code = main(["--url", server.url, "--key", "client-admin-key", "score", str(source), "--out",
                 str(tmp_path / "out.csv")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "wrote 2 rows to" in out and "scoring" in err and "100%" in err
    assert (tmp_path / "out.csv").read_text().splitlines()[0].startswith("text,label,score,p_")


def test_feedback_is_stored_and_summed_up(client, paths, capsys, server):
    needs(paths, "/v1/models/{name}/feedback")
    sent = client.feedback("sentiment-en", [("w1 good", "positive"), {"text": "w2 bad", "label": "negative"}])
    assert isinstance(sent, FeedbackSummary) and sent.model == "sentiment-en" and sent.stored == 2
    again = client.feedback("sentiment-en", [("w1 good", "negative")])  # the latest correction of a text wins
    assert again.items == sent.items
    summary = client.feedback_summary("sentiment-en")
    assert summary.items == sent.items and summary.label_counts == {"negative": 2} and summary.dataset_id

    code = main(["--url", server.url, "--key", "client-admin-key", "feedback", "sentiment-en", "--text", "w3 good",
                 "--label", "positive"])
    assert code == 0 and "stored 1 for sentiment-en" in capsys.readouterr().out
    code = main(["--url", server.url, "feedback", "sentiment-en"])
    assert code == 0 and f"{summary.items + 1} corrections (negative 2, positive 1)" in capsys.readouterr().out
