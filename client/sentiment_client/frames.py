"""pandas in and out: texts from a DataFrame column, predictions as a DataFrame, a frame as examples.

pandas is an optional extra (``pip install 'sentiment-client[pandas]'``): it is imported here only,
when one of these is called, so that the client installs and imports without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .types import Prediction


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ImportError("this needs pandas: pip install 'sentiment-client[pandas]'") from None
    return pandas


def frame_texts(frame: Any, text_column: str) -> list[str]:
    """The column's texts, as strings; a missing column names those there are."""
    if text_column not in frame.columns:
        raise KeyError(f"no column {text_column!r} in the frame; its columns: {', '.join(map(str, frame.columns))}")
    return [str(text) for text in frame[text_column].tolist()]


def predictions_frame(predictions: Sequence[Prediction], index: Any = None) -> Any:
    """One row per prediction: ``label``, ``score``, and ``p_<label>`` for each label's probability;
    ``labels`` (multi-label), ``abstained`` and ``warnings`` when any prediction has them; and
    ``model_version``. A frame of its own rather than columns added to the caller's, whose own
    ``label`` column (the gold labels, often) it would otherwise overwrite: join it with
    ``frame.join(predictions.add_prefix("predicted_"))``."""
    pandas = _pandas()
    label_names = list(dict.fromkeys(name for p in predictions for name in p.probabilities))
    rows = []
    for p in predictions:
        row: dict[str, Any] = {"label": p.label, "score": p.score}
        if p.labels is not None:
            row["labels"] = p.labels
        if p.abstained is not None:
            row["abstained"] = p.abstained
        if p.warnings:
            row["warnings"] = p.warnings
        row |= {f"p_{name}": p.probabilities.get(name) for name in label_names}
        row["model_version"] = p.model_version
        rows.append(row)
    columns = ["label", "score", *(c for c in ("labels", "abstained", "warnings") if any(c in r for r in rows)),
               *(f"p_{name}" for name in label_names), "model_version"]
    return pandas.DataFrame(rows, columns=columns, index=index)


def frame_examples(frame: Any) -> list[dict[str, Any]]:
    """A frame's rows as examples: its ``text`` column, and ``label`` or ``labels`` when it has one
    (neither: texts to score)."""
    if "text" not in frame.columns:
        raise KeyError(f"a frame to upload needs a 'text' column; its columns: {', '.join(map(str, frame.columns))}")
    label_column = next((c for c in ("label", "labels") if c in frame.columns), None)
    out = []
    for row in frame.itertuples(index=False):
        example: dict[str, Any] = {"text": str(row.text)}
        if label_column == "labels":
            example["labels"] = [str(label) for label in row.labels]
        elif label_column == "label":
            example["label"] = str(row.label)
        out.append(example)
    return out
