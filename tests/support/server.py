"""Run the real service in a subprocess for end-to-end tests.

    from tests.support.server import running_server

    with running_server(data_dir=tmp_path / "data", model_dir=tiny_bundle_path, api_keys="k1") as server:
        httpx.get(server.url + "/v1/models")

The server is ``python -m app`` (what ``make serve`` runs; ``launcher="uvicorn"`` runs
``uvicorn app.main:create_app --factory`` instead) on a free loopback port, with ``SENTIMENT_*``
taken only from the arguments, never from the test process's environment. Start-up is awaited by
polling ``/readyz`` against a deadline; a server that exits or never gets ready fails with the
tail of its log. Leaving the block stops it with SIGTERM (then SIGKILL after ``stop_timeout``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A started server: ``url``, ``port``, ``process`` (``subprocess.Popen``), ``log_path``."""

    def __init__(self, process: subprocess.Popen, port: int, log_path: Path, log_file):
        self.process, self.port, self.log_path, self._log_file = process, port, log_path, log_file
        self.url = f"http://127.0.0.1:{port}"

    def log(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = 60.0, path: str = "/readyz") -> None:
        """Poll ``path`` until it answers 200; fail if the process exits or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                try:
                    if client.get(self.url + path).status_code == 200:
                        return
                except httpx.TransportError:
                    pass  # not listening yet
                if time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"server not ready within {timeout} s; log:\n{self.log()[-4000:]}")
                try:  # the pause between polls doubles as the check that the process is still alive
                    code = self.process.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    continue
                self.stop()
                raise AssertionError(f"server exited with code {code} before it was ready; log:\n{self.log()[-4000:]}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (graceful shutdown), SIGKILL after ``timeout`` seconds; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
        return self.process.returncode


def server_env(data_dir: Path, model_dir: Path | None = None, api_keys: str | Sequence[str] | None = None,
               env: Mapping[str, str] | None = None, port: int | None = None) -> dict[str, str]:
    """The subprocess environment: ours without any ``SENTIMENT_*``, plus the given settings."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")}
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    out["SENTIMENT_DATA_DIR"] = str(data_dir)
    out["SENTIMENT_HOST"] = "127.0.0.1"
    if port is not None:
        out["SENTIMENT_PORT"] = str(port)
    if model_dir is not None:
        out["SENTIMENT_MODEL_DIR"] = str(model_dir)
    if api_keys is not None:
        out["SENTIMENT_API_KEYS"] = api_keys if isinstance(api_keys, str) else ",".join(api_keys)
    out.update(env or {})
    return out


def start_server(
    *,
    data_dir: Path,
    model_dir: Path | None = None,
    api_keys: str | Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    launcher: str = "app",
    ready_timeout: float = 60.0,
    wait: bool = True,
    log_dir: Path | None = None,
) -> ServerProcess:
    """Start the service; with ``wait`` (default) return once ``/readyz`` answers 200.

    ``env`` adds or overrides variables (``{"SENTIMENT_MAX_WAIT_MS": "20"}``). The log goes to
    ``(log_dir or data_dir.parent) / "server-<port>.log"``. The caller must ``stop()`` it (or use
    ``running_server``).
    """
    data_dir = Path(data_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    if launcher == "app":
        command = [sys.executable, "-m", "app"]
    elif launcher == "uvicorn":
        command = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
                   "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    else:
        raise ValueError(f"launcher must be 'app' or 'uvicorn'; got {launcher!r}")
    log_path = Path(log_dir or data_dir.parent) / f"server-{port}.log"
    log_file = open(log_path, "wb")
    process = subprocess.Popen(command, cwd=ROOT, env=server_env(data_dir, model_dir, api_keys, env, port),
                               stdout=log_file, stderr=subprocess.STDOUT)
    server = ServerProcess(process, port, log_path, log_file)
    if wait:
        server.wait_ready(ready_timeout)
    return server


@contextmanager
def running_server(**kwargs) -> Iterator[ServerProcess]:
    """``start_server(**kwargs)`` as a context manager that stops the server on exit."""
    server = start_server(**kwargs)
    try:
        yield server
    finally:
        server.stop()
