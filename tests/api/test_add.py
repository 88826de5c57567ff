"""POST /api/dnc/add: the vendor's documented behaviour, status by status."""

from dataclasses import replace

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from infra.settings import Settings
from tests.support.helpers import (
    RECORDING,
    SUCCESS_ADD,
    TRANSCRIPT,
    Client,
    Org,
    add_body,
    assert_error,
    body,
    free_port,
    mirror_for,
    seed_call,
)


async def redis_members(settings: Settings, org: Org) -> set[int] | None:
    async with mirror_for(settings) as mirror:
        return await mirror.members(org.id)


async def test_add_returns_the_vendor_success_body_and_blocks_in_redis(
    client: Client, org: Org, settings: Settings
) -> None:
    await seed_call(client, org)
    response = await client.post(
        "/api/dnc/add", json=add_body(type="customer_request"), headers=org.headers
    )
    assert response.status_code == 200
    assert body(response) == SUCCESS_ADD
    assert await redis_members(settings, org) == {12125551234}


async def test_entry_carries_the_calls_evidence(client: Client, org: Org) -> None:
    await seed_call(client, org)
    await client.post("/api/dnc/add", json=add_body(type="complaint"), headers=org.headers)
    response = await client.get("/api/dnc/entries/+1 212-555-1234", headers=org.headers)
    assert response.status_code == 200
    entry = body(response)["data"]
    assert entry["phoneNumber"] == "12125551234"
    assert entry["type"] == "complaint"
    assert entry["source"] == "call"
    assert entry["batchId"] == "batch-1"
    assert entry["requestUUID"] == "req-1"
    assert entry["callRecording"] == RECORDING
    assert entry["transcription"] == TRANSCRIPT
    assert entry["addedBy"] == str(org.admin_id)
    assert entry["createdAt"]
    assert entry["expiresAt"] is None


async def test_settings_count_the_listed_numbers(client: Client, org: Org) -> None:
    await seed_call(client, org)
    await seed_call(client, org, request_uuid="req-2", phone="+442079460958")
    await client.post("/api/dnc/add", json=add_body(), headers=org.headers)
    await client.post(
        "/api/dnc/add", json=add_body("+44 20 7946 0958", request_uuid="req-2"), headers=org.headers
    )
    response = await client.get("/api/dnc/settings", headers=org.headers)
    assert body(response)["data"] == {"enabled": True, "count": 2}


@pytest.mark.parametrize("missing", ["phoneNumber", "batchId", "requestUUID"])
async def test_a_missing_required_field_is_a_400(client: Client, org: Org, missing: str) -> None:
    payload = add_body()
    del payload[missing]
    assert_error(await client.post("/api/dnc/add", json=payload, headers=org.headers), 400, missing)


@pytest.mark.parametrize("empty", ["phoneNumber", "batchId", "requestUUID"])
async def test_an_empty_required_field_is_a_400(client: Client, org: Org, empty: str) -> None:
    payload = add_body(**{empty: "  "})
    response = await client.post("/api/dnc/add", json=payload, headers=org.headers)
    assert_error(response, 400, empty, "empty")


async def test_a_field_of_the_wrong_type_is_a_400_naming_it(client: Client, org: Org) -> None:
    response = await client.post(
        "/api/dnc/add", json={**add_body(), "phoneNumber": 12125551234}, headers=org.headers
    )
    assert_error(response, 400, "phoneNumber", "str")


async def test_an_invalid_number_is_a_400_saying_how_to_send_it(client: Client, org: Org) -> None:
    await seed_call(client, org)
    response = await client.post("/api/dnc/add", json=add_body("12345"), headers=org.headers)
    assert_error(response, 400, "'12345'", "not a valid phone number", "+12125551234")


async def test_a_number_already_listed_is_a_400(client: Client, org: Org) -> None:
    await seed_call(client, org)
    await seed_call(client, org, request_uuid="req-2")
    assert (await client.post("/api/dnc/add", json=add_body(), headers=org.headers)).is_success
    again = add_body("+1 212.555.1234", request_uuid="req-2")
    response = await client.post("/api/dnc/add", json=again, headers=org.headers)
    assert_error(response, 400, "12125551234", "already on the DNC list")


async def test_an_unknown_batch_is_a_404(client: Client, org: Org) -> None:
    response = await client.post(
        "/api/dnc/add", json=add_body(batch_id="nope"), headers=org.headers
    )
    assert_error(response, 404, "Batch 'nope' not found")


async def test_an_unknown_call_is_a_404(client: Client, org: Org) -> None:
    await seed_call(client, org)
    response = await client.post(
        "/api/dnc/add", json=add_body(request_uuid="other"), headers=org.headers
    )
    assert_error(response, 404, "Call record not found", "'batch-1'", "'other'")


async def test_a_call_of_another_batch_is_a_404(client: Client, org: Org) -> None:
    await seed_call(client, org, batch_id="batch-1", request_uuid="req-1")
    await seed_call(client, org, batch_id="batch-2", request_uuid="req-2")
    response = await client.post(
        "/api/dnc/add", json=add_body(batch_id="batch-1", request_uuid="req-2"), headers=org.headers
    )
    assert_error(response, 404, "Call record not found")


async def test_a_batch_whose_user_is_gone_is_a_404(
    client: Client, org: Org, settings: Settings
) -> None:
    _, member_token = await org.add_user("member")
    member = {"Authorization": f"Bearer {member_token}"}
    await seed_call(client, org)  # the admin owns batch-1; the member adds from it
    connection = await asyncpg.connect(settings.database_url)
    try:
        await connection.execute("DELETE FROM users WHERE id = $1", org.admin_id)
    finally:
        await connection.close()
    response = await client.post("/api/dnc/add", json=add_body(), headers=member)
    assert_error(response, 404, "No user found for batch 'batch-1'")


@pytest.mark.single_redis
async def test_redis_down_means_503_and_nothing_saved(
    client: Client, org: Org, settings: Settings
) -> None:
    await seed_call(client, org)
    cut = replace(
        settings, redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout_seconds=0.5
    )
    async with AsyncTestClient(app=create_app(cut)) as cut_client:
        response = await cut_client.post("/api/dnc/add", json=add_body(), headers=org.headers)
    assert_error(response, 503, "nothing was saved")
    listed = await client.get("/api/dnc/entries/12125551234", headers=org.headers)
    assert_error(listed, 404, "not on the DNC list")
