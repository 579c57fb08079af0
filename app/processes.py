"""What the server's child processes (the model process, the training process) share.

A child is started with the parent's validated settings, serialised as JSON (see
``Settings.to_child`` / ``Settings.from_child``): it never reads ``SENTIMENT_*`` variables on its
own, so ``create_app(Settings(...))`` governs its children as well as itself.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys


def die_with_parent(parent_pid: int) -> None:
    """Be killed when the parent dies (Linux PR_SET_PDEATHSIG); exit now if it already has."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the training process's getppid() check still notices
    if os.getppid() != parent_pid:
        sys.exit(3)


def trim_heap() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``; nothing elsewhere).

    Start-up and each model load build and drop much (imports, parsed JSON, a tokenizer's
    construction); what they free stays resident in the heap otherwise, a few MB per process that
    an API replica, which serves for days, would carry for nothing."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (its children, theirs, ...), read from /proc; [] without /proc."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else ()):
        try:
            with open(f"/proc/{entry}/stat") as f:
                children.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):  # ended meanwhile
            continue
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def kill_process_tree(process: subprocess.Popen) -> None:
    """SIGKILL a child started in a session of its own (``start_new_session``) with its process
    group and every process below it. torchrun starts each rank in a session of its own, so its
    group alone would miss them (they also die with torchrun: ``die_with_parent``); a child already
    reaped is left alone, as its process id may be another's by now."""
    if process.poll() is not None:
        return
    below = descendants(process.pid)
    for kill, pid in ((os.killpg, process.pid), *((os.kill, p) for p in below)):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def child_environment(threads: int | None = None) -> dict[str, str]:
    """The environment for a child: the parent's, minus every ``SENTIMENT_*`` variable (the
    child gets its settings from the parent), with the tokenizers library's thread pool off
    (it costs more CPU than it saves on the small batches the service tokenises); ``threads`` sets
    the BLAS libraries' thread pools, which read it when they load."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")}
    env["TOKENIZERS_PARALLELISM"] = "false"
    if threads is not None:
        env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env
