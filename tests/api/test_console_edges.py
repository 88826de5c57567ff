"""The console's edges as an outsider reaches them: paths and methods no route takes, raw
bytes on a socket to a real server, the same number written through the console and the API
at once, Postgres cut under a signed-in person, an upload that stops halfway."""

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app, create_server_app
from domain.model import DncEntry
from infra.db import copy
from infra.db.repositories.entries import SqlDncEntryRepository
from infra.settings import Settings
from tests.support.console import signed_in
from tests.support.helpers import (
    Client,
    Org,
    RawAnswer,
    add_body,
    assert_error,
    body,
    raw_exchange,
    sql,
)
from tests.support.processes import served_in_thread
from tests.support.servers import TcpProxy

ENVELOPE_KEYS = {"message", "status", "code", "errorMessage"}
NUMBER = "12125550142"
LISTED = "SELECT phone_number FROM dnc_entries WHERE removed_at IS NULL"
STAGING_TABLES = "SELECT tablename FROM pg_tables WHERE tablename LIKE 'dnc\\_import\\_%'"


@pytest.fixture(scope="module")
def served(base_settings: Settings) -> Iterator[int]:
    """What ``dnc serve`` runs, on a real server (uvicorn, in a thread); yields its port."""
    with served_in_thread(base_settings, create_server_app) as url:
        yield int(url.rsplit(":", 1)[1])


# (method, path, status, the methods a 405's Allow names)
CONSOLE_MISSES = [
    ("GET", "/console/nope", 404, None),
    ("GET", "/console/lists/default/numbers/12125550142/nope", 404, None),
    ("POST", "/console/nope", 404, None),
    ("GET", "/console/static/nope.css", 404, None),
    ("DELETE", "/console/lists", 405, {"GET", "POST"}),
    ("PUT", "/console/lists/default/add", 405, {"POST"}),
    ("PATCH", "/console/login", 405, {"GET", "POST"}),
]
API_MISSES = [
    ("GET", "/api/nope", 404, None),
    ("GET", "/consolex", 404, None),
    ("GET", "/console/api/nope", 404, None),  # the import script's JSON API, as its errors are
    ("DELETE", "/api/dnc/lists", 405, {"GET", "POST"}),
    ("PUT", "/api/dnc/add", 405, {"POST"}),
    ("GET", "/console/api/import", 405, {"POST"}),
]


def allowed(header: str | None) -> set[str]:
    return {method.strip() for method in (header or "").split(",")} - {"OPTIONS", ""}


@pytest.mark.parametrize(
    ("method", "path", "status", "allow", "page"),
    [(*miss, True) for miss in CONSOLE_MISSES] + [(*miss, False) for miss in API_MISSES],
)
async def test_a_miss_is_a_console_page_under_console_and_the_envelope_elsewhere(
    client: Client, method: str, path: str, status: int, allow: set[str] | None, page: bool
) -> None:
    response = await client.request(method, path, follow_redirects=False)
    assert response.status_code == status
    if allow is not None:
        assert allowed(response.headers.get("allow")) == allow
    if not page:
        assert response.headers["content-type"] == "application/json"
        answer = body(response)
        assert set(answer) == ENVELOPE_KEYS
        assert answer["status"] is False
        assert path in answer["errorMessage"]
        return
    assert response.headers["content-type"].startswith("text/html")
    assert "· DNC console</title>" in response.text
    assert '<link rel="stylesheet" href="/console/static/console.css">' in response.text
    assert path in response.text  # it says which path (escaped, as every page)
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


def raw(port: int, method: str, target: str, extra: str = "", content: bytes = b"") -> RawAnswer:
    if content:
        extra += f"Content-Length: {len(content)}\r\n"
    head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n"
    return raw_exchange(port, head.encode() + content)


def test_raw_requests_get_a_page_under_console_and_the_envelope_elsewhere(served: int) -> None:
    """No client library between: no Accept header, a body on a method that takes none, a
    control character and markup in the path, a path that only a raw client sends."""
    for method, path, status, allow in CONSOLE_MISSES:
        answer = raw(served, method, path)
        assert answer.status == status, (method, path)
        assert answer.headers["content-type"].startswith("text/html"), path
        assert b"DNC console</title>" in answer.body
        if allow is not None:
            assert allowed(answer.headers["allow"]) == allow
    for method, path, status, allow in API_MISSES:
        answer = raw(served, method, path)
        assert answer.status == status, (method, path)
        assert answer.headers["content-type"] == "application/json", path
        assert set(answer.envelope()) == ENVELOPE_KEYS
        if allow is not None:
            assert allowed(answer.headers["allow"]) == allow
    put = raw(
        served,
        "PUT",
        "/console/lists/default/add",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        b"csrf=x&phoneNumber=12125550142",
    )
    assert put.status == 405
    evil = raw(served, "GET", "/console/%3Cscript%3Ealert(1)%3C/script%3E%01")
    assert evil.status == 404
    assert b"<script>" not in evil.body
    assert b"\x01" not in evil.body
    assert b"&lt;script&gt;" in evil.body
    dotted = raw(served, "GET", "/console/../api/nope")  # a browser resolves "..": never sent
    assert dotted.status == 404
    assert raw(served, "GET", "/api/../console/nope").envelope()["code"] == 404
    # the API, asked for HTML, still answers JSON: only the console's paths are pages
    api = raw(served, "GET", "/api/nope", "Accept: text/html\r\n")
    assert api.envelope()["code"] == 404


ROUNDS = 24


async def test_one_number_added_through_the_console_and_the_api_at_once_is_listed_once(
    served: int, org: Org
) -> None:
    """Round after round, the console's add form and the API's add race for one number, on
    the org-wide list and on a campaign list by turns: one of them lists it, the other is told
    it is listed already; one entry, one ``dnc.add`` row naming it, ``dnc.bulk_add`` summaries
    that agree, and a check that says blocked as soon as both have answered."""
    numbers = [f"1212555{7000 + i:04d}" for i in range(ROUNDS)]
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{served}", timeout=30) as person,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{served}", headers=org.headers) as api,
    ):
        made = await api.post("/api/batches", json={"batchId": "race"})
        assert made.status_code == 201, made.text
        calls = [{"requestUUID": f"r-{n}", "phoneNumber": n} for n in numbers]
        recorded = await api.post("/api/batches/race/calls", json={"calls": calls})
        assert recorded.status_code == 201, recorded.text
        campaign = body(await api.post("/api/dnc/lists", json={"name": "Race"}))["data"]["id"]
        csrf = await signed_in(person, org.token)
        console_won = 0
        for turn, number in enumerate(numbers):
            list_id = ("default", campaign)[turn % 2]
            form, call = await asyncio.gather(
                person.post(
                    f"/console/lists/{list_id}/add",
                    data={"csrf": csrf, "phoneNumber": number, "type": "console"},
                ),
                api.post(
                    "/api/dnc/add", json=add_body(number, "race", f"r-{number}", listId=list_id)
                ),
            )
            outcome = (form.status_code, call.status_code)
            assert outcome in ((303, 400), (400, 200)), (outcome, form.text[:300], call.text)
            if form.status_code == 303:
                console_won += 1
                assert_error(call, 400, "already on")
            else:
                assert "already on this list" in form.text
            check = await api.get(
                "/api/dnc/check", params={"phoneNumber": number, "lists": campaign}
            )
            assert body(check)["data"]["blocked"] is True, number
        together = await api.post(
            "/api/dnc/check", json={"phoneNumbers": numbers, "lists": [campaign]}
        )
        assert body(together)["data"]["blockedCount"] == ROUNDS
    entries = await sql(
        org.settings,
        "SELECT list_id, phone_number, id::text AS id, source FROM dnc_entries "
        "WHERE organization_id = $1 AND removed_at IS NULL",
        org.id,
    )
    assert sorted(row["phone_number"] for row in entries) == numbers  # once each
    assert {(row["phone_number"], row["list_id"]) for row in entries} == {
        (number, ("default", campaign)[turn % 2]) for turn, number in enumerate(numbers)
    }
    assert sum(row["source"] != "call" for row in entries) == console_won
    adds = await sql(
        org.settings, "SELECT phone_number, entity_id FROM audit_log WHERE action = 'dnc.add'"
    )
    assert sorted((row["phone_number"], row["entity_id"]) for row in adds) == sorted(
        (row["phone_number"], row["id"]) for row in entries
    )
    [summary] = await sql(
        org.settings,
        "SELECT count(*) AS forms, sum((after->>'added')::int) AS added, "
        "sum((after->>'duplicate')::int) AS duplicate "
        "FROM audit_log WHERE action = 'dnc.bulk_add'",
    )
    assert (summary["forms"], summary["added"]) == (ROUNDS, console_won)
    assert summary["duplicate"] == ROUNDS - console_won


@pytest.fixture
def proxied(settings: Settings) -> Iterator[tuple[Settings, TcpProxy]]:
    """The test's settings with Postgres reached through a proxy the test can cut."""
    db = urlsplit(settings.database_url)
    proxy = TcpProxy(db.port or 5432)
    proxy.start()
    netloc = f"{db.username}@127.0.0.1:{proxy.port}"
    try:
        yield replace(settings, database_url=db._replace(netloc=netloc).geturl()), proxy
    finally:
        proxy.close()


async def test_postgres_cut_under_a_signed_in_person_is_a_page_that_says_so(
    proxied: tuple[Settings, TcpProxy], org: Org
) -> None:
    """Every connection to Postgres dropped and new ones refused, while a person is signed in:
    each page and form answers the 503 page (not a traceback, not the sign-in page, the cookie
    kept); once Postgres is back the same session works again, with no restart."""
    settings, proxy = proxied
    async with AsyncTestClient(app=create_app(settings)) as client:
        csrf = await signed_in(client, org.token)
        pages = ["/console/", "/console/lists", "/console/lists/default", "/console/audit"]
        for path in pages:
            assert (await client.get(path)).status_code == 200, path
        proxy.cut()
        add = ("/console/lists/default/add", {"csrf": csrf, "phoneNumber": NUMBER})
        for method, path, data in [*(("GET", p, None) for p in pages), ("POST", *add)]:
            response = await client.request(method, path, data=data, follow_redirects=False)
            assert response.status_code == 503, (path, response.status_code, response.text)
            assert response.headers["content-type"].startswith("text/html"), path
            assert "database is unreachable" in response.text
            assert "Traceback" not in response.text
            assert not response.headers.get_list("set-cookie"), path  # not signed out
        upload = await client.post(
            "/console/api/import",
            content=f"phoneNumber\n{NUMBER}\n".encode(),
            headers={"Content-Type": "text/csv", "X-CSRF-Token": csrf},
        )
        assert_error(upload, 503, "database is unreachable")
        proxy.restore()
        for path in pages:
            assert (await client.get(path)).status_code == 200, path
        added = await client.post(add[0], data=add[1], follow_redirects=False)
        assert added.status_code == 303, added.text
    assert await sql(org.settings, "SELECT 1 FROM dnc_entries WHERE phone_number = $1", NUMBER)


async def test_postgres_cut_in_the_middle_of_a_request_is_a_503_not_a_500(
    proxied: tuple[Settings, TcpProxy], org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cut lands between two statements of one transaction (the connection was checked out
    and pinged a moment before): SQLAlchemy raises a bare ``DBAPIError``, "connection was
    closed in the middle of operation". The console's add form and the API's bulk add alike
    answer 503, and nothing is half-written."""
    settings, proxy = proxied
    add_many = SqlDncEntryRepository.add_many

    async def cut_first(self: SqlDncEntryRepository, entries: Sequence[DncEntry]) -> set[UUID]:
        proxy.cut()
        return await add_many(self, entries)

    async with AsyncTestClient(app=create_app(settings)) as client:
        csrf = await signed_in(client, org.token)
        monkeypatch.setattr(SqlDncEntryRepository, "add_many", cut_first)
        form = await client.post(
            "/console/lists/default/add", data={"csrf": csrf, "phoneNumber": NUMBER}
        )
        assert form.status_code == 503, form.text
        assert "text/html" in form.headers["content-type"]
        assert "database is unreachable" in form.text
        assert not form.headers.get_list("set-cookie")
        proxy.restore()
        bulk = await client.post(
            "/api/dnc/bulk-add", json={"numbers": [{"phoneNumber": NUMBER}]}, headers=org.headers
        )
        assert_error(bulk, 503, "database is unreachable")
        proxy.restore()
        # and in the middle of the upload's COPY, where asyncpg is used directly
        streamed = copy.refuse_end_marker

        async def cut_midway(rows: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
            async for chunk in streamed(rows):
                yield chunk
                proxy.cut()

        monkeypatch.setattr(copy, "refuse_end_marker", cut_midway)
        upload = await client.post(
            "/console/api/import",
            content=b"phoneNumber\n" + b"\n".join(b"1212555%04d" % n for n in range(3000)),
            headers={"Content-Type": "text/csv", "X-CSRF-Token": csrf},
        )
        assert_error(upload, 503, "database is unreachable")
        proxy.restore()
        monkeypatch.undo()
        assert (await client.get("/console/lists/default")).status_code == 200
    assert not await sql(org.settings, "SELECT 1 FROM dnc_entries")
    assert not await sql(org.settings, "SELECT 1 FROM imports")
    assert not await sql(org.settings, STAGING_TABLES)


def interrupted_upload(port: int, cookie: str, csrf: str, how: str) -> None:
    """A console upload whose body stops partway, the connection then closed (``fin``), reset
    (``rst``), or, for a chunked body, closed in the middle of a chunk (``chunked``)."""
    rows = b"phoneNumber,type\n" + b"".join(b"1646555%04d,cut\n" % n for n in range(10_000))
    rows += b"x" * (1 << 20)  # past what is spooled in memory: the rest goes to a file
    framing = "Transfer-Encoding: chunked" if how == "chunked" else "Content-Length: 5000000"
    head = (
        "POST /console/api/import HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Cookie: dnc_console={cookie}\r\nX-CSRF-Token: {csrf}\r\n"
        f"Content-Type: text/csv\r\n{framing}\r\n\r\n"
    ).encode()
    body = (
        b"%x\r\n%s\r\n%x\r\n%s" % (len(rows), rows, 4096, b"16465550000,")
        if how == "chunked"
        else rows
    )
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        sock.sendall(head + body)
        if how == "rst":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()


async def test_an_upload_cut_off_midway_imports_nothing_and_the_server_keeps_serving(
    served: int, org: Org
) -> None:
    """The console's CSV upload stops partway through its body, on a raw socket, more times
    than there are import slots: no entry, no import, no staging table, no audit row; the
    server answers the person's pages and takes a whole upload at once afterwards."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{served}", timeout=30) as person:
        csrf = await signed_in(person, org.token)
        cookie = person.cookies["dnc_console"]
        for how in ("fin", "rst", "chunked") * 2:
            interrupted_upload(served, cookie, csrf, how)
            page = await person.get("/console/import")
            assert page.status_code == 200, how
        whole = await person.post(
            "/console/api/import",
            content=f"phoneNumber\n{NUMBER}\n".encode(),
            headers={"Content-Type": "text/csv", "X-CSRF-Token": csrf},
        )
        assert whole.status_code == 200, whole.text
        assert body(whole)["data"]["added"] == 1
    await asyncio.sleep(0.3)  # anything the cut uploads were still doing has had its time
    assert [row["phone_number"] for row in await sql(org.settings, LISTED)] == [NUMBER]
    assert len(await sql(org.settings, "SELECT 1 FROM imports")) == 1
    assert not await sql(org.settings, STAGING_TABLES)
    audited = await sql(
        org.settings, "SELECT action FROM audit_log WHERE action LIKE 'dnc.%' ORDER BY id"
    )
    assert [row["action"] for row in audited] == ["dnc.add", "dnc.import"]
