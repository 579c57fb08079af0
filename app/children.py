"""What the server's child processes (training worker, model process) share."""

from __future__ import annotations

import ctypes
import os
import signal
import sys


def die_with_parent(parent_pid: int) -> None:
    """Be killed when the parent dies (Linux PR_SET_PDEATHSIG); exit now if it already has."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the training worker's getppid() check still notices
    if os.getppid() != parent_pid:
        sys.exit(3)
