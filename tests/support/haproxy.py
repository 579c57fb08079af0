"""A real HAProxy in front of test servers, from Debian's ``haproxy`` package.

    balancer = start_balancer(haproxy, {"api-a": 8001, "api-b": 8002}, tmp_path)
    httpx.post(balancer.url + "/v1/predict", ...); balancer.statuses()  # {"api-a": "UP", ...}

The configuration follows ``deploy/haproxy.cfg`` (the compose profile's balancer: ``/readyz`` as
the health check, ``option redispatch`` with one retry) with loopback servers and a faster check
(every 500 ms, out after 2 failures, back after 1 success), plus a stats page whose CSV tells the
test the moment the check took a server out. Round robin rather than ``leastconn``: a test's one
sequential client leaves every server at zero connections, and should still reach each of them.
HAProxy runs in the foreground (``-db``), its log (one line per request) beside its configuration.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import httpx

from .server import free_port
from .waiting import wait_for

CONFIG = """\
global
    nbthread 1
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
    option redispatch
    retries 1
    timeout connect 1s
    timeout client 30s
    timeout server 30s

frontend api
    bind 127.0.0.1:{port}
    default_backend api_replicas

backend api_replicas
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz
    http-check expect status 200
    default-server inter {inter_ms}ms fall 2 rise 1
{servers}

listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
"""


def find_haproxy() -> str | None:
    """The ``haproxy`` program (in /usr/sbin, which a user's PATH may lack), or None."""
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")


class Balancer:
    """A started HAProxy: ``url`` (its frontend), ``statuses()``, ``log()``, ``stop()``."""

    def __init__(self, process: subprocess.Popen, port: int, stats_port: int, log_path: Path, log_file):
        self.process, self.log_path, self._log_file = process, log_path, log_file
        self.url = f"http://127.0.0.1:{port}"
        self.stats_url = f"http://127.0.0.1:{stats_port}/stats;csv"

    def statuses(self) -> dict[str, str]:
        """Each server's state as the health check sees it: ``UP``, ``DOWN``, or on the way
        (``UP 1/2``: one failed check of the two that take it out)."""
        text = httpx.get(self.stats_url, timeout=2).text.lstrip("# ")
        return {row["svname"]: row["status"] for row in csv.DictReader(io.StringIO(text))
                if row["pxname"] == "api_replicas" and row["svname"] not in ("FRONTEND", "BACKEND")}

    def log(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()


def start_balancer(haproxy: str, servers: Mapping[str, int], folder: Path, inter_ms: int = 500) -> Balancer:
    """HAProxy in front of ``servers`` (name -> loopback port); returns once every server is UP."""
    folder.mkdir(parents=True, exist_ok=True)
    port, stats_port = free_port(), free_port()
    config = folder / "haproxy.cfg"
    config.write_text(CONFIG.format(
        port=port, stats_port=stats_port, inter_ms=inter_ms,
        servers="\n".join(f"    server {name} 127.0.0.1:{p} check" for name, p in servers.items())))
    log_path = folder / "haproxy.log"
    log_file = open(log_path, "wb")
    process = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=log_file, stderr=subprocess.STDOUT)
    balancer = Balancer(process, port, stats_port, log_path, log_file)

    def all_up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"haproxy exited with code {process.returncode}:\n{balancer.log()[-3000:]}")
        try:
            return set(balancer.statuses().values()) == {"UP"}
        except httpx.TransportError:
            return False  # not listening yet

    try:
        wait_for(all_up, 20, what="haproxy to find every server UP")
    except BaseException:
        balancer.stop()
        raise
    return balancer
