"""Python client for the text-classification service's HTTP API: ``Client`` (blocking) and
``AsyncClient`` (asyncio), with the same methods, typed results and retries. The ``sentiment``
command (``cli.py``) is built on ``Client``."""

__version__ = "0.1.0"

from .async_client import AsyncClient  # noqa: E402
from .errors import ApiError, ConnectionFailed, JobFailed, SentimentError  # noqa: E402
from .sync_client import Client  # noqa: E402
from .types import Dataset, Event, FeedbackSummary, Job, LabelScore, Model, Prediction, Version  # noqa: E402

__all__ = [
    "ApiError", "AsyncClient", "Client", "ConnectionFailed", "Dataset", "Event", "FeedbackSummary", "Job", "JobFailed", "LabelScore",
    "Model", "Prediction", "SentimentError", "Version", "__version__",
]
