"""Explaining one prediction by occlusion (``model/explain.py``), through the prediction path.

The server tokenises the text with the served version's tokenizer (offsets and words included),
builds the text's ids plus one sequence per word left out, and sends the n + 1 sequences as one
predict request: one model call. Its cost is bounded like a predict request's: at most
``SENTIMENT_MAX_EXPLAIN_WORDS`` words (so sequences), and the windows of all the sequences
(a text longer than the model's ``max_length`` tokens, and each of its variants, is read in
windows as predict reads it, so the weights explain the very prediction ``/v1/predict`` gives)
within ``SENTIMENT_MAX_WINDOWS_PER_REQUEST``.
"""

from __future__ import annotations

import asyncio

from model.inference.explain import Explanation, Occlusion
from model.inference.windows import count_windows

from ..errors import LimitExceeded
from ..settings import Settings
from .ids import predict_ids
from .model_process.client import INLINE_TOKENIZE_CHARS, ModelProcess
from .registry import ServedVersion


async def explain(model_process: ModelProcess | None, loaded: ServedVersion, text: str,
                  settings: Settings) -> Explanation:
    """``loaded``'s prediction for ``text``, with each word's weight toward its label."""
    if len(text) <= INLINE_TOKENIZE_CHARS:
        occlusion = Occlusion.of(loaded.tokenizer, text)
    else:  # a long text is tokenised off the event loop (the library releases the interpreter lock)
        occlusion = await asyncio.get_running_loop().run_in_executor(None, Occlusion.of, loaded.tokenizer, text)
    words, limit = len(occlusion.words), settings.max_explain_words
    if words > limit:
        raise LimitExceeded(f"the text has {words} words (a word: letters or digits between spaces and "
                            f"punctuation, a punctuation mark, or a CJK character); at most {limit} are explained "
                            "(SENTIMENT_MAX_EXPLAIN_WORDS): send a shorter text", code="too_many_words", field="text")
    inputs = occlusion.inputs()
    max_length = loaded.tokenizer.max_length
    windows = count_windows([len(ids) for ids in inputs], max_length)
    if windows > settings.max_windows_per_request:
        raise LimitExceeded(
            f"the text ({len(occlusion.ids)} tokens, {words} words) and its {words} variants with one word left out "
            f"are read in {windows} windows of {max_length} tokens; at most {settings.max_windows_per_request} per "
            "request (SENTIMENT_MAX_WINDOWS_PER_REQUEST): send a shorter text", code="too_many_windows", field="text")
    return occlusion.explain(await predict_ids(model_process, loaded, inputs))
