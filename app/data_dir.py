"""Files in the data directory: written aside and renamed into place, leftovers swept, health.

A write that fails (full disk, read-only volume, a kill) leaves at most a ``*.partial`` file whose
name carries the writer's process id; ``sweep_partials`` removes those whose writer is gone, which
the service does at start-up, so a failed write never keeps the disk full.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from .errors import storage_errors
from .processes import pid_alive

PARTIAL = ".partial"


def partial_name(path: Path) -> Path:
    """A temporary name beside ``path`` for this process: ``.<name>.<pid>.<random>.partial``."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{PARTIAL}")


@contextmanager
def written_aside(path: Path, data: bytes, doing: str) -> Iterator[Path]:
    """``with written_aside(path, data, doing) as tmp``: ``data`` in a temporary file beside
    ``path`` (flushed to disk), for the caller to ``os.replace(tmp, path)``; if it does not, the
    file goes. Storage failures become the service's errors."""
    tmp = partial_name(path)
    with storage_errors(doing):
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            yield tmp
        finally:
            tmp.unlink(missing_ok=True)  # gone already once renamed into place


def _writer_pid(name: str) -> int | None:
    parts = name.removesuffix(PARTIAL).split(".")
    return int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None


def sweep_partials(folder: Path) -> list[str]:
    """Remove the ``*.partial`` files and folders in ``folder`` whose writer is not running."""
    removed = []
    for entry in folder.iterdir() if folder.is_dir() else ():
        if not entry.name.endswith(PARTIAL):
            continue
        pid = _writer_pid(entry.name)
        if pid is not None and pid != os.getpid() and pid_alive(pid):
            continue  # another server process is writing it right now
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry.name)
    return removed


def storage_status(data_dir: Path) -> dict:
    """Can the service write to its data directory, and how much room is left? (for /readyz)"""
    status: dict = {"writable": True}
    try:
        usage = shutil.disk_usage(data_dir)
        status["free_bytes"] = usage.free
    except OSError as exc:
        return {"writable": False, "error": f"the data directory cannot be read ({exc.strerror})"}
    probe = partial_name(data_dir / ".readyz")
    try:
        with open(probe, "wb") as f:
            f.write(b"ok")
        probe.unlink()
    except OSError as exc:
        with suppress(OSError):
            probe.unlink(missing_ok=True)
        status["writable"] = False
        status["error"] = f"the data directory is not writable ({exc.strerror})"
    return status
