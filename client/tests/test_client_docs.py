"""docs/client.md does not lie: its Python examples run against the real server, and every
``sentiment`` command it shows parses.

Its examples use the ``py`` fence rather than ``python``: they need a running server, which
``tests/test_readme.py`` (it runs every ``python`` block of docs/) does not start."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
from sentiment_client.cli import build_parser

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"
TEXT = DOC.read_text(encoding="utf-8")
PY_BLOCKS = re.findall(r"```py\n(.*?)```", TEXT, flags=re.S)
COMMANDS = [line.strip() for block in re.findall(r"```bash\n(.*?)```", TEXT, flags=re.S)
            for line in block.splitlines() if line.strip().startswith("sentiment ")]


@pytest.mark.parametrize("block", PY_BLOCKS, ids=[f"example-{i}" for i in range(len(PY_BLOCKS))])
def test_the_python_examples_run(block, client_env, monkeypatch, tmp_path, capsys):
    if "import pandas" in block and importlib.util.find_spec("pandas") is None:
        pytest.skip("pandas is not installed (the client's optional 'pandas' extra)")
    monkeypatch.chdir(tmp_path)  # where an example's files go
    exec(compile(block, str(DOC), "exec"), {})  # noqa: S102
    assert capsys.readouterr().out  # each example prints what it shows


def test_the_commands_shown_parse():
    assert len(COMMANDS) >= 5
    parser = build_parser()
    for command in COMMANDS:
        words = [w for w in shlex.split(command.split("#")[0])[1:]]
        parser.parse_args(words)  # a SystemExit here is a command the docs show wrongly
