"""Bearer tokens, scopes and roles; and no organization ever sees another's data."""

import asyncpg
import pytest

from domain.usecases.identity import hash_token
from infra.settings import Settings
from tests.support.helpers import Client, Org, add_body, assert_error, bearer, body, seed_call

Endpoint = tuple[str, str, object]
PROTECTED: list[Endpoint] = [
    ("POST", "/api/dnc/add", add_body()),
    ("POST", "/api/dnc/enable-disable", {"enable": True}),
    ("GET", "/api/dnc/entries/12125551234", None),
    ("GET", "/api/dnc/settings", None),
    ("POST", "/api/batches", {}),
    ("POST", "/api/batches/b/calls", {"phoneNumber": "+12125551234"}),
    ("GET", "/api/dnc/list", None),
    ("POST", "/api/dnc/bulk-add", {"numbers": [{"phoneNumber": "2125551234"}]}),
    ("POST", "/api/dnc/remove", {"phoneNumber": "2125551234"}),
    ("DELETE", "/api/dnc/delete/00000000-0000-0000-0000-000000000000", None),
    ("GET", "/api/dnc/export", None),
    ("GET", "/api/dnc/audit", None),
    ("GET", "/api/dnc/imports/00000000-0000-0000-0000-000000000000", None),
    ("GET", "/api/dnc/cache/status", None),
    ("POST", "/api/dnc/cache/rebuild", None),
]
CHECKS: list[Endpoint] = [
    ("GET", "/api/dnc/check?phoneNumber=2125551234", None),
    ("POST", "/api/dnc/check", {"phoneNumbers": ["2125551234"]}),
]


@pytest.mark.parametrize(("method", "path", "payload"), PROTECTED + CHECKS)
@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, "Missing Authorization header"),
        ({"Authorization": "Basic abc"}, "Bearer <token>"),
        ({"Authorization": "Bearer "}, "Bearer <token>"),
        ({"Authorization": "Bearer dnc_not-a-real-token"}, "not valid"),
    ],
)
async def test_requests_without_a_valid_token_are_401(
    client: Client, method: str, path: str, payload: object, headers: dict[str, str], fragment: str
) -> None:
    response = await client.request(method, path, json=payload, headers=headers)
    assert_error(response, 401, fragment)


async def test_a_revoked_token_is_401(client: Client, org: Org, settings: Settings) -> None:
    connection = await asyncpg.connect(settings.database_url)
    try:
        await connection.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE token_hash = $1", hash_token(org.token)
        )
    finally:
        await connection.close()
    assert_error(await client.get("/api/dnc/settings", headers=org.headers), 401, "revoked")


@pytest.mark.parametrize(("method", "path", "payload"), PROTECTED)
async def test_check_scope_tokens_only_reach_the_check_endpoints(
    client: Client, org: Org, method: str, path: str, payload: object
) -> None:
    token = await org.token_for(org.admin_email, scope="check")
    response = await client.request(method, path, json=payload, headers=bearer(token))
    assert_error(response, 403, "scope is 'check'")


async def test_another_organizations_batch_is_not_found(
    client: Client, org: Org, other_org: Org
) -> None:
    await seed_call(client, org)
    response = await client.post("/api/dnc/add", json=add_body(), headers=other_org.headers)
    assert_error(response, 404, "Batch 'batch-1' not found")
    response = await client.post(
        "/api/batches/batch-1/calls",
        json={"phoneNumber": "+12125551234"},
        headers=other_org.headers,
    )
    assert_error(response, 404, "Batch 'batch-1' not found")


async def test_another_organizations_entry_is_not_found(
    client: Client, org: Org, other_org: Org
) -> None:
    await seed_call(client, org)
    assert (await client.post("/api/dnc/add", json=add_body(), headers=org.headers)).is_success
    response = await client.get("/api/dnc/entries/12125551234", headers=other_org.headers)
    assert_error(response, 404, "not on the DNC list")
    settings = body(await client.get("/api/dnc/settings", headers=other_org.headers))["data"]
    assert settings == {"enabled": True, "count": 0}


async def test_the_same_ids_live_side_by_side_in_two_organizations(
    client: Client, org: Org, other_org: Org
) -> None:
    await seed_call(client, org, transcription="org one")
    await seed_call(client, other_org, transcription="org two")
    for owner in (org, other_org):
        assert (
            await client.post("/api/dnc/add", json=add_body(), headers=owner.headers)
        ).is_success
    one = body(await client.get("/api/dnc/entries/12125551234", headers=org.headers))["data"]
    two = body(await client.get("/api/dnc/entries/12125551234", headers=other_org.headers))["data"]
    assert (one["transcription"], two["transcription"]) == ("org one", "org two")


async def test_toggling_one_organization_leaves_the_other_alone(
    client: Client, org: Org, other_org: Org
) -> None:
    await client.post("/api/dnc/enable-disable", json={"enable": False}, headers=org.headers)
    other = body(await client.get("/api/dnc/settings", headers=other_org.headers))["data"]
    assert other["enabled"] is True


async def test_import_needs_a_token_and_full_scope(client: Client, org: Org) -> None:
    csv_headers = {"Content-Type": "text/csv"}
    response = await client.post("/api/dnc/import", content=b"phoneNumber\n", headers=csv_headers)
    assert_error(response, 401)
    token = await org.token_for(org.admin_email, scope="check")
    response = await client.post(
        "/api/dnc/import", content=b"phoneNumber\n", headers={**bearer(token), **csv_headers}
    )
    assert_error(response, 403, "scope is 'check'")


async def test_another_organizations_ids_are_not_found(
    client: Client, org: Org, other_org: Org
) -> None:
    await client.post(
        "/api/dnc/bulk-add", json={"numbers": [{"phoneNumber": "2125551234"}]}, headers=org.headers
    )
    entry = body(await client.get("/api/dnc/entries/12125551234", headers=org.headers))["data"]
    response = await client.delete(f"/api/dnc/delete/{entry['id']}", headers=other_org.headers)
    assert_error(response, 404)
    imported = await client.post(
        "/api/dnc/import",
        content=b"phoneNumber\n2125550100\n",
        headers={**org.headers, "Content-Type": "text/csv"},
    )
    import_id = body(imported)["data"]["importId"]
    assert_error(await client.get(f"/api/dnc/imports/{import_id}", headers=other_org.headers), 404)
    listed = body(await client.get("/api/dnc/list", headers=other_org.headers))["data"]
    assert listed["total"] == 0
    exported = await client.get("/api/dnc/export", headers=other_org.headers)
    assert exported.text.strip() == "phoneNumber,type,expiresAt,createdAt"
    audit = body(await client.get("/api/dnc/audit", headers=other_org.headers))["data"]
    assert [i["action"] for i in audit["items"]] == ["cache.rebuild"]  # its own mirror build
    # and the entry is still listed for its owner
    assert (
        await client.get("/api/dnc/entries/12125551234", headers=org.headers)
    ).status_code == 200
