"""The README and docs/ do not lie: their Python examples run, the commands they show exist, every
setting and hyperparameter is documented, and their links lead somewhere."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = {path: path.read_text(encoding="utf-8") for path in sorted((ROOT / "docs").glob("*.md"))}
PAGES = {ROOT / "README.md": README, **DOCS}
# Settings removed (one inference path; docs/changes.md says why): only docs/changes.md names them.
REMOVED_SETTINGS = {"batching", "inference_process", "quantize", "batches_in_flight"}


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_python_snippets_run(monkeypatch):
    monkeypatch.chdir(ROOT)
    blocks = _python_blocks(README)
    assert blocks, "the README shows no Python"
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["predictor"].predict(["a gorgeous, witty, seductive movie"])[0].label == "positive"


def test_docs_python_snippets_run(monkeypatch):
    monkeypatch.chdir(ROOT)
    for path, text in DOCS.items():
        for block in _python_blocks(text):
            exec(compile(block, str(path.relative_to(ROOT)), "exec"), {})  # noqa: S102


def test_two_commands_are_make_targets_and_ci_runs_the_test_one():
    assert "make serve" in README and "make test" in README
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^serve:", makefile, flags=re.M) and re.search(r"^test:", makefile, flags=re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_setting_is_in_the_settings_table():
    from app.settings import Settings

    operations = DOCS[ROOT / "docs" / "operations.md"]
    for name in Settings.model_fields.keys() - REMOVED_SETTINGS:
        assert f"| `SENTIMENT_{name.upper()}` |" in operations, f"SENTIMENT_{name.upper()} is not in docs/operations.md"


def test_the_settings_table_gives_each_default():
    from pydantic import SecretStr

    from app.settings import Settings

    operations = DOCS[ROOT / "docs" / "operations.md"]
    for name, field in Settings.model_fields.items():
        if name in REMOVED_SETTINGS or name == "model_dir":  # model_dir: an absolute path on this machine
            continue
        row = re.search(rf"^\| `SENTIMENT_{name.upper()}` \| (.*?) \|", operations, flags=re.M)
        assert row, f"SENTIMENT_{name.upper()} has no row in docs/operations.md"
        default = field.default.get_secret_value() if isinstance(field.default, SecretStr) else field.default
        if isinstance(default, bool):
            forms = {str(default).lower()}
        elif isinstance(default, float) and default.is_integer():
            forms = {str(default), str(int(default))}
        else:
            forms = {str(default)}
        shown = row[1]
        assert any(f"`{form}`" in shown for form in forms) or (default == "" and shown.startswith("empty")), (
            f"SENTIMENT_{name.upper()}: docs/operations.md gives {shown!r}, the default is {default!r}")


def test_every_setting_named_is_a_setting():
    """No page but the history names a setting that does not exist (or no longer does)."""
    from app.settings import Settings

    known = {f"SENTIMENT_{name.upper()}" for name in Settings.model_fields.keys() - REMOVED_SETTINGS}
    for path, text in PAGES.items():
        if path.name == "changes.md":
            continue
        for name in set(re.findall(r"SENTIMENT_[A-Z_]+[A-Z]", text)):
            assert name in known, f"{path.relative_to(ROOT)} names {name}, which is not a setting"


def test_the_cli_commands_shown_parse():
    """Every `python -m model ...` line in the shell blocks of the README and docs/ is a command the CLI accepts."""
    from model.__main__ import build_parser

    parser = build_parser()
    commands = []
    for text in PAGES.values():
        for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                # usage lines mark optional parts [like this] and stand-ins for the hyperparameters
                line = line.split("#")[0].replace("[hyperparameters]", "").replace("[", "").replace("]", "").strip()
                if line.startswith("python -m model "):
                    commands.append(line)
    assert any("python -m model" in line for line in README.splitlines()), "the README shows no CLI"
    assert commands, "no page shows a `python -m model` command"
    for command in commands:
        args = shlex.split(command)[3:]
        parser.parse_args(args)  # exits (SystemExit) on an unknown flag or a bad value


def test_the_hyperparameter_table_names_every_hyperparameter_with_its_default():
    from model.config import HYPERPARAMETERS

    model_page = DOCS[ROOT / "docs" / "model.md"]
    table = model_page[model_page.index("| group | hyperparameters (default) |"):]
    table = table[: table.index("\n\n")]
    for hp in HYPERPARAMETERS:
        assert f"`{hp.name}`" in table, f"{hp.name} is missing from the hyperparameter table of docs/model.md"


def _anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", text, flags=re.S), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_links_lead_to_files_and_headings_that_exist():
    for path, text in PAGES.items():
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # http(s): links are not followed
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(ROOT)} links to {target}"
            assert linked.exists(), f"{where}: no such file"
            if anchor and linked.suffix == ".md":
                assert anchor in _anchors(linked.read_text(encoding="utf-8")), f"{where}: no such heading"
