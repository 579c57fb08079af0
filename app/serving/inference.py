"""The one interface the HTTP layer calls to use the model: predict, explain, compare, activate.

Where the model runs is this module's business, not the routes': always in the model process
(``model_process/``), a child of this server process, so that the event loop and the model each get
a core instead of taking turns on one interpreter lock (TorchServe, LitServe and Triton's Python
backend run models apart from their HTTP workers for the same reason). This process keeps only
what it needs to talk to it: each version's labels and tokenizer.

Every request is tokenised here, and its cost checked here, before any model time is spent: the
windows of ``max_length`` tokens its texts are read in (a text longer than that is read in
overlapping windows, ``model.inference.windows``), at most ``SENTIMENT_MAX_WINDOWS_PER_REQUEST`` for that
request alone. The model process then merges whatever requests wait for it into one model call,
so a request's neighbours never count against its budget.

Activation loads the new version first (tokenizer here, weights in the model process), then swaps
one reference: requests already holding the old version finish on it, new ones get the new one,
and a version that fails to load never replaces a working one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.bundle import BundleError, load_tokenizer
from model.config import TokenizerConfig
from model.inference.explain import Explanation, Occlusion
from model.inference.prediction import Prediction
from model.inference.windows import count_windows
from model.text.scripts import SAMPLE_CHARS, TrainedScripts, may_warn, trained_scripts, unseen_script_warnings

from ..errors import LimitExceeded, Unavailable
from ..metrics import Metrics
from ..settings import Settings
from ..versions import BUNDLED, VersionNotFound, Versions
from .model_process.client import ModelProcess

log = logging.getLogger(__name__)

# Requests with more characters than this are tokenised in a thread, by the tokenizers library
# (which releases the interpreter lock), not on the event loop; below it, tokenising inline is
# cheaper than the hand-off to a thread. The script check of the warnings reads as many.
INLINE_CHARS = 8192


@dataclass(frozen=True)
class ServedVersion:
    """A loaded version as this process holds it: ``encode`` turns texts into the ids its network reads."""

    version: str
    path: Path
    labels: list[str]
    tokenizer: Any  # model.text.tokenizer.TextTokenizer
    label_names: dict[str, str]  # raw dataset labels -> labels (``ModelConfig.label_names``)
    trained_on: TrainedScripts | None = None  # the scripts it was trained on: predictions warn about others

    def encode(self, texts: list[str], library_only: bool = False) -> list[list[int]]:
        """Every token id of each text, not cut at ``max_length``: the model process reads a longer
        text in overlapping windows of it."""
        return self.tokenizer.encode_batch(texts, library_only=library_only, truncate=False)


def load_version(version: str, path: Path) -> ServedVersion:
    """A version's labels and tokenizer (every file's checksum verified: a damaged weights file is
    refused here, not later in the model process)."""
    tokenizer, config = load_tokenizer(path)
    # builds the tokenizer's untruncated copy now, not on the event loop at the first non-ASCII request
    tokenizer.encode_batch(["warm up"], library_only=True, truncate=False)
    tokenizer_kind = TokenizerConfig.from_dict(config.get("tokenizer", {})).tokenizer
    trained = trained_scripts(config.get("training") or {}, tokenizer_kind, tokenizer.tokenizer.get_vocab())
    model = config["model"]
    return ServedVersion(version, path, list(model["labels"]), tokenizer, dict(model.get("label_names") or {}),
                         trained)


def load_active(versions: Versions) -> ServedVersion:
    """The recorded active version, or the bundled one (recorded active again) when that cannot be loaded."""
    version = versions.active()
    try:
        return load_version(version, versions.path(version))
    except (BundleError, VersionNotFound) as exc:
        if version == BUNDLED:
            raise
        log.error("active version %s cannot be loaded (%s); serving %s instead", version, exc, BUNDLED)
        versions.set_active(BUNDLED)
        return load_version(BUNDLED, versions.path(BUNDLED))


class Inference:
    def __init__(self, settings: Settings, versions: Versions, metrics: Metrics):
        self.settings, self.versions, self.metrics = settings, versions, metrics
        self.model_process = ModelProcess(settings, on_restart=metrics.model_process_restarts.inc,
                                          on_model_call=metrics.batch_size.observe)
        self.current: ServedVersion | None = None
        self._swap = asyncio.Lock()  # one activation (or follow-up of one made elsewhere) at a time

    @property
    def ready(self) -> bool:
        return self.current is not None and self.model_process.ready

    def load(self, version: str) -> ServedVersion:
        return load_version(version, self.versions.path(version))

    async def start(self) -> None:
        loaded = await asyncio.to_thread(load_active, self.versions)
        await self.model_process.start(loaded)
        self._serve(loaded)
        log.info("serving model version %s (%s) with the %s backend", loaded.version, ", ".join(loaded.labels),
                 self.model_process.backends.get(loaded.version))

    async def stop(self) -> None:
        await self.model_process.stop()

    def _serve(self, loaded: ServedVersion) -> None:
        self.current = loaded
        self.model_process.served(loaded)
        self.metrics.set_active(loaded.version)

    # -- versions ------------------------------------------------------------------------------
    async def activate(self, version: str) -> ServedVersion:
        """Serve ``version`` from now on (loaded before anything changes), everywhere: the record
        tells every other server process."""
        async with self._swap:
            loaded = await asyncio.to_thread(self.load, version)
            await self.model_process.prepare(loaded)
            await asyncio.to_thread(self.versions.set_active, version)
            self._serve(loaded)
        log.info("activated model version %s", version)
        return loaded

    async def sync(self) -> bool:
        """Follow an activation made by another server process; True when the version changed."""
        version = await asyncio.to_thread(self.versions.active)
        if self.current is not None and version == self.current.version:
            return False
        async with self._swap:
            if self.current is not None and version == self.current.version:
                return False
            loaded = await asyncio.to_thread(self.load, version)
            await self.model_process.prepare(loaded)
            self._serve(loaded)
        log.info("now serving model version %s (activated elsewhere)", version)
        return True

    def served(self) -> ServedVersion:
        if self.current is None:
            raise Unavailable("no model loaded yet", code="not_ready")
        return self.current

    # -- the model's work ------------------------------------------------------------------------
    async def encode(self, served: ServedVersion, texts: list[str]) -> list[list[int]]:
        """Each text's ids, tokenised off the event loop when the request is large."""
        if sum(map(len, texts)) <= INLINE_CHARS:
            return served.encode(texts)
        return await self.model_process.in_tokenizing_thread(served.encode, texts, True)

    def check_windows(self, served: ServedVersion, ids: list[list[int]], what: str = "these texts",
                      field: str | None = None) -> None:
        """Refuse a request whose sequences are read in more than the request budget of windows."""
        max_length, limit = served.tokenizer.max_length, self.settings.max_windows_per_request
        windows = count_windows([len(x) for x in ids], max_length)
        if windows > limit:
            raise LimitExceeded(
                f"{what} are read in {windows} windows of {max_length} tokens; at most {limit} per request "
                "(SENTIMENT_MAX_WINDOWS_PER_REQUEST): send fewer or shorter texts", code="too_many_windows",
                field=field)

    async def predict(self, texts: list[str]) -> tuple[ServedVersion, list[Prediction], list[str | None]]:
        """The served version, its predictions for ``texts`` in order, and each text's warning (if any)."""
        served = self.served()
        ids = await self.encode(served, texts)
        self.check_windows(served, ids)  # this request's own budget, before any model time is spent
        predictions = await self.model_process.predict_ids(served, ids)
        self.metrics.count_predictions(served.version, [p.label for p in predictions])
        return served, predictions, await self.warnings(served, texts)

    async def explain(self, text: str) -> tuple[ServedVersion, Explanation, str | None]:
        """The served version's prediction for ``text`` with each word's weight (occlusion: the text
        and one variant per word left out go to the model as one request), and its warning."""
        served = self.served()
        if len(text) <= INLINE_CHARS:
            occlusion = Occlusion.of(served.tokenizer, text)
        else:
            occlusion = await self.model_process.in_tokenizing_thread(Occlusion.of, served.tokenizer, text)
        words, limit = len(occlusion.words), self.settings.max_explain_words
        if words > limit:
            raise LimitExceeded(f"the text has {words} words (a word: letters or digits between spaces and "
                                f"punctuation, a punctuation mark, or a CJK character); at most {limit} are explained "
                                "(SENTIMENT_MAX_EXPLAIN_WORDS): send a shorter text", code="too_many_words",
                                field="text")
        inputs = occlusion.inputs()
        self.check_windows(served, inputs, f"the text ({len(occlusion.ids)} tokens, {words} words) and its {words} "
                           "variants with one word left out", field="text")
        explanation = occlusion.explain(await self.model_process.predict_ids(served, inputs))
        self.metrics.count_predictions(served.version, [explanation.label])
        warnings = await self.warnings(served, [text])
        return served, explanation, warnings[0] if warnings else None

    async def warnings(self, served: ServedVersion, texts: list[str]) -> list[str | None]:
        """A warning for each text mostly in scripts the version was not trained on (``model/scripts.py``);
        [] when none has one. ASCII text for a Latin-script model is answered by one quick test."""
        if not may_warn(texts, served.trained_on):
            return []
        name = f"the model version '{served.version}'"
        if sum(min(len(t), SAMPLE_CHARS) for t in texts) <= INLINE_CHARS:
            return unseen_script_warnings(texts, served.trained_on, name)
        return await asyncio.to_thread(unseen_script_warnings, texts, served.trained_on, name)
