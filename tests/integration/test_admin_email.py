"""The add's email to every admin: outbox row in the add's transaction, an arq job after commit,
SMTP through a real server; retried while SMTP is down; never lost, never sent twice."""

import asyncio
import logging
from dataclasses import replace

import pytest

from infra.redis.queue import ArqJobQueue
from infra.settings import Settings
from jobs.worker import relay_outbox, shutdown, startup
from tests.support.helpers import (
    RECORDING,
    TRANSCRIPT,
    Client,
    Org,
    SmtpSink,
    add_body,
    add_listed_number,
    arq_for,
    outbox_rows,
    run_worker,
    seed_call,
    sql,
)


async def test_every_admin_gets_one_email_naming_the_number_type_batch_and_call(
    smtp_settings: Settings, smtp: SmtpSink, org: Org
) -> None:
    await org.add_user("admin")
    await org.add_user("member")
    await add_listed_number(smtp_settings, org)
    await run_worker(smtp_settings)

    assert len(smtp.messages) == 2
    recipients = sorted(str(m["To"]) for m in smtp.messages)
    assert org.admin_email in recipients
    assert all(r.startswith("admin") for r in recipients)
    message = smtp.messages[0]
    assert message["From"] == "dnc@test"
    assert "+12125551234" in str(message["Subject"])
    assert "customer_request" in str(message["Subject"])
    text = message.get_payload(decode=True)
    assert isinstance(text, bytes)
    content = text.decode()
    for expected in ("+12125551234", "customer_request", "batch-1", "req-1", RECORDING, TRANSCRIPT):
        assert expected in content
    assert message["Message-ID"]
    assert len({m["Message-ID"] for m in smtp.messages}) == 2
    assert all(row["processed_at"] is not None for row in await outbox_rows(smtp_settings))


async def test_running_the_job_again_sends_nothing_more(
    smtp_settings: Settings, smtp: SmtpSink, org: Org
) -> None:
    await add_listed_number(smtp_settings, org)
    await run_worker(smtp_settings)
    assert len(smtp.messages) == 1
    async with arq_for(smtp_settings) as arq:
        queue = ArqJobQueue(arq, smtp_settings)
        await queue.dispatch_outbox([row["id"] for row in await outbox_rows(smtp_settings)])
    await run_worker(smtp_settings)
    assert len(smtp.messages) == 1


async def test_smtp_down_is_retried_until_it_is_back(
    smtp_settings: Settings, smtp: SmtpSink, org: Org
) -> None:
    smtp.stop()
    await add_listed_number(smtp_settings, org)
    worker = asyncio.create_task(run_worker(smtp_settings))
    for _ in range(100):  # wait until the worker has failed at least twice
        rows = await outbox_rows(smtp_settings)
        if rows and rows[0]["attempts"] >= 2:
            break
        await asyncio.sleep(0.1)
    assert rows[0]["attempts"] >= 2
    assert rows[0]["last_error"]
    assert rows[0]["processed_at"] is None
    smtp.start()
    await asyncio.wait_for(worker, timeout=30)
    assert len(smtp.messages) == 1
    assert (await outbox_rows(smtp_settings))[0]["processed_at"] is not None


async def test_an_enqueue_lost_after_commit_is_relayed(
    smtp_settings: Settings, smtp: SmtpSink, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def lost(*_: object) -> None:
        raise ConnectionError("process died between commit and enqueue")

    monkeypatch.setattr(ArqJobQueue, "dispatch_outbox", lost)
    await add_listed_number(smtp_settings, org)
    monkeypatch.undo()
    await run_worker(smtp_settings)
    assert smtp.messages == []  # nothing was enqueued

    async with arq_for(smtp_settings) as arq:  # the worker's periodic relay, run once
        ctx = {"settings": smtp_settings, "redis": arq}
        await startup(ctx)
        try:
            assert await relay_outbox(ctx) == 1
        finally:
            await shutdown(ctx)
    await run_worker(smtp_settings)
    assert len(smtp.messages) == 1


async def test_without_an_smtp_host_the_email_is_logged(
    settings: Settings, org: Org, caplog: pytest.LogCaptureFixture
) -> None:
    await add_listed_number(settings, org)
    with caplog.at_level(logging.INFO, logger="infra.mailer"):
        await run_worker(replace(settings, smtp_host=""))
    logged = [r.getMessage() for r in caplog.records if r.name == "infra.mailer"]
    assert len(logged) == 1
    assert org.admin_email in logged[0]
    assert "+12125551234" in logged[0]
    assert all(row["processed_at"] is not None for row in await outbox_rows(settings))


async def test_a_failed_add_leaves_no_email_behind(
    smtp_settings: Settings, smtp: SmtpSink, client: Client, org: Org
) -> None:
    await seed_call(client, org)
    await client.post("/api/dnc/add", json=add_body(), headers=org.headers)
    duplicate = await client.post("/api/dnc/add", json=add_body(), headers=org.headers)
    assert duplicate.status_code == 400
    assert len(await outbox_rows(smtp_settings)) == 1


async def test_a_deferred_recipient_is_retried(
    smtp_settings: Settings, smtp: SmtpSink, org: Org
) -> None:
    smtp.refusals = ["451 4.7.1 greylisted, try again later"] * 2
    await add_listed_number(smtp_settings, org)
    await run_worker(smtp_settings)
    assert len(smtp.messages) == 1
    [row] = await outbox_rows(smtp_settings)
    assert row["attempts"] == 2
    assert "greylisted" in row["last_error"]
    assert row["processed_at"] is not None


async def test_a_recipient_refused_for_good_is_not_retried(
    smtp_settings: Settings, smtp: SmtpSink, org: Org
) -> None:
    smtp.refusals = ["550 5.1.1 no such user"]
    await add_listed_number(smtp_settings, org)
    await run_worker(smtp_settings)
    assert smtp.messages == []
    [row] = await outbox_rows(smtp_settings)
    assert (row["attempts"], row["processed_at"] is not None) == (1, True)
    assert "no such user" in row["last_error"]


async def test_a_stored_type_with_line_breaks_cannot_reach_a_mail_header(
    smtp_settings: Settings, smtp: SmtpSink, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def later(*_: object) -> None:
        return None

    monkeypatch.setattr(ArqJobQueue, "dispatch_outbox", later)
    await add_listed_number(smtp_settings, org)
    monkeypatch.undo()
    await sql(
        smtp_settings,
        "UPDATE dnc_entries SET type = $1",
        "x\r\nBcc: v@example.test\r\nSubject: free",
    )
    async with arq_for(smtp_settings) as arq:
        await ArqJobQueue(arq, smtp_settings).dispatch_outbox(
            [row["id"] for row in await outbox_rows(smtp_settings)]
        )
    await run_worker(smtp_settings)
    [message] = smtp.messages
    assert str(message["To"]) == org.admin_email
    assert message["Bcc"] is None
    assert len(message.get_all("Subject") or []) == 1
    assert "x Bcc: v@example.test Subject: free" in str(message["Subject"])
    [row] = await outbox_rows(smtp_settings)
    assert row["processed_at"] is not None
