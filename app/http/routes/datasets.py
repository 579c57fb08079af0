"""Datasets: upload (multipart file or JSON examples), list, show, delete."""

from __future__ import annotations

import json
from pathlib import PurePath

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from model.data import FORMATS, DataError, detect_format, with_header_row

from ...errors import InvalidInput, NotFound
from ...training.datasets import public
from ..deps import records_open, write_access
from ..errors import HttpError
from ..schemas.common import ERROR_RESPONSES, inline_schema
from ..schemas.datasets import DatasetOut, ExamplesUpload

router = APIRouter(tags=["datasets"], dependencies=[Depends(records_open)])

UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": (
                        "CSV, TSV or JSONL file. TSV: one example per line, fields split on tabs, no quoting "
                        "(quotes are text). CSV: RFC 4180, a quoted field may hold commas, line breaks and "
                        "doubled quotes (\"\"); a row with the wrong field count or an unbalanced quote is "
                        "a 422 naming file:line, never merged into its neighbours. Encodings: UTF-8 (BOM or "
                        "not), UTF-16/32 with a BOM, or detected GB18030/GBK, Big5, Shift-JIS, EUC-KR; the "
                        "summary says which (`encoding`), and how many rows were read (`rows_read`) and "
                        "skipped and why (`dropped`, e.g. blank lines)")},
                    "text_column": {"type": "string", "description": "default: 'text', else 'sentence'"},
                    "label_column": {"type": "string", "default": "label"},
                    "columns": {"type": "string", "example": "text,label", "description": (
                        "comma-separated column names of a CSV/TSV file without a header row; the stored "
                        "file gets them as its first line")},
                    "format": {"type": "string", "enum": ["csv", "tsv", "jsonl"],
                               "description": "default: from the file name"},
                },
            }},
            "application/json": {"schema": inline_schema(ExamplesUpload)},
        },
    }
}


async def _read_upload(request: Request, limit: int) -> tuple[bytes, str, str, str | None, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        body = ExamplesUpload.model_validate_json(await request.body())  # a ValidationError is a 422
        raw = "\n".join(json.dumps(e.as_row()) for e in body.examples).encode()
        return raw, "examples.jsonl", "jsonl", "text", "label"
    if content_type != "multipart/form-data":
        raise HttpError(415, "unsupported_media_type",
                       "upload a file as multipart/form-data (field 'file') or JSON {\"examples\": [...]}")
    async with request.form(max_files=1, max_fields=10, max_part_size=limit) as form:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("multipart field 'file' with the dataset is required", code="missing_file", field="file")
        filename = PurePath(upload.filename or "upload").name
        fmt = form.get("format")
        if not fmt:
            try:
                fmt = detect_format(filename)
            except DataError:
                fmt = None
        if fmt not in FORMATS:
            raise InvalidInput(f"cannot tell the format of {filename!r}; name it .csv, .tsv or .jsonl or send 'format'",
                               code="unknown_format", field="format")
        raw = await upload.read(limit + 1)
        if len(raw) > limit:
            raise HttpError(413, "payload_too_large", f"dataset is larger than {limit} bytes (SENTIMENT_MAX_DATASET_BYTES)")
        text_column = str(form.get("text_column") or "") or None  # None: 'text', else 'sentence', as on the CLI
        label_column = str(form.get("label_column") or "label")
        columns = str(form.get("columns") or "")  # "text,label": the names of a file with no header row
    if columns:  # the store keeps the file and reads it again to train: it gets the header row
        raw = await run_in_threadpool(with_header_row, raw, fmt, filename, columns.split(","), text_column, label_column)
    return raw, filename, fmt, text_column, label_column


@router.post("/v1/datasets", status_code=201, response_model=DatasetOut, responses=ERROR_RESPONSES,
             dependencies=[Depends(write_access("train"))], openapi_extra=UPLOAD_DOC,
             summary="Upload a labelled dataset (validated; the same content twice is one dataset)")
async def upload_dataset(request: Request, response: Response):
    state = request.app.state
    # One upload read and parsed at a time per server process: a 50 MB file becomes several
    # hundred MB of Python objects while it is checked, and four at once took the server to 2.2 GB.
    async with state.upload_slots:
        raw, filename, fmt, text_column, label_column = await _read_upload(request, state.settings.max_dataset_bytes)
        record, created = await run_in_threadpool(state.datasets.add, raw, filename, fmt, text_column, label_column)
    response.status_code = 201 if created else 200
    return public(record)


@router.get("/v1/datasets", response_model=list[DatasetOut], responses=ERROR_RESPONSES)
async def list_datasets(request: Request):
    records = await run_in_threadpool(request.app.state.datasets.list)
    return [public(r) for r in records]


@router.get("/v1/datasets/{dataset_id}", response_model=DatasetOut, responses=ERROR_RESPONSES)
async def get_dataset(dataset_id: str, request: Request):
    record = await run_in_threadpool(request.app.state.datasets.get, dataset_id)
    if record is None:
        raise NotFound(f"dataset {dataset_id!r} not found")
    return public(record)


@router.delete("/v1/datasets/{dataset_id}", status_code=204, responses=ERROR_RESPONSES,
               dependencies=[Depends(write_access("admin"))])
async def delete_dataset(dataset_id: str, request: Request):
    if not await run_in_threadpool(request.app.state.datasets.delete, dataset_id):
        raise NotFound(f"dataset {dataset_id!r} not found")
    return Response(status_code=204)  # no body: a JSON "null" here broke keep-alive (Content-Length 4)
