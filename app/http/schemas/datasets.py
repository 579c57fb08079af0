"""Datasets: the JSON upload body and the stored dataset as the API shows it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator


class Example(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: StrictStr
    label: StrictStr | int | None = Field(None, description="the example's label (a single-label dataset)")
    labels: list[StrictStr | int] | None = Field(None, description="the example's labels, possibly none (a "
                                                 "multi-label dataset: every example gives 'labels')")

    @model_validator(mode="after")
    def _one_of(self) -> Example:
        if self.label is not None and self.labels is not None:
            raise ValueError("give one of 'label' or 'labels', not both (neither: a text to score, unlabelled)")
        return self

    def as_row(self) -> dict:
        if self.labels is not None:
            return {"text": self.text, "labels": [str(label) for label in self.labels]}
        if self.label is None:
            return {"text": self.text}
        return {"text": self.text, "label": str(self.label)}


class ExamplesUpload(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"examples": [
            {"text": "loved every minute", "label": "positive"},
            {"text": "a tedious mess", "label": "negative"},
        ]}]},
    )
    examples: list[Example] = Field(min_length=1)


class LengthSummary(BaseModel):
    unit: Literal["words", "characters"] = Field(description="'characters' when most of the letters are in "
                                                 "scripts written without spaces (Chinese, Japanese, Thai...), "
                                                 "else 'words' (separated by spaces)")
    min: float
    mean: float
    median: float
    max: float


class DatasetOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    filename: str = Field(description="the uploaded file's name (its first upload's: the same content again is "
                          "the same dataset); 'examples.jsonl' for a JSON upload")
    format: str
    text_column: str
    label_column: str
    size_bytes: int = Field(description="the stored file's size")
    rows_read: int | None = None  # None for datasets stored before these were counted
    examples: int = Field(description="examples kept: the rows a job trains on")
    dropped: dict[str, int] | None = None  # rows read but not kept, by reason: {"blank_lines": 2}
    encoding: str | None = None  # what the file was decoded as: "utf-8", "utf-16", "gb18030"...
    task: str | None = Field(None, description="single_label; multi_label when the examples give 'labels'; "
                             "unlabelled when they give texts alone (for batch jobs and /select; a training job "
                             "refuses it). None for datasets stored before multi-label ones")
    label_counts: dict[str, int] = Field(description="examples per label (a multi-label dataset: occurrences)")
    duplicate_texts: int
    conflicting_texts: int
    length: LengthSummary = Field(description="length per text in the unit that suits the data's script (the one "
                                  "to read): characters for text written without spaces, else words")
    length_chars: dict[str, float] = Field(description="characters per text: min, mean, median, max")
    length_tokens: dict[str, float] | None = Field(
        None, description="tokens per text as the word/bpe tokenizers pre-tokenise (a word or punctuation mark, "
                          "or one CJK character); None for datasets stored before it was counted")
    length_words: dict[str, float] = Field(description="space-separated words per text (a Chinese, Japanese or "
                                           "Thai sentence is mostly one: read 'length', which counts characters "
                                           "there)")
    scripts: dict[str, float] | None = Field(
        None, description="share of the letters in each script (latin, han, hiragana, cyrillic...), largest first")
    created_at: float
