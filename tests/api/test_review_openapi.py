"""Adversarial review: the OpenAPI schema of the lists and prefix rules says what the API
enforces, so that a generated client does not learn the limits from 400s."""

from typing import Any

from app.asgi import create_app
from infra.settings import Settings

OPENAPI: dict[str, Any] = create_app(Settings()).openapi_schema.to_schema()
SCHEMAS = OPENAPI["components"]["schemas"]


def array_of(schema: dict[str, Any]) -> dict[str, Any]:
    """The array variant of a nullable array."""
    found: list[dict[str, Any]] = [
        s for s in schema.get("oneOf", [schema]) if s.get("type") == "array"
    ]
    assert found, schema
    return found[0]


def test_a_check_body_documents_its_list_ids_limits() -> None:
    """POST /check refuses a list id of more than 64 characters (msgspec's ListId) and more
    than 20 lists; the schema says maxItems 20 beside the oneOf, and nothing of the 64."""
    lists = SCHEMAS["CheckRequest"]["properties"]["lists"]
    described = lists.get("description") or array_of(lists).get("description") or ""
    assert "64" in described, lists  # Litestar documents no item constraint: the text says it
    assert "20" in described, lists


def test_the_check_query_documents_lists() -> None:
    """GET /check?lists=ID,ID: the comma-separated form and the limit of 20 are nowhere in
    the schema (no description)."""
    [param] = [
        p for p in OPENAPI["paths"]["/api/dnc/check"]["get"]["parameters"] if p["name"] == "lists"
    ]
    assert "," in (param.get("description") or ""), param
