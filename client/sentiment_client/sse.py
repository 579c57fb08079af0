"""Server-Sent Events, read line by line (the WHATWG event-stream format), shared by both clients.

A parser fed one line at a time, rather than a loop over a stream, so that the sync and async
clients read the same stream the same way and differ only in how they get the lines.
"""

from __future__ import annotations

import json

from .types import Event


class EventParser:
    """``feed(line)`` returns the event a blank line completes, else None.

    Comment lines (``: keep-alive``) are skipped; several ``data:`` lines join with newlines;
    an event without ``event:`` is a ``message``, as the format says."""

    def __init__(self) -> None:
        self._type = ""
        self._data: list[str] = []

    def feed(self, line: str) -> Event | None:
        if not line:
            if not self._data:
                self._type = ""
                return None
            event = Event(self._type or "message", _decode("\n".join(self._data)))
            self._type, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._type = value
        elif name == "data":
            self._data.append(value)
        return None  # id: and retry: fields are not used by this API


def _decode(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text
