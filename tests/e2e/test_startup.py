"""``python -m app`` refuses to start on a bad model or bad settings: one clear line, no traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.support.server import ROOT, server_env


def run_app(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def broken_bundle(tiny_bundle_path, tmp_path):
    path = tmp_path / "broken"
    shutil.copytree(tiny_bundle_path, path)
    (path / "config.json").write_text("{not json")
    return path


def test_broken_bundle_exits_with_one_clear_line(broken_bundle, tmp_path):
    proc = run_app(server_env(tmp_path / "data", model_dir=broken_bundle))
    assert proc.returncode == 1
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "ERROR" in line]
    assert len(errors) == 1, output
    assert "cannot start: model does not load" in errors[0]
    assert str(broken_bundle / "config.json") in errors[0] and "not valid JSON" in errors[0]


def test_invalid_setting_exits_with_one_clear_line(tiny_bundle_path, tmp_path):
    env = server_env(tmp_path / "data", model_dir=tiny_bundle_path, env={"SENTIMENT_MAX_WAIT_MS": "-1"})
    proc = run_app(env)
    assert proc.returncode == 2
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output
    (line,) = [line for line in output.splitlines() if line.strip()]
    assert "invalid settings" in line and "SENTIMENT_MAX_WAIT_MS" in line


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "ERROR" in line]
    assert len(errors) == 1, output
    return errors[0]


def test_a_corrupt_database_exits_with_one_clear_line(tiny_bundle_path, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "sentiment.db").write_bytes(b"garbage, not SQLite " * 500)
    line = _one_error_line(run_app(server_env(data, model_dir=tiny_bundle_path)))
    assert "cannot start" in line and "sentiment.db" in line and "not a usable SQLite database" in line


def test_a_newer_database_exits_with_one_clear_line_and_is_not_changed(tiny_bundle_path, tmp_path):
    import sqlite3

    from app.store import MIGRATIONS

    data = tmp_path / "data"
    data.mkdir()
    db = sqlite3.connect(data / "sentiment.db")
    db.execute("CREATE TABLE newer (x)")
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    db.close()
    before = (data / "sentiment.db").read_bytes()
    line = _one_error_line(run_app(server_env(data, model_dir=tiny_bundle_path)))
    assert "newer than this release" in line and "upgrade" in line
    assert (data / "sentiment.db").read_bytes() == before
    assert sorted(p.name for p in data.iterdir()) == ["sentiment.db"]  # no -wal / -shm: never opened for writing


def test_records_that_fail_to_open_once_serving_began_exit_with_one_clear_line(tiny_bundle_path, tmp_path):
    """On records at the current schema, ``python -m app`` serves the active version it read
    (``versions.peek_active``) and opens the records behind it; when they then fail to open, it
    says so in one line and exits with status 1, as when they fail before serving."""
    from app.versions import open_versions
    from tests.support.server import free_port
    from tests.support.settings import make_settings

    data = tmp_path / "data"
    open_versions(make_settings(tiny_bundle_path, data)).store.close()
    shutil.rmtree(data / "models")
    (data / "models").write_text("a file where the versions' folder should be\n")
    line = _one_error_line(run_app(server_env(data, model_dir=tiny_bundle_path, port=free_port())))
    assert "cannot start: the records do not open" in line and "File exists" in line
