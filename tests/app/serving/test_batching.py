"""The dynamic batcher: merging, limits, order, errors, cancellation, and model swaps."""

from __future__ import annotations

import asyncio
import threading

import pytest

from app.metrics import Metrics
from app.serving.batcher import Batcher, BatcherStopped
from model import Prediction, Predictor
from tests.support.fakes import served


class Recording:
    """A fake model that records the batches it is given and labels each text by its length."""

    labels = ["short", "long"]

    def __init__(self, fail: bool = False):
        self.batches: list[list[str]] = []
        self.fail = fail

    def predict(self, texts):
        self.batches.append(list(texts))
        if self.fail:
            raise RuntimeError("model broke")
        return [Prediction("long" if len(t) > 3 else "short", float(len(t)), {}) for t in texts]


def run(coro, timeout: float = 10.0):
    """Run a coroutine with a fresh event loop; a hang fails the test instead of blocking it."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def with_batcher(model, body, max_batch_size=64, max_wait_s=0.0, metrics=None):
    current = {"model": served("v1", model)}
    batcher = Batcher(lambda: current["model"], max_batch_size, max_wait_s, metrics or Metrics())
    batcher.start()
    try:
        return await body(batcher, current)
    finally:
        await batcher.stop()


def histogram(metrics: Metrics) -> tuple[float, float]:
    values = {s.name: s.value for m in metrics.batch_size.collect() for s in m.samples}
    return values["sentiment_batch_size_count"], values["sentiment_batch_size_sum"]


def test_concurrent_requests_share_one_model_call():
    model, metrics = Recording(), Metrics()

    async def body(batcher, _):
        return await asyncio.gather(*(batcher.predict([f"text {i}"]) for i in range(10)))

    results = run(with_batcher(model, body, metrics=metrics))
    assert model.batches == [[f"text {i}" for i in range(10)]]
    assert histogram(metrics) == (1, 10)
    assert [r[1][0].score for r in results] == [len(f"text {i}") for i in range(10)]
    assert {r[0] for r in results} == {"v1"}


def test_each_request_gets_its_own_answers_in_order():
    model = Recording()
    requests = [["a", "bbbb"], ["cc"], ["dddddd", "e", "ffff"]]

    async def body(batcher, _):
        return await asyncio.gather(*(batcher.predict(texts) for texts in requests))

    results = run(with_batcher(model, body))
    for texts, (_, predictions) in zip(requests, results):
        assert [p.score for p in predictions] == [len(t) for t in texts]


def test_batches_respect_max_batch_size_and_keep_requests_whole():
    model = Recording()
    requests = [["a"], ["b", "c"], ["d", "e"], ["f"], ["g" * 5] * 7, ["h"]]

    async def body(batcher, _):
        return await asyncio.gather(*(batcher.predict(texts) for texts in requests))

    run(with_batcher(model, body, max_batch_size=4))
    assert [len(b) for b in model.batches] == [3, 3, 7, 1]  # the request of 7 goes alone
    assert sum(model.batches, []) == sum(requests, [])


def test_a_full_batch_does_not_wait_for_max_wait():
    model = Recording()

    async def body(batcher, _):
        return await asyncio.gather(*(batcher.predict([str(i)]) for i in range(4)))

    run(with_batcher(model, body, max_batch_size=4, max_wait_s=60.0), timeout=10)
    assert model.batches == [["0", "1", "2", "3"]]


def test_a_lone_request_waits_at_most_max_wait():
    model = Recording()

    async def body(batcher, _):
        return await batcher.predict(["alone"])

    _, (p,) = run(with_batcher(model, body, max_batch_size=64, max_wait_s=0.05), timeout=10)
    assert p.label == "long" and model.batches == [["alone"]]


def test_requests_arriving_while_the_model_runs_form_the_next_batch():
    gate, entered = threading.Event(), threading.Event()

    class Slow(Recording):
        def predict(self, texts):
            if not self.batches:
                entered.set()
                assert gate.wait(10)
            return super().predict(texts)

    model = Slow()

    async def body(batcher, _):
        first = asyncio.ensure_future(batcher.predict(["first"]))
        await asyncio.to_thread(entered.wait, 10)
        later = [asyncio.ensure_future(batcher.predict([f"later {i}"])) for i in range(5)]
        await asyncio.sleep(0)  # let the five reach the queue before the model returns
        gate.set()
        return await asyncio.gather(first, *later)

    run(with_batcher(model, body))
    assert model.batches == [["first"], [f"later {i}" for i in range(5)]]


def test_a_model_error_reaches_every_request_of_the_batch_and_the_batcher_goes_on():
    model = Recording(fail=True)

    async def body(batcher, current):
        results = await asyncio.gather(*(batcher.predict([str(i)]) for i in range(3)), return_exceptions=True)
        current["model"] = served("v2", Recording())
        after = await batcher.predict(["fine"])
        return results, after

    results, after = run(with_batcher(model, body))
    assert all(isinstance(r, RuntimeError) and str(r) == "model broke" for r in results)
    assert after[0] == "v2" and after[1][0].label == "long"


def test_a_cancelled_request_is_dropped_from_its_batch():
    model = Recording()

    async def body(batcher, _):
        doomed = asyncio.ensure_future(batcher.predict(["doomed"]))
        kept = asyncio.ensure_future(batcher.predict(["kept"]))
        await asyncio.sleep(0)  # both are queued
        doomed.cancel()
        return await kept

    version, (p,) = run(with_batcher(model, body, max_wait_s=0.05))
    assert model.batches == [["kept"]]


def test_a_new_model_applies_from_the_next_batch():
    async def body(batcher, current):
        first = await batcher.predict(["x"])
        current["model"] = served("v2", Recording())
        second = await batcher.predict(["x"])
        return first[0], second[0]

    assert run(with_batcher(Recording(), body)) == ("v1", "v2")


def test_stop_fails_waiting_requests_instead_of_leaving_them_hanging():
    gate = threading.Event()

    class Stuck(Recording):
        def predict(self, texts):
            gate.wait(10)
            return super().predict(texts)

    async def main():
        batcher = Batcher(lambda: served("v1", Stuck()), 1, 0.0, Metrics())
        batcher.start()
        first = asyncio.ensure_future(batcher.predict(["a"]))
        queued = asyncio.ensure_future(batcher.predict(["b"]))
        await asyncio.sleep(0)
        stopping = asyncio.ensure_future(batcher.stop())
        await asyncio.sleep(0)
        gate.set()
        await stopping
        return await asyncio.gather(first, queued, return_exceptions=True)

    first, queued = run(main())
    assert isinstance(first, BatcherStopped) and isinstance(queued, BatcherStopped)
    assert "shutting down" in str(queued)


def test_batched_results_equal_unbatched_ones(tiny_bundle_path):
    predictor = Predictor.load(tiny_bundle_path)
    texts = ["w1 good", "w2 not good w3 w4 w5 w6", "bad", "not bad w1 w2", "w9 w8 good not", "good good good"]
    metrics = Metrics()

    async def body(batcher, _):
        return await asyncio.gather(*(batcher.predict([t]) for t in texts))

    results = run(with_batcher(predictor, body, metrics=metrics))
    assert histogram(metrics) == (1, len(texts))  # really one merged batch
    for text, (_, (merged,)) in zip(texts, results):
        (alone,) = predictor.predict([text])
        assert merged.label == alone.label
        assert merged.score == pytest.approx(alone.score, abs=1e-6)
        assert merged.probabilities == pytest.approx(alone.probabilities, abs=1e-6)


def test_concurrent_http_requests_are_merged(make_client):
    client = make_client(max_wait_ms=200)  # long enough for every thread's request to arrive
    texts = [f"w{i} good" if i % 2 else f"w{i} not good" for i in range(16)]
    barrier = threading.Barrier(len(texts))
    results: dict[int, dict] = {}

    def send(i):
        barrier.wait(10)
        results[i] = client.post("/v1/predict", json={"text": texts[i]}).json()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    metrics = client.app.state.metrics
    count, total = histogram(metrics)
    assert total == len(texts)
    assert count < len(texts), "no two requests were merged"
    unbatched = Predictor.load(client.app.state.settings.model_dir)
    for i, text in enumerate(texts):
        (alone,) = unbatched.predict([text])
        assert results[i]["predictions"][0]["label"] == alone.label
        assert results[i]["predictions"][0]["score"] == pytest.approx(alone.score, abs=1e-6)
