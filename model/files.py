"""Publishing files and folders atomically: written aside under a temporary name, renamed into place.

One scheme for everything that writes a result others read (bundles, distillation stages, the
service's datasets and model versions): the temporary is ``.{name}.{host}-{pid}.{8 hex}.partial``
beside its destination, so a reader sees the old version or the new one, never half of one; a
writer that dies leaves a ``*.partial`` whose name says which machine and process wrote it, and
``sweep`` removes those whose writer is gone (on a volume that several machines share, another
machine's are left to it, or removed once a day old). The data reaches the disk (fsync) before the rename, and the rename reaches it (fsync of the
parent folder) before ``publishing`` returns, so a power cut cannot leave a renamed but empty file.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PARTIAL = ".partial"
STALE_S = 24 * 3600  # another machine's leftover this old is removed all the same
HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname().split(".")[0])[:32] or "host"
_WRITER = re.compile(r"(?:([A-Za-z0-9]+)-)?(\d+)")


def temp_path(final: Path) -> Path:
    """A temporary name beside ``final`` for this process: ``.{name}.{host}-{pid}.{8 hex}.partial``."""
    return final.with_name(f".{final.name}.{HOST}-{os.getpid()}.{secrets.token_hex(4)}{PARTIAL}")


def writer(name: str) -> tuple[str | None, int] | None:
    """The (host, process id) in a temporary name made by ``temp_path`` (None when there is none)."""
    if not name.endswith(PARTIAL):
        return None
    parts = name.removesuffix(PARTIAL).split(".")
    match = _WRITER.fullmatch(parts[-2]) if len(parts) >= 3 else None
    return (match[1], int(match[2])) if match else None


def writer_pid(name: str) -> int | None:
    """The process id in a temporary name made by ``temp_path`` (None when there is none)."""
    found = writer(name)
    return found[1] if found else None


def pid_alive(pid: int | None) -> bool:
    """True while process ``pid`` runs (a zombie, dead but not yet reaped, is not alive)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return not os.path.isdir("/proc")  # no /proc (not Linux): kill(0) said it exists


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    """fsync a file, or every file in a folder and the folders themselves."""
    if path.is_dir():
        for root, _, files in os.walk(path):
            for name in files:
                _fsync(Path(root) / name)
            _fsync(Path(root))
    else:
        _fsync(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def publishing(final: Path, *, folder: bool = False, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary file or folder path beside ``final``; when the block succeeds: fsync the
    file(s), rename into place (replacing an existing one only with ``replace=True``, folders via an
    aside rename), fsync the parent folder; when it fails: remove the temporary. Raises
    ``FileExistsError`` if ``final`` exists and not ``replace``."""
    final = Path(final)
    if final.exists() and not replace:
        raise FileExistsError(f"{final} already exists")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)
    if folder:
        tmp.mkdir()
    try:
        yield tmp
        if tmp.exists():  # (unless the block published it itself: ``rename_into_place``)
            rename_into_place(tmp, final, replace=replace)
    except BaseException:
        _remove(tmp)
        raise


def rename_into_place(tmp: Path, final: Path, *, replace: bool = False) -> None:
    """fsync ``tmp`` (a file or a folder), rename it to ``final``, fsync the folder: inside a
    ``publishing`` block, to publish at a moment of the caller's choosing (in the transaction that
    records it, say), or to a name other than the one the block was opened for."""
    _fsync_tree(tmp)
    _rename_into_place(tmp, final, folder=tmp.is_dir(), replace=replace)
    _fsync(final.parent)


def _rename_into_place(tmp: Path, final: Path, *, folder: bool, replace: bool) -> None:
    if not final.exists():
        os.rename(tmp, final)  # on a race with another writer, the later rename wins
    elif not replace:
        raise FileExistsError(f"{final} already exists")
    elif not folder:
        os.replace(tmp, final)  # one atomic step for a file
    else:
        # a folder cannot replace a non-empty one in one step: move the old one aside first (under a
        # temporary name, so that a crash between the renames leaves something ``sweep`` removes)
        old = temp_path(final)
        os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)


def publish_bytes(final: Path, data: bytes, *, replace: bool = True) -> None:
    """Write ``data`` to ``final`` through ``publishing``."""
    with publishing(final, replace=replace) as tmp:
        tmp.write_bytes(data)


def sweep(folder: Path) -> list[str]:
    """Remove the ``*.partial`` files and folders in ``folder`` whose writer is not running (or whose
    name carries no writer); return their names.

    Meant for start-up, before this process writes there: a name carrying this process's own id is
    an earlier process's that had the same id (ids repeat across container restarts), so it goes.
    Another machine's (a volume several machines share) is its own to sweep, unless a day old.
    """
    removed = []
    for entry in sorted(folder.iterdir()) if folder.is_dir() else ():
        if not entry.name.endswith(PARTIAL):
            continue
        found = writer(entry.name)
        host, pid = found if found else (None, None)
        if host not in (None, HOST):
            try:
                if time.time() - entry.stat().st_mtime < STALE_S:
                    continue  # another machine may be writing it right now
            except OSError:
                continue
        elif pid is not None and pid != os.getpid() and pid_alive(pid):
            continue  # another process is writing it right now
        _remove(entry)
        removed.append(entry.name)
    return removed
