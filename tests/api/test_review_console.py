"""The console reviewed by someone who wants to break it: what a signed-in member, a sloppy
person and a raw client could do that the API would not let them."""

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from infra.db.repositories.console_sessions import LIVE_PER_TOKEN
from infra.settings import Settings
from tests.support.console import csrf_of, sign_in, signed_in
from tests.support.helpers import Client, Org, body, free_port, sql

NUMBER = "12125550142"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    ("path", "field", "limit", "others"),
    [
        ("/console/lists/default/add", "type", 64, {"phoneNumber": NUMBER}),
        ("/console/lists", "description", 2048, {"name": "Spring campaign"}),
        ("/console/prefixes", "reason", 1000, {"prefix": "1212555"}),
    ],
)
async def test_a_form_field_is_held_to_what_the_api_accepts_for_it(
    client: Client, org: Org, path: str, field: str, limit: int, others: dict[str, str]
) -> None:
    """A member typed (or posted) a 100,000-character type, description or reason: the API
    refuses anything past its schema's limit, and every page, export and email that shows the
    field would carry it."""
    csrf = await signed_in(client, org.token)
    response = await client.post(
        path, data={"csrf": csrf, **others, field: "x" * (limit + 1)}, follow_redirects=False
    )
    assert response.status_code == 400, path
    assert field in response.text
    assert "text/html" in response.headers["content-type"]
    fits = await client.post(
        path, data={"csrf": csrf, **others, field: "x" * limit}, follow_redirects=False
    )
    assert fits.status_code == 303, fits.text


async def test_a_removal_reason_is_held_to_what_the_api_accepts(client: Client, org: Org) -> None:
    csrf = await signed_in(client, org.token)
    await client.post("/console/lists/default/add", data={"csrf": csrf, "phoneNumber": NUMBER})
    response = await client.post(
        f"/console/lists/default/numbers/{NUMBER}/remove",
        data={"csrf": csrf, "reason": "r" * 1001},
    )
    assert response.status_code == 400
    rows = await sql(
        org.settings, "SELECT removed_at FROM dnc_entries WHERE phone_number = $1", NUMBER
    )
    assert rows[0]["removed_at"] is None


async def test_a_console_form_is_no_place_for_megabytes(client: Client, org: Org) -> None:
    """The API's 10 MB body limit is for its JSON bulk calls; a console form is a few fields."""
    csrf = await signed_in(client, org.token)
    response = await client.post(
        "/console/lists/default/add",
        content=f"csrf={csrf}&phoneNumber={NUMBER}&junk=".encode() + b"j" * 1_000_000,
        headers=FORM,
    )
    assert response.status_code == 413
    assert "text/html" in response.headers["content-type"]
    signing_in = await client.post(
        "/console/login", content=b"csrf=x&token=" + b"t" * 1_000_000, headers=FORM
    )
    assert signing_in.status_code == 413


async def test_a_search_with_a_space_finds_what_it_names(client: Client, org: Org) -> None:
    """A browser's GET form sends a space as "+"; the API reads a raw "+" as a plus (phone
    numbers), which made "customer request" a search for "customer+request" on the console."""
    csrf = await signed_in(client, org.token)
    await client.post(
        "/console/lists/default/add",
        data={"csrf": csrf, "phoneNumber": NUMBER, "type": "customer request"},
    )
    found = await client.get("/console/lists/default?search=customer+request")
    assert f">{NUMBER}</a>" in found.text
    assert 'value="customer request"' in found.text
    # a number typed with its "+" still arrives as the browser encodes it (%2B)
    typed = await client.get("/console/lists/default?search=%2B1+212+555+0142")
    assert f">{NUMBER}</a>" in typed.text
    # and the API keeps reading a raw "+" as a plus
    check = await client.get(
        f"/api/dnc/check?phoneNumber=+{NUMBER}", headers=org.headers, follow_redirects=False
    )
    assert body(check)["data"]["blocked"] is True


async def test_a_recording_that_is_not_a_web_address_is_neither_linked_nor_played(
    client: Client, org: Org
) -> None:
    """The API only records http(s) recording URLs, but the page must not trust the row: a
    ``javascript:`` or ``data:`` URL written by an older version, a migration or SQL by hand
    would otherwise be a link a reviewer clicks (only the CSP would stand in the way)."""
    csrf = await signed_in(client, org.token)
    await client.post("/console/lists/default/add", data={"csrf": csrf, "phoneNumber": NUMBER})
    for evil in ("javascript:alert(document.cookie)", " JaVaScRiPt:alert(1)", "data:text/html,x"):
        await sql(
            org.settings,
            "UPDATE dnc_entries SET call_recording = $1 WHERE phone_number = $2",
            evil,
            NUMBER,
        )
        page = await client.get(f"/console/lists/default/numbers/{NUMBER}")
        assert page.status_code == 200
        assert f'href="{evil}' not in page.text
        assert f'src="{evil}' not in page.text
        assert '<audio id="recording"' not in page.text
    await sql(
        org.settings,
        "UPDATE dnc_entries SET call_recording = $1 WHERE phone_number = $2",
        "https://recordings.example.test/r-1.mp3",
        NUMBER,
    )
    page = await client.get(f"/console/lists/default/numbers/{NUMBER}")
    assert 'src="https://recordings.example.test/r-1.mp3"' in page.text


async def test_the_import_endpoints_answers_are_not_cached(client: Client, org: Org) -> None:
    """The import's report (numbers and the lines that failed) is as private as any page."""
    csrf = await signed_in(client, org.token)
    upload = await client.post(
        "/console/api/import",
        content=f"phoneNumber\n{NUMBER}\n".encode(),
        headers={"Content-Type": "text/csv", "X-CSRF-Token": csrf},
    )
    assert upload.status_code == 200
    status = await client.get(f"/console/api/imports/{body(upload)['data']['importId']}")
    for response in (upload, status):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_sign_in_form_refuses_a_post_another_site_made(client: Client, org: Org) -> None:
    """Login CSRF by cookie tossing: a sibling subdomain (the same site, so SameSite=Strict
    does not stop it) sets the sign-in form's cookie to a value of its own, then posts that
    value with its own token: the person is signed in to the attacker's organization, and what
    they import or add lands there. The browser says where the form came from."""
    _, attackers_token = await org.add_user("admin")
    client.cookies.set("dnc_console_sign_in", "tossed-by-a-sibling", path="/console")
    response = await client.post(
        "/console/login",
        data={"csrf": "tossed-by-a-sibling", "token": attackers_token},
        headers={"Sec-Fetch-Site": "same-site"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "another site" in response.text
    assert "dnc_console=" not in " ".join(response.headers.get_list("set-cookie"))


async def test_a_change_another_site_posts_is_refused_even_with_the_token(
    client: Client, org: Org
) -> None:
    csrf = await signed_in(client, org.token)
    for site in ("cross-site", "same-site"):
        response = await client.post(
            "/console/lists/default/add",
            data={"csrf": csrf, "phoneNumber": NUMBER},
            headers={"Sec-Fetch-Site": site},
        )
        assert response.status_code == 403, site
        upload = await client.post(
            "/console/api/import",
            content=f"phoneNumber\n{NUMBER}\n".encode(),
            headers={"Content-Type": "text/csv", "X-CSRF-Token": csrf, "Sec-Fetch-Site": site},
        )
        assert upload.status_code == 403, site
    rows = await sql(org.settings, "SELECT 1 FROM dnc_entries WHERE phone_number = $1", NUMBER)
    assert rows == []
    own = await client.post(
        "/console/lists/default/add",
        data={"csrf": csrf, "phoneNumber": NUMBER},
        headers={"Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert own.status_code == 303


@pytest.mark.parametrize(
    "path",
    ["/console/static/console.css%00", "/console/static/%00", "/static/openapi/x%00.js"],
)
async def test_a_static_path_with_a_nul_is_not_found_not_a_crash(client: Client, path: str) -> None:
    """The file system refuses a name with a NUL (ValueError: embedded null byte): a 500.
    The console's path is answered with its page, the NUL not echoed into it."""
    response = await client.get(path)
    assert response.status_code == 404
    assert "Traceback" not in response.text
    if path.startswith("/console/"):
        assert response.headers["content-type"].startswith("text/html")
        assert "\x00" not in response.text
    else:
        assert body(response)["status"] is False


async def test_a_second_sign_in_page_does_not_outdate_the_first(client: Client, org: Org) -> None:
    """Two tabs (or a page reloaded after a session ended): every sign-in page drew a new
    cookie, so the first tab's form answered "The sign-in form expired"."""
    first = await client.get("/console/login")
    await client.get("/console/login")
    response = await client.post(
        "/console/login",
        data={"csrf": csrf_of(first), "token": org.token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


async def test_a_token_pasted_with_its_bearer_scheme_signs_in(client: Client, org: Org) -> None:
    """What a person copies from the README's curl commands: ``Bearer dnc_…``."""
    response = await sign_in(client, f"Bearer {org.token}")
    assert response.status_code == 303, response.text


EVIL = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>"


async def test_every_field_a_client_sets_is_shown_as_text(client: Client, org: Org) -> None:
    """A regression guard more than a finding (autoescaping holds today): every field an API
    client or a person sets, and every input a page or an error echoes, with markup in it."""
    headers = org.headers
    listed = await client.post(
        "/api/dnc/lists", json={"name": EVIL, "description": EVIL}, headers=headers
    )
    list_id = body(listed)["data"]["id"]
    await client.post(
        "/api/dnc/prefixes", json={"prefix": "1212555", "reason": EVIL}, headers=headers
    )
    await client.post("/api/batches", json={"batchId": "b-1", "name": EVIL}, headers=headers)
    call = {
        "requestUUID": EVIL,
        "phoneNumber": NUMBER,
        "recordingUrl": 'https://recordings.example.test/r.mp3?x="><script>alert(3)</script>',
        "transcription": EVIL,
    }
    recorded = await client.post("/api/batches/b-1/calls", json=call, headers=headers)
    assert recorded.status_code == 201, recorded.text
    added = await client.post(
        "/api/dnc/add",
        json={"phoneNumber": NUMBER, "batchId": "b-1", "requestUUID": EVIL, "type": EVIL},
        headers=headers,
    )
    assert added.status_code == 200, added.text
    csrf = await signed_in(client, org.token)
    pages = [
        "/console/",
        "/console/lists",
        f"/console/lists/{list_id}",
        "/console/lists/default",
        f"/console/lists/default/numbers/{NUMBER}",
        "/console/prefixes",
        "/console/import",
        "/console/audit",
    ]
    evidence = await client.get(f"/console/lists/default/numbers/{NUMBER}")
    assert 'src="https://recordings.example.test/r.mp3?x=&#34;&gt;&lt;script&gt;' in evidence.text
    removed = await client.post(
        f"/console/lists/default/numbers/{NUMBER}/remove", data={"csrf": csrf, "reason": EVIL}
    )
    assert removed.status_code == 200, removed.text
    shown = [await client.get(path) for path in pages]
    shown.append(evidence)
    shown.append(await client.get("/console/lists/default", params={"search": EVIL}))
    shown.append(await client.get("/console/audit", params={"action": EVIL}))
    shown.append(await client.get(f"/console/lists/default/numbers/{quote(EVIL, safe='')}"))
    shown.append(await client.get(f"/console/lists/{quote(EVIL, safe='')}"))
    shown.append(
        await client.post("/console/lists/default/add", data={"csrf": csrf, "phoneNumber": EVIL})
    )
    for response in shown:
        assert response.status_code < 500, response.url
        # a path the router cannot match too (an encoded "/" in the number): a console page
        assert response.headers["content-type"].startswith("text/html"), response.url
        for raw in ("<script>alert", "<img src=x", "\"'>"):
            assert raw not in response.text, (response.url, raw)
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for page in shown[:8]:  # each field is there, as text (the number is off the list now)
        if page.url.path != "/console/lists/default":
            assert escaped in page.text, page.url


async def test_the_exports_file_name_carries_no_header(client: Client, org: Org) -> None:
    """A regression guard: ``listId`` goes into Content-Disposition; only a known id may."""
    await signed_in(client, org.token)
    for list_id in ('x"\r\nSet-Cookie: dnc_console=stolen', 'default"; filename="a.exe', "../x"):
        response = await client.get("/console/export", params={"listId": list_id})
        assert response.status_code == 400, list_id
        assert "content-disposition" not in response.headers
        assert "stolen" not in " ".join(response.headers.get_list("set-cookie"))


async def test_the_session_cookie_expires_with_the_session(client: Client, org: Org) -> None:
    """Litestar's ``Cookie.expires`` is seconds from now: a Unix timestamp there made the
    browser keep the cookie until 2083, long after the session it names had ended."""
    before = datetime.now(UTC)
    response = await sign_in(client, org.token)
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("dnc_console=")
    )
    expires = re.search(r"expires=([^;]+)", cookie, re.IGNORECASE)
    assert expires, cookie
    at = parsedate_to_datetime(expires.group(1))
    lifetime = timedelta(minutes=org.settings.console_session_minutes)
    assert (
        before + lifetime - timedelta(minutes=1) <= at <= before + lifetime + timedelta(minutes=1)
    )
    max_age = re.search(r"max-age=(\d+)", cookie, re.IGNORECASE)
    assert max_age, cookie
    assert abs(int(max_age.group(1)) - lifetime.total_seconds()) < 60


async def test_no_post_changes_anything_without_the_sessions_csrf_token(
    client: Client, org: Org
) -> None:
    """A regression guard: every form of the console, with no token and with a wrong one."""
    csrf = await signed_in(client, org.token)
    await client.post("/console/lists/default/add", data={"csrf": csrf, "phoneNumber": NUMBER})
    await client.post("/console/prefixes", data={"csrf": csrf, "prefix": "1212555"})
    [rule] = await sql(
        org.settings, "SELECT id FROM dnc_prefixes WHERE organization_id = $1", org.id
    )
    forms = [
        ("/console/lists", {"name": "Forged"}),
        ("/console/lists/default/add", {"phoneNumber": "12125550143"}),
        (f"/console/lists/default/numbers/{NUMBER}/remove", {"reason": "forged"}),
        ("/console/prefixes", {"prefix": "1646555"}),
        (f"/console/prefixes/{rule['id']}/delete", {}),
        ("/console/dnc", {"enable": "false", "confirm": "yes"}),
        ("/console/rebuild", {}),
    ]
    before = await sql(org.settings, "SELECT count(*) AS n FROM audit_log")
    for path, data in forms:
        for forged in ({}, {"csrf": "x" * 43}, {"csrf": ""}):
            response = await client.post(path, data={**data, **forged})
            assert response.status_code == 403, (path, forged)
    after = await sql(org.settings, "SELECT count(*) AS n FROM audit_log")
    assert after[0]["n"] == before[0]["n"]
    # a forged sign-out ends no session either
    kept = client.cookies.get("dnc_console") or ""
    await client.post("/console/logout", data={"csrf": "x" * 43})
    client.cookies.set("dnc_console", kept, path="/console")
    assert (await client.get("/console/", follow_redirects=False)).status_code == 200


async def test_a_database_out_of_reach_is_a_503_page_not_a_500(
    settings: Settings, org: Org
) -> None:
    """The API answers 503 ("retry shortly") when Postgres is out of reach; the console's
    pages answered 500 and logged a traceback for every page a person reloaded."""
    async with AsyncTestClient(app=create_app(settings)) as client:
        await signed_in(client, org.token)
        cookie = client.cookies.get("dnc_console") or ""
    cut = replace(settings, database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/x")
    async with AsyncTestClient(app=create_app(cut)) as client:
        client.cookies.set("dnc_console", cookie, path="/console")
        page = await client.get("/console/")
        assert page.status_code == 503
        assert "text/html" in page.headers["content-type"]
        assert "database is unreachable" in page.text
        signing_in = await sign_in(client, org.token)
        assert signing_in.status_code == 503


async def test_signing_in_again_and_again_keeps_no_dead_sessions(client: Client, org: Org) -> None:
    """Each sign-in added a row for good: sessions signed out of, expired, and (a script
    signing in in a loop) live ones past a sane number, all stayed in Postgres."""
    for _ in range(3):
        csrf = await signed_in(client, org.token)
        await client.post("/console/logout", data={"csrf": csrf})
    await signed_in(client, org.token)
    await sql(org.settings, "UPDATE console_sessions SET expires_at = now() - interval '1 s'")
    for _ in range(LIVE_PER_TOKEN + 5):
        assert (await sign_in(client, org.token)).status_code == 303
    assert (await client.get("/console/")).status_code == 200  # the newest one
    rows = await sql(
        org.settings, "SELECT ended_at, expires_at > now() AS live FROM console_sessions"
    )
    assert len(rows) == LIVE_PER_TOKEN
    assert all(row["live"] and row["ended_at"] is None for row in rows)


async def test_a_role_taken_away_applies_to_the_next_request(client: Client, org: Org) -> None:
    """A regression guard: an admin demoted while signed in neither sees nor uses the switch;
    the session reads the role on every request."""
    csrf = await signed_in(client, org.token)
    assert "/console/dnc" in (await client.get("/console/")).text
    await sql(org.settings, "UPDATE users SET role = 'member' WHERE id = $1", org.admin_id)
    assert "/console/dnc" not in (await client.get("/console/")).text
    for path, data in (
        ("/console/dnc", {"enable": "false", "confirm": "yes"}),
        ("/console/rebuild", {}),
    ):
        response = await client.post(path, data={"csrf": csrf, **data})
        assert response.status_code == 403, path
    settings = await client.get("/api/dnc/settings", headers=org.headers)
    assert body(settings)["data"]["enabled"] is True


async def test_a_link_cannot_make_a_page_say_what_is_not_so(client: Client, org: Org) -> None:
    """``?done=…`` says what a form just did; anyone can send the link. "DNC is on" above a
    switch that is off, or "removed" above a number still listed, reassures falsely."""
    csrf = await signed_in(client, org.token)
    await client.post("/console/dnc", data={"csrf": csrf, "enable": "false", "confirm": "yes"})
    spoofed = await client.get("/console/?done=enabled")
    assert "DNC is on" not in spoofed.text
    assert "DNC is off" in (await client.get("/console/?done=disabled")).text
    await client.post("/console/dnc", data={"csrf": csrf, "enable": "true"})
    assert "DNC is on" in (await client.get("/console/?done=enabled")).text
    await client.post("/console/lists/default/add", data={"csrf": csrf, "phoneNumber": NUMBER})
    listed = await client.get(f"/console/lists/default/numbers/{NUMBER}?done=removed")
    assert "was removed" not in listed.text
    await client.post(
        f"/console/lists/default/numbers/{NUMBER}/remove", data={"csrf": csrf, "reason": "asked"}
    )
    gone = await client.get(f"/console/lists/default/numbers/{NUMBER}?done=removed")
    assert "was removed" in gone.text
