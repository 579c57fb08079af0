"""The model in its own process, the one place the service runs it: the child process, its
batching, its restarts and the versions it holds."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time

import pytest

from model import Predictor, load_bundle
from model.inference.explain import explain
from model.inference.windows import MAX_WINDOWS
from tests.support.api import add_version
from tests.support.processes import is_alive
from tests.support.settings import AUTH, KEY
from tests.support.waiting import wait_for


@pytest.fixture
def client(make_client):
    return make_client(api_keys=KEY)


def test_predictions_come_from_a_separate_process_and_match_the_predictor(client, tiny_bundle_path, make_examples):
    child = client.app.state.inference.model_process.pid
    assert child != os.getpid() and is_alive(child)
    texts, _ = make_examples(30, seed=11)
    r = client.post("/v1/predict", json={"texts": texts})
    assert r.status_code == 200, r.text
    expected = Predictor(load_bundle(tiny_bundle_path)).predict(texts)
    got = r.json()["predictions"]
    assert [p["label"] for p in got] == [p.label for p in expected]
    for answer, local in zip(got, expected):
        assert answer["probabilities"] == pytest.approx(local.probabilities, abs=1e-6)
        assert answer["score"] == pytest.approx(local.score, abs=1e-6)


def test_the_model_process_reads_long_texts_in_windows_and_says_how_many(client, tiny_bundle_path):
    """The server sends every token id; the model process splits each text by the version's
    max_length (64 here), caps the windows, and its reply carries each text's count."""
    texts = ["w1 good w2", "w1 good w2 " * 22 + "w3 not good " * 12, "bad", "good! " * 1666]  # 9,996 chars
    r = client.post("/v1/predict", json={"texts": texts})
    assert r.status_code == 200, r.text
    got = r.json()["predictions"]
    assert [p["windows"] for p in got] == [1, 3, 1, MAX_WINDOWS]  # 3,332 tokens would be 104 windows
    expected = Predictor(load_bundle(tiny_bundle_path)).predict(texts)
    assert [p.windows for p in expected] == [1, 3, 1, MAX_WINDOWS]
    for answer, local in zip(got, expected):
        assert answer["label"] == local.label
        assert answer["probabilities"] == pytest.approx(local.probabilities, abs=1e-6)


def test_a_killed_model_process_fails_its_batch_with_503_and_is_replaced(client):
    process = client.app.state.inference.model_process
    first = process.pid
    os.kill(first, signal.SIGSTOP)  # frozen: the next batch waits in it, then it dies under the batch
    result = {}
    request = threading.Thread(target=lambda: result.setdefault("r", client.post("/v1/predict", json={"text": "good"})))
    request.start()
    wait_for(lambda: process.pending, 10, what="the batch to reach the model process")
    os.kill(first, signal.SIGKILL)
    request.join(30)
    r = result["r"]
    assert r.status_code == 503 and r.json()["error"] == "model_restarting"
    assert r.headers["retry-after"] == "1"

    # A new process starts at once; until it is ready, requests get 503 straight away, not held.
    killed_at = time.monotonic()
    r = wait_for(lambda: (r := client.post("/v1/predict", json={"text": "good"})).status_code != 503 and r,
                 10, what="a prediction from the new model process")
    assert r.status_code == 200, r.text
    assert time.monotonic() - killed_at < 10.0  # the figure: benchmarks/model_restart.py
    assert process.pid != first and is_alive(process.pid)
    assert "sentiment_model_process_restarts_total 1.0" in client.get("/metrics").text


def test_requests_while_the_model_process_restarts_get_503_at_once(client):
    process = client.app.state.inference.model_process
    process.ready = False  # as between a child's death and its replacement being ready
    try:
        started = time.monotonic()
        r = client.post("/v1/predict", json={"text": "good"})
        assert r.status_code == 503 and r.json()["error"] == "model_restarting"
        assert r.headers["retry-after"] == "1" and time.monotonic() - started < 1.0
        assert client.get("/readyz").status_code == 503
    finally:
        process.ready = True
    assert client.post("/v1/predict", json={"text": "good"}).status_code == 200


def test_activation_loads_the_version_in_the_model_process_before_serving_it(client, tiny_bundle_path):
    state = client.app.state
    add_version(client, tiny_bundle_path)
    assert set(state.inference.model_process.loaded) == {"sentiment-en/bundled"}

    r = client.post("/v1/models/sentiment-en/versions/v1/activate", headers=AUTH)
    assert r.status_code == 200, r.text
    assert set(state.inference.model_process.loaded) == {"sentiment-en/bundled", "sentiment-en/v1"}  # kept until the next swap
    assert client.post("/v1/predict", json={"text": "good"}).json()["model_version"] == "v1"

    r = client.post("/v1/models/sentiment-en/versions/bundled/activate", headers=AUTH)
    assert r.status_code == 200, r.text
    assert set(state.inference.model_process.loaded) == {"sentiment-en/v1", "sentiment-en/bundled"}
    assert client.post("/v1/predict", json={"text": "good"}).json()["model_version"] == "bundled"


def test_a_version_the_model_process_cannot_load_is_not_activated(client, tiny_bundle_path):
    state = client.app.state
    path = add_version(client, tiny_bundle_path)
    original = state.inference.load

    def load_then_break(model, version):  # the server process loads it; the model process will not
        loaded = original(model, version)
        shutil.rmtree(path)
        return loaded

    state.inference.load = load_then_break
    r = client.post("/v1/models/sentiment-en/versions/v1/activate", headers=AUTH)
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "model_unavailable" and "model process cannot load sentiment-en/v1" in r.json()["message"]
    assert state.versions.active("sentiment-en") == "bundled"
    r = client.post("/v1/predict", json={"text": "good"})
    assert r.status_code == 200 and r.json()["model_version"] == "bundled"


def test_the_model_process_stops_with_the_app(make_client):
    client = make_client()
    pid = client.app.state.inference.model_process.pid
    client.__exit__(None, None, None)
    assert not is_alive(pid)


def test_requests_waiting_together_share_one_model_call(make_client, make_examples):
    client = make_client(max_wait_ms=300)  # a small batch waits for company
    texts, _ = make_examples(12, seed=3)
    answers = {}

    def ask(i):
        answers[i] = client.post("/v1/predict", json={"text": texts[i]})

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(answers[i].status_code == 200 for i in range(len(texts)))
    alone = Predictor(load_bundle(client.app.state.inference.current.path)).predict(texts)
    assert [answers[i].json()["predictions"][0]["label"] for i in range(len(texts))] == [p.label for p in alone]
    metrics = client.get("/metrics").text
    calls = float(next(line.split()[-1] for line in metrics.splitlines() if line.startswith("sentiment_batch_size_count")))
    total = float(next(line.split()[-1] for line in metrics.splitlines() if line.startswith("sentiment_batch_size_sum")))
    assert total == len(texts) and calls < len(texts) / 2  # merged at the model process


def test_an_explanation_sharing_a_model_call_with_predictions_gets_logits_and_they_probabilities(make_client):
    """One model call, two kinds of answer: the explanation's request asks for logits (its weights are
    log-odds), the predictions' get probabilities, as before."""
    client = make_client(max_wait_ms=300)
    texts = ["w1 good w2", "w3 bad", "w4 not good w5"]
    answers = {}

    def ask(i):
        if i == len(texts):
            answers[i] = client.post("/v1/explain", json={"text": "w1 not bad w2"})
        else:
            answers[i] = client.post("/v1/predict", json={"text": texts[i]})

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts) + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(answer.status_code == 200 for answer in answers.values()), answers
    predictor = Predictor(load_bundle(client.app.state.inference.current.path))
    for i, local in enumerate(predictor.predict(texts)):
        assert answers[i].json()["predictions"][0]["probabilities"] == pytest.approx(local.probabilities, abs=1e-6)
    explained = answers[len(texts)].json()
    assert explained == {**explained, **{"probabilities": pytest.approx(
        predictor.predict(["w1 not bad w2"])[0].probabilities, abs=1e-6)}}
    local = explain(predictor, "w1 not bad w2")
    assert [t["weight"] for t in explained["tokens"]] == pytest.approx([w.weight for w in local.words], abs=1e-4)


def test_one_model_call_answers_logits_to_the_request_that_asks_and_probabilities_to_the_others(tiny_bundle_path):
    """The model process's own loop, without pipes: two requests in one call, one of them asking for logits."""
    import io

    import numpy as np

    from app.serving.model_process.__main__ import ModelServer, _Request
    from app.serving.model_process.client import WINDOWS_SIZE
    from app.serving.model_process.frames import HEADER

    predictor = Predictor.load(tiny_bundle_path, backend="numpy")
    writer = io.BytesIO()
    server = ModelServer(-1, writer, max_batch=64, max_wait_s=0.0)
    server.models = {"v": predictor}
    seqs = predictor.encode(["w1 good w2", "w3 bad", "w4 not good w5"])
    plain = _Request(1, {"version": "v", "ids": seqs[:2], "t": 0.0}, predictor.max_length)
    logits = _Request(2, {"version": "v", "ids": seqs[2:], "t": 0.0, "logits": True}, predictor.max_length)
    server.waiting = [plain, logits]
    server.predict([(plain, 0, 2), (logits, 0, 1)])
    data, replies = writer.getvalue(), {}
    while data:
        length, request_id, _ = HEADER.unpack_from(data)
        replies[request_id] = data[HEADER.size : HEADER.size + length]
        data = data[HEADER.size + length :]
    width = len(predictor.labels)
    got_probs = np.frombuffer(replies[1][2 * WINDOWS_SIZE :], dtype=np.float32).reshape(2, width)
    got_logits = np.frombuffer(replies[2][WINDOWS_SIZE:], dtype=np.float32).reshape(1, width)
    np.testing.assert_allclose(got_probs, predictor.predict_proba_ids(seqs[:2]), atol=1e-6)
    np.testing.assert_allclose(got_logits, predictor.calibrated_logits_ids(seqs[2:])[0], atol=1e-6)
    assert not np.allclose(got_logits.sum(axis=1), 1.0)  # logits, not probabilities
    assert server.waiting == []


def test_big_requests_are_tokenised_off_the_event_loop(client, monkeypatch):
    """A predict of many long texts must not hold the event loop while it is tokenised; small ones
    are tokenised inline, where that is cheapest."""
    served = client.app.state.inference.current
    threads = []
    original = type(served).encode

    def recording(self, texts, library_only=False):
        threads.append((threading.current_thread().name, library_only))
        return original(self, texts, library_only)

    monkeypatch.setattr(type(served), "encode", recording)
    assert client.post("/v1/predict", json={"text": "good"}).status_code == 200
    big = [("good w1 " * 1250)[:2_500]] * 4  # 10,000 characters, within the window budget
    r = client.post("/v1/predict", json={"texts": big})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 4
    (small_thread, small_library), (big_thread, big_library) = threads
    assert big_thread.startswith("tokenize") and big_library is True
    assert not small_thread.startswith("tokenize") and small_library is False


def test_the_numpy_backend_keeps_torch_out_of_every_process_of_the_server(client):
    """SENTIMENT_BACKEND=auto (the default) serves the bundle with NumPy: the model process maps no
    libtorch (the server process imports none: tests/app/test_layout.py), and /readyz says so."""
    assert client.get("/readyz").json()["backend"] == "numpy"
    with open(f"/proc/{client.app.state.inference.model_process.pid}/maps") as maps:
        mapped = maps.read()
    assert "numpy" in mapped  # (the check reads the right process)
    assert "libtorch" not in mapped, "the model process maps libtorch"


def test_the_torch_backend_serves_the_same_probabilities(make_client, make_examples):
    texts, _ = make_examples(200, seed=21)
    texts += [" ".join(texts[i : i + 40]) for i in range(0, 200, 40)]  # several windows each
    answers = {}
    for backend in ("numpy", "torch"):
        client = make_client(backend=backend)
        assert client.get("/readyz").json()["backend"] == backend
        r = client.post("/v1/predict", json={"texts": texts})
        assert r.status_code == 200, r.text
        answers[backend] = r.json()["predictions"]
    assert max(p["windows"] for p in answers["numpy"]) > 1
    for a, b in zip(answers["numpy"], answers["torch"]):
        assert a["label"] == b["label"] and a["windows"] == b["windows"]
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)


def test_a_light_request_is_answered_before_heavy_ones_that_came_first(make_client, make_examples):
    """Fair batching: heavy requests waiting at the model are read in slices, each model call shared out
    among the waiting requests in turn, so a one-text predict that arrives last is answered in the
    next call instead of behind them all (first in, first out would answer it last)."""
    client = make_client(max_batch_size=8, max_wait_ms=0)
    texts, _ = make_examples(200, seed=17)  # 25 model calls each: far behind the light one, however threads wake
    model_process = client.app.state.inference.model_process.process
    done: dict[str, float] = {}

    def ask(name: str, body: dict) -> None:
        r = client.post("/v1/predict", json=body)
        assert r.status_code == 200, r.text
        done[name] = time.monotonic()

    os.kill(model_process.pid, signal.SIGSTOP)  # everything below waits at the model together
    try:
        heavy = [threading.Thread(target=ask, args=(f"heavy-{i}", {"texts": texts})) for i in range(4)]
        for thread in heavy:
            thread.start()
        time.sleep(0.3)  # (the heavy requests reach the pipe first)
        light = threading.Thread(target=ask, args=("light", {"text": "w1 good"}))
        light.start()
        time.sleep(0.3)
    finally:
        os.kill(model_process.pid, signal.SIGCONT)
    for thread in [*heavy, light]:
        thread.join(30)
    assert len(done) == 5
    assert done["light"] < min(t for name, t in done.items() if name.startswith("heavy"))


def test_a_request_to_a_model_process_whose_pipe_just_closed_is_503_not_500(client):
    """The model process killed between a request's check and its write: the pipe's transport is
    already closed (uvloop raises RuntimeError, not BrokenPipeError). Its requests get 503, never 500."""
    model_process = client.app.state.inference.model_process
    stdin = model_process.process.stdin
    client.portal.call(stdin.close)  # on the event loop's thread, as the transport's owner
    r = client.post("/v1/predict", json={"text": "good"})
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "model_restarting"
    wait_for(lambda: client.post("/v1/predict", json={"text": "good"}).status_code == 200, 30,
             what="a new model process serving")
