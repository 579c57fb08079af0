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
import gc
import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.bundle import BundleError, load_tokenizer
from model.config import TokenizerConfig
from model.inference.explain import Explanation, Occlusion, plan
from model.inference.prediction import Prediction
from model.inference.windows import count_windows
from model.text.scripts import SAMPLE_CHARS, TrainedScripts, may_warn, trained_scripts, unseen_script_warnings
from model.text.segment import has_han, segmenter_loaded

from ..errors import InvalidInput, LimitExceeded, Unavailable
from ..metrics import Metrics
from ..processes import trim_heap
from ..settings import Settings
from ..versions import BUNDLED, VersionNotFound, Versions, bundle_task
from .model_process.client import ModelProcess

log = logging.getLogger(__name__)

# Requests with more characters than this are tokenised in a thread, by the tokenizers library
# (which releases the interpreter lock), not on the event loop; below it, tokenising inline is
# cheaper than the hand-off to a thread. The script check of the warnings reads as many.
INLINE_CHARS = 8192


@dataclass(frozen=True)
class ServedVersion:
    """A loaded version as this process holds it: ``encode`` turns texts into the ids its network reads."""

    model: str
    version: str
    path: Path
    labels: list[str]
    tokenizer: Any  # model.text.tokenizer.TextTokenizer
    label_names: dict[str, str]  # raw dataset labels -> labels (``ModelConfig.label_names``)
    trained_on: TrainedScripts | None = None  # the scripts it was trained on: predictions warn about others
    task: str = "single_label"
    thresholds: list[float] | None = None  # multi-label: each label's threshold, chosen on the eval set
    reads_text: bool = False  # a linear part (a baseline or blended bundle): the model process gets the texts too

    @property
    def key(self) -> str:
        """What the model process calls it: model and version."""
        return f"{self.model}/{self.version}"

    def encode(self, texts: list[str], library_only: bool = False) -> list[list[int]]:
        """Every token id of each text, not cut at ``max_length``: the model process reads a longer
        text in overlapping windows of it."""
        return self.tokenizer.encode_batch(texts, library_only=library_only, truncate=False)


def load_version(model: str, version: str, path: Path) -> ServedVersion:
    """A version's labels and tokenizer (every file's checksum verified: a damaged weights file is
    refused here, not later in the model process)."""
    tokenizer, config = load_tokenizer(path)
    # builds the tokenizer's untruncated copy now, not on the event loop at the first non-ASCII request
    tokenizer.encode_batch(["warm up"], library_only=True, truncate=False)
    tokenizer_kind = TokenizerConfig.from_dict(config.get("tokenizer", {})).tokenizer
    trained = trained_scripts(config.get("training") or {}, tokenizer_kind, _vocabulary(tokenizer))
    network = config["model"]
    return ServedVersion(model, version, path, list(network["labels"]), tokenizer,
                         dict(network.get("label_names") or {}), trained, bundle_task(config),
                         network.get("thresholds"), "linear" in config)


def _vocabulary(tokenizer):
    """The tokenizer's tokens, read only if ``trained_scripts`` needs them (a bundle that does not
    record its training texts' scripts): a vocabulary of 30,000 tokens is a hundredth of a second
    of a server's start-up."""
    yield from tokenizer.tokenizer.get_vocab()


def load_active(versions: Versions, model: str) -> ServedVersion:
    """``model``'s recorded active version, or its bundled one (recorded active again) when that
    cannot be loaded and there is one."""
    version = versions.active(model)
    try:
        return load_version(model, version, versions.path(model, version))
    except (BundleError, VersionNotFound) as exc:
        if version == BUNDLED or not versions.exists(model, BUNDLED):
            raise
        log.error("the active version %s of %s cannot be loaded (%s); serving %s instead", version, model, exc, BUNDLED)
        versions.set_active(model, BUNDLED)
        return load_version(model, BUNDLED, versions.path(model, BUNDLED))


def _freeze() -> None:
    """What a load made lives as long as the model stays (a tokenizer is hundreds of thousands of
    objects): out of the garbage collector's full passes, as the lifespan does with what start-up
    made (``gc.freeze``), or each pass would scan it again. Collected first, so that no garbage of
    the moment is frozen with it."""
    gc.collect()
    gc.freeze()
    trim_heap()


class Inference:
    """The models this server process serves: the default one always, others as requests name them,
    at most ``SENTIMENT_MAX_LOADED_MODELS`` at a time (the least recently used other than the
    default dropped first), each at its recorded active version."""

    def __init__(self, settings: Settings, versions: Versions | None, metrics: Metrics):
        self.settings, self.versions, self.metrics = settings, versions, metrics
        self._attached = asyncio.Event()  # set once the records are open (``versions`` is not None)
        if versions is not None:
            self._attached.set()
        self.model_process = ModelProcess(settings, on_restart=metrics.model_process_restarts.inc,
                                          on_model_call=metrics.batch_size.observe)
        self.models: OrderedDict[str, ServedVersion] = OrderedDict()  # name -> served version, least recently used first
        self.min_scores: dict[str, float | None] = {}  # name -> its default min_score (set at activation)
        self._swap = asyncio.Lock()  # one activation, load or follow-up of one made elsewhere at a time
        self._loads: dict[str, asyncio.Task] = {}  # name -> its load under way (requests for it wait on it)

    @property
    def current(self) -> ServedVersion | None:
        """The default model's served version (None until loaded)."""
        return self.models.get(self.settings.default_model)

    @property
    def ready(self) -> bool:
        return self.current is not None and self.model_process.ready

    def load(self, model: str, version: str) -> ServedVersion:
        return load_version(model, version, self.versions.path(model, version))

    def attach(self, versions: Versions) -> None:
        """The records, once open (``start`` may run before: see the lifespan)."""
        self.versions = versions
        self._attached.set()

    async def start(self, min_score: float | None = None) -> None:
        """Serve the default model's active version: the one ``python -m app`` loaded and had its
        model process load before the server started (``ModelProcess.preloaded``), if it still is
        the active one. Without the records (not open yet), the preloaded version is served, with
        ``min_score`` as its model's default, as ``python -m app`` read them."""
        name = self.settings.default_model
        preloaded = self.model_process.preloaded
        if self.versions is None:
            loaded = preloaded
        else:
            active = await asyncio.to_thread(self.versions.active, name)
            if preloaded is not None and (preloaded.model, preloaded.version) == (name, active):
                loaded = preloaded
            else:
                loaded = await asyncio.to_thread(load_active, self.versions, name)
            min_score = (await asyncio.to_thread(self.versions.model_row, name))["min_score"]
        await self.model_process.start(loaded)
        self._serve(loaded, min_score)
        log.info("serving %s version %s (%s) with the %s backend", name, loaded.version, ", ".join(loaded.labels),
                 self.model_process.backends.get(loaded.key))

    async def stop(self) -> None:
        for task in list(self._loads.values()):
            task.cancel()
        await self.model_process.stop()

    def _serve(self, loaded: ServedVersion, min_score: float | None) -> None:
        self.models[loaded.model] = loaded
        self.models.move_to_end(loaded.model)
        self.min_scores[loaded.model] = min_score
        self.model_process.serve(loaded)
        self.metrics.set_active(loaded.model, loaded.version, self.model_process.memory.get(loaded.key))

    # -- models --------------------------------------------------------------------------------
    async def served(self, model: str | None = None) -> ServedVersion:
        """The served version of ``model`` (the default model when None), loaded first if it is not
        (within the model process's load time limit); a 404 names a model that does not exist."""
        name = model or self.settings.default_model
        served = self.models.get(name)
        if served is not None:
            self.models.move_to_end(name)
            return served
        if self.current is None:
            raise Unavailable("no model loaded yet", code="not_ready")
        task = self._loads.get(name)
        if task is None:
            task = self._loads[name] = asyncio.get_running_loop().create_task(self._load_model(name))
            task.add_done_callback(lambda _: self._loads.pop(name, None))
        return await asyncio.shield(task)

    async def _load_model(self, name: str) -> ServedVersion:
        await self._attached.wait()  # (the records open within a moment of start-up)
        row = await asyncio.to_thread(self.versions.model_row, name)  # ModelNotFound: a 404 naming it
        async with self._swap:
            if name in self.models:
                return self.models[name]
            loaded = await asyncio.to_thread(load_active, self.versions, name)
            await self.model_process.prepare(loaded)
            self._serve(loaded, row["min_score"])
            await self._evict()
            _freeze()
        log.info("loaded %s version %s (%d models loaded)", name, loaded.version, len(self.models))
        return loaded

    async def _evict(self) -> None:
        """Drop the least recently used models past ``max_loaded_models`` (never the default one)."""
        while len(self.models) > self.settings.max_loaded_models:
            name = next((n for n in self.models if n != self.settings.default_model), None)
            if name is None or name == next(reversed(self.models)):
                return
            await self._unload(name, f"least recently used; SENTIMENT_MAX_LOADED_MODELS={self.settings.max_loaded_models}")

    async def drop(self, name: str) -> None:
        """Stop serving ``name`` (deleted here or elsewhere: ``sync``), if it is loaded; never the default model."""
        if name == self.settings.default_model:
            return
        async with self._swap:
            await self._unload(name, "the model was deleted")

    async def _unload(self, name: str, why: str) -> None:
        """``name`` no longer served here, if it was: its version, default min_score, metrics and its
        copy in the model process go."""
        dropped = self.models.pop(name, None)
        self.min_scores.pop(name, None)
        if dropped is not None:
            self.metrics.drop_model(name)
            await self.model_process.unserve(dropped)
            log.info("dropped %s version %s (%s)", name, dropped.version, why)

    def loaded_bytes(self, model: str) -> int | None:
        """Memory the model process took to load ``model``'s served version (None: not loaded)."""
        served = self.models.get(model)
        return None if served is None else self.model_process.memory.get(served.key)

    # -- versions ------------------------------------------------------------------------------
    async def activate(self, model: str, version: str, min_score: float | None = None,
                       set_min_score: bool = False) -> ServedVersion:
        """Serve ``model``'s ``version`` from now on (loaded before anything changes), everywhere:
        the record tells every other server process."""
        async with self._swap:
            loaded = await asyncio.to_thread(self.load, model, version)
            await self.model_process.prepare(loaded)
            await asyncio.to_thread(self.versions.set_active, model, version, min_score, set_min_score)
            row = await asyncio.to_thread(self.versions.model_row, model)
            self._serve(loaded, row["min_score"])
            await self._evict()
        log.info("activated %s version %s", model, version)
        return loaded

    async def sync(self) -> bool:
        """Follow activations made by other server processes for the models loaded here; True when
        a served version changed."""
        rows = await asyncio.to_thread(self.versions.actives)
        changed = False
        for name in list(self.models):
            row = rows.get(name)
            if row is None:  # deleted
                await self.drop(name)
                continue
            self.min_scores[name] = row["min_score"]
            served = self.models.get(name)
            if served is None or row["active_version"] == served.version:
                continue
            async with self._swap:
                served = self.models.get(name)
                if served is None or row["active_version"] == served.version:
                    continue
                loaded = await asyncio.to_thread(self.load, name, row["active_version"])
                await self.model_process.prepare(loaded)
                self._serve(loaded, row["min_score"])
            log.info("now serving %s version %s (activated elsewhere)", name, loaded.version)
            changed = True
        return changed

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

    def options(self, served: ServedVersion, top_k: int | None, min_score: float | None) -> dict[str, Any]:
        """The prediction options of a request for ``served``: ``top_k`` checked against its labels,
        ``min_score`` the request's or else the model's default (set at activation)."""
        if top_k is not None and top_k > len(served.labels):
            raise InvalidInput(f"top_k is {top_k}; the model {served.model!r} has {len(served.labels)} labels",
                               code="top_k_too_large", field="top_k")
        if served.task == "multi_label":  # it names no label when none reaches its threshold
            if min_score is not None:
                raise InvalidInput(f"min_score is for single-label models; {served.model!r} is multi-label (its "
                                   "predictions name the labels that reach their thresholds, possibly none)",
                                   code="min_score_multi_label", field="min_score")
        elif min_score is None:
            min_score = self.min_scores.get(served.model)
        return {"task": served.task, "thresholds": served.thresholds, "top_k": top_k, "min_score": min_score}

    async def predict(self, texts: list[str], model: str | None = None, top_k: int | None = None,
                      min_score: float | None = None) -> tuple[ServedVersion, list[Prediction], list[str | None]]:
        """The served version of ``model``, its predictions for ``texts`` in order, and each text's
        warning (if any)."""
        served = await self.served(model)
        options = self.options(served, top_k, min_score)
        ids = await self.encode(served, texts)
        self.check_windows(served, ids)  # this request's own budget, before any model time is spent
        predictions = await self.model_process.predict_ids(served, ids, texts=texts, **options)
        self.metrics.count_predictions(served.model, served.version, predictions)
        return served, predictions, await self.warnings(served, texts)

    async def predict_all(self, served: ServedVersion, ids: list[list[int]], texts: list[str]) -> list[Prediction]:
        """Predictions for every text of a dataset (``ids`` its token ids), in requests the model
        process takes (``SENTIMENT_MAX_BATCH_SIZE`` texts, ``SENTIMENT_MAX_WINDOWS_PER_REQUEST``
        windows): a comparison or a selection goes through the same queue as predictions."""
        settings, out = self.settings, []
        for chunk in _chunks(ids, settings.max_batch_size, settings.max_windows_per_request, served.tokenizer.max_length):
            first = len(out)  # (chunks are consecutive)
            out.extend(await self.model_process.predict_ids(served, chunk, texts=texts[first : first + len(chunk)]))
        return out

    async def explain(self, text: str, model: str | None = None) -> tuple[ServedVersion, Explanation, str | None]:
        """The served version's prediction for ``text`` with its words' weights (occlusion in log-odds,
        ``model.inference.explain``: the text's windows and one variant per word and window that reads
        it go to the model as one request), and its warning. A text with more words than
        ``SENTIMENT_MAX_EXPLAIN_WORDS``, or more sequences than ``SENTIMENT_MAX_WINDOWS_PER_REQUEST``,
        is explained in its most decisive window (a first request reads the windows)."""
        served = await self.served(model)
        # jieba's dictionary loads on the first Chinese text (~1 s): in the thread, not on the event loop
        if len(text) <= INLINE_CHARS and (segmenter_loaded() or not has_han(text)):
            occlusion = Occlusion.of(served.tokenizer, text)
        else:
            occlusion = await self.model_process.in_tokenizing_thread(Occlusion.of, served.tokenizer, text)
        self.check_windows(served, occlusion.windows(), f"the text's {len(occlusion.ids)} tokens", field="text")
        steps = plan(occlusion, served.labels, task=served.task, thresholds=served.thresholds,
                     max_words=self.settings.max_explain_words, max_sequences=self.settings.max_windows_per_request,
                     with_texts=served.reads_text)  # a linear part reads the texts beside the ids
        request = next(steps)
        while True:  # (``model.inference.explain.occlude``, awaiting the model process)
            try:
                request = steps.send(await self.model_process.logits_ids(served, *request))
            except StopIteration as done:
                explanation = done.value
                break
        self.metrics.count_predictions(served.model, served.version, [explanation])
        warnings = await self.warnings(served, [text])
        return served, explanation, warnings[0] if warnings else None

    async def warnings(self, served: ServedVersion, texts: list[str]) -> list[str | None]:
        """A warning for each text mostly in scripts the version was not trained on (``model/scripts.py``);
        [] when none has one. ASCII text for a Latin-script model is answered by one quick test."""
        if not may_warn(texts, served.trained_on):
            return []
        name = f"the model '{served.model}' (version '{served.version}')"
        if sum(min(len(t), SAMPLE_CHARS) for t in texts) <= INLINE_CHARS:
            return unseen_script_warnings(texts, served.trained_on, name)
        return await asyncio.to_thread(unseen_script_warnings, texts, served.trained_on, name)


def _chunks(ids: list[list[int]], max_texts: int, max_windows: int, max_length: int) -> list[list[list[int]]]:
    """Consecutive requests of at most ``max_texts`` texts and ``max_windows`` windows (a text with
    more windows than that alone, still one request)."""
    chunks: list[list[list[int]]] = []
    chunk: list[list[int]] = []
    windows = 0
    for seq in ids:
        count = count_windows([len(seq)], max_length)
        if chunk and (len(chunk) >= max_texts or windows + count > max_windows):
            chunks.append(chunk)
            chunk, windows = [], 0
        chunk.append(seq)
        windows += count
    if chunk:
        chunks.append(chunk)
    return chunks
