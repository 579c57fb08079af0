"""The web page: ``GET /`` and its few static files (``app/static/``), with the headers that lock it down.

The page is plain HTML, CSS and JavaScript modules, with no build step and nothing fetched from
elsewhere, so its Content-Security-Policy can allow only this origin: no inline script, no inline
style attribute (the page shades words through CSS custom properties set from script, which CSP
allows), no plugins, no framing, no ``<base>``. It talks to the API with ``fetch`` and a key the
user types in, kept in ``sessionStorage``; the server sets no cookies.

Files are served from an allow-list made when this module is imported (every file of
``app/static/`` with a known type), not by mapping the URL onto the file system, so no path can
reach anything else; each carries ``X-Content-Type-Options: nosniff`` and its exact type.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse

from ...errors import NotFound

router = APIRouter(tags=["web page"])

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",  # the page's forms are sent by script, never submitted by the browser
    "frame-ancestors 'none'",
])
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidate (ETag), so a new version of the page is seen at once
}
FILES = {p.name: p for p in sorted(STATIC_DIR.iterdir()) if p.is_file() and p.suffix in MEDIA_TYPES}


def _file(name: str) -> FileResponse:
    path = FILES.get(name)
    if path is None:
        raise NotFound(f"no static file {name!r}")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def page():
    return _file("index.html")


@router.api_route("/static/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def static_file(name: str):
    return _file(name)
