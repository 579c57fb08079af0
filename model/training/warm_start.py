"""Warm start (fine-tuning): a new model that begins from a trained bundle's tokenizer and weights.

What the network *is* comes from the base: cell, layers, sizes, pooling, the embedding table and
whether it is frozen, and the tokenizer with its settings. How it is trained comes from the train
config (epochs, learning rate, batch size, patience, seed, ...); dropout has no weights, so it
comes from the hyperparameters too. ``pretrained`` does not apply: the base's vectors are already
in its embedding table.

When the new data's labels (after ``label_names``; the base's mapping when none is given) are the
base's, every weight is kept and the classes keep the base's order. Otherwise the output layer is
new, sized for the new labels and initialised from the seed like any new layer, and the rest is
kept. The bundle's training metadata records which (``training.base.output_layer``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING

from ..bundle import WEIGHTS_FILE, read_config
from ..config import ModelConfig, TokenizerConfig
from ..text.tokenizer import TextTokenizer

if TYPE_CHECKING:
    from ..bundle import Bundle
    from ..network.rnn import SentimentRNN

OUTPUT_LAYER = ("classifier.weight", "classifier.bias")
KEPT, NEW = "kept", "new"


def label_names_for(hyperparameters: ModelConfig, base: Bundle | None) -> dict[str, str]:
    """The label names a training run maps its data's labels through: the hyperparameters', else (a
    warm start) the base's. Whatever else reads the same data beside the RNN (the baseline) maps them
    the same way, or its labels would not be the RNN's."""
    return dict(hyperparameters.label_names or (base.config.label_names if base is not None else {}))


def base_configs(base: Bundle, hyperparameters: ModelConfig) -> tuple[ModelConfig, TokenizerConfig]:
    """The base's architecture and tokenizer settings; dropout and label names from the hyperparameters
    (label names from the base when none are given). Labels and temperature are set by training."""
    arch = dataclasses.replace(
        base.config,
        labels=list(base.config.labels),
        temperature=1.0,
        dropout=hyperparameters.dropout,
        label_names=label_names_for(hyperparameters, base),
    )
    return arch, dataclasses.replace(base.tokenizer_config)


def base_tokenizer(base: Bundle) -> TextTokenizer:
    """A copy of the base's tokenizer: the same vocabulary, token for token."""
    return TextTokenizer.from_str(base.tokenizer.tokenizer.to_str(), base.tokenizer_config.max_length)


def class_order(names: list[str], base: Bundle) -> tuple[list[str], str]:
    """The classes of the new model, and whether the base's output layer is ``kept`` or ``new``."""
    if sorted(names) == sorted(base.labels):
        return list(base.labels), KEPT
    return names, NEW


def load_base_weights(model: SentimentRNN, base: Bundle, output_layer: str) -> None:
    """Copy the base's weights into ``model`` (all of them, or all but the output layer)."""
    state = base.model.state_dict()
    if output_layer == NEW:
        state = {name: value for name, value in state.items() if name not in OUTPUT_LAYER}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or sorted(missing) != (sorted(OUTPUT_LAYER) if output_layer == NEW else []):
        raise ValueError(
            f"the base model's weights do not fit its own config (missing {missing}, unexpected {unexpected})"
        )


def weights_sha256(base: Bundle) -> str:
    """The SHA-256 of the base's weights file, as its ``config.json`` records it (checked when it
    was loaded); for a bundle held only in memory, of its tensors."""
    if base.path is not None:
        digest = read_config(base.path).get("files", {}).get(WEIGHTS_FILE)
        if digest:
            return digest
    from safetensors.torch import save

    state = {name: tensor.detach().cpu().contiguous() for name, tensor in base.model.state_dict().items()}
    return hashlib.sha256(save(state)).hexdigest()
