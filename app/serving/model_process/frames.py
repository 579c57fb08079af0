"""The wire format between a server process and its model process (stdin/stdout pipes).

Every message is a frame: ``length:u32 id:u32 kind:u8`` (little-endian) then ``length`` bytes
of payload. The server numbers its requests; each reply carries the number of its request.

Requests (server -> model process):
  ``S`` settings: the server's validated settings as JSON (``Settings.to_child``), the first
        frame, unanswered;
  ``L`` load ``{"version", "path", "keep": [versions]}``: load a bundle (in a thread, so
        predictions go on meanwhile) and drop every loaded version not in ``keep``;
  ``D`` drop ``{"keep": [versions]}``: drop every loaded version not in ``keep`` (a version
        loaded only for a comparison, ``client.ModelProcess.borrowed``);
  ``P`` predict ``{"version", "ids", "t", "logits"?}``: token ids from the version's tokenizer, which the
        server runs, every id of each text (not cut at ``max_length``: this process, which knows
        the version's ``max_length``, reads a longer text in overlapping windows, see
        ``model/windows.py``); ``t``: the server's ``time.monotonic()`` when the request came in;
        ``logits`` (an explanation's, default false): answer with each text's calibrated logits
        (``Predictor.calibrated_logits_ids``) instead of its probabilities.
Replies (model process -> server):
  ``O`` ok (JSON); ``C`` (request id 0) ``CALL``: the texts of one model call, once per call (the
  batch-size metric); ``P`` each text's window count (uint16, one per text of the request: 1 for a text within ``max_length``,
  at most ``model.inference.windows.MAX_WINDOWS``), then the probabilities (float32, texts x labels; the
  logits when asked for), both
  in the machine's byte order (the two processes share it); ``E`` error (UTF-8 text).
"""

from __future__ import annotations

import struct

HEADER = struct.Struct("<IIB")
CALL = struct.Struct("<I")  # a ``C`` frame: the texts of one model call
WINDOWS_TYPECODE = "H"  # array / memoryview type of the window counts a ``P`` reply starts with: uint16

SETTINGS, LOAD, PREDICT, DROP = b"S", b"L", b"P", b"D"
OK, PROBABILITIES, ERROR, CALL_SIZE = b"O", b"P", b"E", b"C"


def frame(request_id: int, kind: bytes, payload: bytes) -> bytes:
    return HEADER.pack(len(payload), request_id, kind[0]) + payload
