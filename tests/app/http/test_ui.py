"""The web page's HTTP side: its headers, its files, and the OpenAPI document it (and /docs) reads."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from app.http.routes.ui import FILES

REQUIRED_CSP = ["default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'",
                "frame-ancestors 'none'"]


class _Markup(HTMLParser):
    """The page's <script> elements (attributes, body) and every attribute of every element."""

    def __init__(self):
        super().__init__()
        self.scripts: list[tuple[dict, str]] = []
        self.attributes: list[tuple[str, str]] = []
        self._in_script: dict | None = None

    def handle_starttag(self, tag, attrs):
        self.attributes += [(name, value or "") for name, value in attrs]
        if tag == "script":
            self._in_script = dict(attrs)
            self.scripts.append((self._in_script, ""))

    def handle_data(self, data):
        if self._in_script is not None:
            attrs, body = self.scripts[-1]
            self.scripts[-1] = (attrs, body + data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None


def test_the_page_is_served_with_its_content_security_policy(client):
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    policy = [part.strip() for part in r.headers["content-security-policy"].split(";")]
    assert set(REQUIRED_CSP) <= set(policy)
    assert "unsafe-inline" not in r.headers["content-security-policy"]
    assert "unsafe-eval" not in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in r.headers


def test_head_answers_the_headers_without_the_page(client):
    r = client.head("/")
    assert r.status_code == 200 and r.content == b""
    assert "content-security-policy" in r.headers


def test_the_page_has_no_inline_script_or_style(client):
    markup = _Markup()
    markup.feed(client.get("/").text)
    assert markup.scripts, "the page loads no script"
    for attrs, body in markup.scripts:
        assert attrs.get("src", "").startswith("/static/") and not body.strip()
    names = {name for name, _ in markup.attributes}
    assert "style" not in names
    assert not [n for n in names if n.startswith("on")]
    assert not [v for _, v in markup.attributes if v.strip().lower().startswith("javascript:")]


@pytest.mark.parametrize("name, media_type", [
    ("app.js", "text/javascript; charset=utf-8"),
    ("api.js", "text/javascript; charset=utf-8"),
    ("app.css", "text/css; charset=utf-8"),
    ("favicon.svg", "image/svg+xml"),
])
def test_static_files_have_their_type_and_nosniff(client, name, media_type):
    r = client.get(f"/static/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"] == media_type
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.content == FILES[name].read_bytes()


def test_every_module_the_page_imports_is_served(client):
    """The modules import each other by relative path: each must be a served file."""
    for name in [n for n in FILES if n.endswith(".js")]:
        for imported in re.findall(r'from "\./([^"]+)"', client.get(f"/static/{name}").text):
            assert client.get(f"/static/{imported}").status_code == 200, f"{name} imports {imported}"


@pytest.mark.parametrize("path", ["/static/nothing.js", "/static/..%2Fmain.py", "/static/%2e%2e/settings.py",
                                  "/static/index.html/x"])
def test_nothing_else_is_served(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/json"


def test_scripts_never_write_html(client):
    """Data goes into the page as text: no innerHTML, outerHTML, insertAdjacentHTML or document.write."""
    for name in [n for n in FILES if n.endswith(".js")]:
        source = client.get(f"/static/{name}").text
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", source), name


def test_openapi_declares_the_bearer_scheme(client):
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": document["components"]["securitySchemes"]["bearer"]["description"]}
    paths = document["paths"]
    assert paths["/v1/train-jobs"]["post"]["security"] == [{"bearer": ["train"]}]
    assert paths["/v1/datasets"]["post"]["security"] == [{"bearer": ["train"]}]
    assert paths["/v1/models/{name}/versions/{version}/activate"]["post"]["security"] == [{"bearer": ["admin"]}]
    assert paths["/v1/predict"]["post"]["security"] == [{}, {"bearer": ["predict"]}]  # a key is optional
    assert paths["/v1/explain"]["post"]["security"] == [{}, {"bearer": ["predict"]}]  # as predict
    assert "security" not in paths["/v1/models"]["get"]


def test_the_scheme_changes_no_answer(client):
    """The scheme only documents: no key is still a 401, a wrong scheme too, as before."""
    assert client.post("/v1/train-jobs", json={"dataset_id": "x"}).status_code == 401
    assert client.post("/v1/train-jobs", json={"dataset_id": "x"},
                       headers={"Authorization": "Basic dXNlcjpwYXNz"}).status_code == 401


def _described(document: dict, schema: dict, where: str, seen: set[str]) -> list[str]:
    """Every property reachable from ``schema`` (through $ref, anyOf, items) without a description."""
    missing = []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return []
        seen.add(name)
        schema = document["components"]["schemas"][name]
    for option in schema.get("anyOf", []) + schema.get("allOf", []):
        missing += _described(document, option, where, seen)
    for name, prop in schema.get("properties", {}).items():
        if not prop.get("description"):
            missing.append(f"{where}.{name}")
        missing += _described(document, prop, f"{where}.{name}", seen)
    if isinstance(schema.get("items"), dict):
        missing += _described(document, schema["items"], f"{where}[]", seen)
    return missing


def test_every_job_field_is_described(client):
    """The page's training form shows each field's description as its help text."""
    document = client.get("/openapi.json").json()
    body = document["paths"]["/v1/train-jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/TrainJobRequest"}
    assert _described(document, body, "TrainJobRequest", set()) == []
    config = document["components"]["schemas"]["TrainJobConfig"]["properties"]
    assert len(config) > 20  # the walk reached the hyperparameters
