"""The README does not lie: its Python snippets run, and its two commands exist."""

from __future__ import annotations

import re
import shlex
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


def test_the_cli_commands_it_shows_parse():
    """Every `python -m model ...` line in the README's shell blocks is a command the CLI accepts."""
    from model.__main__ import build_parser

    parser = build_parser()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            # usage lines mark optional parts [like this] and stand-ins for the hyperparameters
            line = line.split("#")[0].replace("[hyperparameters]", "").replace("[", "").replace("]", "").strip()
            if line.startswith("python -m model "):
                commands.append(line)
    assert commands, "the README shows no `python -m model` command"
    for command in commands:
        args = shlex.split(command)[3:]
        parser.parse_args(args)  # exits (SystemExit) on an unknown flag or a bad value


def test_the_hyperparameter_table_names_every_hyperparameter_with_its_default():
    from model.config import HYPERPARAMETERS

    table = README[README.index("| group | hyperparameters (default) |"):]
    table = table[: table.index("\n\n")]
    for hp in HYPERPARAMETERS:
        assert f"`{hp.name}`" in table, f"{hp.name} is missing from the README's hyperparameter table"
