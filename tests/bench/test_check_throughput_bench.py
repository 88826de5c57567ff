"""`make bench`: /check throughput against /health on the same server (`dnc serve`, its
default worker count), bulk checks in numbers per second, and 512 connections without an
error; then the same checks naming two named lists of 10,000 numbers each, with 50 prefix rules
in force, against the org-wide list alone. Load comes from wrk (Debian's package, installed by
`make bench`)."""

import json
import sys
from pathlib import Path

import httpx

from domain.model import BulkItem, Principal
from domain.usecases.entries import bulk_add
from domain.usecases.lists import create_list, create_prefix
from infra.settings import Settings
from tests.support.bench import SECONDS, THREADS, Row, wrk
from tests.support.helpers import Org, mirror_for, uow_for

DNC = str(Path(sys.executable).with_name("dnc"))
LISTED = [f"1212555{i:04d}" for i in range(10_000)]
BULK_CONNECTIONS = 32  # several dialers sending 1,000 numbers at a time
CAMPAIGN = [f"1312555{i:04d}" for i in range(10_000)]  # each named list: half of these
RULES = [f"1{area}" for area in range(600, 650)]  # 50 area codes, none of the numbers asked


async def test_check_throughput(
    settings: Settings, org: Org, server: str, tmp_path: Path, report: list[Row]
) -> None:
    principal = Principal(org.admin_id, org.id, "admin", "full", org.admin_id)
    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        await bulk_add(uow, mirror, principal, [BulkItem(n) for n in LISTED])
    token = await org.token_for(org.admin_email, scope="check")
    check_url = f"{server}/api/dnc/check?phoneNumber=%2B{LISTED[1234]}"
    assert httpx.get(check_url, headers={"Authorization": f"Bearer {token}"}).json()["data"][
        "blocked"
    ]

    body = json.dumps({"phoneNumbers": [f"+1 212 555 {i % 10_000:04d}" for i in range(1000)]})
    script = tmp_path / "bulk.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    health = wrk(f"{server}/health", 64, token)
    single = wrk(check_url, 64, token)
    bulk = wrk(f"{server}/api/dnc/check", BULK_CONNECTIONS, token, script)
    crowd = wrk(check_url, 512, token)

    named = []  # two campaign lists, and 50 prefix rules, for the same checks again
    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        halves = (CAMPAIGN[:5_000] + LISTED[:5_000], CAMPAIGN[2_500:] + LISTED[7_500:])
        for index, numbers in enumerate(halves):
            created = await create_list(uow, mirror, org.id, None, f"campaign {index}", None)
            await bulk_add(uow, mirror, principal, [BulkItem(n) for n in numbers], created.id)
            named.append(created.id)
        for rule in RULES:
            await create_prefix(uow, mirror, principal, rule, None)
    lists_url = f"{check_url}&lists={','.join(named)}"
    answer = httpx.get(lists_url, headers={"Authorization": f"Bearer {token}"}).json()["data"]
    assert answer["lists"] == ["default", named[0]], answer
    with_lists = json.dumps({"phoneNumbers": json.loads(body)["phoneNumbers"], "lists": named})
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(with_lists)}\n"
    )
    single_lists = wrk(lists_url, 64, token)
    bulk_lists = wrk(f"{server}/api/dnc/check", BULK_CONNECTIONS, token, script)
    lists_rate = single_lists.requests_per_second
    lists_numbers = bulk_lists.requests_per_second * 1000

    single_rate, health_rate = single.requests_per_second, health.requests_per_second
    numbers_per_second = bulk.requests_per_second * 1000
    tail = single.p99_ms / single.p50_ms
    setup = f"wrk -t{THREADS} {SECONDS} s"
    report += [
        Row(f"GET /check, 64 connections ({setup})", f"{single_rate:,.0f} req/s", "GET /health",
            f"{health_rate:,.0f} req/s", single_rate / health_rate, ">= 0.85x",
            single_rate / health_rate >= 0.85),
        Row("GET /check p99 / p50, 64 connections", f"{single.p99_ms:.1f} / {single.p50_ms:.1f} ms",
            "", "", tail, "<= 3x", tail <= 3),
        Row(f"POST /check, 1,000 numbers, {BULK_CONNECTIONS} connections",
            f"{numbers_per_second:,.0f} numbers/s", "target", "1,000,000 numbers/s",
            numbers_per_second / 1_000_000, ">= 1.0x", numbers_per_second >= 1_000_000),
        Row("GET /check, 512 connections: errors",
            f"{crowd.non_2xx} non-2xx, {crowd.socket_errors} socket",
            "requests answered", f"{crowd.requests:,}", None, "0",
            crowd.errors == 0),
        Row("GET /check naming 2 lists, 50 prefix rules, 64 connections",
            f"{lists_rate:,.0f} req/s", "GET /health", f"{health_rate:,.0f} req/s",
            lists_rate / health_rate, ">= 0.85x", lists_rate / health_rate >= 0.85),
        Row(f"POST /check, 1,000 numbers, 2 lists of 10,000, 50 prefix rules, "
            f"{BULK_CONNECTIONS} connections", f"{lists_numbers:,.0f} numbers/s",
            "the org-wide list alone", f"{numbers_per_second:,.0f} numbers/s",
            lists_numbers / numbers_per_second, ">= 0.8x",
            lists_numbers / numbers_per_second >= 0.8),
    ]  # fmt: skip
