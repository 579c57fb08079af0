"""The service's error types: what went wrong, in terms of the domain, never of HTTP.

Serving and training code raise these (or the model package's ``DataError`` / ``BundleError``);
the HTTP edge (``app/http/errors.py``) alone turns them into status codes and the JSON error
body. This module imports no service code, so every layer can use it.

Each error has a machine-readable ``code`` (the JSON body's ``error``), a message for people,
and optionally the ``field`` of the request it is about.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


class ServiceError(Exception):
    """Base type: ``code`` says what kind of problem, ``message`` what exactly, ``field`` where."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class NotFound(ServiceError):
    """A dataset, job or model version that does not exist."""

    code = "not_found"


class Conflict(ServiceError):
    """The request is valid but the thing is not in a state that allows it."""

    code = "conflict"


class InvalidInput(ServiceError):
    """A request whose content cannot be used."""

    code = "validation_error"


class LimitExceeded(InvalidInput):
    """A value above a limit the server sets (a setting, named in the message)."""

    code = "limit_exceeded"


class TooBusy(ServiceError):
    """Too much work is waiting; the same request may succeed later."""

    code = "too_busy"


class Unavailable(ServiceError):
    """The service cannot answer right now (starting, restarting, stopping); try again shortly."""

    code = "unavailable"
    retry_after_s = 1


class InsufficientStorage(ServiceError):
    """The data volume is full: nothing was stored (HTTP 507)."""

    code = "insufficient_storage"


class StorageNotWritable(Unavailable):
    """The data directory cannot be written (permissions, a read-only mount)."""

    code = "storage_not_writable"


class StoreError(Exception):
    """The records cannot be opened at all (a corrupt file, or a schema newer than this release):
    the service does not start."""


_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_READ_ONLY = {errno.EACCES, errno.EPERM, errno.EROFS}


@contextmanager
def storage_errors(doing: str) -> Iterator[None]:
    """Turn the operating system's and SQLite's storage failures while ``doing`` something into
    ``InsufficientStorage`` / ``StorageNotWritable``, with a message that names no server path."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _FULL:
            raise InsufficientStorage(f"no space left on the data volume while {doing}") from exc
        if exc.errno in _READ_ONLY:
            raise StorageNotWritable(f"the data directory is not writable ({exc.strerror.lower()}) "
                                     f"while {doing}") from exc
        raise
    except sqlite3.OperationalError as exc:
        text = str(exc).lower()
        if "full" in text:
            raise InsufficientStorage(f"no space left on the data volume while {doing}") from exc
        if "readonly" in text or "read-only" in text or "disk i/o error" in text or "unable to open" in text:
            raise StorageNotWritable(f"the data directory is not writable ({text}) while {doing}") from exc
        raise
