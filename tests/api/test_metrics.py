"""GET /metrics: what operators scrape from each API process (Prometheus text format)."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from app.asgi import create_server_app
from infra.settings import Settings
from tests.support.helpers import Org, forget_mirror, mirror_for


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_server_app(settings)) as client:
        yield client


async def scrape(
    server: AsyncTestClient[Any],
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await server.get("/metrics")  # public, like /health: no token
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:  # fmt: skip
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_requests_verdicts_and_fallbacks_are_counted(
    server: AsyncTestClient[Any], org: Org, settings: Settings
) -> None:
    before = await scrape(server)
    for _ in range(2):  # the first looks the token up, the second takes the fast path
        ok = await server.get("/api/dnc/check?phoneNumber=2125551234", headers=org.headers)
        assert ok.status_code == 200
    bulk = await server.post(
        "/api/dnc/check", json={"phoneNumbers": ["2125550100", "nope"]}, headers=org.headers
    )
    assert bulk.status_code == 200
    assert (await server.get("/no/such/route")).status_code == 404
    async with mirror_for(settings) as mirror:
        await forget_mirror(mirror, org.id)  # not ready: the next check is answered from Postgres
    assert (await server.get("/api/dnc/check?phoneNumber=2125551234",
                             headers=org.headers)).status_code == 200  # fmt: skip
    after = await scrape(server)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    check = {"route": "/api/dnc/check", "method": "GET", "status": "200"}
    assert grew("dnc_http_requests_total", **check) == 3
    assert grew("dnc_http_requests_total", route="/api/dnc/check", method="POST",
                status="200") == 1  # fmt: skip
    assert grew("dnc_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert grew("dnc_http_request_seconds_count", route="/api/dnc/check") == 4
    assert grew("dnc_check_numbers_total", verdict="callable") == 4
    assert grew("dnc_check_numbers_total", verdict="invalid") == 1
    assert grew("dnc_check_fallbacks_total") == 1
    assert ("dnc_outbox_lag_seconds", ()) in after
    assert not [key for key in after if "2125551234" in str(key)]  # no number as a label
