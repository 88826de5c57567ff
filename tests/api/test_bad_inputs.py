"""Inputs that must be clear 4xx envelopes, never 500s."""

import base64
import json
from urllib.parse import quote
from uuid import uuid4

import pytest

from tests.support.helpers import Client, Org, add_body, assert_error, body, seed_call


async def test_nul_characters_are_refused(client: Client, org: Org) -> None:
    response = await client.post("/api/batches", json={"name": "a\u0000b"}, headers=org.headers)
    assert_error(response, 400, "NUL")
    response = await client.post(
        "/api/dnc/add", json=add_body(batch_id="b\u00001"), headers=org.headers
    )
    assert_error(response, 400, "NUL")


async def test_a_batch_id_that_cannot_exist_is_not_found(client: Client, org: Org) -> None:
    response = await client.post(
        "/api/batches/b%001/calls", json={"phoneNumber": "2125551234"}, headers=org.headers
    )
    assert_error(response, 404, "not found")


async def test_numbers_too_large_for_a_duration_are_refused(client: Client, org: Org) -> None:
    await client.post("/api/batches", json={"batchId": "b"}, headers=org.headers)
    call = {"phoneNumber": "2125551234", "durationSeconds": 99_999_999_999}
    assert_error(
        await client.post("/api/batches/b/calls", json=call, headers=org.headers),
        400,
        "durationSeconds",
    )


async def test_a_malformed_recording_url_is_refused(client: Client, org: Org) -> None:
    await client.post("/api/batches", json={"batchId": "b"}, headers=org.headers)
    for url in ("http://[x", "https://", "javascript:alert(1)"):
        call = {"phoneNumber": "2125551234", "recordingUrl": url}
        response = await client.post("/api/batches/b/calls", json=call, headers=org.headers)
        assert_error(response, 400, "recordingUrl")


async def test_options_needs_a_token_and_head_is_not_routed(client: Client) -> None:
    assert_error(await client.options("/api/dnc/settings"), 401)
    assert (await client.head("/api/dnc/settings")).status_code == 405  # no HEAD routes


async def test_a_batch_needs_no_body(client: Client, org: Org) -> None:
    response = await client.post("/api/batches", headers=org.headers)
    assert response.status_code == 201
    assert len(body(response)["data"]["batchId"]) == 24


async def test_request_uuids_are_trimmed_where_they_are_stored_and_looked_up(
    client: Client, org: Org
) -> None:
    await seed_call(client, org, request_uuid="  padded  ")
    response = await client.post(
        "/api/dnc/add", json=add_body(request_uuid="padded"), headers=org.headers
    )
    assert response.status_code == 200, response.text


# What the OpenAPI fuzzing (test_openapi_fuzz.py) and its follow-up probing found answering 500:
# NUL characters outside JSON bodies, integers past a bigint, and times with no UTC equivalent
# between the years 1 and 9999 (Python cannot convert them; asyncpg fails on them).
EARLY_OFFSET = "0001-01-01T00:00:00+01:00"  # 31 December of the year 0 in UTC
LATE_OFFSET = "9999-12-31T23:59:59-01:00"  # the year 10000 in UTC


def cursor_of(*parts: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode()


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("/api/dnc/list?search=a%00b", "search"),
        ("/api/dnc/list?page=9223372036854775807", "page"),
        ("/api/dnc/list?page=99999999999999999999", "page"),
        ("/api/dnc/list?cursor=" + cursor_of(EARLY_OFFSET, str(uuid4())), "cursor"),
        ("/api/dnc/list?cursor=" + cursor_of("2026-01-01T00:00:00", str(uuid4())), "cursor"),
        ("/api/dnc/audit?action=%00", "action"),
        ("/api/dnc/audit?page=9223372036854775807", "page"),
        ("/api/dnc/audit?since=" + quote(EARLY_OFFSET), "since"),
        ("/api/dnc/audit?until=" + quote(LATE_OFFSET), "until"),
        ("/api/dnc/audit?cursor=" + cursor_of("9" * 30), "cursor"),
        ("/api/dnc/audit?cursor=" + cursor_of("\u00b2"), "cursor"),  # "²".isdigit()
    ],
)
async def test_query_values_postgres_cannot_take_are_refused(
    client: Client, org: Org, query: str, fragment: str
) -> None:
    assert_error(await client.get(query, headers=org.headers), 400, fragment)


async def test_a_removal_reason_with_a_nul_is_refused(client: Client, org: Org) -> None:
    await seed_call(client, org)
    assert (await client.post("/api/dnc/add", json=add_body(), headers=org.headers)).is_success
    entry = body(await client.get("/api/dnc/entries/12125551234", headers=org.headers))
    url = f"/api/dnc/delete/{entry['data']['id']}?reason=a%00b"
    assert_error(await client.delete(url, headers=org.headers), 400, "reason")


@pytest.mark.parametrize("when", [EARLY_OFFSET, LATE_OFFSET])
async def test_times_without_a_utc_equivalent_are_refused(
    client: Client, org: Org, when: str
) -> None:
    await seed_call(client, org)
    call = {"phoneNumber": "2125551234", "startedAt": when}
    response = await client.post("/api/batches/batch-1/calls", json=call, headers=org.headers)
    assert_error(response, 400, "startedAt")
    response = await client.post("/api/dnc/add", json=add_body(expiresAt=when), headers=org.headers)
    assert_error(response, 400, "expiresAt")
    numbers = {"numbers": [{"phoneNumber": "2125551234", "expiresAt": when}]}
    response = await client.post("/api/dnc/bulk-add", json=numbers, headers=org.headers)
    assert response.status_code == 200, response.text
    assert body(response)["data"]["results"][0]["outcome"] == "invalid"
    csv = f"phoneNumber,expiresAt\n2125551234,{when}\n".encode()
    headers = {**org.headers, "Content-Type": "text/csv"}
    response = await client.post("/api/dnc/import", content=csv, headers=headers)
    assert response.status_code == 200, response.text
    assert body(response)["data"]["invalid"] == 1


async def test_a_time_with_an_offset_is_stored_and_echoed_in_utc(client: Client, org: Org) -> None:
    await seed_call(client, org)
    call = {"phoneNumber": "2125551234", "startedAt": "2026-11-20T10:00:00+02:00"}
    response = await client.post("/api/batches/batch-1/calls", json=call, headers=org.headers)
    assert body(response)["data"]["calls"][0]["startedAt"] == "2026-11-20T08:00:00Z"
