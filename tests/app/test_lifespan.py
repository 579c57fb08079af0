"""Start-up: a model that does not load stops the app before it serves anything."""

from __future__ import annotations

import gc
import shutil

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from model import BundleError


@pytest.fixture
def broken_bundle(tiny_bundle_path, tmp_path):
    path = tmp_path / "broken"
    shutil.copytree(tiny_bundle_path, path)
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    return path


def test_broken_bundle_fails_start_up(make_settings, broken_bundle):
    app = create_app(make_settings(model_dir=broken_bundle))
    with pytest.raises(BundleError, match="model.safetensors"):
        with TestClient(app):
            pass


def test_missing_bundle_fails_start_up(make_settings, tmp_path):
    app = create_app(make_settings(model_dir=tmp_path / "nowhere"))
    with pytest.raises(BundleError, match="not a model bundle directory"):
        with TestClient(app):
            pass


def test_start_up_then_shut_down_cleanly(make_settings):
    app = create_app(make_settings())
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        model_process = app.state.inference.model_process
        assert model_process.ready and model_process.process.returncode is None
        process = model_process.process
    assert process.returncode is not None and not model_process.ready  # the lifespan's shutdown stopped it


def test_start_up_objects_are_frozen_out_of_the_garbage_collector(make_settings):
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    with TestClient(create_app(make_settings())):
        assert gc.get_freeze_count() > 10_000  # torch, FastAPI, the model: no full GC pass scans them
