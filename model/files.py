"""Publishing files and folders atomically: written aside under a temporary name, renamed into place.

One scheme for everything that writes a result others read (bundles, distillation stages, the
service's data files): the temporary is ``.{name}.{pid}.{8 hex}.partial`` beside its destination,
so a reader sees the old version or the new one, never half of one; a writer that dies leaves a
``*.partial`` whose name says which process wrote it, and ``sweep`` removes those whose writer is
gone. The data reaches the disk (fsync) before the rename, and the rename reaches it (fsync of the
parent folder) before ``publishing`` returns, so a power cut cannot leave a renamed but empty file.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PARTIAL = ".partial"


def temp_path(final: Path) -> Path:
    """A temporary name beside ``final`` for this process: ``.{name}.{pid}.{8 hex}.partial``."""
    return final.with_name(f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}{PARTIAL}")


def writer_pid(name: str) -> int | None:
    """The process id in a temporary name made by ``temp_path`` (None when there is none)."""
    if not name.endswith(PARTIAL):
        return None
    parts = name.removesuffix(PARTIAL).split(".")
    return int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None


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
        _fsync_tree(tmp)
        _rename_into_place(tmp, final, folder=folder, replace=replace)
    except BaseException:
        _remove(tmp)
        raise
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
    """
    removed = []
    for entry in sorted(folder.iterdir()) if folder.is_dir() else ():
        if not entry.name.endswith(PARTIAL):
            continue
        pid = writer_pid(entry.name)
        if pid is not None and pid != os.getpid() and pid_alive(pid):
            continue  # another process is writing it right now
        _remove(entry)
        removed.append(entry.name)
    return removed
