"""RNN sentiment classification in plain PyTorch: tokenizer, network, training, bundles, prediction.

Importing this package never imports web code.
"""

from .bundle import Bundle, BundleError, load_bundle, save_bundle
from .config import ModelConfig, TokenizerConfig, TrainConfig
from .data import DataError, Dataset, load_dataset, parse_dataset
from .predictor import Prediction, Predictor
from .train import Progress, TrainingCancelled, TrainResult, train

__all__ = [
    "Bundle", "BundleError", "DataError", "Dataset", "ModelConfig", "Prediction", "Predictor",
    "Progress", "TokenizerConfig", "TrainConfig", "TrainResult", "TrainingCancelled",
    "load_bundle", "load_dataset", "parse_dataset", "save_bundle", "train",
]
