"""The ``Allow`` header of a 405: every method that some route answers at the request's path.

Starlette puts the methods of the first route whose path matched into its 405 (``Allow: GET`` for
``PUT /v1/datasets/x``, though ``DELETE`` is allowed there too). Asking each route of the app
whether it would take the path with each method gives the whole list, through the one interface
every route has (``matches``), whatever the router keeps inside. It runs only for a 405.
"""

from __future__ import annotations

from starlette.routing import Match
from starlette.types import ASGIApp, Scope

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(app: ASGIApp, scope: Scope) -> list[str]:
    routes = app.router.routes
    allowed = []
    for method in METHODS:
        # a copy of the scope (and of its dicts), so that matching leaves the request's own untouched
        probe = {name: dict(value) if isinstance(value, dict) else value for name, value in scope.items()}
        probe["method"] = method
        if any(route.matches(probe)[0] == Match.FULL for route in routes):
            allowed.append(method)
    return allowed
