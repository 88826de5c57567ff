"""`make bench`: what a receipt costs. 50,000-number bulk checks, one at a time, against the
same `dnc serve` process, in rounds of three: unreceipted, receipted (it keeps its question
and its 5 MB answer, compressed, in one committed INSERT before answering), unreceipted
again. Each is timed from sending to the answer's last byte, and the medians compared: a
run of a few seconds holds only a handful of such checks (wrk's requests per second counts
whole requests), and rounds side by side cancel what the rest of a busy machine does.
Targets (issue 15): a receipted check runs at >= 0.5x an unreceipted one, and unreceipted
checks lose nothing (those right after a receipted one >= 0.95x of those right before it).
Single checks with and without a receipt are shown too (wrk, no target)."""

import json
import os
import time
from statistics import median

import httpx

from domain.model import BulkItem, Principal
from domain.usecases.entries import bulk_add
from infra.settings import Settings
from tests.support.bench import SECONDS, THREADS, Row, wrk
from tests.support.helpers import Org, mirror_for, sql, uow_for

LISTED = [f"1212555{i:04d}" for i in range(10_000)]
BULK = int(os.environ.get("DNC_BENCH_RECEIPT_NUMBERS", "50000"))
ROUNDS = int(os.environ.get("DNC_BENCH_RECEIPT_ROUNDS", "15"))


def timed(client: httpx.Client, content: bytes) -> float:
    """Seconds to send one check and read its whole answer."""
    started = time.perf_counter()
    response = client.post("/api/dnc/check", content=content)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text[:300]
    return elapsed


async def test_receipts(settings: Settings, org: Org, server: str, report: list[Row]) -> None:
    principal = Principal(org.admin_id, org.id, "admin", "full", org.admin_id)
    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        await bulk_add(uow, mirror, principal, [BulkItem(n) for n in LISTED])
    token = await org.token_for(org.admin_email, scope="check")
    # alternately 10,000 listed numbers and 10,000 others
    numbers = [f"+1 212 55{5 + i // 10_000 % 2} {i % 10_000:04d}" for i in range(BULK)]
    plain = json.dumps({"phoneNumbers": numbers}).encode()
    receipted = json.dumps({"phoneNumbers": numbers, "receipt": True}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=server, headers=headers, timeout=120) as client:
        first = client.post("/api/dnc/check", content=receipted)
        answer, answer_size = first.json()["data"], len(first.content)
        listed = sum(1 for i in range(BULK) if i // 10_000 % 2 == 0)
        assert answer["receiptId"]
        assert answer["blockedCount"] == listed, answer["blockedCount"]
        await sql(settings, "TRUNCATE check_receipts")
        for _ in range(2):  # warm
            timed(client, plain)
        rounds = [
            (timed(client, plain), timed(client, receipted), timed(client, plain))
            for _ in range(ROUNDS)
        ]
    before = [b for b, _, _ in rounds]
    with_receipts = [r for _, r, _ in rounds]
    after = [a for _, _, a in rounds]
    print("\nreceipts bench, ms a check (before, receipted, after):")
    print(*(" ".join(f"{t * 1000:7.1f}" for t in round_) for round_ in rounds), sep="\n")
    kept = await sql(
        settings,
        "SELECT count(*) AS n, coalesce(avg(octet_length(answer) + octet_length(question)), 0)"
        " AS size FROM check_receipts",
    )
    assert kept[0]["n"] == ROUNDS
    single_url = f"{server}/api/dnc/check?phoneNumber=%2B{LISTED[1234]}"
    single = wrk(single_url, 64, token)
    single_receipted = wrk(f"{single_url}&receipt=true", 64, token)
    assert single.errors + single_receipted.errors == 0, (single, single_receipted)

    plain_rate = BULK / median(before)
    receipted_rate, after_rate = BULK / median(with_receipts), BULK / median(after)
    single_rate, single_receipted_rate = (
        single.requests_per_second, single_receipted.requests_per_second
    )  # fmt: skip
    setup = f"one connection, median of {ROUNDS}"
    report += [
        Row(f"POST /check, {BULK:,} numbers, receipt ({setup})", f"{receipted_rate:,.0f} numbers/s",
            "the same without a receipt", f"{plain_rate:,.0f} numbers/s",
            receipted_rate / plain_rate, ">= 0.5x", receipted_rate / plain_rate >= 0.5),
        Row(f"POST /check, {BULK:,} numbers, no receipt, right after a receipted one",
            f"{after_rate:,.0f} numbers/s", "the same right before it",
            f"{plain_rate:,.0f} numbers/s", after_rate / plain_rate, ">= 0.95x",
            after_rate / plain_rate >= 0.95),
        Row(f"receipt of {BULK:,} numbers in Postgres (compressed)",
            f"{kept[0]['size'] / 1024:,.0f} KiB", "the question and the answer sent",
            f"{(len(receipted) + answer_size) / 1024:,.0f} KiB",
            kept[0]["size"] / (len(receipted) + answer_size), "", None),
        Row(f"GET /check, receipt=true, 64 connections (wrk -t{THREADS} {SECONDS} s)",
            f"{single_receipted_rate:,.0f} req/s", "GET /check", f"{single_rate:,.0f} req/s",
            single_receipted_rate / single_rate, "", None),
    ]  # fmt: skip
