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


class Gone(ServiceError):
    """A record whose data is no longer there (a dataset's file removed from the data directory)."""

    code = "gone"


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


class DatabaseUnavailable(Unavailable):
    """The PostgreSQL server cannot be reached, or is shutting down."""

    code = "database_unavailable"


class StoreError(Exception):
    """The records cannot be opened at all (a corrupt file, or a schema newer than this release):
    the service does not start."""


_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_READ_ONLY = {errno.EACCES, errno.EPERM, errno.EROFS}


@contextmanager
def storage_errors(doing: str) -> Iterator[None]:
    """Turn the operating system's and the database's storage failures while ``doing`` something
    into ``InsufficientStorage`` / ``StorageNotWritable`` (``DatabaseUnavailable`` for a PostgreSQL
    server that cannot be reached), with a message that names no server path or address."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _FULL:
            raise InsufficientStorage(f"no space left on the data volume while {doing}") from exc
        if exc.errno in _READ_ONLY:
            raise StorageNotWritable(f"the data directory is not writable ({exc.strerror.lower()}) "
                                     f"while {doing}") from exc
        raise
    except Exception as exc:
        mapped = _database_error(exc, doing)
        if mapped is None:
            raise
        raise mapped from exc


def _database_error(exc: Exception, doing: str) -> ServiceError | None:
    """The domain error for a driver's exception (sqlite3's or psycopg's, bare or wrapped by
    SQLAlchemy), or ``None`` when it is not about storage. Duck-typed, so that this module
    imports neither SQLAlchemy nor psycopg."""
    if type(exc).__module__.startswith("sqlalchemy") and isinstance(getattr(exc, "orig", None), Exception):
        exc = exc.orig
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        if "full" in text:
            return InsufficientStorage(f"no space left on the data volume while {doing}")
        if "readonly" in text or "read-only" in text or "disk i/o error" in text or "unable to open" in text:
            return StorageNotWritable(f"the data directory is not writable ({text}) while {doing}")
        return None
    if not type(exc).__module__.startswith("psycopg"):
        return None
    state = getattr(exc, "sqlstate", None) or ""  # PostgreSQL's SQLSTATE; none for client-side failures
    if state == "53100":  # disk_full
        return InsufficientStorage(f"no space left on the database's volume while {doing}")
    if state == "25006":  # read_only_sql_transaction: a standby, or default_transaction_read_only
        return StorageNotWritable(f"the database is read-only while {doing}")
    if state.startswith(("08", "57P")) or state == "53300" or (not state and type(exc).__name__ == "OperationalError"):
        # connection failures, a server shutting down, too many connections: the detail (it may
        # name the server's address) stays in the log
        return DatabaseUnavailable(f"the database cannot be reached while {doing}; try again shortly")
    return None
