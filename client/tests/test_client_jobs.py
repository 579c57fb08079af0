"""Datasets, a real training job followed through its events, and activation, with the client."""

from __future__ import annotations

import asyncio

import pytest
from sentiment_client import ApiError, AsyncClient, Dataset, Event, Job, Version

from tests.support.api import TINY_CONFIG


def test_upload_takes_a_file_or_examples_and_gives_the_summary(client, examples, tmp_path):
    rows = examples(120, seed=5)
    path = tmp_path / "train.csv"
    path.write_text("text,label\n" + "".join(f"{r['text']},{r['label']}\n" for r in rows))
    from_file = client.upload(path)
    assert isinstance(from_file, Dataset) and from_file.examples == 120 and set(from_file.label_counts) == {"negative", "positive"}
    from_examples = client.upload([(r["text"], r["label"]) for r in rows[:50]])
    assert from_examples.examples == 50 and from_examples.id != from_file.id


def test_a_training_job_followed_through_its_events(server, client, reader, examples):
    dataset = client.upload(examples(200))
    job = client.train(dataset, config=TINY_CONFIG)
    assert isinstance(job, Job) and job.kind == "train" and job.state == "queued" and not job.done

    events = list(client.events(job))
    assert all(isinstance(e, Event) for e in events)
    assert events[0].type == "snapshot" and events[0].data["id"] == job.id
    assert events[-1].type == "end" and events[-1].data["state"] == "succeeded"
    assert {e.type for e in events} <= {"snapshot", "state", "progress", "epoch", "end"}
    if events[0].data["state"] == "queued":  # followed from the start: every epoch is an event
        assert [e.data["epoch"] for e in events if e.type == "epoch"] == [1, 2]

    seen: list[str] = []
    finished = client.wait(job.id, on_event=lambda e: seen.append(e.type))  # a finished job: snapshot, end
    assert seen == ["snapshot", "end"] and finished.done and finished.model_version == "v1"
    assert client.job(job.id) == finished

    async def follow_async():
        async with AsyncClient(server.url) as aclient:
            return [e.type async for e in aclient.events(job.id)], await aclient.wait(job)

    types, awaited = asyncio.run(follow_async())
    assert types == ["snapshot", "end"] and awaited == finished

    # Serve the new version, refused without the admin scope; then roll back for the other tests.
    with pytest.raises(ApiError) as caught:
        reader.activate("sentiment-en", "v1")
    assert caught.value.status == 403 and caught.value.code == "insufficient_scope" and "admin" in caught.value.message
    try:
        version = client.activate("sentiment-en", "v1", min_score=0.6)
        assert isinstance(version, Version) and version.active and version.version == "v1"
        assert client.predict("w1 good")[0].model_version == "v1"
        default = next(m for m in client.models() if m.default)
        assert default.active_version == "v1" and default.min_score == 0.6
    finally:
        client.activate("sentiment-en", "bundled", min_score=None)
    assert client.predict("w1 good")[0].model_version == "bundled"


def test_events_of_an_unknown_job_are_a_404(client):
    with pytest.raises(ApiError) as caught:
        list(client.events("no-such-job"))
    assert caught.value.status == 404


def test_a_multi_label_model_predicts_label_lists(client, server, capsys):
    from sentiment_client.cli import main

    rows = [("w1 red w2", ["red"]), ("w3 blue", ["blue"]), ("red w4 blue", ["red", "blue"]), ("w5 w6", [])] * 40
    dataset = client.upload(rows)
    assert dataset.task == "multi_label"
    job = client.wait(client.train(dataset, model="client-topics", config=TINY_CONFIG))
    assert job.state == "succeeded", job.error
    [p] = client.predict("w1 red w2", model="client-topics")
    assert p.label is None and p.score is None and isinstance(p.labels, list)
    assert set(p.probabilities) == {"blue", "red"} and p.model == "client-topics"
    assert main(["--url", server.url, "predict", "--model", "client-topics", "w1 red w2"]) == 0
    assert capsys.readouterr().out == f"{','.join(p.labels) or '(no label)'}\tw1 red w2\n"
