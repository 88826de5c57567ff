"""Adversarial review: a background import to a named list that is deleted before it runs,
and another organization's import."""

from infra.settings import Settings
from tests.support.helpers import Client, Org, assert_error, body, run_worker, sql


async def test_a_queued_import_to_a_list_deleted_meanwhile_lists_nothing(
    settings: Settings, client: Client, org: Org, other_org: Org
) -> None:
    response = await client.post("/api/dnc/lists", json={"name": "big"}, headers=org.headers)
    named = body(response)["data"]["id"]
    text = "phoneNumber\n" + "".join(f"1212{n:07d}\n" for n in range(2_000_000, 2_050_001))
    response = await client.post(
        "/api/dnc/import",
        content=text.encode(),
        params={"listId": named},
        headers={**org.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 202, body(response)
    import_id = body(response)["data"]["importId"]
    response = await client.delete(f"/api/dnc/lists/{named}", headers=org.headers)
    assert response.status_code == 200, body(response)
    await run_worker(settings)
    status = body(await client.get(f"/api/dnc/imports/{import_id}", headers=org.headers))
    assert status["data"]["status"] == "failed", status
    assert "deleted" in str(status["data"]), status
    rows = await sql(
        settings,
        "SELECT count(*) AS n FROM dnc_entries WHERE organization_id = $1 AND removed_at IS NULL",
        org.id,
    )
    assert rows[0]["n"] == 0
    # the other organization cannot read it
    response = await client.get(f"/api/dnc/imports/{import_id}", headers=other_org.headers)
    assert_error(response, 404)
