"""Datasets: the JSON upload body and the stored dataset as the API shows it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr


class Example(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: StrictStr
    label: StrictStr | int


class ExamplesUpload(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"examples": [
            {"text": "loved every minute", "label": "positive"},
            {"text": "a tedious mess", "label": "negative"},
        ]}]},
    )
    examples: list[Example] = Field(min_length=1)


class DatasetOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    filename: str
    format: str
    text_column: str
    label_column: str
    size_bytes: int
    rows_read: int | None = None  # None for datasets stored before these were counted
    examples: int
    dropped: dict[str, int] | None = None  # rows read but not kept, by reason: {"blank_lines": 2}
    encoding: str | None = None  # what the file was decoded as: "utf-8", "utf-16", "gb18030"...
    label_counts: dict[str, int]
    duplicate_texts: int
    conflicting_texts: int
    length_chars: dict[str, float] = Field(description="characters per text: min, mean, median, max")
    length_tokens: dict[str, float] | None = Field(
        None, description="tokens per text as the word/bpe tokenizers pre-tokenise (a word or punctuation mark, "
                          "or one CJK character); None for datasets stored before it was counted")
    length_words: dict[str, float] = Field(description="space-separated words per text (a Chinese, Japanese or "
                                           "Thai sentence is mostly one: see length_tokens)")
    scripts: dict[str, float] | None = Field(
        None, description="share of the letters in each script (latin, han, hiragana, cyrillic...), largest first")
    created_at: float
