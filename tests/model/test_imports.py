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
    code = ("import sys, model, model.bundle, model.data, model.config, model.tokenizer, model.prediction; "
            "from model import DataError, BundleError, Prediction; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:3])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_public_names_resolve_to_what_they_name():
    import model
    from model import Predictor, train

    assert callable(train) and train.__module__ == "model.training"
    assert Predictor.__module__ == "model.predictor"
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
    code = ("import sys, model, model.__main__, model.training, model.distill.pipeline, app.main; "
            "model.__main__.build_parser(); app.main.create_app(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'transformers')[:3])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
