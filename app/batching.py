"""A small dynamic batcher: concurrent predict requests share one model call.

Requests go into a queue; one task takes the first waiting request plus whatever else arrives
within ``max_wait`` (up to ``max_batch_size`` texts) and runs the model in a single inference
thread, so the event loop never blocks. While a batch runs, the next one gathers by itself.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from model import Prediction

from .metrics import Metrics
from .registry import LoadedModel

log = logging.getLogger(__name__)


class Batcher:
    def __init__(self, get_model, max_batch_size: int, max_wait_s: float, metrics: Metrics):
        self.get_model = get_model  # () -> LoadedModel, read when a batch starts
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.metrics = metrics
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="inference")
        self.queue: asyncio.Queue[tuple[list[str], asyncio.Future]] = asyncio.Queue()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        self.executor.shutdown(wait=True)

    async def predict(self, texts: list[str]) -> tuple[str, list[Prediction]]:
        future = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((texts, future))
        return await future

    async def _gather(self) -> list[tuple[list[str], asyncio.Future]]:
        items = [await self.queue.get()]
        count = len(items[0][0])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while count < self.max_batch_size:
            if self.queue.empty():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self.queue.get(), remaining)
                except TimeoutError:
                    break
            else:
                item = self.queue.get_nowait()
            items.append(item)
            count += len(item[0])
        return items

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._gather()
            items = [(texts, fut) for texts, fut in items if not fut.done()]  # client gone
            if not items:
                continue
            texts = [t for batch, _ in items for t in batch]
            loaded: LoadedModel = self.get_model()
            try:
                predictions = await loop.run_in_executor(self.executor, loaded.predictor.predict, texts)
            except Exception as exc:  # hand the error to every waiting request
                log.exception("batch of %d texts failed", len(texts))
                for _, fut in items:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self.metrics.batch_size.observe(len(texts))
            start = 0
            for batch, fut in items:
                if not fut.done():
                    fut.set_result((loaded.version, predictions[start : start + len(batch)]))
                start += len(batch)
