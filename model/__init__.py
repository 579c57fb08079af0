"""RNN sentiment classification in plain PyTorch: tokenizer, network, training, bundles, prediction.

Importing this package never imports web code, and does not import torch until something that
needs it is used: ``from model import DataError`` or ``model.bundle.read_config`` stay light (the
web server tokenises and reads bundles without torch; its model process runs the network).
"""

from __future__ import annotations

import importlib

# public name -> the submodule that defines it (imported on first use, PEP 562)
_EXPORTS = {
    "Bundle": "bundle",
    "BundleError": "bundle",
    "load_bundle": "bundle",
    "save_bundle": "bundle",
    "ModelConfig": "config",
    "TokenizerConfig": "config",
    "TrainConfig": "config",
    "DataError": "data",
    "Dataset": "data",
    "load_dataset": "data",
    "NumpyRNN": "inference.numpy_rnn",
    "parse_dataset": "data",
    "Prediction": "inference.prediction",
    "Predictor": "inference.predictor",
    "Progress": "training.loop",
    "TrainingCancelled": "training.loop",
    "TrainResult": "training.loop",
    "train": "training.loop",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'model' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # next time, a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
