"""Batched, thread-safe prediction from a bundle, on either backend.

``numpy`` runs the network with NumPy alone (``numpy_rnn``): no torch in the process, which is what
serving runs (``SENTIMENT_BACKEND``, auto by default). ``torch`` runs it with torch's fast path
(``fast_rnn``), or ``nn.LSTM`` itself with ``fast=False``; training and the bundle's own tests use it
as the reference the NumPy backend is held to. Both give the same probabilities (to float rounding),
from the same bundle.

A text longer than the tokenizer's ``max_length`` is read in overlapping windows of that many
tokens and their logits averaged (``model.inference.windows``); ``Prediction.windows`` says how many.

A multi-label bundle (``config.task``) gives each label its own sigmoid probability, from the same
averaged logits; its labels are those at or above the bundle's thresholds (``to_predictions``).

A bundle may carry a linear part (the job's TF-IDF baseline, ``model.inference.linear``, NumPy on
either backend): alone (``rnn_weight`` 0, a baseline bundle: no RNN weights at all) or blended with
the RNN (the two log-probability vectors weighted ``rnn_weight`` and ``1 - rnn_weight``). It reads
the texts themselves, not token ids, so such a predictor is given both (``texts=``); the token ids
still say how many windows a text costs and which words an explanation leaves out.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..bundle import Bundle, _configs, check_files, load_tokenizer, read_config, read_linear
from ..config import MULTI_LABEL, ModelConfig, TokenizerConfig
from .linear import LinearModel, blend_log_probs, log_softmax
from .prediction import DEFAULT_THRESHOLD, Prediction, to_predictions
from .windows import combine_logits, split_windows

if TYPE_CHECKING:
    from ..text.tokenizer import TextTokenizer

BACKENDS = ("auto", "numpy", "torch")


class TorchNetwork:
    """A ``SentimentRNN`` as the predictor calls a network: ``logits(seqs) -> np.ndarray``."""

    def __init__(self, model, fast: bool = True):
        self.model = model.eval()
        self.config = model.config
        self.fast = fast
        self._fast_model = None
        self._lock = threading.Lock()
        # The fast path is many small tensor operations, each handing the interpreter lock over and
        # back: threads running it at once slow each other down, so callers take turns. The nn.LSTM
        # path is one long operation per batch and runs concurrently.
        self._turns = threading.Lock() if fast else contextlib.nullcontext()

    def runtime_model(self):
        """The module ``logits`` runs: the fast path (built on first use: its table of input
        projections is memory a process that never predicts need not pay for) unless turned off."""
        if not self.fast:
            return self.model
        if self._fast_model is None:
            with self._lock:
                if self._fast_model is None:
                    from .fast_rnn import FastRNN

                    self._fast_model = FastRNN(self.model)
        return self._fast_model

    def logits(self, seqs: Sequence[Sequence[int]]) -> np.ndarray:
        import torch

        from .batches import pad_batch

        with self._turns, torch.inference_mode():
            ids, lengths = pad_batch(seqs, self.config.pad_id)
            return self.runtime_model()(ids, lengths).float().numpy()


class Predictor:
    """Predicts labels and class probabilities for lists of texts (``predict``), on ``network``:
    anything with ``logits(seqs) -> ndarray`` (``TorchNetwork``, ``NumpyRNN``). ``predict`` only reads
    the network, so one predictor can be shared by threads."""

    def __init__(self, bundle: Bundle | None = None, batch_size: int = 128, fast: bool = True, *,
                 network: Any = None, tokenizer: TextTokenizer | None = None, config: ModelConfig | None = None,
                 backend: str = "torch", max_length: int | None = None, linear: LinearModel | None = None,
                 rnn_weight: float = 1.0):
        if bundle is not None:  # torch: the loaded bundle's network
            network, tokenizer, config = TorchNetwork(bundle.model, fast), bundle.tokenizer, bundle.config
        self.bundle = bundle  # the torch bundle (None on the NumPy backend)
        self.network, self.tokenizer, self.config = network, tokenizer, config
        # windows of max_length tokens (without a tokenizer, the model process's case, it says it)
        self.max_length = tokenizer.max_length if tokenizer is not None else max_length
        self.backend = backend
        self.labels = list(config.labels)
        self.batch_size = batch_size
        self.temperature = config.temperature
        self.task = config.task
        # multi-label: each label's threshold (the bundle's, chosen on its dev set); None for single-label
        self.thresholds = None
        if self.task == MULTI_LABEL:
            self.thresholds = list(config.thresholds or [DEFAULT_THRESHOLD] * len(self.labels))
        # the linear part (None: the RNN alone) and the RNN's share of the blend (0: the linear part alone)
        self.linear, self.rnn_weight = linear, (rnn_weight if linear is not None else 1.0)
        if linear is not None:
            if self.task == MULTI_LABEL:
                raise ValueError("a linear or blended model is single-label; this config is multi_label")
            if linear.num_classes != len(self.labels):
                raise ValueError(f"the linear part has {linear.num_classes} labels; the model has {len(self.labels)}")
            if not 0.0 <= self.rnn_weight <= 1.0 or (network is None) != (self.rnn_weight == 0.0):
                raise ValueError(f"rnn_weight must be in [0, 1], and 0 exactly when there is no RNN; got {rnn_weight}")

    @property
    def reads_text(self) -> bool:
        """Whether predictions need the texts beside their token ids (a linear part reads them)."""
        return self.linear is not None

    @classmethod
    def load(cls, path: str | Path, backend: str = "torch", batch_size: int = 128, fast: bool = True,
             tokenizer: bool = True, table_dir: Path | None = None) -> Predictor:
        """The bundle at ``path`` on ``backend`` (``auto``: NumPy, which runs every network this package
        trains); every file's checksum is verified first. ``tokenizer=False`` (NumPy, or a baseline
        bundle): no tokenizer is loaded, for a process that is given token ids (``encode`` then
        refuses). ``table_dir``: where NumPy keeps its input table (``NumpyRNN.load``)."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
        path = Path(path)
        bundle_config = read_config(path)
        check_files(path, bundle_config)  # every file, the linear part's too
        linear, rnn_weight = read_linear(path, bundle_config)
        if rnn_weight == 0.0:  # a baseline bundle: the linear part alone (NumPy, whatever the backend)
            model_config, tok_config = _configs(path, bundle_config)
            text_tokenizer = load_tokenizer(path, verify=False)[0] if tokenizer else None
            return cls(tokenizer=text_tokenizer, config=model_config, batch_size=batch_size, backend=backend,
                       max_length=tok_config.max_length, linear=linear, rnn_weight=0.0)
        if backend == "torch":
            from ..bundle import load_bundle

            predictor = cls(load_bundle(path, verify=False), batch_size, fast)
            predictor.linear, predictor.rnn_weight = linear, rnn_weight
            return predictor
        from .numpy_rnn import NumpyRNN

        network = NumpyRNN.load(path, verify=False, table_dir=table_dir)
        if not tokenizer:
            max_length = TokenizerConfig.from_dict(bundle_config.get("tokenizer", {})).max_length
            return cls(network=network, config=network.config, batch_size=batch_size, backend="numpy",
                       max_length=max_length, linear=linear, rnn_weight=rnn_weight)
        text_tokenizer, _ = load_tokenizer(path, verify=False)
        return cls(network=network, tokenizer=text_tokenizer, config=network.config, batch_size=batch_size,
                   backend="numpy", linear=linear, rnn_weight=rnn_weight)

    def runtime_model(self):
        """The torch module the torch backend runs (tests compare it with the network itself)."""
        return self.network.runtime_model()

    @property
    def model(self):
        """The torch network (torch backend only)."""
        return self.bundle.model

    def warm_up(self) -> None:
        """Build what the first prediction would build, and run one, so that it is not slow."""
        self.predict_proba_ids([[self.config.unk_id, self.config.unk_id]], texts=["warm up"])

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Every token id of each text, however long (what ``predict_proba_ids`` takes)."""
        if isinstance(texts, str):
            raise TypeError("predict takes a list of texts, not a single string")
        if self.tokenizer is None:
            raise TypeError("this predictor was loaded without a tokenizer: give it token ids (predict_ids)")
        return self.tokenizer.encode_batch(list(texts), truncate=False) if texts else []

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), classes] calibrated probabilities (float32), in input order: a softmax over the
        labels, or (multi-label) each label's own sigmoid."""
        return self.predict_proba_ids(self.encode(texts), texts=list(texts))

    def predict_proba_ids(self, seqs: Sequence[Sequence[int]], texts: Sequence[str] | None = None) -> np.ndarray:
        """``predict_proba`` for texts already encoded by ``encode`` (each non-empty); ``texts`` (the
        texts themselves) where ``reads_text``."""
        return self.predict_windows_ids(seqs, texts)[0]

    def logits(self, seqs: Sequence[Sequence[int]]) -> np.ndarray:
        """The network's logits for sequences within ``max_length``, in input order, computed in
        length-sorted batches of ``batch_size`` (little padding, bounded memory)."""
        out = np.empty((len(seqs), len(self.labels)), dtype=np.float32)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = self.network.logits([seqs[i] for i in chunk])
        return out

    def calibrated_logits_ids(self, seqs: Sequence[Sequence[int]],
                              texts: Sequence[str] | None = None) -> tuple[np.ndarray, list[int]]:
        """The logits each text's probabilities are computed from (float32, [texts, labels]), and how
        many windows each text was read in: the mean of its windows' logits, divided by the
        temperature (multi-label: no temperature, the thresholds do that work). Explanations read
        these: log-odds from probabilities saturate (p = 1.0 in float32).

        With a linear part (single-label), its log-probabilities for ``texts`` are blended in
        (``blend_log_probs``) and the blend's log-probabilities are the logits; alone, they are the
        linear part's, each text one window (it reads the whole text)."""
        linear = None
        if self.linear is not None:
            if texts is None or len(texts) != len(seqs):
                raise ValueError("this model has a linear part, which reads the texts: give them (texts=) beside "
                                 "their token ids, one per sequence")
            linear = log_softmax(self.linear.logits(list(texts)))
            if self.network is None:
                return linear.astype(np.float32), [1] * len(seqs)
        windows, counts = split_windows(seqs, self.max_length)
        logits = combine_logits(self.logits(windows), counts)
        if self.task != MULTI_LABEL:
            logits = logits / np.float32(self.temperature)
            if linear is not None:
                logits = blend_log_probs(log_softmax(logits), linear, self.rnn_weight).astype(np.float32)
        return logits, counts

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """``calibrated_logits_ids``' logits as probabilities (float32), computed in place: a softmax, or
        (multi-label) a sigmoid per label."""
        if self.task == MULTI_LABEL:
            # 1 / (1 + e^-x) written with e^-|x| only, which cannot overflow float32
            e = np.exp(-np.abs(logits))
            return np.where(logits >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float32)
        logits -= logits.max(axis=1, keepdims=True) if len(logits) else 0
        probs = np.exp(logits, out=logits)
        probs /= probs.sum(axis=1, keepdims=True)
        return probs

    def predict_windows_ids(self, seqs: Sequence[Sequence[int]],
                            texts: Sequence[str] | None = None) -> tuple[np.ndarray, list[int]]:
        """Probabilities as ``predict_proba_ids``, and how many windows each text was read in
        (``probabilities`` of ``calibrated_logits_ids``; ``texts`` where the model has a linear part)."""
        logits, counts = self.calibrated_logits_ids(seqs, texts)
        return self.probabilities(logits), counts

    def predict(
        self, texts: Sequence[str], *, top_k: int | None = None, min_score: float | None = None
    ) -> list[Prediction]:
        """Each text's prediction, as ``to_predictions`` makes it with the bundle's task and thresholds;
        ``top_k`` and ``min_score`` are passed on."""
        return self.predict_ids(self.encode(texts), texts=list(texts), top_k=top_k, min_score=min_score)

    def predict_ids(
        self, seqs: Sequence[Sequence[int]], *, texts: Sequence[str] | None = None, top_k: int | None = None,
        min_score: float | None = None
    ) -> list[Prediction]:
        """``predict`` for texts already encoded (each non-empty), e.g. an explanation's variants;
        ``texts`` too where ``reads_text``."""
        probs, windows = self.predict_windows_ids(seqs, texts)
        return to_predictions(
            self.labels,
            probs.tolist(),
            windows,
            task=self.task,
            thresholds=self.thresholds,
            top_k=top_k,
            min_score=min_score,
        )
