"""model/files.py: written aside and renamed into place, nothing left on failure, dead writers swept."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from model.files import PARTIAL, publish_bytes, publishing, sweep, temp_path, writer_pid


def test_the_temporary_name_is_hidden_beside_the_destination_and_names_its_writer(tmp_path):
    tmp = temp_path(tmp_path / "data.csv")
    assert tmp.parent == tmp_path and tmp.name.startswith(".data.csv.") and tmp.name.endswith(PARTIAL)
    assert writer_pid(tmp.name) == os.getpid()
    assert writer_pid("data.csv") is None and writer_pid(".job.partial") is None


def test_a_file_is_renamed_into_place_when_the_block_succeeds(tmp_path):
    final = tmp_path / "sub" / "a.txt"
    with publishing(final) as tmp:
        tmp.write_text("new")
        assert not final.exists()
    assert final.read_text() == "new"
    assert sorted(p.name for p in final.parent.iterdir()) == ["a.txt"]


def test_an_existing_file_is_replaced_only_when_asked(tmp_path):
    final = tmp_path / "a.txt"
    final.write_text("old")
    with pytest.raises(FileExistsError):
        with publishing(final) as tmp:
            tmp.write_text("new")
    publish_bytes(final, b"new")
    assert final.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_a_folder_replaces_the_old_one_and_leaves_nothing_aside(tmp_path):
    final = tmp_path / "bundle"
    final.mkdir()
    (final / "old.json").write_text("{}")
    with publishing(final, folder=True, replace=True) as tmp:
        assert tmp.is_dir()
        (tmp / "new.json").write_text("{}")
    assert [p.name for p in final.iterdir()] == ["new.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


@pytest.mark.parametrize("folder", [False, True])
def test_a_failure_leaves_nothing_and_keeps_the_old_version(tmp_path, folder):
    final = tmp_path / "out"
    final.write_text("old") if not folder else final.mkdir()
    with pytest.raises(RuntimeError):
        with publishing(final, folder=folder, replace=True) as tmp:
            (tmp / "x").write_text("half") if folder else tmp.write_text("half")
            raise RuntimeError("disk full")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (final.is_dir() and not any(final.iterdir())) if folder else final.read_text() == "old"


def test_sweep_removes_dead_writers_leftovers_and_keeps_a_live_writers(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        (tmp_path / f".a.csv.{live.pid}.0123abcd{PARTIAL}").write_bytes(b"being written")
        (tmp_path / f".b.csv.{dead.pid}.0123abcd{PARTIAL}").write_bytes(b"half")
        (tmp_path / f".bundle.{dead.pid}.89abcdef{PARTIAL}").mkdir()
        (tmp_path / f".bundle.{dead.pid}.89abcdef{PARTIAL}" / "model.safetensors").write_bytes(b"half")
        (tmp_path / f".nameless{PARTIAL}").write_bytes(b"no writer named")
        (tmp_path / "kept.csv").write_bytes(b"published")
        removed = sweep(tmp_path)
        assert sorted(removed) == sorted([f".b.csv.{dead.pid}.0123abcd{PARTIAL}",
                                          f".bundle.{dead.pid}.89abcdef{PARTIAL}", f".nameless{PARTIAL}"])
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f".a.csv.{live.pid}.0123abcd{PARTIAL}",
                                                                     "kept.csv"])
    finally:
        live.kill()
        live.wait()
    assert sweep(tmp_path / "missing") == []


def test_another_machines_leftover_is_left_to_it_unless_a_day_old(tmp_path):
    from model.files import HOST, STALE_S, writer

    assert writer(temp_path(tmp_path / "a").name) == (HOST, os.getpid())
    fresh = tmp_path / f".a.csv.otherhost-1.0123abcd{PARTIAL}"
    old = tmp_path / f".b.csv.otherhost-1.0123abcd{PARTIAL}"
    fresh.write_bytes(b"another machine writes it")
    old.write_bytes(b"left by a machine long gone")
    os.utime(old, (0, os.path.getmtime(old) - STALE_S - 60))
    assert sweep(tmp_path) == [old.name]
    assert [p.name for p in tmp_path.iterdir()] == [fresh.name]


def test_a_block_may_publish_under_another_name_when_it_chooses(tmp_path):
    from model.files import rename_into_place

    with publishing(tmp_path / "job-7", folder=True) as tmp:
        (tmp / "config.json").write_text("{}")
        rename_into_place(tmp, tmp_path / "v3")  # e.g. numbered inside the transaction that records it
    assert [p.name for p in tmp_path.iterdir()] == ["v3"] and (tmp_path / "v3" / "config.json").exists()
