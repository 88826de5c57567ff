"""POST /api/batches and POST /api/batches/{batchId}/calls."""

import re

from tests.support.helpers import Client, Org, assert_error, body

CALL = {"phoneNumber": "+1 212 555 1234", "recordingUrl": "https://rec.example.test/1.mp3"}


async def test_create_with_an_id_and_a_name(client: Client, org: Org) -> None:
    response = await client.post(
        "/api/batches", json={"batchId": "camp-7", "name": " Spring "}, headers=org.headers
    )
    assert response.status_code == 201
    payload = body(response)
    assert (payload["code"], payload["status"], payload["errorMessage"]) == (201, True, "")
    assert payload["data"]["batchId"] == "camp-7"
    assert payload["data"]["name"] == "Spring"


async def test_a_batch_id_is_generated_as_24_hex_characters(client: Client, org: Org) -> None:
    response = await client.post("/api/batches", json={}, headers=org.headers)
    assert re.fullmatch(r"[0-9a-f]{24}", body(response)["data"]["batchId"])


async def test_a_taken_batch_id_is_a_409(client: Client, org: Org) -> None:
    await client.post("/api/batches", json={"batchId": "b"}, headers=org.headers)
    assert_error(await client.post("/api/batches", json={"batchId": "b"}, headers=org.headers), 409)


async def test_a_batch_id_that_cannot_live_in_a_url_is_a_400(client: Client, org: Org) -> None:
    response = await client.post("/api/batches", json={"batchId": "a/b"}, headers=org.headers)
    assert_error(response, 400, "batchId")


async def test_record_one_call(client: Client, org: Org) -> None:
    await client.post("/api/batches", json={"batchId": "b"}, headers=org.headers)
    call = {
        **CALL,
        "requestUUID": "r-1",
        "transcription": "stop calling",
        "status": "completed",
        "startedAt": "2026-11-20T10:00:00Z",
        "durationSeconds": 42,
    }
    response = await client.post("/api/batches/b/calls", json=call, headers=org.headers)
    assert response.status_code == 201
    [recorded] = body(response)["data"]["calls"]
    assert recorded["requestUUID"] == "r-1"
    assert recorded["batchId"] == "b"
    assert recorded["phoneNumber"] == "12125551234"
    assert recorded["recordingUrl"] == CALL["recordingUrl"]
    assert recorded["transcription"] == "stop calling"
    assert recorded["status"] == "completed"
    assert recorded["startedAt"] == "2026-11-20T10:00:00Z"
    assert recorded["durationSeconds"] == 42


async def test_record_several_calls_with_generated_request_uuids(client: Client, org: Org) -> None:
    await client.post("/api/batches", json={"batchId": "b"}, headers=org.headers)
    calls = {"calls": [CALL, {"phoneNumber": "+44 20 7946 0958"}]}
    response = await client.post("/api/batches/b/calls", json=calls, headers=org.headers)
    assert response.status_code == 201
    recorded = body(response)["data"]["calls"]
    assert [c["phoneNumber"] for c in recorded] == ["12125551234", "442079460958"]
    assert all(re.fullmatch(r"[0-9a-f-]{36}", c["requestUUID"]) for c in recorded)


async def test_a_taken_request_uuid_is_a_409_and_nothing_is_recorded(
    client: Client, org: Org
) -> None:
    await client.post("/api/batches", json={"batchId": "b"}, headers=org.headers)
    await client.post(
        "/api/batches/b/calls", json={**CALL, "requestUUID": "r"}, headers=org.headers
    )
    calls = {"calls": [{**CALL, "requestUUID": "fresh"}, {**CALL, "requestUUID": "r"}]}
    response = await client.post("/api/batches/b/calls", json=calls, headers=org.headers)
    assert_error(response, 409, "'r'")
    again = await client.post(
        "/api/batches/b/calls", json={**CALL, "requestUUID": "fresh"}, headers=org.headers
    )
    assert again.status_code == 201


async def test_bad_calls_are_400s_that_point_at_the_call(client: Client, org: Org) -> None:
    await client.post("/api/batches", json={"batchId": "b"}, headers=org.headers)
    cases = [
        ({"calls": [CALL, {"phoneNumber": "555"}]}, "calls[1].phoneNumber"),
        ({"calls": [CALL, {"recordingUrl": "x"}]}, "calls[1].phoneNumber is required"),
        ({"recordingUrl": "ftp://x/y"}, "phoneNumber is required"),
        ({**CALL, "recordingUrl": "ftp://x/y"}, "recordingUrl must be an http or https URL"),
        ({**CALL, "startedAt": "2026-11-20T10:00:00"}, "timezone"),
        ({**CALL, "durationSeconds": -1}, "durationSeconds"),
        ({**CALL, "calls": [CALL]}, "not both"),
        ({"calls": []}, "at least one call"),
        ({"calls": [{**CALL, "requestUUID": "x"}, {**CALL, "requestUUID": "x"}]}, "twice"),
    ]
    for payload, fragment in cases:
        response = await client.post("/api/batches/b/calls", json=payload, headers=org.headers)
        assert_error(response, 400, fragment)


async def test_calls_into_an_unknown_batch_are_a_404(client: Client, org: Org) -> None:
    response = await client.post("/api/batches/missing/calls", json=CALL, headers=org.headers)
    assert_error(response, 404, "Batch 'missing' not found")
