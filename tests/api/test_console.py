"""The console over HTTP, as an attacker would try it: sessions, CSRF, roles, tenants, and
what a page shows. (A real browser drives it in tests/browser.)"""

from datetime import UTC, datetime, timedelta

import pytest
from httpx import Response
from litestar.testing import AsyncTestClient

from app.asgi import create_app, create_server_app
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
    assert "secure" not in lowered  # plain HTTP here: no __Host- either; see the HTTPS tests
    assert "__host-" not in " ".join(response.headers.get_list("set-cookie")).lower()
    assert org.token not in cookie
    overview = await client.get("/console/")
    assert overview.status_code == 200
    assert "Acme Dialing" in overview.text
    assert org.admin_email in overview.text


HTTPS = {"X-Forwarded-Proto": "https"}


def set_cookie(response: Response, name: str) -> str:
    """The Set-Cookie header of the cookie ``name`` (exactly that name)."""
    return next(c for c in response.headers.get_list("set-cookie") if c.startswith(f"{name}="))


def value_of(cookie: str) -> str:
    return cookie.split(";")[0].split("=", 1)[1]


async def https_sign_in(client: Client, token: str) -> str:
    """Sign in as a browser behind a TLS proxy would (the client sends no Secure cookie over
    the test's plain HTTP, so each request carries its cookie by hand); the session cookie."""
    client.cookies.clear()
    form = await client.get("/console/login", headers=HTTPS)
    form_cookie = set_cookie(form, "__Host-dnc_console_sign_in")
    response = await client.post(
        "/console/login",
        data={"csrf": csrf_of(form), "token": token},
        headers={**HTTPS, "Cookie": f"__Host-dnc_console_sign_in={value_of(form_cookie)}"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    client.cookies.clear()
    for cookie in (form_cookie, set_cookie(response, "__Host-dnc_console")):
        lowered = cookie.lower()
        assert "; secure" in lowered
        assert "; path=/;" in lowered or lowered.endswith("; path=/")
        assert "domain=" not in lowered
        assert "httponly" in lowered
        assert "samesite=strict" in lowered
    removed = set_cookie(response, "__Host-dnc_console_sign_in")  # the form's, spent
    assert "max-age=0" in removed.lower()
    assert "; secure" in removed.lower()
    return set_cookie(response, "__Host-dnc_console")


async def test_behind_https_the_cookies_are_host_only(client: Client, org: Org) -> None:
    """Over HTTPS the cookies carry the ``__Host-`` prefix: a browser keeps such a cookie only
    if it is Secure, for Path=/ and with no Domain, so a sibling subdomain cannot plant one.
    Only that name is read over HTTPS: a plain ``dnc_console`` (what a sibling can set) is no
    session there."""
    secret = value_of(await https_sign_in(client, org.token))
    page = await client.get(
        "/console/", headers={**HTTPS, "Cookie": f"__Host-dnc_console={secret}"}
    )
    assert page.status_code == 200
    assert org.admin_email in page.text
    planted = await client.get(
        "/console/",
        headers={**HTTPS, "Cookie": f"dnc_console={secret}"},
        follow_redirects=False,
    )
    assert planted.status_code == 303
    out = await client.post(
        "/console/logout",
        data={"csrf": csrf_of(page)},
        headers={**HTTPS, "Cookie": f"__Host-dnc_console={secret}"},
        follow_redirects=False,
    )
    cleared = set_cookie(out, "__Host-dnc_console").lower()
    assert "max-age=0" in cleared
    assert "; secure" in cleared
    assert "path=/;" in cleared or cleared.endswith("path=/")
    after = await client.get(
        "/console/",
        headers={**HTTPS, "Cookie": f"__Host-dnc_console={secret}"},
        follow_redirects=False,
    )
    assert after.status_code == 303


async def test_behind_https_a_planted_sign_in_cookie_passes_no_double_submit(
    client: Client, org: Org
) -> None:
    """Login CSRF by cookie tossing, from a browser that sends no Fetch Metadata: a sibling
    subdomain can set ``dnc_console_sign_in`` but never ``__Host-dnc_console_sign_in``."""
    _, attackers_token = await org.add_user("admin")
    response = await client.post(
        "/console/login",
        data={"csrf": "t" * 43, "token": attackers_token},
        headers={**HTTPS, "Cookie": f"dnc_console_sign_in={'t' * 43}"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "dnc_console=" not in " ".join(response.headers.get_list("set-cookie"))


async def test_the_api_never_takes_the_consoles_cookie_as_credentials(
    client: Client, org: Org
) -> None:
    """``__Host-`` means ``Path=/``: the browser now sends the session cookie to the API's paths
    too. The API reads a bearer token and nothing else: neither cookie, nor the session's
    secret sent as a token, opens it."""
    secure = value_of(await https_sign_in(client, org.token))
    await signed_in(client, org.token)
    plain = client.cookies.get("dnc_console") or ""
    client.cookies.clear()
    cookies = f"__Host-dnc_console={secure}; dnc_console={plain}"
    for headers in (
        {"Cookie": cookies},
        {**HTTPS, "Cookie": cookies},
        {"Authorization": f"Bearer {secure}"},
        {"Authorization": f"Bearer {plain}", "Cookie": cookies},
    ):
        for method, path, data in (
            ("GET", "/api/me", None),
            ("GET", "/api/dnc/settings", None),
            ("GET", "/api/dnc/check?phoneNumber=12125550142", None),
            ("POST", "/api/dnc/bulk-add", {"numbers": [{"phoneNumber": NUMBER}]}),
        ):
            response = await client.request(method, path, json=data, headers=headers)
            assert response.status_code == 401, (path, headers, response.text)
            assert body(response)["status"] is False
    # nor the check ``dnc serve`` answers before routing (app/layers/fast_check.py)
    async with AsyncTestClient(app=create_server_app(org.settings)) as served:
        for headers in ({"Cookie": cookies}, {"Authorization": f"Bearer {secure}"}):
            check = await served.get(f"/api/dnc/check?phoneNumber={NUMBER}", headers=headers)
            assert check.status_code == 401, headers
    rows = await sql(org.settings, "SELECT 1 FROM dnc_entries WHERE phone_number = $1", NUMBER)
    assert rows == []
    # and both sessions are still good on the console itself
    assert (await client.get("/console/", headers={**HTTPS, "Cookie": cookies})).status_code == 200
    assert (await client.get("/console/", headers={"Cookie": cookies})).status_code == 200


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
