"""``GET /api/dnc/entries/{phoneNumber}/history``: every entry the number has had, listed and
removed, with its evidence and who added and removed it, when and why; tenant-scoped."""

from typing import Any

from tests.support.helpers import (
    RECORDING,
    TRANSCRIPT,
    Client,
    Org,
    add_body,
    assert_error,
    body,
    seed_call,
)

NUMBER = "2125551234"


async def history(client: Client, org: Org, number: str = NUMBER, **params: str) -> Any:
    response = await client.get(
        f"/api/dnc/entries/{number}/history", params=params, headers=org.headers
    )
    assert response.status_code == 200, response.text
    return body(response)["data"]


async def test_a_removed_entry_stays_in_the_history_with_its_evidence_and_removal(
    client: Client, org: Org
) -> None:
    await seed_call(client, org)
    added = await client.post("/api/dnc/add", json=add_body(type="complaint"), headers=org.headers)
    assert added.status_code == 200
    removed = await client.post(
        "/api/dnc/remove",
        json={"phoneNumber": "+1 212-555-1234", "reason": "added by mistake"},
        headers=org.headers,
    )
    assert removed.status_code == 200
    # the entry endpoint no longer has it; the history does
    assert (await client.get(f"/api/dnc/entries/{NUMBER}", headers=org.headers)).status_code == 404
    again = await client.post(
        "/api/dnc/bulk-add", json={"numbers": [{"phoneNumber": NUMBER}]}, headers=org.headers
    )
    assert again.status_code == 200

    seen = await history(client, org, "+1 (212) 555-1234")
    assert seen["phoneNumber"] == "12125551234"
    first, second = seen["entries"]
    assert first["active"] is False
    assert first["type"] == "complaint"
    assert first["batchId"] == "batch-1"
    assert first["requestUUID"] == "req-1"
    assert first["callRecording"] == RECORDING
    assert first["transcription"] == TRANSCRIPT
    assert first["addedBy"] == str(org.admin_id)
    assert first["removedBy"] == str(org.admin_id)
    assert first["removalReason"] == "added by mistake"
    assert first["removedAt"] >= first["createdAt"]
    assert second["active"] is True
    assert second["source"] == "bulk"
    assert second["removedAt"] is None
    assert second["createdAt"] >= first["removedAt"]


async def test_a_number_never_listed_has_an_empty_history(client: Client, org: Org) -> None:
    assert await history(client, org, "3105550100") == {
        "phoneNumber": "13105550100",
        "entries": [],
    }


async def test_the_history_is_the_organizations_own(
    client: Client, org: Org, other_org: Org
) -> None:
    await seed_call(client, org)
    assert (await client.post("/api/dnc/add", json=add_body(), headers=org.headers)).is_success
    assert len((await history(client, org))["entries"]) == 1
    assert (await history(client, other_org))["entries"] == []


async def test_list_id_narrows_it_to_one_list(client: Client, org: Org) -> None:
    created = await client.post("/api/dnc/lists", json={"name": "Campaign"}, headers=org.headers)
    list_id = body(created)["data"]["id"]
    for on in ("default", list_id):
        response = await client.post(
            "/api/dnc/bulk-add",
            json={"listId": on, "numbers": [{"phoneNumber": NUMBER}]},
            headers=org.headers,
        )
        assert response.status_code == 200
    assert [e["listId"] for e in (await history(client, org))["entries"]] == ["default", list_id]
    narrowed = await history(client, org, listId=list_id)
    assert [e["listId"] for e in narrowed["entries"]] == [list_id]


async def test_bad_input_is_answered_in_the_envelope(client: Client, org: Org) -> None:
    bad = await client.get("/api/dnc/entries/not-a-number/history", headers=org.headers)
    assert_error(bad, 400)
    unknown = await client.get(
        f"/api/dnc/entries/{NUMBER}/history", params={"listId": "nosuchlist"}, headers=org.headers
    )
    assert unknown.status_code in (400, 404)
    assert "nosuchlist" in unknown.text
    anonymous = await client.get(f"/api/dnc/entries/{NUMBER}/history")
    assert_error(anonymous, 401)
