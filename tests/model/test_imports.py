import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_model_does_not_import_web_code():
    code = "import sys, model; print(sorted(m for m in sys.modules if m.split('.')[0] in {'fastapi', 'starlette', 'uvicorn', 'pydantic_settings', 'app'}))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_importing_model_and_reading_bundles_does_not_import_torch():
    """The web server tokenises and reads bundle configs; only its model process needs torch."""
    code = ("import sys, model, model.bundle, model.data, model.config, model.text.tokenizer, model.inference.prediction, model.inference.scoring; "
            "from model import DataError, BundleError, Prediction; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:3])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_public_names_resolve_to_what_they_name():
    import model
    from model import Predictor, train

    assert callable(train) and train.__module__ == "model.training.loop"
    assert Predictor.__module__ == "model.inference.predictor"
    assert sorted(model.__all__) == sorted(set(model.__all__))


def test_public_api():
    import model

    for name in ("Predictor", "load_bundle", "train", "BundleError", "DataError", "parse_dataset", "save_bundle"):
        assert name in model.__all__
        assert hasattr(model, name)


def test_only_the_teacher_imports_transformers():
    """``transformers`` (the optional [distill] extra) is a training-time tool: the service, the CLI's
    parser, training and the rest of ``model.distill`` never import it; only the teacher does."""
    import ast

    importers = []
    for path in sorted([*ROOT.joinpath("app").rglob("*.py"), *ROOT.joinpath("model").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            if any(name.split(".")[0] == "transformers" for name in names):
                importers.append(str(path.relative_to(ROOT)))
    assert sorted(set(importers)) == ["model/distill/teacher.py"]
    code = ("import sys, model, model.__main__, model.training.loop, model.distill.pipeline, app.main; "
            "model.__main__.build_parser(); app.main.create_app(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'transformers')[:3])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# Which parts of ``model`` each subpackage may import (itself always): the layers run
# text / network -> inference -> training -> distill, never back up. The top-level modules
# (config, bundle, data, files) are shared ground; ``__init__`` and ``__main__`` may import anything.
SHARED = {"config", "bundle", "data", "files"}
ALLOWED = {
    "text": {"config"},
    "network": {"config"},
    "inference": {"text", "network", *SHARED},
    "training": {"text", "network", "inference", *SHARED},
}


def _model_imports(path: Path) -> set[str]:
    """The ``model.*`` modules that ``path`` imports (relative imports resolved; ``from . import x``
    counted as the submodule ``x``)."""
    import ast

    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    package = package.removesuffix(".__init__")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "model")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "model":
                continue
            found.add(target)
            if target.count(".") < 2:  # from model.x import y: y may be a submodule
                found.update(f"{target}.{a.name}" for a in node.names
                             if ROOT.joinpath(*target.split("."), a.name).is_dir()
                             or ROOT.joinpath(*target.split("."), f"{a.name}.py").exists())
    return found


def _part(module: str) -> str:
    """``model.inference.predictor`` -> ``inference``; ``model.bundle`` -> ``bundle``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_each_subpackage_imports_only_the_layers_below_it():
    wrong = []
    for path in sorted(ROOT.joinpath("model").rglob("*.py")):
        source = _part(".".join(path.relative_to(ROOT).with_suffix("").parts))
        if source not in ALLOWED:
            continue
        for target in sorted(_model_imports(path)):
            part = _part(target)
            if part and part != source and part not in ALLOWED[source]:
                wrong.append(f"{path.relative_to(ROOT)} imports {target}")
    assert wrong == []


def test_the_layer_check_sees_relative_imports():
    found = _model_imports(ROOT / "model" / "training" / "setup.py")
    assert {"model.network.rnn", "model.config", "model.training.auto"} <= found
    assert "model.network.embeddings" in found  # from ..network import embeddings
    assert "model.inference.batches" in _model_imports(ROOT / "model" / "training" / "loop.py")
