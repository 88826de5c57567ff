"""`make bench`: how long another organization's single checks wait while one dialer sends
50,000-number bulk checks back to back to the same `dnc serve` process (one event loop)."""

import json
import os
import subprocess
import threading
import time
from dataclasses import replace

import httpx

from infra.settings import Settings
from tests.bench.conftest import Row
from tests.helpers import Org, free_port, new_org, wait_until_healthy
from tests.integration.test_cli_end_to_end import DNC, env_of

SECONDS = float(os.environ.get("DNC_BENCH_SECONDS", "10"))
BULK = 50_000


def single_check_latencies(base: str, org: Org, seconds: float) -> list[float]:
    """Milliseconds of each of a stream of single checks, one after the other."""
    latencies = []
    with httpx.Client(base_url=base, headers=org.headers) as client:
        url = "/api/dnc/check?phoneNumber=2125550100"
        client.get(url)  # the token is cached from now on
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            assert client.get(url).status_code == 200
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[int(len(ordered) * 0.99)]
    return f"p99 {p99:.1f} / max {ordered[-1]:.1f} ms"


async def test_single_checks_beside_bulk_checks(
    settings: Settings, org: Org, report: list[Row]
) -> None:
    unlimited = 1e9
    own = replace(
        settings,
        port=free_port(),
        log_level="WARNING",
        rate_limit_per_second=unlimited,
        rate_limit_burst=unlimited,
    )
    other = await new_org(settings, "Other Dialer")
    base = f"http://127.0.0.1:{own.port}"
    process = subprocess.Popen([DNC, "serve"], env=env_of(own))
    try:
        wait_until_healthy(base)
        alone = single_check_latencies(base, other, SECONDS / 2)
        body = json.dumps({"phoneNumbers": [f"+1 212 555 {i % 10_000:04d}" for i in range(BULK)]})
        stop = threading.Event()
        bulks = []

        def send_bulks() -> None:
            with httpx.Client(base_url=base, headers=org.headers, timeout=60) as client:
                while not stop.is_set():
                    started = time.perf_counter()
                    response = client.post(
                        "/api/dnc/check",
                        content=body,
                        headers={"Content-Type": "application/json"},
                    )
                    assert response.status_code == 200
                    bulks.append((time.perf_counter() - started) * 1000)

        loader = threading.Thread(target=send_bulks)
        loader.start()
        try:
            beside = single_check_latencies(base, other, SECONDS)
        finally:
            stop.set()
            loader.join(timeout=120)
    finally:
        process.terminate()
        process.wait(timeout=20)
    bulk_ms = sum(bulks) / max(len(bulks), 1)
    report += [
        Row(f"GET /check beside {BULK:,}-number bulk checks", summary(beside),
            "GET /check alone", summary(alone), None, "", None),
        Row(f"POST /check, {BULK:,} numbers, one after another", f"{bulk_ms:.0f} ms each",
            "bulk checks sent", f"{len(bulks)}", None, "", None),
    ]  # fmt: skip
