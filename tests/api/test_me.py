"""``GET /api/me``: the token's organization, user and scope; a check token may ask too."""

from domain.usecases.identity import create_user, hash_token
from infra.settings import Settings
from tests.support.helpers import Client, Org, assert_error, bearer, body, sql, uow_for


async def test_a_full_token_says_who_it_is(client: Client, org: Org) -> None:
    response = await client.get("/api/me", headers=org.headers)
    assert response.status_code == 200
    assert body(response)["data"] == {
        "organization": {"id": str(org.id), "name": "Acme Dialing"},
        "user": {"id": str(org.admin_id), "email": org.admin_email, "role": "admin"},
        "scope": "full",
    }


async def test_a_members_check_token_says_so(client: Client, org: Org, settings: Settings) -> None:
    async with uow_for(settings) as uow:
        member = await create_user(uow, org.id, "Agent@Acme.example", "member")
    token = await org.token_for("agent@acme.example", scope="check")
    data = body(await client.get("/api/me", headers=bearer(token)))["data"]
    assert data["user"] == {"id": str(member.id), "email": "agent@acme.example", "role": "member"}
    assert data["scope"] == "check"


async def test_no_token_or_a_revoked_one_is_401(
    client: Client, org: Org, settings: Settings
) -> None:
    assert_error(await client.get("/api/me"), 401)
    assert_error(await client.get("/api/me", headers=bearer("not-a-token")), 401)
    token = await org.token_for(org.admin_email)
    revoke = "UPDATE api_tokens SET revoked_at = now() WHERE token_hash = $1"
    await sql(settings, revoke, hash_token(token))
    assert_error(await client.get("/api/me", headers=bearer(token)), 401)
