"""``python -m app.serving.model_process PARENT_PID``: the model process behind one server process.

The server's event loop and the model each get a core of their own this way, instead of taking
turns on one interpreter lock (see ``client.py``, which starts this process and speaks to it
in the frames of ``frames.py``). The first frame carries the server's settings; this process
reads nothing else from its environment.

The server forwards predictions as they come (several may wait in the pipe) and the batching
happens here, where the model's own pace is known: when the model is free, every prediction
waiting runs as one batch (up to ``SENTIMENT_MAX_BATCH_SIZE`` texts); a small batch first waits
up to ``SENTIMENT_MAX_WAIT_MS`` (from the request's arrival at the server) for company. Under
load, batches are as large as the queue and the model never waits for the server between them.
"""

from __future__ import annotations

import logging
import os
import select
import sys
import threading
import time
from array import array
from pathlib import Path

import orjson

from model.inference.windows import count_windows

from ...data_dir import TABLES_FOLDER
from ...processes import die_with_parent, trim_heap
from .frames import (
    CALL,
    CALL_SIZE,
    DROP,
    ERROR,
    HEADER,
    LOAD,
    OK,
    PREDICT,
    PROBABILITIES,
    SETTINGS,
    WINDOWS_TYPECODE,
    frame,
)

log = logging.getLogger("app.serving.model_process")



def read_frame(fd: int) -> tuple[int, int, bytes] | None:
    """One whole frame from ``fd`` (blocking); None at end of input."""
    header = _read_exactly(fd, HEADER.size)
    if header is None:
        return None
    length, request_id, kind = HEADER.unpack(header)
    payload = _read_exactly(fd, length)
    return None if payload is None else (request_id, kind, payload)


def _read_exactly(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class _Request:
    """A prediction being served, possibly in slices over several model calls."""

    __slots__ = ("request_id", "version", "seqs", "texts", "costs", "arrived", "done", "probs", "windows", "logits")

    def __init__(self, request_id: int, request: dict, max_length: int):
        self.request_id, self.version, self.seqs, self.arrived = request_id, request["version"], request["ids"], request["t"]
        self.texts = request.get("texts")  # for a version with a linear part, which reads them
        self.logits = bool(request.get("logits"))  # an explanation's: calibrated logits, not probabilities
        # a sequence's cost: the windows of max_length tokens it is read in (model.inference.windows)
        self.costs = [count_windows([len(ids)], max_length) for ids in self.seqs]
        self.done = 0  # sequences predicted so far
        self.probs: list = []
        self.windows: list[int] = []


class ModelServer:
    """Reads frames from ``fd`` and answers on ``writer``; predictions waiting together share one model call.

    Fair to light requests: a model call reads at most ``max_batch`` windows, shared out among the
    waiting requests in turn (each at least one sequence, at most an equal share while others wait),
    and a larger request is read over several calls. A one-sentence predict then waits for one call
    at most, however many large explanations came before it; requests that fit together run together.
    """

    def __init__(self, fd: int, writer, max_batch: int, max_wait_s: float, backend: str = "auto",
                 table_dir: Path | None = None):
        self.backend = backend  # SENTIMENT_BACKEND: auto, numpy or torch
        self.table_dir = table_dir  # where the NumPy backend keeps its derived input tables
        self.fd, self.writer = fd, writer
        self.max_batch = max_batch  # windows per model call, at most (but one sequence always goes)
        self.max_wait_s = max_wait_s
        self.buffer = bytearray()
        self.waiting: list[_Request] = []  # predictions not yet answered, oldest first
        self.models: dict = {}  # version -> Predictor
        self.models_lock = threading.Lock()  # the loader thread replaces ``models`` too
        self.write_lock = threading.Lock()  # the loader thread replies too

    def reply(self, frames: bytes) -> None:
        with self.write_lock:
            self.writer.write(frames)
            self.writer.flush()

    def _read(self, timeout: float | None) -> bool:
        """Whatever the server has sent, parsed; waits up to ``timeout`` (None: until data). False at EOF."""
        if timeout is not None and not select.select([self.fd], [], [], max(timeout, 0.0))[0]:
            return True
        data = os.read(self.fd, 1 << 20)
        if not data:
            return False
        self.buffer += data
        buffer = self.buffer
        while len(buffer) >= HEADER.size:
            length, request_id, kind = HEADER.unpack_from(buffer)
            if len(buffer) < HEADER.size + length:
                break
            self._accept(request_id, kind, orjson.loads(bytes(buffer[HEADER.size : HEADER.size + length])))
            del buffer[: HEADER.size + length]
        return True

    def _accept(self, request_id: int, kind: int, request: dict) -> None:
        if kind == PREDICT[0]:
            predictor = self.models.get(request["version"])
            if predictor is None:
                self.reply(frame(request_id, ERROR, f"model version {request['version']!r} is not loaded".encode()))
                return
            self.waiting.append(_Request(request_id, request, predictor.max_length))
        elif kind == LOAD[0]:
            threading.Thread(target=self.load, args=(request_id, request), daemon=True).start()
        elif kind == DROP[0]:
            self.keep_only(set(request["keep"]))
            self.reply(frame(request_id, OK, orjson.dumps({"versions": sorted(self.models)})))
        else:
            self.reply(frame(request_id, ERROR, f"unknown request kind {kind!r}".encode()))

    def serve(self) -> None:
        """Dynamic batching at the model: a call starts when ``max_batch`` windows wait, or when
        the oldest waiting request (stamped by the server) has waited ``max_wait_s``. Under load
        the requests that came in during the last call are older than that: the next call starts
        at once, with as many of them as it holds."""
        while True:
            if not self.waiting:
                if not self._read(None):
                    return  # the server closed the pipe: it is stopping
                continue
            if not self._read(0.0):  # everything else already sent
                return
            if sum(sum(r.costs[r.done:]) for r in self.waiting) < self.max_batch:
                remaining = self.waiting[0].arrived + self.max_wait_s - time.monotonic()
                if remaining > 0:
                    if not self._read(remaining):
                        return
                    continue
            self.predict(self._slices())

    def _slices(self) -> list[tuple[_Request, int, int]]:
        """The next model call: (request, first, end) slices of the oldest version's waiting requests,
        each request in turn taking at most an equal share of ``max_batch`` windows (and at least one
        sequence), then, while room is left, more of them in the same order."""
        version = self.waiting[0].version
        candidates = [r for r in self.waiting if r.version == version]
        share = max(1, self.max_batch // len(candidates))
        taken: dict[int, int] = {}  # index in candidates -> sequences taken
        total = 0
        for limit in (share, self.max_batch):  # an equal share each, then what room is left
            for i, r in enumerate(candidates):
                start = r.done + taken.get(i, 0)
                cost = 0
                end = start
                while end < len(r.seqs) and (end == r.done or (cost + r.costs[end] <= limit
                                                                and total + cost + r.costs[end] <= self.max_batch)):
                    cost += r.costs[end]
                    end += 1
                if end > start:
                    taken[i] = end - r.done
                    total += cost
                if total >= self.max_batch:
                    break
            if total >= self.max_batch:
                break
        return [(candidates[i], candidates[i].done, candidates[i].done + n) for i, n in sorted(taken.items())]

    def predict(self, slices: list[tuple[_Request, int, int]]) -> None:
        """One model call for ``slices``; a reply for each request it completes, written together."""
        version = slices[0][0].version
        predictor = self.models.get(version)
        seqs = [ids for request, first, end in slices for ids in request.seqs[first:end]]
        try:
            if predictor is None:
                raise LookupError(f"model version {version!r} is not loaded")
            texts = None
            if predictor.reads_text:  # a linear part (the server sent every text of such a version)
                texts = [t for request, first, end in slices for t in request.texts[first:end]]
            # a text longer than the version's max_length is read in windows (model.inference.windows)
            logits, counts = predictor.calibrated_logits_ids(seqs, texts)  # float32
            # probabilities are computed in place; an explanation's request in the call keeps the logits
            probs = predictor.probabilities(logits.copy() if any(r.logits for r, _, _ in slices) else logits)
        except Exception as exc:  # the server logs it; this process goes on serving
            if not isinstance(exc, LookupError):
                log.exception("prediction failed")
            message = f"{type(exc).__name__}: {exc}".encode()
            failed = {request.request_id for request, _, _ in slices}
            self.waiting = [r for r in self.waiting if r.request_id not in failed]
            self.reply(b"".join(frame(request_id, ERROR, message) for request_id in sorted(failed)))
            return
        frames, start = [frame(0, CALL_SIZE, CALL.pack(len(seqs)))], 0
        for request, first, end in slices:
            n = end - first
            request.probs.append((logits if request.logits else probs)[start : start + n])
            request.windows.extend(counts[start : start + n])
            request.done = end
            start += n
            if request.done == len(request.seqs):  # each text's window count, then its probabilities (or logits)
                frames.append(frame(request.request_id, PROBABILITIES, array(WINDOWS_TYPECODE, request.windows).tobytes()
                                    + b"".join(p.tobytes() for p in request.probs)))
        self.waiting = [r for r in self.waiting if r.done < len(r.seqs)]
        self.reply(b"".join(frames))

    def keep_only(self, keep: set[str]) -> None:
        """Drop every loaded version not in ``keep`` (and its memory: weights and fast-path tables)."""
        with self.models_lock:
            self.models = {v: p for v, p in self.models.items() if v in keep}

    def load(self, request_id: int, request: dict) -> None:
        try:
            before = _rss_bytes()
            predictor = load_predictor(request["path"], self.backend, self.table_dir)
            predictor.warm_up()
            grown = max(_rss_bytes() - before, 0)
        except Exception as exc:
            self.reply(frame(request_id, ERROR, f"{type(exc).__name__}: {exc}".encode()))
            return
        with self.models_lock:
            self.models = self.models | {request["version"]: predictor}
        self.keep_only(set(request["keep"]) | {request["version"]})
        trim_heap()  # what loading built and dropped (the bundle's parsed JSON, the table's derivation)
        self.reply(frame(request_id, OK, orjson.dumps({"version": request["version"], "labels": predictor.labels,
                                                       "backend": predictor.backend, "memory_bytes": grown})))


def _rss_bytes() -> int:
    """This process's resident memory: what a load adds to it is the model's memory (its weights,
    the derived tables, the first call's buffers; another load at the same time adds to it too)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def load_predictor(path: str, backend: str, table_dir: Path | None = None):
    """The bundle on ``backend``; ``auto``: NumPy (no torch in this process), or torch, saying so in the
    log, for a bundle the NumPy backend cannot read (one whose weights do not fit its network).
    ``table_dir``: where NumPy keeps its input table, derived once per weights file (``NumpyRNN.load``)."""
    from model.bundle import BundleError
    from model.inference.predictor import Predictor

    if backend == "torch":
        return Predictor.load(path, backend="torch", tokenizer=False)
    try:
        return _numpy_predictor(path, table_dir)
    except BundleError as exc:
        if backend == "numpy":
            raise
        log.warning("the NumPy backend cannot serve %s (%s); serving it with torch", path, exc)
        return Predictor.load(path, backend="torch")


def _numpy_predictor(path: str, table_dir: Path | None):
    """``Predictor.load(path, backend="numpy", tokenizer=False)`` (this process is given token ids),
    with the input table kept in ``table_dir``."""
    from model.inference.predictor import Predictor

    return Predictor.load(path, backend="numpy", tokenizer=False, table_dir=table_dir)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parent_pid = int(argv[0])
    die_with_parent(parent_pid)
    # What every backend needs (torch imports NumPy too), imported now rather than at the first load:
    # a model process started early (``client.prestart``) has it by the time the server asks for one.
    import model.inference.numpy_rnn
    import model.inference.predictor  # noqa: F401

    first = read_frame(sys.stdin.fileno())
    if first is None or first[1] != SETTINGS[0]:
        log.error("expected the server's settings as the first frame")
        return 2
    # The server validated these (Settings.to_child); read as plain JSON, so that this process
    # does not pay for pydantic's import before it can serve again after a crash.
    settings = orjson.loads(first[2])
    if settings["backend"] == "torch":  # else torch is imported only for a bundle NumPy cannot serve
        import torch

        torch.set_num_threads(settings["inference_threads"])
    # Frames only on the real stdout; anything else that prints goes to the log (stderr).
    writer = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    ModelServer(sys.stdin.fileno(), writer, settings["max_batch_size"], settings["max_wait_ms"] / 1000,
                settings["backend"], Path(settings["data_dir"]) / TABLES_FOLDER).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
