"""How the service runs: settings from the environment (prefix ``SENTIMENT_``), validated once.

The server process reads them (``Settings()``); its children get them from it, serialised
(``to_child`` / ``from_child``), and never read the environment themselves.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_serializer, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Each folder in it is a model shipped with the service, named by its folder, recorded as that
# model's read-only version 'bundled' (app/versions.py)
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "model" / "bundled"
DEFAULT_MODEL = "sentiment-en"
BUNDLED_MODEL_DIR = BUNDLED_DIR / DEFAULT_MODEL
DATABASE_SCHEMES = ("postgresql://", "postgresql+psycopg://", "postgres://")
_CHILD = "child"  # the serialisation context of to_child()


class Settings(BaseSettings):
    # hide_input_in_errors: a rejected SENTIMENT_API_KEYS must not print the keys in the error
    model_config = SettingsConfigDict(env_prefix="SENTIMENT_", extra="forbid", frozen=True, hide_input_in_errors=True)

    # Where things live
    model_dir: Path = Field(BUNDLED_MODEL_DIR, description="bundle served as the read-only version 'bundled' of the "
                            "default model (the other models shipped with the service: model/bundled/NAME)")
    data_dir: Path = Field(Path("data"), description="datasets, job records and trained model versions")
    database_url: SecretStr = Field(SecretStr(""), description="where the records (datasets, jobs, versions) "
                                    "live: empty for SQLite in the data directory, or postgresql://USER:PASSWORD@"
                                    "HOST:PORT/DATABASE for a PostgreSQL server that several machines share")

    # What this process does
    role: Literal["all", "api", "trainer"] = Field("all", description="'all': serves the API and runs training "
                                                   "jobs (one machine); 'api': serves the API and queues jobs for "
                                                   "trainers, never trains; 'trainer': claims and runs jobs, serves "
                                                   "only /healthz, /readyz and /metrics, loads no model")

    # Models
    default_model: str = Field(DEFAULT_MODEL, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="the model that "
                               "/v1/predict, /v1/explain and training jobs use when a request names none; always "
                               "kept loaded")
    max_loaded_models: int = Field(4, ge=1, le=1000, description="most models each server process (and its model "
                                   "process) holds in memory; a request for another loads it, and the least "
                                   "recently used one other than the default model is dropped")

    # Network
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes; each loads its own model")
    log_level: str = Field("info", pattern="^(critical|error|warning|info|debug)$")

    # Request limits
    max_texts_per_request: int = Field(256, ge=1, le=100_000)
    max_text_chars: int = Field(10_000, ge=1, le=10_000_000)
    max_windows_per_request: int = Field(512, ge=1, le=1_000_000, description="most windows of the model's "
                                         "max_length tokens one predict request may be read in (a text longer "
                                         "than the window is read in overlapping windows): bounds the model "
                                         "time one request takes (its model time)")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    max_explain_words: int = Field(256, ge=1, le=4096, description="most words of one text /v1/explain explains "
                                   "(a word: letters or digits, a punctuation mark, or a word of Chinese text as "
                                   "jieba segments it; each is one more sequence per window reading it in its model "
                                   "call); a text with more is explained in its most decisive window")
    max_compare_examples: int = Field(5000, ge=1, le=1_000_000, description="most examples of a dataset "
                                      "/v1/models/{name}/compare reads, a text longer than the model's window counting "
                                      "once per window; more is a 422")

    # Inference: the model runs in a model process next to each server process, which batches
    # whatever requests wait for it (app/serving/inference.py)
    max_batch_size: int = Field(64, ge=1, le=4096, description="most windows (a text within the model's "
                                "max_length is one) the model process reads in one model call, shared out among "
                                "the requests waiting for it; a larger request is read over several calls")
    max_wait_ms: float = Field(0.5, ge=0.0, le=1000.0, description="how long a small batch waits at the model "
                               "process for more requests; under load batches start at once")
    inference_threads: int = Field(1, ge=1, le=256, description="threads of the model process's arithmetic "
                                   "(NumPy's BLAS, or torch's intra-op threads)")
    backend: Literal["auto", "numpy", "torch"] = Field("auto", description="what the model process runs the "
                                                       "network with: numpy (no torch in the process: less memory, "
                                                       "a faster start), torch, or auto: numpy whenever it can read "
                                                       "the bundle, else torch (the log and /readyz say which)")

    # Auth
    api_keys: SecretStr = Field(SecretStr(""), description="keys and their scopes: comma-separated "
                                "[ID=]KEY[:SCOPE[+SCOPE...]] entries (a plain KEY has every scope)")
    predict_requires_key: bool = False

    # Training jobs
    max_dataset_bytes: int = Field(50 * 1024 * 1024, ge=1024)
    max_dataset_rows: int = Field(300_000, ge=1, description="most rows (lines) of an upload; counted before it "
                                  "is parsed, so that a file of many tiny rows cannot take the server's memory")
    max_job_memory_bytes: int = Field(4 * 1024**3, ge=64 * 1024**2, description="most memory a training job may "
                                      "need, estimated from its config and data when it is submitted (more: 422 "
                                      "job_too_large), and the training process's limit while it runs")
    max_epochs: int = Field(50, ge=1)
    max_queued_jobs: int = Field(20, ge=0)
    max_versions: int = Field(100, ge=0, description="most trained model versions kept; past it a job is refused "
                              "(507 version_quota) until versions are deleted (DELETE /v1/models/{name}/versions/{version}); 0: no limit")
    max_version_bytes: int = Field(20 * 1024**3, ge=0, description="most bytes the trained versions may take on "
                                   "disk; past it a job is refused as for max_versions; 0: no limit")
    max_running_jobs: int = Field(1, ge=1, le=16)
    job_timeout_s: float = Field(6 * 3600, gt=0)
    job_lease_s: float = Field(30.0, gt=0, le=3600, description="a running job is held under a lease its node "
                               "renews (every third of this); a lease this long past is its node's death")
    job_max_attempts: int = Field(2, ge=1, le=100, description="times a job is started in all: a job whose node "
                                  "died (lease expired) is queued again until then, then interrupted")
    max_training_processes: int = Field(4, ge=1, le=256, description="most processes one training job may ask "
                                        "for (its 'processes': torchrun on the trainer's node, one process per "
                                        "GPU, or CPU processes sharing the cores)")
    training_threads: int = Field(1, ge=0, le=256, description="torch threads inside the training process; 0 or "
                                  "'auto': one per core this process may use. 1 by default: on a 2-core server, 2 "
                                  "threads trained 5-15x slower (each waits for the other whenever serving, or "
                                  "anything else, takes a core from the niced training process) and raised predict "
                                  "p99; 'auto' pays on machines with cores to spare (README: Settings)")
    version_poll_s: float = Field(1.0, gt=0, description="how often a server process checks for a newly activated version")

    # Access control
    rate_limit_predict: str = Field("", description="predict requests per key (or client address without one), "
                                    "e.g. '100/second'; empty or '0': no limit. Counted in each server process")
    rate_limit_write: str = Field("120/minute", description="requests per key to the endpoints that change state "
                                  "(datasets, jobs, activation) and to /v1/models/{name}/compare; empty or '0': no limit. "
                                  "Counted in each server process")
    access_log: bool = Field(True, description="one JSON line per request on standard output (logger app.access)")

    # Slow clients
    max_connections: int = Field(4096, ge=16, le=1_000_000, description="open connections (and requests under "
                                 "way) per server process before new ones are answered 503 at once: kept below the "
                                 "process's file-descriptor limit, so that a flood of connections cannot leave it "
                                 "unable to open a file or answer a health check")
    header_timeout_s: float = Field(10.0, gt=0, le=3600, description="a request's headers must be complete this long "
                                    "after its first byte (a connection's first request: after it opened); else 408")
    body_timeout_s: float = Field(30.0, gt=0, le=86400, description="a request's body must be complete this long "
                                  "after its headers; else 408 (a 50 MiB upload in 30 s needs 1.7 MB/s)")

    @field_validator("model_dir", "data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value().strip()
        if url and not url.startswith(DATABASE_SCHEMES):
            scheme = url.partition("://")[0] if "://" in url else "no scheme"
            raise ValueError(f"a database URL starts with {' or '.join(DATABASE_SCHEMES)} ({scheme} given), "
                             "or is empty for SQLite in the data directory")
        return SecretStr(url)

    @field_serializer("database_url", when_used="json")
    def _database_url_for_child(self, value: SecretStr, info) -> str:
        # The training process must reach the same database: to_child() reveals it (password
        # included); any other dump shows it masked.
        return value.get_secret_value() if info.context == _CHILD else str(value)

    @field_validator("training_threads", mode="before")
    @classmethod
    def _auto_threads(cls, value):
        return 0 if isinstance(value, str) and value.strip().lower() == "auto" else value

    def training_thread_count(self) -> int:
        """``training_threads``, with 0 ('auto') resolved to the cores this process may run on."""
        if self.training_threads:
            return self.training_threads
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

    @field_validator("api_keys")
    @classmethod
    def _key_entries(cls, value: SecretStr) -> SecretStr:
        parse_api_keys(value.get_secret_value())  # a ValueError names the entry, never the key
        return value

    @field_validator("rate_limit_predict", "rate_limit_write")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        value = value.strip()
        parse_rate_limit(value)
        return value

    def keys(self) -> tuple[ApiKey, ...]:
        """The configured keys (validated with the settings; empty when none is configured)."""
        return parse_api_keys(self.api_keys.get_secret_value())

    def rate_limit(self, name: str) -> tuple[int, int] | None:
        """``(requests, period_s)`` of ``rate_limit_<name>``; ``None`` when that limit is off."""
        return parse_rate_limit(getattr(self, f"rate_limit_{name}"))

    def public_text(self, text: str) -> str:
        """``text`` with server paths made relative: files in the data directory by their path
        inside it (``models/v5/config.json``), the bundled model's by ``bundled/...``. Responses and
        job records pass messages through this, so they never show where the server keeps things."""
        for root, name in ((self.data_dir, ""), (self.model_dir, "bundled"), (BUNDLED_DIR, "bundled")):
            prefix = str(root)
            text = text.replace(prefix + "/", f"{name}/" if name else "").replace(prefix, name or ".")
        return text

    def bundled_models(self) -> dict[str, Path]:
        """Each model shipped with the service -> its bundle folder (``model_dir`` for the default model)."""
        shipped = {p.name: p for p in sorted(BUNDLED_DIR.iterdir()) if (p / "config.json").is_file()}
        return shipped | {self.default_model: self.model_dir}

    def to_child(self) -> str:
        """These settings as JSON for a child process; API keys stay in the server process, the
        database URL goes along (the training process opens the same records)."""
        return self.model_dump_json(exclude={"api_keys"}, context=_CHILD)

    @classmethod
    def from_child(cls, text: str | bytes) -> Settings:
        """The settings a parent sent (``to_child``). ``model_validate_json`` validates without
        reading the environment, unlike ``Settings()``."""
        return cls.model_validate_json(text)


# Access control: the grammar of SENTIMENT_API_KEYS and of the rate limits, read once with the settings.

SCOPES = {  # scope -> what it allows, in the words of a 403 and the README
    "predict": "POST /v1/predict, when SENTIMENT_PREDICT_REQUIRES_KEY is set",
    "train": "uploading datasets, submitting and cancelling training jobs, comparing versions on a dataset",
    "admin": "activating a model version, deleting a dataset",
}
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_KEY = re.compile(r"[\x21-\x7e]+")  # what a bearer token can carry: printable ASCII, no spaces
_RATE = re.compile(r"(\d+)\s*(?:/|per)\s*(\d*)\s*(second|minute|hour|day)s?", re.IGNORECASE)
_UNIT_S = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class ApiKey:
    """One configured key: the id that logs and errors show, the SHA-256 of the key (the key itself
    is not kept), and its scopes."""

    id: str
    digest: bytes = field(repr=False)
    scopes: frozenset[str]


def parse_api_keys(text: str) -> tuple[ApiKey, ...]:
    """``SENTIMENT_API_KEYS``: comma-separated ``[ID=]KEY[:SCOPE[+SCOPE...]]`` entries.

    A plain ``KEY`` has every scope (the format before scopes existed). Without ``ID=`` the id is
    ``key-`` and the first 8 hex digits of the key's SHA-256. The id is what comes before the
    first ``=`` when that is a valid id and a key follows (so a base64 key ending in ``=`` stays
    one key), the scopes what follows the last ``:``; a key that itself contains ``=`` or ``:``
    is written with both, ``ops=a:b=c:admin``. Errors name the entry, never the key.
    """
    keys: list[ApiKey] = []
    seen: dict[bytes, int] = {}
    for number, entry in enumerate(text.split(","), start=1):
        entry = entry.strip()
        if not entry:
            continue
        key_id, equals, rest = entry.partition("=")
        if not (equals and _KEY_ID.fullmatch(key_id) and rest and not rest.startswith("=")):
            key_id, rest = "", entry
        key, colon, scope_text = rest.rpartition(":") if ":" in rest else (rest, "", "")
        where = f"entry {number}" + (f" (id {key_id!r})" if key_id else "")
        if not key or not _KEY.fullmatch(key):
            raise ValueError(f"{where}: the key is empty or not printable ASCII without spaces; "
                             f"entries are [ID=]KEY[:SCOPE[+SCOPE...]], the ID matching {_KEY_ID.pattern}")
        scopes = frozenset(scope_text.split("+")) if colon else frozenset(SCOPES)
        unknown = sorted(scopes - SCOPES.keys())
        if unknown:
            raise ValueError(f"{where}: unknown scope {unknown[0]!r}; scopes are {', '.join(sorted(SCOPES))} "
                             "(joined with '+', after the key's last ':')")
        digest = hashlib.sha256(key.encode()).digest()
        key_id = key_id or f"key-{digest.hex()[:8]}"
        if digest in seen:
            raise ValueError(f"{where}: the same key as entry {seen[digest]}")
        if any(k.id == key_id for k in keys):
            raise ValueError(f"{where}: the key id {key_id!r} is used twice")
        seen[digest] = number
        keys.append(ApiKey(key_id, digest, scopes))
    return tuple(keys)


def parse_rate_limit(text: str) -> tuple[int, int] | None:
    """``"100/second"``, ``"60 per minute"``, ``"10/5 minutes"`` -> ``(requests, period_s)``;
    ``""`` or ``"0"`` -> ``None`` (no limit)."""
    text = text.strip()
    if text in ("", "0"):
        return None
    match = _RATE.fullmatch(text)
    if not match or int(match[1]) < 1 or match[2] == "0":
        raise ValueError(f"{text!r} is not a rate limit: write N/UNIT or N/M UNITs with N >= 1 and UNIT one of "
                         f"{', '.join(_UNIT_S)} (e.g. '100/second', '10/5 minutes'), or '0' or nothing for no limit")
    return int(match[1]), int(match[2] or 1) * _UNIT_S[match[3].lower()]
