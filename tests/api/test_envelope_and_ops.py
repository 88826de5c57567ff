"""Every response, Litestar's own errors included, is the one envelope; /health, /ready, schema."""

import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from infra.settings import Settings
from tests.support.helpers import Client, Org, add_body, assert_error, body, free_port, seed_call


async def test_unknown_route_is_a_404_envelope(client: Client) -> None:
    assert_error(await client.get("/api/nope"), 404, "No route matches GET /api/nope")


async def test_wrong_method_is_a_405_envelope(client: Client, org: Org) -> None:
    response = await client.get("/api/dnc/add", headers=org.headers)
    assert_error(response, 405, "GET is not allowed on /api/dnc/add")


@pytest.mark.parametrize("raw", [b"{bad json", b"", b"null", b'"text"', b"[1]"])
async def test_a_body_that_is_not_a_json_object_is_a_400(
    client: Client, org: Org, raw: bytes
) -> None:
    headers = {**org.headers, "Content-Type": "application/json"}
    assert_error(await client.post("/api/dnc/add", content=raw, headers=headers), 400)


async def test_an_oversized_body_is_a_413_envelope(settings: Settings, org: Org) -> None:
    small = replace(settings, max_body_bytes=1000)
    async with AsyncTestClient(app=create_app(small)) as client:
        payload = add_body(type="x" * 5000)
        response = await client.post("/api/dnc/add", json=payload, headers=org.headers)
    assert_error(response, 413, "larger than")


async def test_an_unhandled_error_is_a_500_that_leaks_nothing(
    client: Client, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(*_: object) -> None:
        raise RuntimeError("password=hunter2 at /srv/secret.py line 7")

    monkeypatch.setattr("app.routes.dnc.get_settings", explode)
    response = await client.get("/api/dnc/settings", headers=org.headers)
    payload = assert_error(response, 500)
    assert "hunter2" not in response.text
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert payload["errorMessage"] == "The server failed to handle the request; it has been logged"


async def test_health(client: Client) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert body(response) == {
        "message": "OK",
        "status": True,
        "code": 200,
        "errorMessage": "",
        "data": {"status": "ok"},
    }


async def test_ready_when_both_answer(client: Client) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert body(response)["data"] == {"postgres": True, "redis": True}


async def test_not_ready_when_redis_is_unreachable(settings: Settings) -> None:
    cut = replace(
        settings, redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout_seconds=0.5
    )
    async with AsyncTestClient(app=create_app(cut)) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    payload = body(response)
    assert payload["code"] == 503
    assert payload["status"] is False
    assert payload["data"] == {"postgres": True, "redis": False}


async def test_the_openapi_schema_names_every_endpoint_and_the_envelope(client: Client) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert set(schema["paths"]) >= {
        "/health",
        "/ready",
        "/api/dnc/add",
        "/api/dnc/enable-disable",
        "/api/dnc/entries/{phoneNumber}",
        "/api/dnc/settings",
        "/api/batches",
        "/api/batches/{batchId}/calls",
    }
    add = schema["paths"]["/api/dnc/add"]["post"]["responses"]
    assert {"200", "400", "401", "403", "404", "500", "503"} <= set(add)
    assert add["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Envelope"
    }
    envelope = schema["components"]["schemas"]["Envelope"]["properties"]
    assert set(envelope) == {"message", "status", "code", "errorMessage"}


async def test_success_envelopes_carry_data_only_where_there_is_some(
    client: Client, org: Org
) -> None:
    await seed_call(client, org)
    added = body(await client.post("/api/dnc/add", json=add_body(), headers=org.headers))
    assert "data" not in added
    settings = body(await client.get("/api/dnc/settings", headers=org.headers))
    assert settings["data"] == {"enabled": True, "count": 1}


async def test_a_client_that_hangs_up_mid_body_is_an_info_line_not_a_500(
    settings: Settings, org: Org, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)
    events: Iterator[dict[str, Any]] = iter(
        [
            {"type": "http.request", "body": b'{"phoneNumbers": ["21', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(events)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/dnc/check", "raw_path": b"/api/dnc/check",
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"64"),
                    (b"authorization", f"Bearer {org.token}".encode())],
    }  # fmt: skip
    caplog.set_level(logging.INFO)
    async with app.lifespan():
        await app(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 400
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("client disconnected" in r.getMessage() for r in caplog.records)
