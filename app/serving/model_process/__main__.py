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

import orjson

from ...processes import die_with_parent
from .frames import CALL, DROP, ERROR, HEADER, LOAD, OK, PREDICT, PROBABILITIES, SETTINGS, WINDOWS_TYPECODE, frame

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


class ModelServer:
    """Reads frames from ``fd`` and answers on ``writer``; predictions waiting together share one model call."""

    def __init__(self, fd: int, writer, max_batch: int, max_wait_s: float, backend: str = "auto"):
        self.backend = backend  # SENTIMENT_BACKEND: auto, numpy or torch
        self.fd, self.writer = fd, writer
        self.max_batch = max_batch  # texts per model call, at most (a bigger request runs alone)
        self.max_wait_s = max_wait_s
        self.buffer = bytearray()
        self.waiting: list[tuple[int, dict]] = []  # predictions not yet run
        self.waiting_texts = 0
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
            self.waiting.append((request_id, request))
            self.waiting_texts += len(request["ids"])
        elif kind == LOAD[0]:
            threading.Thread(target=self.load, args=(request_id, request), daemon=True).start()
        elif kind == DROP[0]:
            self.keep_only(set(request["keep"]))
            self.reply(frame(request_id, OK, orjson.dumps({"versions": sorted(self.models)})))
        else:
            self.reply(frame(request_id, ERROR, f"unknown request kind {kind!r}".encode()))

    def serve(self) -> None:
        """Dynamic batching at the model: a batch starts when ``max_batch`` texts wait, or when
        the oldest waiting request (stamped by the server) has waited ``max_wait_s``. Under load
        the requests that came in during the last batch are older than that: the next batch
        starts at once, with all of them."""
        while True:
            if not self.waiting:
                if not self._read(None):
                    return  # the server closed the pipe: it is stopping
                continue
            if not self._read(0.0):  # everything else already sent
                return
            if self.waiting_texts < self.max_batch:
                oldest = min(request["t"] for _, request in self.waiting)
                remaining = oldest + self.max_wait_s - time.monotonic()
                if remaining > 0:
                    if not self._read(remaining):
                        return
                    continue
            waiting, self.waiting, self.waiting_texts = self.waiting, [], 0
            by_version: dict[str, list[tuple[int, list]]] = {}
            for request_id, request in waiting:
                by_version.setdefault(request["version"], []).append((request_id, request["ids"]))
            for version, requests in by_version.items():
                batch, texts = [], 0
                for request in requests:
                    if batch and texts + len(request[1]) > self.max_batch:
                        self.predict(version, batch)
                        batch, texts = [], 0
                    batch.append(request)
                    texts += len(request[1])
                self.predict(version, batch)

    def predict(self, version: str, requests: list[tuple[int, list]]) -> None:
        """One model call for ``requests``; one reply each, written together."""
        predictor = self.models.get(version)
        if predictor is None:
            message = f"model version {version!r} is not loaded".encode()
            self.reply(b"".join(frame(request_id, ERROR, message) for request_id, _ in requests))
            return
        seqs = [ids for _, request_ids in requests for ids in request_ids]
        try:
            # a text longer than the version's max_length is read in windows (model.inference.windows)
            probs, counts = predictor.predict_windows_ids(seqs)  # float32
            windows = array(WINDOWS_TYPECODE, counts)
        except Exception as exc:  # the server logs it; this process goes on serving
            log.exception("prediction failed")
            message = f"{type(exc).__name__}: {exc}".encode()
            self.reply(b"".join(frame(request_id, ERROR, message) for request_id, _ in requests))
            return
        frames, start = [], 0
        for position, (request_id, request_ids) in enumerate(requests):
            end = start + len(request_ids)
            # texts in this model call, and whether this is its first reply (for the batch-size metric);
            # then each text's window count and its probabilities
            frames.append(frame(request_id, PROBABILITIES, CALL.pack(len(seqs), position == 0)
                                + windows[start:end].tobytes() + probs[start:end].tobytes()))
            start = end
        self.reply(b"".join(frames))

    def keep_only(self, keep: set[str]) -> None:
        """Drop every loaded version not in ``keep`` (and its memory: weights and fast-path tables)."""
        with self.models_lock:
            self.models = {v: p for v, p in self.models.items() if v in keep}

    def load(self, request_id: int, request: dict) -> None:
        try:
            predictor = load_predictor(request["path"], self.backend)
            predictor.warm_up()
        except Exception as exc:
            self.reply(frame(request_id, ERROR, f"{type(exc).__name__}: {exc}".encode()))
            return
        with self.models_lock:
            self.models = self.models | {request["version"]: predictor}
        self.keep_only(set(request["keep"]) | {request["version"]})
        self.reply(frame(request_id, OK, orjson.dumps({"version": request["version"], "labels": predictor.labels,
                                                       "backend": predictor.backend})))


def load_predictor(path: str, backend: str):
    """The bundle on ``backend``; ``auto``: NumPy (no torch in this process), or torch, saying so in the
    log, for a bundle the NumPy backend cannot read (one whose weights do not fit its network)."""
    from model.bundle import BundleError
    from model.inference.predictor import Predictor

    if backend != "auto":
        return Predictor.load(path, backend=backend)
    try:
        return Predictor.load(path, backend="numpy")
    except BundleError as exc:
        log.warning("the NumPy backend cannot serve %s (%s); serving it with torch", path, exc)
        return Predictor.load(path, backend="torch")


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parent_pid = int(argv[0])
    die_with_parent(parent_pid)
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
                settings["backend"]).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
