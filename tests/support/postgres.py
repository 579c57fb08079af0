"""A throwaway PostgreSQL server for tests, from Debian's ``postgresql`` package.

``initdb`` in a temporary folder, ``pg_ctl`` on a free loopback port with its socket in that
folder; trust authentication on loopback only, durability off (fsync) for speed. PostgreSQL refuses
to run as root, so as root (CI) the server runs as the ``postgres`` user the package creates (or a
``sentiment-pg`` system user made for it); as anyone else, as that user. One server per test session,
a fresh database per test (``tests/conftest.py``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

SUPERUSER = "postgres"  # the database role initdb creates


def find_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` and ``pg_ctl``."""
    found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/pg_ctl") if (p.parent / "initdb").exists()]
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _system_user() -> str | None:
    """As root: an unprivileged user to run the server as (made when missing); else None (ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "sentiment-pg"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "sentiment-pg"],
                   check=True, capture_output=True, timeout=30)
    return "sentiment-pg"


class PostgresServer:
    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.user = _system_user()
        self.root = Path(tempfile.mkdtemp(prefix="sentiment-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        if self.user is not None:
            shutil.chown(self.root, self.user)

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.root)

    def start(self) -> PostgresServer:
        done = self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                         "--no-sync", "--no-instructions")
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stdout}{done.stderr}")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        done = self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", "60", "start")
        if done.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}{log}")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(self.url(), autocommit=True)

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        with self._admin() as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self._admin() as db:  # FORCE: connections a test's stores left open end with it
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop", timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
