"""The model in a process of its own, fed by the batcher (``SENTIMENT_INFERENCE_PROCESS``).

Why: in one process, the event loop and the inference thread take turns on one interpreter
lock. Every tensor operation the model calls hands the lock over and back, so under load the two
run one after the other: on 2 cores, the server used ~1.1 of them and predict throughput was the
sum of both costs, not the larger one. In its own process the model runs on the other core
while the event loop parses and answers requests, as TorchServe, LitServe and Triton's Python
backend do.

Each server (uvicorn worker) process starts one ``python -m app.inference_worker``, talks to it
over its stdin/stdout pipes with length-prefixed frames (read by the event loop, no extra
thread), and forwards requests as they come, as token ids; the child batches whatever waits for
it and answers each request with raw float32 probabilities. The child dies with its parent. If it
dies on its own (killed, out of memory), the requests in flight fail (503) and the next one
starts a new child with the versions it needs.

Versions: the child holds the version being served and, during an activation, the next one:
``prepare`` loads the next version in the child (in a thread there, so predictions go on) before
the registry swaps, so a swap never waits for a load.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import sys
import time

import orjson

from model import Prediction
from model.predictor import to_predictions

from .config import Settings
from .inference_worker import CALL, HEADER
from .registry import LoadedModel

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0


class ModelProcessError(RuntimeError):
    """The model process could not do what was asked (load a version, predict)."""


class ModelProcessGone(ModelProcessError):
    """The model process died with requests in flight; the next batch starts a new one."""


class ModelProcess:
    def __init__(self, settings: Settings, on_restart=None, on_model_call=None):
        self.settings = settings
        self.on_restart = on_restart  # called with no argument each time a dead child is replaced
        self.on_model_call = on_model_call  # called with the texts in each model call
        self.process: asyncio.subprocess.Process | None = None
        self.reader_task: asyncio.Task | None = None
        self.pending: dict[int, asyncio.Future] = {}
        self.ids = itertools.count(1)
        self.loaded: dict[str, list[str]] = {}  # version -> labels, as the child holds them
        self.current: LoadedModel | None = None  # what predictions use; re-loaded after a restart
        self.starting: asyncio.Lock | None = None
        self.started_once = False
        self.stopped = False

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def start(self, loaded: LoadedModel) -> None:
        """Start the child and load ``loaded`` in it; raises ``ModelProcessError`` if it cannot."""
        self.starting = asyncio.Lock()
        self.current = loaded
        async with self.starting:
            await self._spawn()

    async def _spawn(self) -> None:
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false",
               "SENTIMENT_INFERENCE_THREADS": str(self.settings.inference_threads),
               "SENTIMENT_MAX_BATCH_SIZE": str(self.settings.max_batch_size),
               "SENTIMENT_MAX_WAIT_MS": str(self.settings.max_wait_ms)}
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.inference_worker", str(os.getpid()),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
        )
        self.loaded = {}
        self.reader_task = asyncio.get_running_loop().create_task(self._read(self.process), name="model-process")
        log.info("model process %d started", self.process.pid)
        await asyncio.wait_for(self._load(self.current), START_TIMEOUT_S)
        if self.started_once and self.on_restart is not None:
            self.on_restart()
        self.started_once = True

    async def stop(self) -> None:
        self.stopped = True  # no restart after this
        process, self.process = self.process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()  # the child's read loop ends
        try:
            await asyncio.wait_for(process.wait(), 5.0)
        except TimeoutError:
            process.kill()
            await process.wait()
        if self.reader_task is not None:
            await self.reader_task
        self._fail_pending(ModelProcessGone("the model process stopped"))

    # -- requests ----------------------------------------------------------------------------
    async def predict(self, loaded: LoadedModel, texts: list[str]) -> list[Prediction]:
        arrived = time.monotonic()  # the child's batching wait counts from here
        await self._ensure_running()
        if loaded.version not in self.loaded:  # e.g. the child was restarted mid-activation
            await self._load(loaded)
        # Tokenising here, on the event loop (~10 us a text on the ASCII path), leaves the model
        # process, the busier of the two under load, only tensor work.
        ids = loaded.predictor.encode(texts)
        _, payload = await self._request(b"P", {"version": loaded.version, "ids": ids, "t": arrived})
        call_texts, first = CALL.unpack_from(payload)
        if first and self.on_model_call is not None:
            self.on_model_call(call_texts)
        labels = self.loaded[loaded.version]
        width = len(labels)
        flat = memoryview(payload)[CALL.size :].cast("f").tolist()
        return to_predictions(labels, [flat[i : i + width] for i in range(0, len(flat), width)])

    async def prepare(self, loaded: LoadedModel) -> None:
        """Load ``loaded`` in the child next to the version being served, before a swap."""
        await self._ensure_running()
        try:
            await asyncio.wait_for(self._load(loaded), START_TIMEOUT_S)
        except TimeoutError:
            raise ModelProcessError(f"it did not load within {START_TIMEOUT_S:.0f} s") from None

    def served(self, loaded: LoadedModel) -> None:
        """The registry now serves ``loaded``: the version to restore after a restart."""
        self.current = loaded

    async def _load(self, loaded: LoadedModel) -> None:
        keep = [self.current.version] if self.current is not None else []
        _, payload = await self._request(b"L", {
            "version": loaded.version, "path": str(loaded.path), "quantize": self.settings.quantize, "keep": keep,
        })
        reply = orjson.loads(payload)
        self.loaded = {v: labels for v, labels in self.loaded.items() if v in keep}
        self.loaded[reply["version"]] = reply["labels"]

    def _running(self) -> bool:
        return self.process is not None and self.process.returncode is None and not self.reader_task.done()

    async def _ensure_running(self) -> None:
        if self.stopped:
            raise ModelProcessGone("the service is shutting down")
        if self._running():
            return
        async with self.starting:  # one restart, however many batches notice
            if self._running():
                return
            if self.process is not None:
                log.error("model process %d exited (%s); starting a new one", self.process.pid,
                          _describe_exit(self.process.returncode))
            await self._spawn()

    async def _request(self, kind: bytes, message: dict) -> tuple[int, bytes]:
        process = self.process
        if process is None:
            raise ModelProcessGone("the model process is not running")
        request_id = next(self.ids) & 0xFFFFFFFF
        body = orjson.dumps(message)
        future = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        try:
            process.stdin.write(HEADER.pack(len(body), request_id, kind[0]) + body)
            await process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            self.pending.pop(request_id, None)
            raise ModelProcessGone("the model process is gone") from exc
        reply_kind, payload = await future
        if reply_kind == ord("E"):
            raise ModelProcessError(payload.decode("utf-8", "replace"))
        return reply_kind, payload

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        """Replies from the child to the waiting requests, until its stdout closes."""
        try:
            while True:
                header = await process.stdout.readexactly(HEADER.size)
                length, request_id, kind = HEADER.unpack(header)
                payload = await process.stdout.readexactly(length)
                future = self.pending.pop(request_id, None)
                if future is not None and not future.done():
                    future.set_result((kind, payload))
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass
        code = await process.wait()
        self._fail_pending(ModelProcessGone(f"the model process exited ({_describe_exit(code)})"))

    def _fail_pending(self, exc: Exception) -> None:
        pending, self.pending = self.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(exc)


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by signal {-code}"
    return f"exit code {code}"
