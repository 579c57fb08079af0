"""What every resource shares: the error body."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    error: str = Field(examples=["validation_error"])
    message: str = Field(examples=["texts[0]: text is empty or only whitespace"])
    details: list[dict[str, Any]] | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 410, 413, 415, 422, 429, 503, 507)
}


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` written in place, for an OpenAPI entry written by
    hand (``openapi_extra``): a ``#/$defs/...`` reference would not resolve inside /openapi.json."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


def json_request_body(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that decodes its JSON body itself (``decode_body``) as
    ``model``: the schema inlined, with the model's first declared example."""
    content: dict[str, Any] = {"schema": inline_schema(model)}
    extra = model.model_config.get("json_schema_extra")
    if isinstance(extra, dict) and extra.get("examples"):
        content["example"] = extra["examples"][0]
    return {"required": required, "content": {"application/json": content}}
