"""The data directory's health, for ``/readyz``: can the service write where it writes, and how much
room is left? (Files are written into it through ``model.files``, the one publishing scheme.)"""

from __future__ import annotations

import shutil
from contextlib import suppress
from pathlib import Path

from model.files import temp_path

# Where the service writes: the records (SQLite), datasets, model versions and job logs.
SUBFOLDERS = ("datasets", "models", "jobs")
# The NumPy backend's input tables, derived from each version's weights once, then memory-mapped
# (``model.inference.numpy_rnn.derived_table``); ``Versions.sweep`` removes those no version needs.
TABLES_FOLDER = "input-tables"


def storage_status(data_dir: Path) -> dict:
    """``{"writable", "free_bytes"}``, or ``writable: False`` with the ``error`` naming the folder
    that cannot be written (the data directory, or one of ``SUBFOLDERS`` that exists)."""
    status: dict = {"writable": True}
    try:
        status["free_bytes"] = shutil.disk_usage(data_dir).free
    except OSError as exc:
        return {"writable": False, "error": f"the data directory cannot be read ({exc.strerror})"}
    for folder in (data_dir, *(data_dir / name for name in SUBFOLDERS if (data_dir / name).is_dir())):
        probe = temp_path(folder / ".readyz")
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            with suppress(OSError):
                probe.unlink(missing_ok=True)
            where = "the data directory" if folder == data_dir else f"the data directory's {folder.name}/ folder"
            return status | {"writable": False, "error": f"{where} is not writable ({exc.strerror})"}
    return status
