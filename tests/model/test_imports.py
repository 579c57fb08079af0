import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_model_does_not_import_web_code():
    code = "import sys, model; print(sorted(m for m in sys.modules if m.split('.')[0] in {'fastapi', 'starlette', 'uvicorn', 'pydantic_settings', 'app'}))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_public_api():
    import model

    for name in ("Predictor", "load_bundle", "train", "BundleError", "DataError", "parse_dataset", "save_bundle"):
        assert name in model.__all__
        assert hasattr(model, name)
