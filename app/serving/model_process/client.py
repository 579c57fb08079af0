"""The server's side of its model process: the one place the model runs for serving.

Why a process: in one process, the event loop and an inference thread take turns on one
interpreter lock. Every tensor operation the model calls hands the lock over and back, so under
load the two run one after the other: on 2 cores, the server used ~1.1 of them and predict
throughput was the sum of both costs, not the larger one. In its own process the model runs on
the other core while the event loop parses and answers requests, as TorchServe, LitServe and
Triton's Python backend do. It also keeps torch out of the server process (~100 MB instead of
~350 MB, and no torch import at start-up).

Each server (uvicorn worker) process starts one ``python -m app.serving.model_process``, sends it
its settings, talks to it over its stdin/stdout pipes (``frames.py``; read by the event loop,
no extra thread), and forwards requests as they come, as token ids; the child batches whatever
waits for it and answers each request with raw float32 probabilities and each text's window
count. The ids are every token of each text: the child reads a text longer than the version's
``max_length`` in overlapping windows (``model/windows.py``). The child dies with its parent.

If the child dies on its own (killed, out of memory), the requests in flight fail with 503
``model_restarting`` and a new child is started at once, not at the next request; until it has
loaded the served version (importing torch is most of that time), predictions are answered 503
with ``Retry-After`` straight away rather than held.

Versions: the child holds the version served of each model loaded (``Inference`` decides which
models, at most ``SENTIMENT_MAX_LOADED_MODELS``) and, during an activation, the next one: ``prepare``
loads the next version in the child (in a thread there, so predictions go on) before the served
version is swapped, so a swap never waits for a load. A comparison of versions ``borrowed`` one
that is not served: loaded next to the served ones while the comparison runs, dropped after. The
child knows a version by its ``key`` (model and version).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import subprocess
import sys
import time
from array import array
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import orjson

from model.inference.prediction import Prediction, to_predictions

from ...errors import Conflict, Unavailable
from ...processes import child_environment
from ...settings import Settings
from ...tasks import cancel_and_wait
from .frames import CALL, CALL_SIZE, DROP, ERROR, HEADER, LOAD, PREDICT, SETTINGS, WINDOWS_TYPECODE, frame

if TYPE_CHECKING:
    from ..inference import ServedVersion

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0
PRELOAD_ID = 0xFFFFFFFF  # the request id of ``preload``'s load
RESTART_BACKOFF_S = 1.0  # between attempts when a new child cannot start
WINDOWS_SIZE = array(WINDOWS_TYPECODE).itemsize  # bytes of one text's window count in a reply


class ModelProcessError(Conflict):
    """The model process could not load a version."""

    code = "model_unavailable"


class ModelProcessGone(Unavailable):
    """The model process died, or is being replaced: try again in a moment."""

    code = "model_restarting"


def prestart(settings: Settings) -> subprocess.Popen:
    """A model process started, and sent its settings, before the server's event loop runs
    (``python -m app`` starts it first, so that its interpreter and its backend's libraries load
    while the server imports its own modules): given to ``ModelProcess.prestarted``, whose first
    start takes it over instead of starting one."""
    process = subprocess.Popen(_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               env=child_environment(settings.inference_threads))
    process.stdin.write(frame(0, SETTINGS, settings.to_child().encode()))
    process.stdin.flush()
    return process


def preload(process: subprocess.Popen, loaded: ServedVersion) -> None:
    """Ask a ``prestart`` process to load ``loaded`` now, before the server's event loop runs: the
    load (the weights, the input table mapped) then happens on the other core while the server
    imports its web framework, and the lifespan only awaits its answer (``ModelProcess.preloaded``).
    The request goes under ``PRELOAD_ID``, which the request counter does not reach first."""
    body = orjson.dumps({"version": loaded.key, "path": str(loaded.path), "keep": [loaded.key]})
    try:
        process.stdin.write(HEADER.pack(len(body), PRELOAD_ID, LOAD[0]) + body)
        process.stdin.flush()
    except BrokenPipeError:  # it died already: the lifespan starts another (``ModelProcess._spawn``)
        pass


def _command() -> list[str]:
    return [sys.executable, "-m", "app.serving.model_process", str(os.getpid())]


class _TakenOver:
    """A ``prestart`` process driven through the interface of the ``asyncio.subprocess.Process``
    that ``ModelProcess`` otherwise starts: its pipes as streams on the running loop, its exit
    awaited in a thread."""

    def __init__(self, popen: subprocess.Popen, stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader):
        self.popen, self.stdin, self.stdout = popen, stdin, stdout

    @classmethod
    async def connect(cls, popen: subprocess.Popen) -> _TakenOver:
        loop = asyncio.get_running_loop()
        stdout = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdout), popen.stdout)
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, popen.stdin)
        popen.stdin = popen.stdout = None  # the transports own (and close) them now
        return cls(popen, asyncio.StreamWriter(transport, protocol, None, loop), stdout)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def kill(self) -> None:
        self.popen.kill()  # (a no-op once it has been reaped)

    async def wait(self) -> int:
        return await asyncio.to_thread(self.popen.wait)


class ModelProcess:
    def __init__(self, settings: Settings, on_restart=None, on_model_call=None):
        self.settings = settings
        self.prestarted: subprocess.Popen | None = None  # taken over by the first start (``prestart``)
        self.preloaded: ServedVersion | None = None  # what the prestarted process was asked to load (``preload``)
        self.on_restart = on_restart  # called with no argument each time a dead child is replaced
        self.on_model_call = on_model_call  # called with the texts in each model call
        self.process: asyncio.subprocess.Process | _TakenOver | None = None
        self.reader_task: asyncio.Task | None = None
        self.restart_task: asyncio.Task | None = None
        self.pending: dict[int, asyncio.Future] = {}
        self.ids = itertools.count(1)
        self.loaded: dict[str, list[str]] = {}  # key -> labels, as the child holds them
        self.backends: dict[str, str] = {}  # key -> what the child runs it with (numpy, torch)
        self.memory: dict[str, int] = {}  # key -> the child's memory growth when it loaded it (bytes)
        self.serving: dict[str, ServedVersion] = {}  # model -> its served version; loaded again after a restart
        self.borrowers: Counter[str] = Counter()  # key -> comparisons using it (``borrowed``)
        self.ready = False  # a child runs and holds every served version
        self.stopped = False
        # One thread for big requests: they take turns, so one client's big requests cannot take
        # every core from the others.
        self.tokenizing = ThreadPoolExecutor(1, thread_name_prefix="tokenize")

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def start(self, loaded: ServedVersion) -> None:
        """Start the child and load ``loaded`` in it; raises ``ModelProcessError`` if it cannot."""
        self.serving = {loaded.model: loaded}
        await self._spawn()

    async def _spawn(self) -> None:
        self.ready = False
        prestarted, self.prestarted = self.prestarted, None
        preloaded, self.preloaded = self.preloaded, None
        if prestarted is not None and prestarted.poll() is None:
            self.process = process = await _TakenOver.connect(prestarted)  # (its settings sent)
        else:
            if prestarted is not None:  # it died before it was needed
                prestarted.stdin.close()
                prestarted.stdout.close()
            preloaded = None
            self.process = process = await asyncio.create_subprocess_exec(
                *_command(), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                env=child_environment(self.settings.inference_threads),
            )
            process.stdin.write(frame(0, SETTINGS, self.settings.to_child().encode()))
        self.loaded = {}
        if preloaded is not None:  # its answer is awaited like any request's
            self.pending[PRELOAD_ID] = preload_reply = asyncio.get_running_loop().create_future()
        self.reader_task = asyncio.get_running_loop().create_task(self._read(process), name="model-process")
        log.info("model process %d started", process.pid)
        try:
            if preloaded is not None:
                # Awaited first even when another version is served now (activated meanwhile): the
                # child loads in a thread, and the preload's answer, coming after the other's, would
                # drop it (its "keep" names only itself); the next load drops the preloaded one.
                loaded, served = preloaded, self.serving.get(preloaded.model) is preloaded
                try:
                    _, payload = await asyncio.wait_for(
                        self._answered(LOAD, {"version": preloaded.key}, preload_reply), START_TIMEOUT_S)
                    if served:
                        self._record_load([preloaded.key], payload)
                except ModelProcessError:
                    if served:
                        raise
            for loaded in list(self.serving.values()):
                if loaded is not preloaded:
                    await asyncio.wait_for(self._load(loaded), START_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            raise ModelProcessError(f"the model process did not load {loaded.key} "
                                    f"within {START_TIMEOUT_S:.0f} s") from None
        except BaseException:  # it answered with an error (or we are cancelled): it must not linger
            process.kill()
            raise
        self.ready = True

    async def stop(self) -> None:
        self.stopped = True  # no restart after this
        await cancel_and_wait(self.restart_task)
        self.tokenizing.shutdown(wait=False, cancel_futures=True)
        process, self.process = self.process, None
        self.ready = False
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
    async def in_tokenizing_thread(self, function, *args):
        """``function(*args)`` in this process's one tokenizing thread: big requests take turns there,
        so that one client's big requests cannot take every core from the others."""
        return await asyncio.get_running_loop().run_in_executor(self.tokenizing, function, *args)

    async def predict_ids(self, loaded: ServedVersion, ids: list[list[int]], arrived: float | None = None,
                          texts: list[str] | None = None, **options) -> list[Prediction]:
        """Predictions for texts the server has tokenised (every id of each, each non-empty): one
        request, which the model process runs with whatever else waits (the caller checks the windows).
        ``texts``: the texts themselves, sent only to a version that reads them (``reads_text``: a linear
        part). ``options``: those of ``to_predictions`` (task, thresholds, top_k, min_score)."""
        labels, rows, windows = await self._rows(loaded, ids, arrived, texts, logits=False)
        if not options:
            options = {"task": loaded.task, "thresholds": loaded.thresholds}
        return to_predictions(labels, rows, windows, **options)

    async def logits_ids(self, loaded: ServedVersion, ids: list[list[int]],
                         texts: list[str] | None = None) -> list[list[float]]:
        """Each sequence's calibrated logits (``Predictor.calibrated_logits_ids``), for explanations:
        a request like ``predict_ids``' (the caller checks the windows)."""
        return (await self._rows(loaded, ids, None, texts, logits=True))[1]

    async def _rows(self, loaded: ServedVersion, ids: list[list[int]], arrived: float | None,
                    texts: list[str] | None, logits: bool) -> tuple[list[str], list[list[float]], list[int]]:
        """The version's labels, a row of probabilities (or logits) per text, and its window count."""
        arrived = time.monotonic() if arrived is None else arrived
        if not self.ready:
            raise ModelProcessGone("the model process is restarting")
        if loaded.key not in self.loaded:  # e.g. the child was restarted mid-activation, or dropped it meanwhile
            await self._load(loaded)
        labels = self.loaded[loaded.key]  # now: an activation may drop it while we wait
        message = {"version": loaded.key, "ids": ids, "t": arrived}
        if logits:
            message["logits"] = True
        if loaded.reads_text:
            if texts is None or len(texts) != len(ids):
                raise ValueError(f"{loaded.key} reads texts (a linear part): give one text per sequence")
            message["texts"] = texts
        _, payload = await self._request(PREDICT, message)
        width = len(labels)
        view = memoryview(payload)
        probs_at = WINDOWS_SIZE * len(ids)
        windows = view[:probs_at].cast(WINDOWS_TYPECODE).tolist()
        flat = view[probs_at:].cast("f").tolist()
        return labels, [flat[i : i + width] for i in range(0, len(flat), width)], windows

    async def prepare(self, loaded: ServedVersion) -> None:
        """Load ``loaded`` in the child next to the version being served, before a swap."""
        await self._wait_ready()
        try:
            await asyncio.wait_for(self._load(loaded), START_TIMEOUT_S)
        except TimeoutError:
            raise ModelProcessError(f"the model process did not load {loaded.key} "
                                    f"within {START_TIMEOUT_S:.0f} s") from None

    async def unserve(self, loaded: ServedVersion) -> None:
        """``loaded``'s model is no longer served here: the child drops it (unless borrowed)."""
        if self.serving.get(loaded.model) is loaded:
            del self.serving[loaded.model]
        await self._drop()

    @asynccontextmanager
    async def borrowed(self, loaded: ServedVersion) -> AsyncIterator[None]:
        """``loaded`` held by the child next to the served version until the block ends (a
        comparison predicts with a version that is not served), then dropped unless it is served
        by then or another comparison still uses it. Activations and restarts keep it meanwhile."""
        version = loaded.key
        self.borrowers[version] += 1
        try:
            if version not in self.loaded:
                await self.prepare(loaded)
            yield
        finally:
            self.borrowers[version] -= 1
            if not self.borrowers[version]:
                del self.borrowers[version]
                if version in self.loaded and version not in self._keep():
                    await self._drop()

    async def _drop(self) -> None:
        """Unload from the child every version neither served nor borrowed."""
        keep = self._keep()
        try:
            await self._request(DROP, {"keep": keep})
        except ModelProcessGone:  # a child that died holds nothing; a new one loads only what it serves
            return
        self.loaded = {v: labels for v, labels in self.loaded.items() if v in keep}
        self.memory = {v: size for v, size in self.memory.items() if v in keep}

    def _keep(self) -> list[str]:
        """The versions the child must keep: the served ones and those borrowed."""
        return sorted({loaded.key for loaded in self.serving.values()} | set(self.borrowers))

    def serve(self, loaded: ServedVersion) -> None:
        """``loaded`` is now its model's served version: the one to restore after a restart."""
        self.serving[loaded.model] = loaded

    async def _wait_ready(self) -> None:
        """Until a child holds the served version (an activation waits out a restart)."""
        if self.stopped:
            raise ModelProcessGone("the service is shutting down")
        if not self.ready and self.restart_task is not None:
            await asyncio.wait_for(asyncio.shield(self.restart_task), START_TIMEOUT_S)
        if not self.ready:
            raise ModelProcessGone("the model process is not running")

    async def _load(self, loaded: ServedVersion) -> None:
        keep = self._keep()
        _, payload = await self._request(LOAD, {"version": loaded.key, "path": str(loaded.path), "keep": keep})
        self._record_load(keep, payload)

    def _record_load(self, keep: list[str], payload: bytes) -> None:
        reply = orjson.loads(payload)
        self.loaded = {v: labels for v, labels in self.loaded.items() if v in keep}
        self.loaded[reply["version"]] = reply["labels"]
        self.backends[reply["version"]] = reply["backend"]
        self.memory[reply["version"]] = reply.get("memory_bytes", 0)

    async def _request(self, kind: bytes, message: dict) -> tuple[int, bytes]:
        process = self.process
        if process is None or process.stdin is None or process.stdin.is_closing():
            raise ModelProcessGone("the model process is not running")
        request_id = next(self.ids) & 0xFFFFFFFF
        body = orjson.dumps(message)
        future = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        try:
            process.stdin.write(HEADER.pack(len(body), request_id, kind[0]) + body)
            await process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError, RuntimeError) as exc:
            # a child that died: its pipe is broken, or (uvloop) its transport already closed, which
            # raises RuntimeError("... the handler is closed") from write
            self.pending.pop(request_id, None)
            raise ModelProcessGone("the model process is gone") from exc
        return await self._answered(kind, message, future)

    @staticmethod
    async def _answered(kind: bytes, message: dict, future: asyncio.Future) -> tuple[int, bytes]:
        """The reply to a request sent (``message``, of ``kind``), once it comes; an error reply raised."""
        reply_kind, payload = await future
        if reply_kind == ERROR[0]:
            text = payload.decode("utf-8", "replace")
            if kind == LOAD:
                raise ModelProcessError(f"the model process cannot load {message['version']}: {text}")
            raise RuntimeError(f"the model process failed: {text}")  # a bug: logged, a generic 500
        return reply_kind, payload

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        """Replies from the child to the waiting requests, until its stdout closes; then, unless
        the service is stopping, a new child."""
        try:
            while True:
                header = await process.stdout.readexactly(HEADER.size)
                length, request_id, kind = HEADER.unpack(header)
                payload = await process.stdout.readexactly(length)
                if kind == CALL_SIZE[0]:  # one model call's size, for the batch-size metric
                    if self.on_model_call is not None:
                        self.on_model_call(CALL.unpack(payload)[0])
                    continue
                future = self.pending.pop(request_id, None)
                if future is not None and not future.done():
                    future.set_result((kind, payload))
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass
        code = await process.wait()
        if process is not self.process:  # an old child, already replaced
            return
        self.ready = False
        self._fail_pending(ModelProcessGone(f"the model process exited ({_describe_exit(code)})"))
        if not self.stopped and (self.restart_task is None or self.restart_task.done()):
            log.error("model process %d exited (%s); starting a new one", process.pid, _describe_exit(code))
            self.restart_task = asyncio.get_running_loop().create_task(self._restart(), name="model-process-restart")

    async def _restart(self) -> None:
        while not self.stopped:
            try:
                await self._spawn()
            except (ModelProcessError, ModelProcessGone, OSError) as exc:
                log.error("could not start a new model process (%s); trying again in %.0f s", exc, RESTART_BACKOFF_S)
                await asyncio.sleep(RESTART_BACKOFF_S)
                continue
            if self.on_restart is not None:
                self.on_restart()
            return

    def _fail_pending(self, exc: Exception) -> None:
        pending, self.pending = self.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(exc)


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by signal {-code}"
    return f"exit code {code}"
