"""What a trainer (``SENTIMENT_ROLE=trainer``) answers on every path but ``/healthz``, ``/readyz`` and
``/metrics``: a 404 that says which process this is, so that a client (or a load balancer pointed at
the wrong pods) learns at once that the API lives elsewhere."""

from __future__ import annotations

from fastapi import APIRouter

from ...errors import NotFound
from ..allowed_methods import METHODS

router = APIRouter(include_in_schema=False)


@router.api_route("/{path:path}", methods=list(METHODS))
async def not_on_a_trainer(path: str):
    raise NotFound("this process is a trainer (SENTIMENT_ROLE=trainer): it runs training jobs and serves only "
                   "/healthz, /readyz and /metrics; send API requests to an API replica", code="trainer_only")
