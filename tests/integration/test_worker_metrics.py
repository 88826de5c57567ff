"""The worker's metrics: job outcomes counted, served over HTTP on its own port."""

import logging
from datetime import timedelta

import httpx
import pytest
from prometheus_client import REGISTRY

from domain.time import utcnow
from domain.usecases.shared_lists import subscribe
from infra.settings import Settings
from jobs.metrics import serve_metrics
from jobs.worker import reconcile_mirrors
from tests.support.helpers import (
    Client,
    Org,
    add_body,
    free_port,
    resources_for,
    run_worker,
    seed_call,
)
from tests.support.shared import load, shared_list


def jobs(job: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("dnc_jobs_total", {"job": job, "outcome": outcome}) or 0.0


async def test_job_outcomes_are_counted(settings: Settings, client: Client, org: Org) -> None:
    await seed_call(client, org)
    assert (await client.post("/api/dnc/add", json=add_body(), headers=org.headers)).is_success
    before = jobs("deliver_outbox", "success")
    await run_worker(settings)  # no SMTP host: the email goes to the log, and succeeds
    assert jobs("deliver_outbox", "success") == before + 1


def test_the_worker_serves_its_metrics() -> None:
    port = free_port()
    server, thread = serve_metrics("127.0.0.1", port)
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert response.status_code == 200
        assert "dnc_jobs_total" in response.text
        assert "dnc_mirror_drift_found_total" in response.text
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert serve_metrics("127.0.0.1", 0) is None


async def test_a_stale_subscribed_list_is_logged_and_its_metric_set(
    settings: Settings, org: Org, caplog: pytest.LogCaptureFixture
) -> None:
    async with resources_for(settings) as resources:
        stale = await shared_list(resources, "A registry left to age", max_age_days=1)
        await load(resources, stale, ["12125550100"], utcnow() - timedelta(days=2))
        fresh = await shared_list(resources, "A registry kept current")
        await load(resources, fresh, ["12125550101"])
        for list_id in (stale, fresh):
            await subscribe(resources.uow(), resources.mirror, org.id, list_id)
        with caplog.at_level(logging.WARNING, logger="jobs.worker"):
            await reconcile_mirrors({"resources": resources})
    gauge = "dnc_shared_list_stale"
    assert REGISTRY.get_sample_value(gauge, {"list": stale}) == 1
    assert REGISTRY.get_sample_value(gauge, {"list": fresh}) == 0
    warned = [r.getMessage() for r in caplog.records if "is stale since" in r.getMessage()]
    assert len(warned) == 1
    assert stale in warned[0]
    assert "registry_stale" in warned[0]
