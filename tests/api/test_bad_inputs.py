"""Inputs that must be clear 4xx envelopes, never 500s."""

from tests.api.conftest import add_body, seed_call
from tests.helpers import Client, Org, assert_error, body


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
