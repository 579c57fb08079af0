"""A small dynamic batcher: concurrent predict requests share one model call.

Requests join a queue. One task takes the oldest waiting request plus everything else queued, up
to ``max_batch_size`` texts, and hands them to ``run`` (the model process, see
``model_process/``) or else to a single inference thread, so the event loop never blocks. It
waits for more requests only while the oldest one has waited less than ``max_wait`` and the
batch is not full: under load, requests pile up while the previous batch
runs and the next batch starts at once; when idle, a lone request waits at most ``max_wait``.

The per-request cost is an append and a future; the waiting, the thread hand-off and the
metrics are paid once per batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from model.inference.prediction import Prediction

from ..background import cancel_and_wait
from ..errors import Unavailable
from ..metrics import Metrics
from .registry import ServedVersion

log = logging.getLogger(__name__)

Result = tuple[str, list[Prediction]]
Runner = Callable[[ServedVersion, list[str]], Awaitable[list[Prediction]]]


class BatcherStopped(Unavailable):
    """The service is shutting down: the request will not be answered by the model."""

    code = "shutting_down"


class Batcher:
    def __init__(self, get_model: Callable[[], ServedVersion], max_batch_size: int, max_wait_s: float,
                 metrics: Metrics, run: Runner | None = None, in_flight: int = 1):
        self.get_model = get_model  # read when a batch starts, so an activation applies to the next batch
        self.run = run  # e.g. the model process; None: the predictor, in this process's inference thread
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.metrics = metrics
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="inference")
        # (texts, future, arrival time); texts counted in ``queued`` to decide when a batch is full
        self.queue: deque[tuple[list[str], asyncio.Future, float]] = deque()
        self.queued = 0
        self.task: asyncio.Task | None = None
        self._wakeup: asyncio.Future | None = None  # set while the batch task sleeps
        # Batches handed to the model at once. With 2, the next batch already waits at the model
        # while one runs, so the model does not sit idle while the event loop answers the last
        # batch and forms the next.
        self.in_flight = in_flight
        self.running: set[asyncio.Task] = set()
        self._slot: asyncio.Future | None = None  # set while the batch task waits for a free slot

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    async def stop(self) -> None:
        await cancel_and_wait(self.task)
        for task in list(self.running):  # their requests get BatcherStopped
            await cancel_and_wait(task)
        _fail([future for _, future, _ in self.queue], BatcherStopped("the service is shutting down"))
        self.queue.clear()
        await asyncio.get_running_loop().run_in_executor(None, self.executor.shutdown)  # a running batch ends

    async def predict(self, texts: list[str]) -> Result:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.queue.append((texts, future, loop.time()))
        self.queued += len(texts)
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done() and (len(self.queue) == 1 or self.queued >= self.max_batch_size):
            wakeup.set_result(None)  # first request for an idle batcher, or the batch is now full
        return await future

    async def _wait(self, loop: asyncio.AbstractEventLoop, timeout: float | None) -> None:
        """Until ``predict`` wakes us (a request arrived / the batch filled) or ``timeout`` passes."""
        self._wakeup = wakeup = loop.create_future()
        timer = loop.call_later(timeout, _resolve, wakeup) if timeout is not None else None
        try:
            await wakeup
        finally:
            self._wakeup = None
            if timer is not None:
                timer.cancel()

    def _take(self) -> list[tuple[list[str], asyncio.Future]]:
        """The oldest requests, whole, up to ``max_batch_size`` texts (always at least one)."""
        items, count = [], 0
        while self.queue:
            texts = self.queue[0][0]
            if items and count + len(texts) > self.max_batch_size:
                break
            texts, future, _ = self.queue.popleft()
            self.queued -= len(texts)
            if not future.done():  # a cancelled request (client gone) is dropped
                items.append((texts, future))
                count += len(texts)
        return items

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if len(self.running) >= self.in_flight:
                self._slot = slot = loop.create_future()
                try:
                    await slot
                finally:
                    self._slot = None
                continue
            if not self.queue:
                await self._wait(loop, None)
                continue
            if self.queued < self.max_batch_size:
                remaining = self.queue[0][2] + self.max_wait_s - loop.time()
                if remaining > 0:
                    await self._wait(loop, remaining)
                    if self.queued < self.max_batch_size and self.queue[0][2] + self.max_wait_s > loop.time():
                        continue  # woken early by a new arrival that did not fill the batch: wait on
            items = self._take()
            if items:
                task = loop.create_task(self._run_batch(loop, items), name="batch")
                self.running.add(task)
                task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task) -> None:
        self.running.discard(task)
        if self._slot is not None and not self._slot.done():
            self._slot.set_result(None)

    async def _run_batch(self, loop: asyncio.AbstractEventLoop, items: list[tuple[list[str], asyncio.Future]]) -> None:
        texts = [t for batch, _ in items for t in batch] if len(items) > 1 else items[0][0]
        loaded = self.get_model()
        try:
            if self.run is not None:
                predictions = await self.run(loaded, texts)
            else:
                predictions = await loop.run_in_executor(self.executor, loaded.predictor.predict, texts)
        except asyncio.CancelledError:  # stop() while this batch ran: its requests get an answer too
            _fail([future for _, future in items], BatcherStopped("the service is shutting down"))
            raise
        except Exception as exc:  # hand the error to every waiting request
            log.exception("batch of %d texts failed", len(texts))
            _fail([future for _, future in items], exc)
            return
        if self.run is None:  # a runner reports its own model calls (the model process merges batches)
            self.metrics.batch_size.observe(len(texts))
        start = 0
        for batch, future in items:
            if not future.done():
                future.set_result((loaded.version, predictions[start : start + len(batch)]))
            start += len(batch)


def _fail(futures: list[asyncio.Future], exc: Exception) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(exc)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
