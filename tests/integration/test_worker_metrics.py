"""The worker's metrics: job outcomes counted, served over HTTP on its own port."""

import httpx
from prometheus_client import REGISTRY

from infra.settings import Settings
from jobs.metrics import serve_metrics
from tests.support.helpers import Client, Org, add_body, free_port, run_worker, seed_call


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
