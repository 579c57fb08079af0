"""The fault suite: real servers on real (small) file systems that fill up or turn read-only.

Each fault gets its own tmpfs, mounted for the test and sized to fill: a full disk is a real
ENOSPC, a read-only volume a real EROFS (which, unlike file permissions, also holds for root).
Mounting needs root, which CI has (`.ci/run` runs as root). Elsewhere, run the suite as root:
``sudo .venv/bin/python -m pytest tests/faults``; without root these tests are skipped, and
pytest's summary (-ra) says why.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess, start_server
from tests.support.settings import KEY


def _mount(*args: str) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"mount {' '.join(args)} failed: {proc.stderr.strip()}")


@pytest.fixture
def volume(tmp_path) -> Iterator:
    """``volume(size_kb) -> Path``: a fresh tmpfs of that size; unmounted after the test."""
    if os.geteuid() != 0:
        pytest.skip("the fault suite mounts tmpfs file systems and needs root (CI runs as root): "
                    "sudo .venv/bin/python -m pytest tests/faults")
    mounted: list[Path] = []

    def make(size_kb: int, name: str = "vol") -> Path:
        path = tmp_path / name
        path.mkdir(parents=True, exist_ok=True)
        _mount("-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(path))
        mounted.append(path)
        return path

    yield make
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def remount_read_only(path: Path) -> None:
    _mount("-o", "remount,ro", str(path))


def remount_writable(path: Path) -> None:
    _mount("-o", "remount,rw", str(path))


def fill(volume: Path, leave_kb: int) -> Path:
    """Fill ``volume`` until only about ``leave_kb`` KB are free; returns the (new) filler file."""
    filler = volume / f"filler-{len(list(volume.glob('filler-*')))}"
    stat = os.statvfs(volume)
    free = stat.f_bavail * stat.f_frsize
    with open(filler, "wb") as f:
        f.write(b"\0" * max(free - leave_kb * 1024, 0))
    return filler


def leftovers(data_dir: Path) -> list[str]:
    """Anything partial or temporary under the data directory (nothing may be left behind)."""
    return sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*")
                  if p.name.endswith(".partial") or ".partial." in p.name or p.name.endswith(".old"))


@pytest.fixture
def serve_on(tiny_bundle_path, tmp_path) -> Iterator:
    """``serve_on(data_dir, **env) -> ServerProcess`` with the tiny bundle and the test key; its
    log is written outside the volume under test."""
    started: list[ServerProcess] = []

    def start(data_dir: Path, **env: str) -> ServerProcess:
        server = start_server(data_dir=data_dir, model_dir=tiny_bundle_path, api_keys=KEY, env=env, log_dir=tmp_path)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
