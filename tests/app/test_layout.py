"""The import direction that the layout promises: http -> serving / training -> model, never back up.

Read from the source (every ``import`` statement, relative ones resolved), so a violation is
caught even in a module no other test imports. The base modules of ``app/`` (settings, errors,
store, versions, metrics, processes, tasks, data_dir) import neither half; the halves do not import each
other; only the assembly (``app.main``, ``app.lifespan``, ``app.__main__``) sees everything.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ASSEMBLY = {"app.main", "app.lifespan", "app.__main__"}
HALVES = ("app.http", "app.serving", "app.training")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}  # "from . import routes"
    return found


def _part(module: str) -> str:
    """Which part of the layout a module belongs to: a half, the assembly, the base, or model."""
    for half in HALVES:
        if module == half or module.startswith(half + "."):
            return half
    if module in ASSEMBLY:
        return "assembly"
    if module == "app" or module.startswith("app."):
        return "base"
    if module == "model" or module.startswith("model."):
        return "model"
    return "outside"


ALLOWED = {
    "model": {"model"},
    "base": {"base", "model"},
    "app.serving": {"app.serving", "base", "model"},
    "app.training": {"app.training", "base", "model"},
    "app.http": {"app.http", "app.serving", "app.training", "base", "model"},
    "assembly": {"assembly", "app.http", "app.serving", "app.training", "base", "model"},
}

SOURCES = sorted([*ROOT.joinpath("app").rglob("*.py"), *ROOT.joinpath("model").rglob("*.py")])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down_the_layout(path):
    own = _part(_module_name(path))
    wrong = sorted(m for m in _imports(path) if _part(m) not in ("outside", *ALLOWED[own]))
    assert not wrong, f"{_module_name(path)} ({own}) imports {wrong}; allowed: {sorted(ALLOWED[own])}"


def test_the_layout_has_its_parts():
    parts = {_part(_module_name(p)) for p in SOURCES}
    assert parts == set(ALLOWED)


def test_the_server_process_does_not_import_torch():
    """What the server process imports (the app, its routes, the lifespan and ``python -m app``)
    leaves torch to the model process and the training process."""
    code = ("import sys, app.__main__, app.main, app.lifespan; app.main.create_app(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:5])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
