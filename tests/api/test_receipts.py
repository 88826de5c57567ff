"""Receipts (API.md, "Evidence"): ``"receipt": true`` on POST /api/dnc/check, ``receipt=true``
on GET, keep the question and the answer before it is sent; GET /api/dnc/receipts/{id} gives
them back unchanged, to the organization only. Every test here sends what a careless or
hostile client would: the wrong types, repeated keys and parameters, bytes that are not UTF-8,
another organization's id, a 50,000-number check, and Postgres gone between the answer and
its receipt."""

import asyncio
import json
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app, create_server_app
from app.deps import resources_of
from domain.usecases.identity import hash_token
from domain.usecases.shared_lists import subscribe
from infra.settings import Settings
from tests.support.helpers import (
    Client,
    Org,
    assert_error,
    bearer,
    body,
    free_port,
    resources_for,
    sql,
)
from tests.support.processes import running
from tests.support.servers import TcpProxy
from tests.support.shared import load, shared_list

CHECK = "/api/dnc/check"
RECEIPTS = "/api/dnc/receipts"
LISTED = "12125551234"
FREE = "12125550100"


@pytest.fixture
async def listed(client: Client, org: Org) -> Org:
    response = await client.post(
        "/api/dnc/bulk-add", json={"numbers": [{"phoneNumber": LISTED}]}, headers=org.headers
    )
    assert response.status_code == 200, body(response)
    return org


def receipted_answer(raw: bytes) -> str:
    """The receipt id of an answer (which must be a success)."""
    payload = json.loads(raw)
    assert payload["code"] == 200, payload
    receipt_id: str = payload["data"]["receiptId"]
    assert str(UUID(receipt_id)) == receipt_id
    return receipt_id


async def read_receipt(client: Client, org: Org, receipt_id: str) -> tuple[bytes, dict[str, Any]]:
    response = await client.get(f"{RECEIPTS}/{receipt_id}", headers=org.headers)
    assert response.status_code == 200, response.text
    return response.content, body(response)["data"]


def assert_kept_unchanged(kept_raw: bytes, answer: bytes) -> None:
    """The receipt's ``answer`` is the bytes that were sent, spliced in as they were."""
    assert kept_raw.endswith(b'"answer":' + answer + b"}}"), kept_raw[-300:]


async def receipt_rows(settings: Settings) -> int:
    rows = await sql(settings, "SELECT count(*) AS n FROM check_receipts")
    return int(rows[0]["n"])


async def test_a_bulk_check_with_a_receipt_is_kept_byte_for_byte(
    client: Client, listed: Org, settings: Settings
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    question = {"phoneNumbers": ["+1 212 555 1234", FREE, "12345"], "receipt": True}
    response = await client.post(CHECK, json=question, headers=listed.headers)
    receipt_id = receipted_answer(response.content)
    data = body(response)["data"]
    assert [r["blocked"] for r in data["results"]] == [True, False, True]
    assert data["blockedCount"] == 2

    raw, kept = await read_receipt(client, listed, receipt_id)
    assert_kept_unchanged(raw, response.content)
    assert kept["answer"] == body(response)
    assert kept["receiptId"] == receipt_id
    assert kept["numbers"] == 3
    assert kept["askedBy"] == str(listed.admin_id)
    asked_at = datetime.fromisoformat(kept["askedAt"])
    assert before <= asked_at <= datetime.now(UTC)
    assert kept["question"] == {
        "method": "POST",
        "path": CHECK,
        "body": {
            "phoneNumbers": question["phoneNumbers"],
            "lists": None,
            "receipt": True,
            "at": None,
        },
    }
    versions = kept["versions"]
    assert versions["answeredFrom"] == "redis"
    assert versions["lists"] == ["default"]
    assert versions["sharedLists"] == []
    assert versions["service"]
    assert await receipt_rows(settings) == 1


async def test_a_single_check_with_a_receipt(client: Client, listed: Org) -> None:
    response = await client.get(
        CHECK, params={"phoneNumber": "+" + LISTED, "receipt": "true"}, headers=listed.headers
    )
    receipt_id = receipted_answer(response.content)
    assert body(response)["data"]["blocked"] is True
    raw, kept = await read_receipt(client, listed, receipt_id)
    assert_kept_unchanged(raw, response.content)
    assert kept["question"] == {
        "method": "GET",
        "path": CHECK,
        "query": {"phoneNumber": "+" + LISTED, "receipt": "true"},
    }
    assert kept["numbers"] == 1


async def test_without_a_receipt_nothing_is_kept_and_the_answer_is_as_before(
    client: Client, listed: Org, settings: Settings
) -> None:
    for params in ({"phoneNumber": LISTED}, {"phoneNumber": LISTED, "receipt": "false"}):
        response = await client.get(CHECK, params=params, headers=listed.headers)
        assert body(response)["data"] == {
            "phoneNumber": LISTED,
            "blocked": True,
            "dncEnabled": True,
            "reason": "dnc",
            "lists": ["default"],
        }
    for question in ({"phoneNumbers": [LISTED]}, {"phoneNumbers": [LISTED], "receipt": False}):
        response = await client.post(CHECK, json=question, headers=listed.headers)
        assert "receiptId" not in response.text
        assert set(body(response)["data"]) == {"dncEnabled", "results", "blockedCount"}
    assert await receipt_rows(settings) == 0


async def test_a_check_token_asks_for_receipts_but_does_not_read_them(
    client: Client, listed: Org
) -> None:
    check_token = await listed.token_for(listed.admin_email, "check")
    response = await client.post(
        CHECK, json={"phoneNumbers": [LISTED], "receipt": True}, headers=bearer(check_token)
    )
    receipt_id = receipted_answer(response.content)
    refused = await client.get(f"{RECEIPTS}/{receipt_id}", headers=bearer(check_token))
    assert_error(refused, 403)
    _, member_token = await listed.add_user("member", "full")  # any role of a full token reads
    await read_receipt(client, replace(listed, token=member_token), receipt_id)


async def test_receipts_are_the_organizations_own(
    client: Client, listed: Org, other_org: Org
) -> None:
    response = await client.post(
        CHECK, json={"phoneNumbers": [LISTED], "receipt": True}, headers=listed.headers
    )
    receipt_id = receipted_answer(response.content)
    assert_error(
        await client.get(f"{RECEIPTS}/{receipt_id}", headers=other_org.headers), 404, receipt_id
    )
    assert_error(await client.get(f"{RECEIPTS}/{uuid4()}", headers=listed.headers), 404)
    assert_error(await client.get(f"{RECEIPTS}/{receipt_id}"), 401)
    for malformed in ("x", "1", receipt_id + "0", "%00", "%E2%82%AC", "'%20OR%201=1--", "9" * 300):
        response = await client.get(f"{RECEIPTS}/{malformed}", headers=listed.headers)
        assert_error(response, 400, "not a UUID")


@pytest.mark.parametrize(
    "content",
    [
        b'{"phoneNumbers": ["2125551234"], "receipt": "true"}',
        b'{"phoneNumbers": ["2125551234"], "receipt": 1}',
        b'{"phoneNumbers": ["2125551234"], "receipt": null}',
        b'{"phoneNumbers": ["2125551234"], "receipt": [true]}',
        b'{"phoneNumbers": ["2125551234"], "receipt": {}}',
        b'{"phoneNumbers": ["2125551234"], "receipt": true, "receipt": false}',
        b'{"phoneNumbers": ["2125551234"], "receipt": false, "receipt": true}',
        b'{"phoneNumbers": ["2125551234"], "receipt": true, "Receipt": true}',
        b'{"phoneNumbers": ["2125551234"], "receipts": true}',
        b'{"phoneNumbers": ["\xff\xfe"], "receipt": true}',
        b'{"phoneNumbers": ["2125551234"], "receipt": tru',
        b'{"phoneNumbers": ["2125551234"], "receipt": true}  {}',
    ],
)
async def test_a_receipt_field_that_is_not_a_json_boolean_is_a_400(
    client: Client, listed: Org, settings: Settings, content: bytes
) -> None:
    headers = {**listed.headers, "Content-Type": "application/json"}
    assert_error(await client.post(CHECK, content=content, headers=headers), 400)
    assert await receipt_rows(settings) == 0


@pytest.mark.parametrize(
    "query",
    [
        "receipt=1",
        "receipt=yes",
        "receipt=True",
        "receipt=TRUE",
        "receipt=",
        "receipt",
        "receipt=true%00",
        "receipt=%20true",
        "receipt=true&receipt=true",
        "receipt=true&receipt=false",
        "receipt=false&receipt=true",
        "receipt[]=true",
    ],
)
async def test_a_receipt_parameter_other_than_true_or_false_is_a_400(
    client: Client, listed: Org, settings: Settings, query: str
) -> None:
    response = await client.get(f"{CHECK}?phoneNumber={LISTED}&{query}", headers=listed.headers)
    assert_error(response, 400)
    assert await receipt_rows(settings) == 0


async def test_a_check_refused_keeps_no_receipt(
    client: Client, listed: Org, settings: Settings
) -> None:
    question = {"phoneNumbers": [LISTED], "lists": ["nosuchlist"], "receipt": True}
    assert_error(await client.post(CHECK, json=question, headers=listed.headers), 400, "Unknown")
    response = await client.get(
        CHECK,
        params={"phoneNumber": LISTED, "lists": "nosuchlist", "receipt": "true"},
        headers=listed.headers,
    )
    assert_error(response, 400, "Unknown")
    assert await receipt_rows(settings) == 0


async def test_a_receipt_names_the_lists_and_the_shared_lists_versions(
    client: Client, listed: Org, settings: Settings
) -> None:
    created = await client.post(
        "/api/dnc/lists", json={"name": "Spring campaign"}, headers=listed.headers
    )
    campaign = body(created)["data"]["id"]
    downloaded = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    async with resources_for(settings) as resources:
        registry = await shared_list(resources, "National registry")
        await load(resources, registry, ["13105550100", "13105550101"], downloaded)
        await subscribe(resources.uow(), resources.mirror, listed.id, registry)
    question = {"phoneNumbers": ["13105550101", FREE], "lists": [campaign], "receipt": True}
    response = await client.post(CHECK, json=question, headers=listed.headers)
    receipt_id = receipted_answer(response.content)
    results = body(response)["data"]["results"]
    assert (results[0]["reason"], results[0]["lists"]) == ("registry", [registry])
    raw, kept = await read_receipt(client, listed, receipt_id)
    assert_kept_unchanged(raw, response.content)
    versions = kept["versions"]
    assert versions["lists"] == ["default", campaign]
    [shared] = versions["sharedLists"]
    generations = await sql(settings, "SELECT generation FROM shared_lists WHERE id = $1", registry)
    assert shared == {
        "id": registry,
        "name": "National registry",
        "kind": "registry",
        "generation": generations[0]["generation"],
        "downloadedAt": downloaded.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        "maxAgeDays": 31,
        "count": 2,
    }


async def test_a_receipt_of_50000_numbers(client: Client, listed: Org, settings: Settings) -> None:
    numbers = [f"+1 212 555 {i % 10_000:04d}" for i in range(50_000)]
    numbers[49_999] = "not a number"
    response = await client.post(
        CHECK, json={"phoneNumbers": numbers, "receipt": True}, headers=listed.headers
    )
    receipt_id = receipted_answer(response.content)
    assert body(response)["data"]["blockedCount"] == 5 + 1  # LISTED five times, and the last
    raw, kept = await read_receipt(client, listed, receipt_id)
    assert_kept_unchanged(raw, response.content)
    assert kept["numbers"] == 50_000
    assert kept["question"]["body"]["phoneNumbers"] == numbers
    sizes = await sql(settings, "SELECT octet_length(answer) AS answer FROM check_receipts")
    assert sizes[0]["answer"] < len(response.content) / 5  # kept compressed


async def test_receipted_checks_go_past_the_fast_path(
    settings: Settings, client: Client, listed: Org
) -> None:
    """``dnc serve`` answers ordinary single checks before Litestar (app/layers/fast_check.py);
    a check that asks for a receipt must reach the route that keeps it."""
    async with AsyncTestClient(app=create_server_app(settings)) as served:
        url = f"{CHECK}?phoneNumber={LISTED}"
        assert (await served.get(url, headers=listed.headers)).status_code == 200  # cached token
        plain = await served.get(url, headers=listed.headers)
        assert "receiptId" not in plain.text
        response = await served.get(url + "&receipt=true", headers=listed.headers)
        receipt_id = receipted_answer(response.content)
        raw, _ = await read_receipt(client, listed, receipt_id)
        assert_kept_unchanged(raw, response.content)
        no = await served.get(url + "&receipt=false", headers=listed.headers)
        assert "receiptId" not in no.text
        assert_error(await served.get(url + "&receipt=1", headers=listed.headers), 400)


@pytest.fixture
def dnc_serve(settings: Settings) -> Iterator[int]:
    """A real `dnc serve` process (its fast check path included); yields its port."""
    own = replace(settings, port=free_port())
    with running(("serve", own), stop_within=10):
        yield own.port


def exchange(port: int, request: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), payload


async def test_raw_requests_to_dnc_serve(dnc_serve: int, listed: Org) -> None:
    def get(target: str) -> tuple[int, bytes]:
        head = f"GET {target} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {listed.token}\r\n"
        return exchange(dnc_serve, (head + "Connection: close\r\n\r\n").encode())

    def post(content: bytes) -> tuple[int, bytes]:
        head = (
            f"POST {CHECK} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {listed.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(content)}\r\n"
            "Connection: close\r\n\r\n"
        )
        return exchange(dnc_serve, head.encode() + content)

    assert get(f"{CHECK}?phoneNumber=+{LISTED}")[0] == 200  # the token is cached from now on
    status, answer = get(f"{CHECK}?phoneNumber=+{LISTED}&receipt=true")  # an unencoded +
    assert status == 200, answer
    receipt_id = receipted_answer(answer)
    assert json.loads(answer)["data"]["blocked"] is True
    status, kept = get(f"{RECEIPTS}/{receipt_id}")
    assert status == 200, kept
    assert_kept_unchanged(kept, answer)
    assert json.loads(kept)["data"]["question"]["query"]["phoneNumber"] == "+" + LISTED

    status, answer = post(b'{"phoneNumbers": ["+1 212 555 1234"], "receipt": true}')
    assert status == 200, answer
    status, kept = get(f"{RECEIPTS}/{receipted_answer(answer)}")
    assert_kept_unchanged(kept, answer)
    for bad in (
        b'{"phoneNumbers": ["2125551234"], "receipt": "true"}',
        b'{"phoneNumbers": ["2125551234"], "receipt": true, "receipt": true}',
        b'{"phoneNumbers": ["2125551234"], "receipt": \xff}',
        b'{"phoneNumbers": ["2125551234"], "receipt": tr\xc3\xbce}',
    ):
        status, answer = post(bad)
        assert status == 400, answer
        assert json.loads(answer)["code"] == 400
    for target in (
        f"{CHECK}?phoneNumber={LISTED}&receipt=%FF",
        f"{CHECK}?phoneNumber={LISTED}&receipt=true&receipt=true",
        f"{CHECK}?phoneNumber={LISTED}&receipt=on",
        f"{RECEIPTS}/%FF%FE",
        f"{RECEIPTS}/{receipt_id}%00",
    ):
        status, answer = get(target)
        assert status == 400, (target, answer)
        assert json.loads(answer)["code"] == 400


async def test_postgres_gone_is_a_503_never_an_answer_without_its_receipt(
    settings: Settings, listed: Org
) -> None:
    db = urlsplit(settings.database_url)
    proxy = TcpProxy(db.port or 5432)
    proxy.start()
    proxied = replace(
        settings, database_url=db._replace(netloc=f"{db.username}@127.0.0.1:{proxy.port}").geturl()
    )
    try:
        async with AsyncTestClient(app=create_app(proxied)) as client:
            # the token cached for good: once the process follows revocations (it empties its
            # cache when it starts to), a cached token needs no Postgres
            await asyncio.sleep(0.5)
            question = {"phoneNumbers": [LISTED, FREE]}
            assert (await client.post(CHECK, json=question, headers=listed.headers)).is_success
            tokens = resources_of(client.app.state).tokens
            assert tokens.get(hash_token(listed.token)) is not None
            proxy.cut()
            # without a receipt, Redis answers as ever
            answered = await client.post(CHECK, json=question, headers=listed.headers)
            assert body(answered)["data"]["blockedCount"] == 1
            receipted = {**question, "receipt": True}
            response = await client.post(CHECK, json=receipted, headers=listed.headers)
            assert_error(response, 503, "receipt could not be stored")
            assert "results" not in response.text
            single = {"phoneNumber": LISTED, "receipt": "true"}
            response = await client.get(CHECK, params=single, headers=listed.headers)
            assert_error(response, 503, "receipt could not be stored")
            proxy.restore()
            response = await client.post(CHECK, json=receipted, headers=listed.headers)
            receipt_id = receipted_answer(response.content)
            raw, _ = await read_receipt(client, listed, receipt_id)
            assert_kept_unchanged(raw, response.content)
    finally:
        proxy.close()
    assert await receipt_rows(settings) == 1


async def test_a_check_at_a_past_moment_can_have_a_receipt(client: Client, listed: Org) -> None:
    """Evidence of evidence: the as-of answer, with the moment it was asked about, is kept."""
    await asyncio.sleep(1.5)  # a moment after the organization was created, to the second
    moment = (datetime.now(UTC) - timedelta(milliseconds=200)).isoformat()
    question = {"phoneNumbers": ["+1 212 555 1234"], "receipt": True, "at": moment}
    response = await client.post(CHECK, json=question, headers=listed.headers)
    assert response.status_code == 200, response.text
    receipt_id = receipted_answer(response.content)
    data = body(response)["data"]
    assert data["at"]
    raw, kept = await read_receipt(client, listed, receipt_id)
    assert_kept_unchanged(raw, response.content)
    assert kept["question"]["body"]["at"] == moment
    assert kept["answer"]["data"]["results"] == data["results"]
    assert kept["versions"]["answeredFrom"] == "history"  # Postgres, as it was at that moment
