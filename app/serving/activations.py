"""Hearing at once of activations made elsewhere: PostgreSQL's ``LISTEN``.

Every server process follows the active version by polling its record every
``SENTIMENT_VERSION_POLL_S`` (``app/lifespan.py``), on both backends: that alone keeps replicas
within a second of each other on SQLite, and is the fallback on PostgreSQL. There, an activation
(through the API, or a job's promotion) also sends a ``NOTIFY`` in its own transaction
(``Versions.record_active``), and this listener, a thread with a connection of its own, wakes
the follower as it arrives: replicas on other machines serve the new version in the time it takes
to load it (tens of ms for the tokenizer and the model process), not up to a poll interval later.
A lost connection is opened again, with a wake-up after each (a notification sent meanwhile was lost).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..store import Store
from ..versions import ACTIVE_CHANNEL

log = logging.getLogger(__name__)

RECONNECT_S = 2.0
_WAIT_S = 0.5  # the longest wait for a notification before checking whether to stop


class ActivationListener:
    """``start()`` a daemon thread that calls ``on_activation()`` for each activation notified on
    ``store``'s PostgreSQL database (and after each connect); ``stop()`` ends it."""

    def __init__(self, store: Store, on_activation: Callable[[], None]):
        self.store, self.on_activation = store, on_activation
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="activation-listener", daemon=True)
        self.listening = threading.Event()  # set while LISTEN is in effect (tests wait for it)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=_WAIT_S + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self.store.listen_connection() as connection:
                    connection.execute(f"LISTEN {ACTIVE_CHANNEL}")
                    self.listening.set()
                    self.on_activation()  # anything activated while not listening
                    while not self._stop.is_set():
                        for _ in connection.notifies(timeout=_WAIT_S):
                            self.on_activation()
            except Exception as exc:  # the database restarted or is unreachable: polling still follows
                if self._stop.is_set():
                    return
                log.warning("not listening for activations (%s: %s); again in %.0f s, polling meanwhile",
                            type(exc).__name__, exc, RECONNECT_S)
            finally:
                self.listening.clear()
            self._stop.wait(RECONNECT_S)
