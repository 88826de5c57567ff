"""API.md, Conventions: "Sloppy clients are the norm, and none of them may turn a listed number
into callable". Each test sends what a careless or hostile client sends, as raw bytes over a
socket to a real `dnc serve` process, so that no client library tidies the request up."""

import base64
import json
import socket
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from app.asgi import create_app
from infra.settings import Settings
from tests.support.helpers import Org, bearer, free_port, new_org
from tests.support.processes import running

SINGAPORE = "6592345678"  # +65 9234 5678; its ten digits are also a valid NANP number


@pytest.fixture(scope="module")
def served(base_settings: Settings) -> Iterator[int]:
    """A real `dnc serve` process (its fast check path included); yields its port."""
    own = replace(base_settings, port=free_port())
    with running(("serve", own), stop_within=10):
        yield own.port


def exchange(port: int, request: bytes) -> tuple[int, dict[str, Any]]:
    """Send ``request`` as it is; the status and the JSON body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    answer: dict[str, Any] = json.loads(payload)
    assert answer["code"] == status, answer  # the envelope, whatever went wrong
    return status, answer


def get(port: int, target: str, token: str) -> tuple[int, dict[str, Any]]:
    return exchange(
        port,
        f"GET {target} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n"
        "Connection: close\r\n\r\n".encode(),
    )


def post(
    port: int, path: str, token: str, content: bytes, media_type: str = "application/json"
) -> tuple[int, dict[str, Any]]:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: {media_type}\r\nContent-Length: {len(content)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return exchange(port, head.encode() + content)


def list_numbers(port: int, org: Org, *numbers: str) -> None:
    content = json.dumps({"numbers": [{"phoneNumber": n} for n in numbers]}).encode()
    status, answer = post(port, "/api/dnc/bulk-add", org.token, content)
    assert status == 200, answer
    assert {r["outcome"] for r in answer["data"]["results"]} == {"added"}, answer


@pytest.fixture
async def dialer(settings: Settings, served: int) -> tuple[int, Org, str]:
    """The server's port, an organization with +65 9234 5678 and +1 212 555 1234 listed,
    and a check-scope token of it."""
    org = await new_org(settings, "Sloppy Dialing")
    list_numbers(served, org, "+" + SINGAPORE, "+12125551234")
    return served, org, await org.token_for(org.admin_email, "check")


async def test_an_unencoded_plus_is_a_plus(dialer: tuple[int, Org, str]) -> None:
    port, _, token = dialer
    for query in (f"phoneNumber=+{SINGAPORE}", "phoneNumber=+65%209234%205678"):
        for _ in range(2):  # the second time from the fast path's cached token
            status, answer = get(port, f"/api/dnc/check?{query}", token)
            assert status == 200, answer
            assert answer["data"]["blocked"] is True, (query, answer)
            assert answer["data"]["phoneNumber"] == SINGAPORE
    # a '+' after a separator but before any digit is refused, never dropped
    status, answer = get(port, "/api/dnc/check?phoneNumber=(%2B65)%209234%205678", token)
    assert answer["data"]["blocked"] is True, answer
    # A '+' that stood for a space is a plus too: never a different, callable number
    status, answer = get(port, "/api/dnc/check?phoneNumber=+1+212+555+1234", token)
    assert status == 200
    assert answer["data"]["blocked"] is True, answer


async def test_an_unencoded_plus_in_a_time_keeps_its_offset(
    dialer: tuple[int, Org, str],
) -> None:
    port, org, _ = dialer
    status, answer = get(port, "/api/dnc/audit?since=2000-01-01T10:00:00+01:00", org.token)
    assert status == 200, answer
    assert answer["data"]["total"] >= 1


@pytest.mark.parametrize(
    "query",
    [
        "phoneNumber=12125551234&phoneNumber=2125550100",
        "phoneNumber=2125550100&phoneNumber=12125551234",
        "phoneNumber=12125551234&phone%4Eumber=2125550100",  # the same name, percent-encoded
        "phoneNumber=12125551234&phoneNumber=",
    ],
)
async def test_a_repeated_parameter_is_refused(dialer: tuple[int, Org, str], query: str) -> None:
    port, _, token = dialer
    for _ in range(2):
        status, answer = get(port, f"/api/dnc/check?{query}", token)
        assert status == 400, answer
        assert "phoneNumber" in answer["errorMessage"]


async def test_a_repeated_parameter_is_refused_on_every_route(
    dialer: tuple[int, Org, str],
) -> None:
    port, org, _ = dialer
    for target in (
        "/api/dnc/list?limit=5&limit=1000",
        "/api/dnc/audit?action=dnc.add&action=dnc.remove",
        "/api/dnc/entries/12125551234?x=1&x=2",
        "/api/dnc/settings?a=&a=",
    ):
        status, answer = get(port, target, org.token)
        assert status == 400, (target, answer)
        assert "more than once" in answer["errorMessage"]


async def test_a_query_that_is_not_utf8_is_refused(dialer: tuple[int, Org, str]) -> None:
    """Percent-encoded bytes that are not UTF-8 were read as U+FFFD: searched for, or compared,
    as if the client had sent that. (Raw ones in the request line are refused by the HTTP
    server itself, before the app.)"""
    port, org, token = dialer
    for target, who in (
        ("/api/dnc/check?phoneNumber=%2B1212555123%ff", token),
        ("/api/dnc/list?search=%ff", org.token),
        ("/api/dnc/audit?action=dnc.add%c3", org.token),
    ):
        status, answer = get(port, target, who)
        assert status == 400, (target, answer)
        assert "UTF-8" in answer["errorMessage"]


async def test_a_duplicate_json_key_is_refused(dialer: tuple[int, Org, str]) -> None:
    port, _, token = dialer
    for content in (
        b'{"phoneNumbers": ["+6592345678"], "phoneNumbers": ["2125550100"]}',
        b'{"phoneNumbers": ["2125550100"], "phoneNumbers": ["+6592345678"]}',
        b'{"phoneNumbers": ["2125550100"], "phone\\u004eumbers": ["+6592345678"]}',
    ):
        status, answer = post(port, "/api/dnc/check", token, content)
        assert status == 400, answer
        assert "twice" in answer["errorMessage"]


def json_routes(settings: Settings) -> list[str]:
    """Every route that reads a JSON body, as the app declares them."""
    paths = []
    for route in create_app(settings).routes:
        for handler in getattr(route, "route_handlers", []):
            if handler.parsed_data_field is not None and "POST" in handler.http_methods:
                paths.append(route.path.replace("{batchId:str}", "b-1"))
    return sorted(paths)


# Bodies no real client sends. Each must be a 400 envelope on every JSON route.
HOSTILE_BODIES = {
    "not UTF-8 inside a string": b'{"phoneNumbers": ["\xff\xfe2125551234"], "enable": "\xc3("}',
    "not UTF-8 outside strings": b"\xef\xbb\xbf\xff{}",
    "a lone surrogate": b'{"phoneNumber": "\\udc80", "phoneNumbers": ["\\ud800"]}',
    "nested a thousand deep": b'{"phoneNumbers": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    "nested a hundred thousand deep": b"[" * 100_000 + b"]" * 100_000,
    "a duplicate key deep inside": b'{"numbers": [{"phoneNumber": "1", "phoneNumber": "2"}]}',
    "NaN": b'{"enable": NaN, "phoneNumbers": [NaN]}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
async def test_hostile_bodies_are_refused_on_every_json_route(
    dialer: tuple[int, Org, str], settings: Settings, name: str
) -> None:
    port, org, check_token = dialer
    routes = json_routes(settings)
    assert "/api/dnc/check" in routes
    assert len(routes) >= 7
    for path in routes:
        token = check_token if path == "/api/dnc/check" else org.token
        status, answer = post(port, path, token, HOSTILE_BODIES[name])
        assert status == 400, (path, answer)


async def test_an_absurd_audit_cursor_is_refused(dialer: tuple[int, Org, str]) -> None:
    port, org, _ = dialer
    for value in ("9" * 5000, "9" * 20, "1" * 4301):
        cursor = base64.urlsafe_b64encode(json.dumps([value]).encode()).decode()
        status, answer = get(port, f"/api/dnc/audit?cursor={cursor}", org.token)
        assert status == 400, answer
        assert "cursor" in answer["errorMessage"]


@pytest.mark.parametrize(
    ("name", "content", "added"),
    [
        ("bare CR", b"phoneNumber,type\r2125550111,a\r2125550112,b\r", 2),
        ("bare CR, no last break", b"phoneNumber,type\r2125550121,a\r2125550122,b", 2),
        ("CRLF", b"phoneNumber,type\r\n2125550131,a\r\n2125550132,b\r\n", 2),
        ("a header only, bare CR", b"phoneNumber\r", 0),
    ],
)
async def test_csv_line_endings_of_every_kind_are_read(
    dialer: tuple[int, Org, str], name: str, content: bytes, added: int
) -> None:
    port, org, token = dialer
    status, answer = post(port, "/api/dnc/import", org.token, content, "text/csv")
    assert status == 200, answer
    assert answer["data"]["added"] == added, (name, answer)
    if added:
        listed = content.splitlines()[1].split(b",")[0].decode()
        status, answer = get(port, f"/api/dnc/check?phoneNumber={listed}", token)
        assert answer["data"]["blocked"] is True


async def test_mixed_csv_line_endings_are_a_clear_400(dialer: tuple[int, Org, str]) -> None:
    port, org, _ = dialer
    content = b"phoneNumber,type\r\n2125550141,a\n2125550142,b\r\n"
    status, answer = post(port, "/api/dnc/import", org.token, content, "text/csv")
    assert status == 400, answer
    assert "line 3" in answer["errorMessage"]


LINE_BREAKS = ["a\r\nBcc: victim@example.test", "a\nb", "a\rb", "a\x00b", "a\tb", "a\u2028b"]


@pytest.mark.parametrize("text", LINE_BREAKS)
async def test_control_characters_in_types_reasons_and_names_are_refused(
    dialer: tuple[int, Org, str], text: str
) -> None:
    port, org, _ = dialer
    typed = json.dumps({"numbers": [{"phoneNumber": "2125550151", "type": text}]}).encode()
    status, answer = post(port, "/api/dnc/bulk-add", org.token, typed)
    if "\x00" in text:  # a NUL anywhere in a JSON body refuses the whole body
        assert status == 400, answer
    else:
        [result] = answer["data"]["results"]
        assert result["outcome"] == "invalid", result
        assert "type" in result["error"]

    status, answer = post(port, "/api/dnc/import", org.token, _csv_with_type(text), "text/csv")
    if "\x00" in text:  # and in a CSV file, the whole file (Postgres's COPY cannot read it)
        assert status == 400, answer
    else:
        assert answer["data"]["invalid"] == 1, answer
    status, answer = get(port, "/api/dnc/check?phoneNumber=2125550161", org.token)
    assert answer["data"]["blocked"] is False  # nothing was listed with that type

    add = {"phoneNumber": "2125551234", "batchId": "b", "requestUUID": "r", "type": text}
    status, answer = post(port, "/api/dnc/add", org.token, json.dumps(add).encode())
    assert status == 400, answer
    assert refusal_of("type", answer)

    removal = {"phoneNumber": "12125551234", "reason": text}
    status, answer = post(port, "/api/dnc/remove", org.token, json.dumps(removal).encode())
    assert status == 400, answer
    assert refusal_of("reason", answer)
    status, answer = get(port, "/api/dnc/check?phoneNumber=12125551234", org.token)
    assert answer["data"]["blocked"] is True  # the refused removal removed nothing

    named = json.dumps({"batchId": "b-named", "name": text}).encode()
    status, answer = post(port, "/api/batches", org.token, named)
    assert status == 400, answer
    assert refusal_of("name", answer)


def refusal_of(field: str, answer: dict[str, Any]) -> bool:
    """The 400 names the field (or, for a NUL in a JSON body, the NUL that refused it all)."""
    return field in answer["errorMessage"] or "NUL" in answer["errorMessage"]


def _csv_with_type(text: str) -> bytes:
    quoted = '"' + text.replace('"', '""') + '"'
    return f"phoneNumber,type\n2125550161,{quoted}\n".encode()


async def test_the_checks_answer_the_sloppy_forms_the_api_documents(
    dialer: tuple[int, Org, str],
) -> None:
    """The forms API.md accepts still work over raw HTTP after all of the above."""
    port, _, token = dialer
    url = f"http://127.0.0.1:{port}/api/dnc/check"
    for number in ("+1 (212) 555-1234", "212.555.1234", "1-212-555-1234", "+65 9234 5678"):
        response = httpx.get(url, params={"phoneNumber": number}, headers=bearer(token))
        assert response.json()["data"]["blocked"] is True, number
