"""Exemptions through the API (API.md, "Shared lists (registries) and exemptions"): created,
read, listed and deleted in the envelope, audited, kept to the organization, refused on every
malformed input, and deleted exactly once under concurrent deletes. How checks honour them is
tested with the checks."""

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from domain.rules import add_months
from infra.settings import Settings
from tests.support.helpers import (
    Client,
    Org,
    assert_error,
    bearer,
    body,
    free_port,
    sql,
    uow_for,
)
from tests.support.processes import served_in_thread

A, B, C = "12125550100", "12125550101", "12125550102"
NEW_YORK = timezone(timedelta(hours=-5))
CONSENT = b'"basis": "written_consent"'
DEEP = b"[" * 5000 + b"]" * 5000
FIELDS = {"id", "phoneNumber", "basis", "since", "lapsesAt", "createdAt", "createdBy"}
PATH = "/api/dnc/exemptions"


def iso(moment: datetime) -> str:
    """A time as the API writes it: UTC, with a Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def days_ago(days: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)


async def exempt(
    client: Client, org: Org, number: str = A, basis: str = "ebr_purchase", **extra: Any
) -> dict[str, Any]:
    payload = {"phoneNumber": number, "basis": basis, **extra}
    if basis != "written_consent":
        payload.setdefault("since", iso(days_ago(30)))
    response = await client.post(PATH, json=payload, headers=org.headers)
    assert response.status_code == 201, body(response)
    data: dict[str, Any] = body(response)["data"]
    return data


async def listed(client: Client, org: Org, **params: Any) -> dict[str, Any]:
    response = await client.get(PATH, params=params, headers=org.headers)
    assert response.status_code == 200, body(response)
    data: dict[str, Any] = body(response)["data"]
    return data


async def audit_of(client: Client, org: Org, number: str) -> list[dict[str, Any]]:
    response = await client.get(
        "/api/dnc/audit", params={"phoneNumber": number}, headers=org.headers
    )
    assert response.status_code == 200, body(response)
    items: list[dict[str, Any]] = body(response)["data"]["items"]
    return [i for i in items if i["action"].startswith("exemption.")]


async def sync_messages(settings: Settings, org: Org) -> list[dict[str, Any]]:
    rows = await sql(
        settings,
        "SELECT payload FROM outbox WHERE kind = 'mirror.sync' AND organization_id = $1 "
        "ORDER BY id",
        org.id,
    )
    return [json.loads(row["payload"]) for row in rows]


async def test_an_exemption_is_created_read_listed_deleted_and_audited(
    client: Client, org: Org, settings: Settings
) -> None:
    since = days_ago(40).astimezone(NEW_YORK)
    sent = {"phoneNumber": "+1 (212) 555-0100", "basis": "ebr_purchase", "since": since.isoformat()}
    response = await client.post(PATH, json=sent, headers=org.headers)
    assert response.status_code == 201, body(response)
    answer = body(response)
    assert (answer["status"], answer["code"], answer["message"]) == (True, 201, "Exemption created")
    made = answer["data"]
    assert set(made) == FIELDS
    assert (made["phoneNumber"], made["basis"], made["since"]) == (A, "ebr_purchase", iso(since))
    assert made["lapsesAt"] == iso(add_months(since.astimezone(UTC), 18))
    assert made["createdBy"] == str(org.admin_id)
    created = datetime.fromisoformat(made["createdAt"])
    assert abs(created - datetime.now(UTC)) < timedelta(minutes=1)

    one = await client.get(f"{PATH}/{made['id']}", headers=org.headers)
    assert one.status_code == 200, body(one)
    assert body(one)["data"] == made
    assert await listed(client, org) == {"items": [made], "page": 1, "limit": 10, "total": 1}

    deleted = await client.delete(f"{PATH}/{made['id']}", headers=org.headers)
    assert deleted.status_code == 200, body(deleted)
    assert (body(deleted)["code"], body(deleted)["message"]) == (200, "Exemption deleted")
    assert body(deleted)["data"] == made
    assert_error(await client.get(f"{PATH}/{made['id']}", headers=org.headers), 404, "No exemption")
    assert_error(await client.delete(f"{PATH}/{made['id']}", headers=org.headers), 404)
    assert (await listed(client, org))["total"] == 0

    events = await audit_of(client, org, A)
    assert [(e["action"], e["entityId"], e["actorUserId"]) for e in events] == [
        ("exemption.delete", made["id"], str(org.admin_id)),
        ("exemption.add", made["id"], str(org.admin_id)),
    ]
    utc = since.astimezone(UTC)
    stored = {
        "basis": "ebr_purchase",
        "since": utc.isoformat(),
        "lapsesAt": add_months(utc, 18).isoformat(),
    }
    assert events[1]["after"] == stored
    assert events[0]["before"] == stored
    # each change told the mirror sync which number's exemptions to carry to Redis
    exempted = [m for m in await sync_messages(settings, org) if "exemptions" in m]
    assert exempted == [{"numbers": [], "exemptions": [A]}] * 2
    [row] = await sql(settings, "SELECT * FROM exemptions WHERE id = $1", UUID(made["id"]))
    assert row["deleted_at"] is not None  # the row is kept
    assert row["deleted_by_user_id"] == org.admin_id


async def test_consent_needs_no_since_and_never_lapses_an_inquiry_lapses_in_3_months(
    client: Client, org: Org
) -> None:
    consent = await exempt(client, org, A, "written_consent")
    assert consent["lapsesAt"] is None
    assert abs(datetime.fromisoformat(consent["since"]) - datetime.now(UTC)) < timedelta(minutes=1)
    since = days_ago(10)
    inquiry = await exempt(client, org, A, "ebr_inquiry", since=iso(since))
    assert inquiry["lapsesAt"] == iso(add_months(since, 3))
    again = await exempt(client, org, A, "written_consent", since=iso(days_ago(400)))
    assert again["lapsesAt"] is None  # several of one number coexist
    page = await listed(client, org, phoneNumber="2125550100")
    assert [i["id"] for i in page["items"]] == [again["id"], inquiry["id"], consent["id"]]
    assert page["total"] == 3


class FromNow:
    """A time this far from when the request is sent (the parameters are built at
    collection, maybe minutes before the test runs)."""

    def __init__(self, **delta: float) -> None:
        self.delta = timedelta(**delta)

    def __str__(self) -> str:
        return iso(datetime.now(UTC) + self.delta)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({}, "phoneNumber"),
        ({"phoneNumber": A}, "basis"),
        ({"basis": "written_consent"}, "phoneNumber"),
        ({"phoneNumber": A, "basis": "ebr"}, "ebr_purchase, ebr_inquiry, written_consent"),
        ({"phoneNumber": A, "basis": "Written_Consent"}, "is not one of"),
        ({"phoneNumber": A, "basis": 7}, "basis"),
        ({"phoneNumber": A, "basis": None}, "basis"),
        ({"phoneNumber": A, "basis": ["written_consent"]}, "basis"),
        ({"phoneNumber": 12125550100, "basis": "written_consent"}, "phoneNumber"),
        ({"phoneNumber": None, "basis": "written_consent"}, "phoneNumber"),
        ({"phoneNumber": "12345", "basis": "written_consent"}, "not a valid phone number"),
        ({"phoneNumber": "", "basis": "written_consent"}, "empty"),
        ({"phoneNumber": "1" * 41, "basis": "written_consent"}, "phoneNumber"),
        ({"phoneNumber": A, "basis": "ebr_purchase"}, "since (when the last purchase was made)"),
        ({"phoneNumber": A, "basis": "ebr_inquiry", "since": None}, "since (when the inquiry"),
        ({"phoneNumber": A, "basis": "ebr_purchase", "since": "2026-01-01T00:00:00"}, "time"),
        ({"phoneNumber": A, "basis": "ebr_purchase", "since": "yesterday"}, "since"),
        ({"phoneNumber": A, "basis": "ebr_purchase", "since": 1767225600}, "since"),
        ({"phoneNumber": A, "basis": "ebr_purchase", "since": FromNow(minutes=6)}, "future"),
        ({"phoneNumber": A, "basis": "written_consent", "since": FromNow(days=1)}, "future"),
        ({"phoneNumber": A, "basis": "ebr_inquiry", "since": FromNow(days=-93)}, "lapsed at"),
        ({"phoneNumber": A, "basis": "ebr_purchase", "since": FromNow(days=-560)}, "lapsed at"),
        (
            {"phoneNumber": A, "basis": "ebr_purchase", "since": "0001-01-01T00:00:00+01:00"},
            "since is out of range",
        ),
        (
            {"phoneNumber": A, "basis": "written_consent", "since": "9999-12-31T23:59:59-01:00"},
            "since",
        ),
        ({"phoneNumber": A, "basis": "written_consent", "reason": "x"}, "unknown field"),
        ({"phoneNumber": A, "basis": "ebr_purchase", "sinse": FromNow(days=-1)}, "unknown"),
        ({"phone_number": A, "basis": "written_consent"}, "unknown field"),
        ({"phoneNumber": A, "basis": "written_consent", "listId": "default"}, "unknown field"),
    ],
)
async def test_a_bad_body_is_a_400_and_exempts_nothing(
    client: Client, org: Org, payload: dict[str, Any], fragment: str
) -> None:
    sent = {key: str(v) if isinstance(v, FromNow) else v for key, v in payload.items()}
    response = await client.post(PATH, json=sent, headers=org.headers)
    assert_error(response, 400, fragment)
    assert (await listed(client, org))["total"] == 0
    assert await audit_of(client, org, A) == []


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'{"phoneNumber": "\xff\xfe", ' + CONSENT + b"}", "UTF-8"),
        (b'{"phoneNumber": "12125550100", ' + CONSENT + b', "phoneNumber": "1"}', "appears twice"),
        (b'{"basis": "ebr_inquiry", "phoneNumber": "12125550100", ' + CONSENT + b"}", "twice"),
        (b'{"phoneNumber": "12125550100", ' + CONSENT, "not valid JSON"),
        (b'{"phoneNumber": "1212555\\u00000100", ' + CONSENT + b"}", "NUL"),
        (b'[{"phoneNumber": "12125550100", ' + CONSENT + b"}]", "object"),
        (b"null", "object"),
        (b"", "JSON object"),
        (b'{"phoneNumber": "12125550100", ' + CONSENT + b', "x": ' + DEEP + b"}", "deeper"),
    ],
)
async def test_raw_bytes_that_are_not_one_clean_body_are_a_400(
    client: Client, org: Org, content: bytes, fragment: str
) -> None:
    headers = {**org.headers, "Content-Type": "application/json"}
    response = await client.post(PATH, content=content, headers=headers)
    assert_error(response, 400, fragment)
    assert (await listed(client, org))["total"] == 0


@pytest.mark.parametrize("raw", ["not-a-uuid", "1234", "g" * 32, "%27%20OR%201%3D1", "0" * 200])
async def test_an_id_that_is_no_uuid_is_a_400_and_an_unknown_one_a_404(
    client: Client, org: Org, raw: str
) -> None:
    assert_error(await client.get(f"{PATH}/{raw}", headers=org.headers), 400, "is not a UUID")
    assert_error(await client.delete(f"{PATH}/{raw}", headers=org.headers), 400, "is not a UUID")
    unknown = uuid4()
    assert_error(await client.get(f"{PATH}/{unknown}", headers=org.headers), 404, str(unknown))
    assert_error(await client.delete(f"{PATH}/{unknown}", headers=org.headers), 404, str(unknown))


async def test_the_list_pages_newest_first_and_filters_by_number(client: Client, org: Org) -> None:
    made = [await exempt(client, org, number, "written_consent") for number in (A, B, A)]
    first = await listed(client, org, limit=2)
    assert [i["id"] for i in first["items"]] == [made[2]["id"], made[1]["id"]]
    assert (first["page"], first["limit"], first["total"]) == (1, 2, 3)
    second = await listed(client, org, limit=2, page=2)
    assert [i["id"] for i in second["items"]] == [made[0]["id"]]
    assert (await listed(client, org, page=3, limit=2))["items"] == []
    # a raw "+" in the query is a plus, as everywhere in this API
    raw = await client.get(f"{PATH}?phoneNumber=+1-212-555-0101", headers=org.headers)
    assert [i["id"] for i in body(raw)["data"]["items"]] == [made[1]["id"]]
    assert body(raw)["data"]["total"] == 1
    only_a = await listed(client, org, phoneNumber="(212) 555-0100")
    assert [i["id"] for i in only_a["items"]] == [made[2]["id"], made[0]["id"]]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("page=0", "page must be 1 or more"),
        ("page=1000001", "page must be at most"),
        ("limit=0", "limit must be between 1 and 1000"),
        ("limit=1001", "limit must be between 1 and 1000"),
        ("page=abc", "page"),
        ("limit=1.5", "limit"),
        ("page=" + "9" * 30, "page"),
        ("page=1&page=2", "appears more than once"),
        ("phoneNumber=", "phoneNumber is empty"),
        ("phoneNumber=12345", "not a valid phone number"),
        ("phoneNumber=1212555%000100", "phoneNumber"),
        ("phoneNumber=12125550100&phoneNumber=12125550101", "appears more than once"),
    ],
)
async def test_a_bad_page_or_filter_is_a_400(
    client: Client, org: Org, query: str, fragment: str
) -> None:
    assert_error(await client.get(f"{PATH}?{query}", headers=org.headers), 400, fragment)


async def test_another_organizations_exemption_is_not_found_here(
    client: Client, org: Org, other_org: Org
) -> None:
    theirs = await exempt(client, other_org, A, "written_consent")
    assert_error(await client.get(f"{PATH}/{theirs['id']}", headers=org.headers), 404)
    assert_error(await client.delete(f"{PATH}/{theirs['id']}", headers=org.headers), 404)
    assert (await listed(client, org))["items"] == []
    assert (await listed(client, org, phoneNumber=A))["total"] == 0
    assert await audit_of(client, org, A) == []
    assert [i["id"] for i in (await listed(client, other_org))["items"]] == [theirs["id"]]


async def test_a_check_token_may_not_touch_exemptions_and_a_member_may(
    client: Client, org: Org
) -> None:
    mine = await exempt(client, org, A, "written_consent")
    check = bearer(await org.token_for(org.admin_email, scope="check"))
    for method, path, payload in (
        ("GET", PATH, None),
        ("POST", PATH, {"phoneNumber": B, "basis": "written_consent"}),
        ("GET", f"{PATH}/{mine['id']}", None),
        ("DELETE", f"{PATH}/{mine['id']}", None),
    ):
        response = await client.request(method, path, json=payload, headers=check)
        assert_error(response, 403, "scope")
    assert [i["id"] for i in (await listed(client, org))["items"]] == [mine["id"]]
    member_id, member_token = await org.add_user("member")
    member = bearer(member_token)
    response = await client.post(
        PATH, json={"phoneNumber": B, "basis": "written_consent"}, headers=member
    )
    assert response.status_code == 201, body(response)
    assert body(response)["data"]["createdBy"] == str(member_id)
    response = await client.delete(f"{PATH}/{mine['id']}", headers=member)
    assert response.status_code == 200, body(response)
    assert_error(await client.get(PATH, headers={}), 401)


async def test_concurrent_deletes_of_one_exemption_delete_it_once(
    client: Client, org: Org, settings: Settings
) -> None:
    """On a real server (the test client runs one request at a time), side by side."""
    with served_in_thread(settings) as url:
        async with httpx.AsyncClient(base_url=url, headers=org.headers, timeout=30) as http:
            for _ in range(5):
                made = await exempt(client, org, A, "ebr_inquiry", since=iso(days_ago(1)))
                target = f"{PATH}/{made['id']}"
                responses = await asyncio.gather(*(http.delete(target) for _ in range(8)))
                statuses = sorted(r.status_code for r in responses)
                assert statuses == [200] + [404] * 7, [body(r) for r in responses]
                for response in responses:
                    if response.status_code == 404:
                        assert_error(response, 404, "No exemption")
                events = [e for e in await audit_of(client, org, A) if e["entityId"] == made["id"]]
                assert [e["action"] for e in events] == ["exemption.delete", "exemption.add"]
    rows = await sql(settings, "SELECT count(*) AS n FROM exemptions WHERE deleted_at IS NULL")
    assert rows[0]["n"] == 0


@pytest.mark.single_redis
async def test_with_redis_down_a_delete_is_a_503_and_deletes_nothing_a_create_is_kept(
    client: Client, org: Org, settings: Settings
) -> None:
    made = await exempt(client, org, A, "written_consent")
    cut = replace(
        settings, redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout_seconds=0.5
    )
    async with AsyncTestClient(app=create_app(cut)) as cut_client:
        response = await cut_client.delete(f"{PATH}/{made['id']}", headers=org.headers)
        assert_error(response, 503, "could not be reached")
        # a new exemption unblocks: committed first, Redis learns of it from the relay
        created = await cut_client.post(
            PATH, json={"phoneNumber": B, "basis": "written_consent"}, headers=org.headers
        )
        assert created.status_code == 201, body(created)
    assert body(await client.get(f"{PATH}/{made['id']}", headers=org.headers))["data"] == made
    assert [e["action"] for e in await audit_of(client, org, A)] == ["exemption.add"]
    assert (await listed(client, org))["total"] == 2
    pending = await sql(
        settings,
        "SELECT payload FROM outbox WHERE kind = 'mirror.sync' AND organization_id = $1 "
        "AND processed_at IS NULL",
        org.id,
    )
    assert [json.loads(r["payload"]) for r in pending] == [{"numbers": [], "exemptions": [B]}]


def test_the_routes_are_in_the_openapi_schema() -> None:
    schema = create_app(Settings()).openapi_schema.to_schema()
    assert set(schema["paths"][PATH]) == {"get", "post"}
    assert set(schema["paths"][f"{PATH}/{{exemptionId}}"]) == {"get", "delete"}
    new = schema["components"]["schemas"]["NewExemption"]
    assert set(new["properties"]) == {"phoneNumber", "basis", "since"}
    assert set(new["required"]) == {"phoneNumber", "basis"}
    assert "written_consent" in json.dumps(new["properties"]["basis"])
    assert schema["paths"][PATH]["post"]["responses"]["201"]


async def test_the_envelope_is_kept_on_wrong_methods(client: Client, org: Org) -> None:
    response = await client.put(PATH, json={}, headers=org.headers)
    assert_error(response, 405)
    response = await client.patch(f"{PATH}/{uuid4()}", json={}, headers=org.headers)
    assert_error(response, 405)


async def test_postgres_gives_each_numbers_last_lapse_for_the_mirror(
    client: Client, org: Org, other_org: Org
) -> None:
    """What the mirror is written from (``ExemptionRepository.lapses``): per number the last
    lapse of its live exemptions, lapsed ones included; None when one never lapses."""
    since = days_ago(20)
    await exempt(client, org, A, "ebr_inquiry", since=iso(since))
    await exempt(client, org, A, "ebr_purchase", since=iso(since))
    await exempt(client, org, B, "ebr_purchase", since=iso(since))
    await exempt(client, org, B, "written_consent")
    gone = await exempt(client, org, C, "written_consent")
    await exempt(client, other_org, C, "written_consent")
    async with uow_for(org.settings) as uow, uow:
        # delete behind the mirror's back: only the rows matter here
        assert await uow.exemptions.delete(org.id, UUID(gone["id"]), None) is not None
        expected = {A: add_months(since, 18), B: None}
        assert await uow.exemptions.lapses(org.id, [A, B, C, "447700900123"]) == expected
        assert await uow.exemptions.lapses(org.id) == expected
        assert await uow.exemptions.lapses(org.id, []) == {}
        assert await uow.exemptions.lapses(other_org.id, [A, B, C]) == {C: None}
        assert await uow.exemptions.count(org.id) == 4
        assert await uow.exemptions.count(org.id, A) == 2
