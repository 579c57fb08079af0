"""Model bundles: a folder of ``config.json``, ``tokenizer.json`` and ``model.safetensors``.

A bundle published from a job with ``keep: best`` may also hold ``linear.safetensors``, the job's
TF-IDF baseline (``model.inference.linear``), with its n-gram settings and the RNN's share of the
blend in ``config.json``'s ``"linear"`` (``{"word_ngrams", "char_ngrams", "buckets", "rnn_weight"}``):
``rnn_weight`` 0 is a baseline bundle, which has no ``model.safetensors`` (the RNN's tokenizer and
config stay, for the token ids a request is counted and explained in).

Nothing is pickled: weights are safetensors, everything else JSON. ``config.json`` records the
SHA-256 of the other files, so a missing, truncated or swapped file is caught at load time and
reported as a ``BundleError``. Bundles are written beside their destination and renamed into
place, so a reader never sees half a bundle.

Reading a bundle's config and tokenizer (``read_config``, ``load_tokenizer``) does not import
torch: the web server does that, and leaves the weights to its model process.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .config import ModelConfig, TokenizerConfig
from .files import publishing

if TYPE_CHECKING:
    import torch

    from .inference.linear import LinearModel
    from .network.rnn import SentimentRNN
    from .text.tokenizer import TextTokenizer

FORMAT_VERSION = 1
CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE, CARD_FILE = "config.json", "tokenizer.json", "model.safetensors", "README.md"
LINEAR_FILE = "linear.safetensors"  # a linear part's weights (model.inference.linear)


class BundleError(Exception):
    """A model bundle that cannot be loaded: missing, truncated, corrupt or mismatched files."""


@dataclass
class Bundle:
    model: SentimentRNN
    tokenizer: TextTokenizer
    config: ModelConfig
    tokenizer_config: TokenizerConfig
    training: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def labels(self) -> list[str]:
        return self.config.labels


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _state_for_saving(model: SentimentRNN) -> dict[str, torch.Tensor]:
    import torch

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    emb = state["embedding.weight"]
    if torch.equal(emb.half().float(), emb):
        state["embedding.weight"] = emb.half()  # frozen pretrained vectors: half the size, lossless
    return state


def save_bundle(
    path: str | Path,
    model: SentimentRNN,
    tokenizer: TextTokenizer,
    tokenizer_config: TokenizerConfig,
    training: dict | None = None,
    card: str | None = None,
    overwrite: bool = False,
    linear: LinearModel | None = None,
    rnn_weight: float = 1.0,
) -> Path:
    """Write a bundle to ``path`` atomically (aside, then renamed into place: ``model.files``);
    ``linear`` and ``rnn_weight`` as ``write_bundle`` takes them."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise BundleError(f"{path} already exists; choose another directory or pass overwrite")
    with publishing(path, folder=True, replace=overwrite) as tmp:
        write_bundle(tmp, model, tokenizer, tokenizer_config, training, card, linear, rnn_weight)
    return path


def write_bundle(
    folder: Path,
    model: SentimentRNN,
    tokenizer: TextTokenizer,
    tokenizer_config: TokenizerConfig,
    training: dict | None = None,
    card: str | None = None,
    linear: LinearModel | None = None,
    rnn_weight: float = 1.0,
) -> None:
    """A bundle's files in ``folder``, a folder the caller publishes (``save_bundle``, or a training
    job that publishes its bundle as a numbered version). With ``linear``: that linear part too,
    blended with the RNN at ``rnn_weight`` (0: the linear part alone, and no RNN weights are written;
    ``model`` still gives the labels and the tokenizer's config)."""
    import safetensors
    import tokenizers
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    tokenizer.save(folder / TOKENIZER_FILE)
    names = [TOKENIZER_FILE]
    if linear is None or rnn_weight > 0:
        save_file(_state_for_saving(model), str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
        names.append(WEIGHTS_FILE)
    if linear is not None:
        linear.save(folder / LINEAR_FILE)
        names.append(LINEAR_FILE)
    if card:
        (folder / CARD_FILE).write_text(card, encoding="utf-8")
    config = {
        "format_version": FORMAT_VERSION,
        "model": model.config.to_dict(),
        "tokenizer": tokenizer_config.to_dict(),
        "training": training or {},
        **({"linear": linear.settings() | {"rnn_weight": rnn_weight}} if linear is not None else {}),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "tokenizers": tokenizers.__version__,
            "safetensors": safetensors.__version__,
        },
        "files": {name: sha256_file(folder / name) for name in names},
    }
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    for file in folder.iterdir():  # bundles are shared, read-only data
        os.chmod(file, 0o644)


def read_config(path: str | Path) -> dict:
    """The parsed ``config.json`` of a bundle (no weights loaded)."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"{path}: not a model bundle directory")
    try:
        config = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{path}: missing {CONFIG_FILE}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path / CONFIG_FILE}: not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{path / CONFIG_FILE}: unsupported bundle format (expected format_version {FORMAT_VERSION})")
    return config


def load_tokenizer(path: str | Path, verify: bool = True) -> tuple[TextTokenizer, dict]:
    """A bundle's tokenizer and parsed ``config.json``, without loading the weights (or torch).

    Every file's checksum is verified all the same (``verify``), so a truncated or replaced
    weights file is a ``BundleError`` here too, not later in the process that loads it.
    """
    path = Path(path)
    config = read_config(path)
    # The checksums are read in a thread while the tokenizer loads: hashing lets go of the
    # interpreter lock, so a server starting up waits for the longer of the two, not both. A
    # checksum mismatch is the error that counts when both fail (it says why the tokenizer did).
    problem: list[Exception] = []
    checking = threading.Thread(target=_check_into, args=(problem, path, config, verify), name="bundle-checksums")
    checking.start()
    try:
        model_config, tok_config = _configs(path, config)
        tokenizer = _tokenizer(path, tok_config, model_config)
    finally:
        checking.join()
        if problem:
            raise problem[0]
    return tokenizer, config


def _check_into(problem: list[Exception], path: Path, config: dict, verify: bool) -> None:
    try:
        check_files(path, config, verify)
    except Exception as exc:  # raised in the caller's thread (a missing file, a mismatch, an OSError)
        problem.append(exc)


def check_files(path: Path, config: dict, verify: bool = True) -> None:
    """Every file that ``config.json`` lists is there and (``verify``) has its recorded SHA-256."""
    files = config.get("files", {})
    if not isinstance(files, dict):
        raise BundleError(f"{path / CONFIG_FILE}: 'files' must map file names to SHA-256 digests")
    for name, digest in files.items():
        file = path / name
        if not file.is_file():
            raise BundleError(f"{path}: missing {name}")
        if verify and sha256_file(file) != digest:
            raise BundleError(f"{file}: checksum mismatch (truncated or replaced file)")


def _configs(path: Path, config: dict) -> tuple[ModelConfig, TokenizerConfig]:
    try:
        return ModelConfig.from_dict(config["model"]), TokenizerConfig.from_dict(config.get("tokenizer", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{path / CONFIG_FILE}: invalid model config ({exc})") from None


def _tokenizer(path: Path, tok_config: TokenizerConfig, model_config: ModelConfig) -> TextTokenizer:
    from .text.tokenizer import TextTokenizer  # (the tokenizers library: not for a process given token ids)

    try:
        tokenizer = TextTokenizer.load(path / TOKENIZER_FILE, tok_config.max_length)
    except Exception as exc:  # the tokenizers library raises plain Exception
        raise BundleError(f"{path / TOKENIZER_FILE}: cannot load tokenizer ({exc})") from None
    if tokenizer.vocab_size != model_config.vocab_size:
        raise BundleError(
            f"{path}: tokenizer has {tokenizer.vocab_size} tokens but the model expects {model_config.vocab_size}"
        )
    return tokenizer


def read_linear(path: str | Path, config: dict) -> tuple[LinearModel | None, float]:
    """A bundle's linear part and the RNN's share of the blend: (None, 1.0) for an RNN bundle;
    a ``BundleError`` naming the file for a damaged one."""
    settings = config.get("linear")
    if settings is None:
        return None, 1.0
    from .inference.linear import LinearModel

    path = Path(path)
    try:
        rnn_weight = float(settings["rnn_weight"])
        if not 0.0 <= rnn_weight <= 1.0:
            raise ValueError(f"rnn_weight must be in [0, 1]; got {rnn_weight}")
        return LinearModel.load(path / LINEAR_FILE, settings), rnn_weight
    except FileNotFoundError:
        raise BundleError(f"{path}: missing {LINEAR_FILE}") from None
    except Exception as exc:  # a bad setting, a wrong shape, or safetensors' own errors
        raise BundleError(f"{path / LINEAR_FILE}: cannot read the linear part ({exc})") from None


def read_weights(path: Path, load_file) -> dict:
    """The bundle's weights as ``load_file`` (safetensors' torch or NumPy reader) gives them; a missing
    or unreadable file is a ``BundleError`` naming it."""
    try:
        return load_file(str(path / WEIGHTS_FILE))
    except FileNotFoundError:
        raise BundleError(f"{path}: missing {WEIGHTS_FILE}") from None
    except Exception as exc:  # safetensors raises SafetensorError / OSError on corrupt files
        raise BundleError(f"{path / WEIGHTS_FILE}: cannot read weights ({exc})") from None


def has_rnn(config: dict) -> bool:
    """Whether a bundle (its parsed ``config.json``) holds an RNN: a baseline bundle, a linear model
    alone (``rnn_weight`` 0), does not, so nothing can be loaded as a network or warm-started from it."""
    return (config.get("linear") or {}).get("rnn_weight") != 0


def load_bundle(path: str | Path, verify: bool = True) -> Bundle:
    """Load a bundle; every problem is a ``BundleError`` naming the file."""
    from safetensors.torch import load_file

    from .network.rnn import SentimentRNN

    path = Path(path)
    config = read_config(path)
    check_files(path, config, verify)
    if not has_rnn(config):
        raise BundleError(f"{path}: a baseline bundle (a linear model alone): it has no RNN to load or warm-start "
                          "from; Predictor.load serves it")
    model_config, tok_config = _configs(path, config)
    tokenizer = _tokenizer(path, tok_config, model_config)
    state = read_weights(path, load_file)
    model = SentimentRNN(model_config)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise BundleError(f"{path / WEIGHTS_FILE}: weights do not match config.json ({' '.join(first[:3])})") from None
    model.eval()
    return Bundle(model, tokenizer, model_config, tok_config, config.get("training", {}), path)
