"""How the service runs: settings from the environment (prefix ``SENTIMENT_``), validated once.

The server process reads them (``Settings()``); its children get them from it, serialised
(``to_child`` / ``from_child``), and never read the environment themselves.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BUNDLED_MODEL_DIR = Path(__file__).resolve().parent.parent / "model" / "bundled" / "sst2"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SENTIMENT_", extra="forbid", frozen=True)

    # Where things live
    model_dir: Path = Field(BUNDLED_MODEL_DIR, description="bundle served as the read-only 'bundled' version")
    data_dir: Path = Field(Path("data"), description="datasets, job records and trained model versions")

    # Network
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes; each loads its own model")
    log_level: str = Field("info", pattern="^(critical|error|warning|info|debug)$")

    # Request limits
    max_texts_per_request: int = Field(256, ge=1, le=100_000)
    max_text_chars: int = Field(10_000, ge=1, le=10_000_000)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)

    # Inference
    batching: bool = Field(True, description="merge concurrent requests into batches")
    max_batch_size: int = Field(64, ge=1, le=4096)
    max_wait_ms: float = Field(0.5, ge=0.0, le=1000.0, description="how long a small batch waits for more requests "
                               "(at the model process, or the inference thread); under load batches start at once")
    batches_in_flight: int = Field(16, ge=1, le=1024, description="with the model process: batches sent to it "
                                   "before it answers the first; it merges the waiting ones into one model call")
    inference_process: bool = Field(True, description="with batching on, run the model in a process of its own, "
                                    "so that it and the event loop each get a core")
    inference_threads: int = Field(1, ge=1, le=256, description="torch intra-op threads for prediction")
    quantize: bool = Field(False, description="int8 dynamic quantisation of recurrent and linear layers")

    # Auth
    api_keys: SecretStr = Field(SecretStr(""), description="comma-separated keys for mutating endpoints")
    predict_requires_key: bool = False

    # Training jobs
    max_dataset_bytes: int = Field(50 * 1024 * 1024, ge=1024)
    max_epochs: int = Field(50, ge=1)
    max_queued_jobs: int = Field(20, ge=0)
    max_running_jobs: int = Field(1, ge=1, le=16)
    job_timeout_s: float = Field(6 * 3600, gt=0)
    training_threads: int = Field(1, ge=1, le=256, description="torch threads inside the training process")
    version_poll_s: float = Field(1.0, gt=0, description="how often a server process checks for a newly activated version")

    @field_validator("model_dir", "data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    def keys(self) -> set[str]:
        return {k.strip() for k in self.api_keys.get_secret_value().split(",") if k.strip()}

    def to_child(self) -> str:
        """These settings as JSON for a child process; API keys stay in the server process."""
        return self.model_dump_json(exclude={"api_keys"})

    @classmethod
    def from_child(cls, text: str | bytes) -> Settings:
        """The settings a parent sent (``to_child``). ``model_validate_json`` validates without
        reading the environment, unlike ``Settings()``."""
        return cls.model_validate_json(text)
