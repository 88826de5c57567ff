"""The console over HTTP, as an attacker would try it: sessions, CSRF, roles, tenants, and
what a page shows. (A real browser drives it in tests/browser.)"""

from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from domain.usecases.identity import rotate_token
from infra.settings import Settings
from tests.support.console import csrf_of, sign_in, signed_in
from tests.support.helpers import Client, Org, body, is_blocked, resources_for, sql

NUMBER = "12125550142"


async def test_a_page_without_a_session_sends_you_to_sign_in(client: Client) -> None:
    for path in ("/console", "/console/", "/console/lists/default", "/console/audit"):
        response = await client.get(path, follow_redirects=False)
        assert response.status_code in (301, 302, 303, 307, 308), path
        if response.status_code == 303:
            assert response.headers["location"] == "/console/login"


async def test_the_sign_in_page_asks_for_an_api_token_and_loads_nothing_from_outside(
    client: Client,
) -> None:
    response = await client.get("/console/login")
    assert response.status_code == 200
    assert '<label for="token">API token</label>' in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "http" not in response.text.replace("http-equiv", "").split("<main>")[0]


async def test_signing_in_opens_an_httponly_strict_session_that_expires(
    client: Client, org: Org
) -> None:
    response = await sign_in(client, org.token)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("dnc_console=")
    )
    lowered = cookie.lower()
    assert "httponly" in lowered
    assert "samesite=strict" in lowered
    assert "path=/console" in lowered
    assert "expires=" in lowered
    assert "secure" not in lowered  # plain HTTP here; see the HTTPS test
    assert org.token not in cookie
    overview = await client.get("/console/")
    assert overview.status_code == 200
    assert "Acme Dialing" in overview.text
    assert org.admin_email in overview.text


async def test_the_session_cookie_is_secure_behind_https(client: Client, org: Org) -> None:
    form = await client.get("/console/login", headers={"X-Forwarded-Proto": "https"})
    form_cookie = form.headers["set-cookie"]
    assert "secure" in form_cookie.lower()
    # the client will not send a Secure cookie over plain HTTP; the proxy in front would
    client.cookies.set("dnc_console_sign_in", csrf_of(form), path="/console")
    response = await client.post(
        "/console/login",
        data={"csrf": csrf_of(form), "token": org.token},
        headers={"X-Forwarded-Proto": "https"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("dnc_console=")
    )
    assert "secure" in cookie.lower()


async def test_a_check_scope_token_or_a_bad_one_cannot_sign_in(client: Client, org: Org) -> None:
    check_token = await org.token_for(org.admin_email, "check")
    refused = await sign_in(client, check_token)
    assert refused.status_code == 403
    assert "full-scope" in refused.text
    assert "dnc_console=" not in " ".join(refused.headers.get_list("set-cookie"))
    wrong = await sign_in(client, "not-a-token")
    assert wrong.status_code == 401
    assert "not valid" in wrong.text
    assert (await client.get("/console/", follow_redirects=False)).status_code == 303


async def test_the_sign_in_form_needs_its_own_cookie(client: Client, org: Org) -> None:
    """Login CSRF: a form posted from elsewhere (no matching cookie) signs nobody in."""
    response = await client.post(
        "/console/login", data={"csrf": "forged", "token": org.token}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "dnc_console=" not in " ".join(response.headers.get_list("set-cookie"))


async def test_every_change_needs_the_sessions_csrf_token(client: Client, org: Org) -> None:
    await signed_in(client, org.token)
    for data in ({}, {"csrf": "guess"}):
        response = await client.post(
            "/console/lists/default/add", data={**data, "phoneNumber": NUMBER}
        )
        assert response.status_code == 403
        assert "security token" in response.text
    assert not await is_blocked(client, org, NUMBER)
    upload = await client.post(
        "/console/api/import",
        content=b"phoneNumber\n" + NUMBER.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert upload.status_code == 403
    assert body(upload)["status"] is False
    assert not await is_blocked(client, org, NUMBER)


async def test_add_then_remove_with_a_reason_reaches_the_checks_and_the_audit(
    client: Client, org: Org
) -> None:
    csrf = await signed_in(client, org.token)
    added = await client.post(
        "/console/lists/default/add",
        data={"csrf": csrf, "phoneNumber": "+1 (212) 555-0142", "type": "customer_request"},
        follow_redirects=False,
    )
    assert added.status_code == 303
    assert await is_blocked(client, org, NUMBER)
    listed = await client.get("/console/lists/default", params={"search": "5550142"})
    assert NUMBER in listed.text
    assert "customer_request" in listed.text
    again = await client.post(
        "/console/lists/default/add", data={"csrf": csrf, "phoneNumber": NUMBER}
    )
    assert again.status_code == 400
    assert "already on this list" in again.text
    no_reason = await client.post(
        f"/console/lists/default/numbers/{NUMBER}/remove", data={"csrf": csrf, "reason": " "}
    )
    assert no_reason.status_code == 400
    assert await is_blocked(client, org, NUMBER)
    removed = await client.post(
        f"/console/lists/default/numbers/{NUMBER}/remove",
        data={"csrf": csrf, "reason": "added by mistake"},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    assert not await is_blocked(client, org, NUMBER)
    entry = await client.get(f"/console/lists/default/numbers/{NUMBER}")
    assert "added by mistake" in entry.text
    assert "Not on" in entry.text
    audit = await client.get("/console/audit", params={"phoneNumber": NUMBER})
    assert "dnc.remove" in audit.text or "remove" in audit.text
    invalid = await client.post(
        "/console/lists/default/add", data={"csrf": csrf, "phoneNumber": "12"}
    )
    assert invalid.status_code == 400


async def test_what_a_page_shows_is_escaped(client: Client, org: Org) -> None:
    csrf = await signed_in(client, org.token)
    await client.post(
        "/console/lists/default/add",
        data={"csrf": csrf, "phoneNumber": NUMBER, "type": "<script>alert(1)</script>"},
    )
    page = await client.get("/console/lists/default")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_a_member_neither_sees_nor_may_use_the_admin_controls(
    client: Client, org: Org
) -> None:
    _, member_token = await org.add_user("member")
    csrf = await signed_in(client, member_token)
    overview = await client.get("/console/")
    assert "/console/dnc" not in overview.text
    assert "/console/rebuild" not in overview.text
    for path, data in (
        ("/console/dnc", {"enable": "false", "confirm": "yes"}),
        ("/console/rebuild", {}),
    ):
        response = await client.post(path, data={"csrf": csrf, **data})
        assert response.status_code == 403, path
        assert "admin" in response.text
    enabled = await sql(org.settings, "SELECT dnc_enabled FROM organizations WHERE id = $1", org.id)
    assert enabled[0]["dnc_enabled"] is True


async def test_switching_dnc_off_asks_first(client: Client, org: Org) -> None:
    csrf = await signed_in(client, org.token)
    asked = await client.post("/console/dnc", data={"csrf": csrf, "enable": "false"})
    assert asked.status_code == 200
    assert "every check answers" in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    settings = await client.get("/api/dnc/settings", headers=org.headers)
    assert body(settings)["data"]["enabled"] is True
    done = await client.post(
        "/console/dnc",
        data={"csrf": csrf, "enable": "false", "confirm": "yes"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    settings = await client.get("/api/dnc/settings", headers=org.headers)
    assert body(settings)["data"]["enabled"] is False
    assert "Off" in (await client.get("/console/")).text
    await client.post("/console/dnc", data={"csrf": csrf, "enable": "true"})
    settings = await client.get("/api/dnc/settings", headers=org.headers)
    assert body(settings)["data"]["enabled"] is True


async def test_one_organization_never_sees_anothers_lists(
    settings: Settings, org: Org, other_org: Org
) -> None:
    async with AsyncTestClient(app=create_app(settings)) as other:
        other_csrf = await signed_in(other, other_org.token)
        await other.post(
            "/console/lists/default/add", data={"csrf": other_csrf, "phoneNumber": NUMBER}
        )
        created = await other.post(
            "/console/lists",
            data={"csrf": other_csrf, "name": "Secret campaign"},
            follow_redirects=False,
        )
        secret_list = created.headers["location"].split("/")[3].split("?")[0]
    async with AsyncTestClient(app=create_app(settings)) as client:
        await signed_in(client, org.token)
        assert NUMBER not in (await client.get("/console/lists/default")).text
        assert "Secret campaign" not in (await client.get("/console/lists")).text
        assert (await client.get(f"/console/lists/{secret_list}")).status_code in (400, 404)
        entry = await client.get(f"/console/lists/default/numbers/{NUMBER}")
        assert "never been on this list" in entry.text
        assert NUMBER not in (await client.get("/console/audit")).text


async def test_signing_out_ends_the_session_for_whoever_kept_the_cookie(
    client: Client, org: Org
) -> None:
    csrf = await signed_in(client, org.token)
    stolen = client.cookies.get("dnc_console")
    out = await client.post("/console/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/console/login"
    client.cookies.set("dnc_console", stolen or "", path="/console")
    response = await client.get("/console/", follow_redirects=False)
    assert response.status_code == 303


async def test_a_revoked_token_or_an_expired_session_signs_you_out(
    client: Client, org: Org
) -> None:
    _, token = await org.add_user("admin")
    await signed_in(client, token)
    await sql(
        org.settings,
        "UPDATE console_sessions SET expires_at = $1",
        datetime.now(UTC) - timedelta(seconds=1),
    )
    assert (await client.get("/console/", follow_redirects=False)).status_code == 303
    await signed_in(client, token)
    await sql(org.settings, "UPDATE api_tokens SET revoked_at = now()")
    assert (await client.get("/console/", follow_redirects=False)).status_code == 303


async def test_sloppy_forms_are_refused_with_a_page_not_a_crash(client: Client, org: Org) -> None:
    csrf = await signed_in(client, org.token)
    twice = await client.post(
        "/console/lists/default/add",
        content=f"csrf={csrf}&phoneNumber={NUMBER}&phoneNumber=12125550143".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert twice.status_code == 400
    assert "more than once" in twice.text
    bad_bytes = await client.post(
        "/console/lists/default/add",
        content=b"csrf=" + csrf.encode() + b"&phoneNumber=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert bad_bytes.status_code == 400
    cursor = await client.get("/console/lists/default", params={"cursor": "x" * 5000})
    assert cursor.status_code == 400
    unknown = await client.get("/console/lists/no-such-list")
    assert unknown.status_code in (400, 404)
    assert "text/html" in unknown.headers["content-type"]
    assert not await is_blocked(client, org, NUMBER)


async def test_the_consoles_import_adds_and_reports_bad_lines(client: Client, org: Org) -> None:
    csrf = await signed_in(client, org.token)
    upload = await client.post(
        "/console/api/import",
        content=f"phoneNumber,type\n{NUMBER},complaint\nnot-a-number,\n".encode(),
        headers={"Content-Type": "text/csv", "X-CSRF-Token": csrf},
    )
    assert upload.status_code == 200, upload.text
    data = body(upload)["data"]
    assert (data["added"], data["invalid"], data["status"]) == (1, 1, "done")
    assert data["errors"][0]["line"] == 3
    assert await is_blocked(client, org, NUMBER)
    status = await client.get(f"/console/api/imports/{data['importId']}")
    assert body(status)["data"]["added"] == 1
    export = await client.get("/console/export")
    assert export.status_code == 200
    assert NUMBER in export.text


async def test_a_number_is_found_however_a_person_types_it(client: Client, org: Org) -> None:
    csrf = await signed_in(client, org.token)
    await client.post("/console/lists/default/add", data={"csrf": csrf, "phoneNumber": NUMBER})
    # what a browser's GET form sends for "+1 (212) 555-0142": spaces as "+", "+" as %2B
    found = await client.get("/console/lists/default?search=%2B1+%28212%29+555-0142")
    assert f">{NUMBER}</a>" in found.text
    audit = await client.get("/console/audit?phoneNumber=%2B1+212+555+0142")
    assert audit.status_code == 200
    assert "1 event" in audit.text


async def test_postgres_gone_is_a_503_page_not_a_crash(
    client: Client, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    await signed_in(client, org.token)

    async def unreachable(*args: object) -> None:
        raise OSError("connection refused")

    monkeypatch.setattr("app.console.session.session_of", unreachable)
    response = await client.get("/console/lists")
    assert response.status_code == 503
    assert "text/html" in response.headers["content-type"]
    assert "database is unreachable" in response.text
    assert "Traceback" not in response.text


async def test_rotating_the_token_ends_the_sessions_it_opened(client: Client, org: Org) -> None:
    _, token = await org.add_user("admin")
    await signed_in(client, token)
    async with resources_for(org.settings) as resources:
        rotated = await rotate_token(resources.uow(), resources.revocations, token)
    assert (await client.get("/console/", follow_redirects=False)).status_code == 303
    await signed_in(client, rotated.token)
