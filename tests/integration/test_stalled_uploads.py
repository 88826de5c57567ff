"""Clients that start sending a body and stop, against a real `dnc serve`: they hold no
database connection, so every other organization's checks, writes and ``/ready`` keep
answering; after DNC_BODY_READ_TIMEOUT_SECONDS each stalled client gets the 408 envelope and
its connection is closed."""

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from infra.settings import Settings
from tests.support.helpers import Org, free_port, new_org
from tests.support.processes import running

READ_TIMEOUT = 4.0
PROMPT = 3.0  # an answer this late is starvation, not load
LISTED = "2125550123"


@pytest.fixture
def server(settings: Settings) -> Iterator[Settings]:
    api = replace(
        settings, port=free_port(), body_read_timeout_seconds=READ_TIMEOUT, import_concurrency=2
    )
    with running(("serve", api)):
        yield api


def stall(port: int, head: bytes, partial: bytes) -> socket.socket:
    """A connection that sent a request's head and part of its body, and then nothing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head + partial)
    return sock


def request_head(path: str, token: str, content_type: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def read_answer(sock: socket.socket, seconds: float) -> tuple[bytes, dict[str, Any], bool]:
    """The response's status line and envelope, and whether the server then closed."""
    sock.settimeout(seconds)
    data = b""
    closed = False
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    head, _, content = data.partition(b"\r\n\r\n")
    assert head, "no answer on the stalled connection"
    return head.split(b"\r\n")[0], json.loads(content), closed


def assert_prompt(client: httpx.Client, method: str, url: str, code: int, **kwargs: Any) -> Any:
    started = time.monotonic()
    response = client.request(method, url, **kwargs)
    assert response.status_code == code, (url, response.status_code, response.text)
    assert time.monotonic() - started < PROMPT, f"{url} took {time.monotonic() - started:.1f} s"
    return response.json()


def assert_timed_out(sock: socket.socket) -> None:
    status, envelope, closed = read_answer(sock, READ_TIMEOUT + 15)
    assert status.startswith(b"HTTP/1.1 408"), status
    assert envelope["code"] == 408
    assert envelope["status"] is False
    assert "seconds" in envelope["errorMessage"]
    assert "data" not in envelope
    assert closed, "the stalled connection was left open"


async def test_stalled_imports_hold_no_connection_and_time_out(server: Settings, org: Org) -> None:
    other: Org = await new_org(server, "Other Dialer")
    base = f"http://127.0.0.1:{server.port}"
    # more stalled imports than the main pool has connections (pool size plus its overflow)
    stalled = [
        stall(
            server.port,
            request_head("/api/dnc/import", org.token, "text/csv", 1_000_000),
            b"phoneNumber,type\n2125550001,x\n2125550002,",
        )
        for _ in range(2 * server.db_pool_size + 3)
    ]
    started = time.monotonic()
    try:
        # the token of the other organization has never been seen: its first use reads Postgres
        with httpx.Client(base_url=base, headers=other.headers, timeout=10) as client:
            rounds = 0
            while rounds < 2 or time.monotonic() - started < READ_TIMEOUT - PROMPT:
                rounds += 1
                batch = {"batchId": f"b{rounds}"}
                assert_prompt(client, "POST", "/api/batches", 201, json=batch)
                single = assert_prompt(
                    client, "GET", "/api/dnc/check", 200, params={"phoneNumber": LISTED}
                )
                assert single["data"]["blocked"] is False
                numbers = [f"21255{n:05d}" for n in range(5000)]
                bulk = assert_prompt(
                    client, "POST", "/api/dnc/check", 200, json={"phoneNumbers": numbers}
                )
                assert len(bulk["data"]["results"]) == len(numbers)
                assert assert_prompt(client, "GET", "/ready", 200)["data"]["postgres"] is True
        for sock in stalled:
            assert_timed_out(sock)
    finally:
        for sock in stalled:
            sock.close()
    # and an import that sends its whole body still goes through
    with httpx.Client(base_url=base, headers=org.headers, timeout=30) as client:
        done = client.post(
            "/api/dnc/import",
            content=b"phoneNumber\n2125550001\n",
            headers={"Content-Type": "text/csv"},
        )
        assert done.status_code == 200, done.text
        assert done.json()["data"]["added"] == 1


async def test_a_stalled_json_body_times_out(server: Settings, org: Org) -> None:
    body = b'{"batchId": "b1", "requestUUID": "r1", "phoneNumber": "2125550001"}'
    sock = stall(
        server.port,
        request_head("/api/dnc/add", org.token, "application/json", len(body)),
        body[:20],
    )
    try:
        assert_timed_out(sock)
    finally:
        sock.close()
