"""Is a process alive, and which children does it have: one place for the /proc reading."""

from __future__ import annotations

import os

from model.files import pid_alive as is_alive

__all__ = ["children", "is_alive"]


def children(parent: int, module: str) -> list[int]:
    """Live processes started as ``python -m <module>`` whose parent is ``parent``."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except (FileNotFoundError, ProcessLookupError):
            continue
        if ppid == parent and module.encode() in argv and is_alive(int(entry)):
            found.append(int(entry))
    return found
