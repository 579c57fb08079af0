"""The README does not lie: its Python snippets run, and its two commands exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_python_snippets_run(monkeypatch):
    monkeypatch.chdir(ROOT)
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "the README shows no Python"
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["predictor"].predict(["a gorgeous, witty, seductive movie"])[0].label == "positive"


def test_two_commands_are_make_targets_and_ci_runs_the_test_one():
    assert "make serve" in README and "make test" in README
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^serve:", makefile, flags=re.M) and re.search(r"^test:", makefile, flags=re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_setting_is_documented():
    from app.settings import Settings

    for name in Settings.model_fields:
        assert f"SENTIMENT_{name.upper()}" in README, f"SENTIMENT_{name.upper()} is not in the README"
