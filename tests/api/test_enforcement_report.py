"""An entry added from a call records the call's time, and ``GET /api/dnc/report`` says how
many requests made on calls in a period were listed, and how soon (median, longest)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.helpers import Client, Org, add_body, assert_error, body, seed_call


async def report(client: Client, org: Org, **params: str) -> Any:
    response = await client.get("/api/dnc/report", params=params, headers=org.headers)
    assert response.status_code == 200, response.text
    return body(response)["data"]


async def add_from_call(
    client: Client, org: Org, request_uuid: str, phone: str, started: datetime, seconds: int
) -> None:
    await seed_call(
        client, org, request_uuid=request_uuid, phone=phone,
        startedAt=started.isoformat(), durationSeconds=seconds,
    )  # fmt: skip
    response = await client.post(
        "/api/dnc/add", json=add_body(phone, request_uuid=request_uuid), headers=org.headers
    )
    assert response.status_code == 200, response.text


async def test_the_report_measures_each_request_from_the_end_of_its_call(
    client: Client, org: Org, other_org: Org
) -> None:
    now = datetime.now(UTC)
    # a call that ended 9 minutes ago, one that ended an hour ago
    await add_from_call(client, org, "req-1", "2125550101", now - timedelta(minutes=10), 60)
    await add_from_call(client, org, "req-2", "2125550102", now - timedelta(minutes=62), 120)
    bulk = await client.post(  # no call: not a request the report can time
        "/api/dnc/bulk-add", json={"numbers": [{"phoneNumber": "2125550103"}]}, headers=org.headers
    )
    assert bulk.status_code == 200

    seen = await report(client, org)
    assert seen["requests"] == 2
    assert 3600 - 5 < seen["maxSecondsToEnforcement"] < 3600 + 60  # the call an hour ago
    median = seen["medianSecondsToEnforcement"]
    assert 2070 - 5 < median < 2070 + 60  # the middle of 9 and 60 minutes
    # the period is by the call's time: only the recent call
    recent = await report(client, org, since=(now - timedelta(minutes=30)).isoformat())
    assert recent["requests"] == 1
    assert 9 * 60 - 5 < recent["maxSecondsToEnforcement"] < 9 * 60 + 60
    assert (await report(client, other_org))["requests"] == 0

    history = await client.get("/api/dnc/entries/2125550101/history", headers=org.headers)
    [entry] = body(history)["data"]["entries"]
    requested = datetime.fromisoformat(entry["requestedAt"])
    assert abs(requested - (now - timedelta(minutes=9))) < timedelta(seconds=5)


async def test_an_empty_period_reports_no_times(client: Client, org: Org) -> None:
    seen = await report(client, org, since="2020-01-01T00:00:00Z", until="2020-02-01T00:00:00Z")
    assert seen == {
        "since": "2020-01-01T00:00:00Z",
        "until": "2020-02-01T00:00:00Z",
        "requests": 0,
        "medianSecondsToEnforcement": None,
        "maxSecondsToEnforcement": None,
    }


async def test_a_bad_period_is_a_400(client: Client, org: Org) -> None:
    for params in (
        {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"since": "2026-01-01T00:00:00"},  # no timezone
        {"until": "yesterday"},
    ):
        response = await client.get("/api/dnc/report", params=params, headers=org.headers)
        assert_error(response, 400)
