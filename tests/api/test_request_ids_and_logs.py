"""Every request has an id, sent back in X-Request-ID and carried by its log lines (JSON)."""

import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_server_app
from infra.logs import JsonFormatter
from infra.settings import Settings
from tests.support.helpers import Org


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_server_app(settings)) as client:
        yield client


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the root logger writes, formatted as `dnc serve` formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    yield stream
    logging.getLogger().removeHandler(handler)


async def test_each_response_names_its_request(server: AsyncTestClient[Any], org: Org) -> None:
    first, second = await server.get("/health"), await server.get("/health")
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)
    assert ids[0] != ids[1]
    check = await server.get("/api/dnc/check?phoneNumber=2125551234", headers=org.headers)
    assert re.fullmatch(r"[0-9a-f]{16}", check.headers["x-request-id"])
    fast = await server.get("/api/dnc/check?phoneNumber=2125551234", headers=org.headers)
    assert re.fullmatch(r"[0-9a-f]{16}", fast.headers["x-request-id"])  # the fast path too
    missing = await server.get("/no/such/route")
    assert missing.status_code == 404
    assert "x-request-id" in missing.headers


async def test_a_callers_request_id_is_kept_when_sane(server: AsyncTestClient[Any]) -> None:
    kept = await server.get("/health", headers={"X-Request-ID": "dialer-7.call-42"})
    assert kept.headers["x-request-id"] == "dialer-7.call-42"
    for insane in ("has spaces", "x" * 200, 'quote"d'):
        replaced = await server.get("/health", headers={"X-Request-ID": insane})
        assert re.fullmatch(r"[0-9a-f]{16}", replaced.headers["x-request-id"])


async def test_log_lines_are_json_and_carry_the_request_id(
    server: AsyncTestClient[Any],
    org: Org,
    json_lines: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def explode(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("app.routes.dnc.get_settings", explode)
    headers = {**org.headers, "X-Request-ID": "req-123"}
    response = await server.get("/api/dnc/settings", headers=headers)
    assert response.status_code == 500
    entries = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    [entry] = [e for e in entries if e["message"].startswith("unhandled error")]
    assert entry["requestId"] == "req-123"
    assert entry["level"] == "ERROR"
    assert "RuntimeError: boom" in entry["error"]
    assert org.token not in json_lines.getvalue()
