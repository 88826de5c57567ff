"""`make bench`: how long another organization's single checks wait while one dialer sends
50,000-number bulk checks back to back to the same `dnc serve` process (one event loop)."""

import json
import os
import subprocess
import sys

from infra.settings import Settings
from tests.support.bench import Row
from tests.support.helpers import Org, new_org

SECONDS = float(os.environ.get("DNC_BENCH_SECONDS", "10"))
BULK = 50_000
BULK_DIALER = """
import signal, sys, time, httpx
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
base, token, body = sys.argv[1], sys.argv[2], sys.stdin.read()
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
    while True:
        started = time.perf_counter()
        assert client.post("/api/dnc/check", content=body).status_code == 200
        print((time.perf_counter() - started) * 1000, flush=True)
"""


SINGLE_DIALER = """
import gc, sys, time, httpx
base, token, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
url = "/api/dnc/check?phoneNumber=2125550100"
with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
    client.get(url)  # the token is cached from now on
    gc.collect()
    gc.disable()
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        assert client.get(url).status_code == 200
        latencies.append((time.perf_counter() - started) * 1000)
print(*latencies)
"""


def single_check_latencies(base: str, org: Org, seconds: float) -> list[float]:
    """Milliseconds of each of a stream of single checks, one after the other, sent by a
    process of its own whose collector is off while it measures: what is timed is the
    server's answer, not this test's heap (a full collection of pytest's takes 20-140 ms)."""
    done = subprocess.run(
        [sys.executable, "-c", SINGLE_DIALER, base, org.token, str(seconds)],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    return [float(ms) for ms in done.stdout.split()]


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[int(len(ordered) * 0.99)]
    return f"p99 {p99:.1f} / max {ordered[-1]:.1f} ms"


async def test_single_checks_beside_bulk_checks(
    settings: Settings, org: Org, server: str, report: list[Row]
) -> None:
    other = await new_org(settings, "Other Dialer")
    alone = single_check_latencies(server, other, SECONDS / 2)
    # the reference for "held up by the bulk checks": the same stream while two processes
    # that send nothing keep both cores busy, as the bulk dialer and the server do below
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        busy = single_check_latencies(server, other, SECONDS / 2)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    body = json.dumps({"phoneNumbers": [f"+1 212 555 {i % 10_000:04d}" for i in range(BULK)]})
    # the bulk dialer is a process of its own, so that its client work (encoding 1 MB,
    # reading 4.5 MB) shares no interpreter lock with the single checks being timed
    loader = subprocess.Popen(
        [sys.executable, "-c", BULK_DIALER, server, org.token],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert loader.stdin is not None
    loader.stdin.write(body)
    loader.stdin.close()
    try:
        beside = single_check_latencies(server, other, SECONDS)
    finally:
        loader.terminate()
        loader.wait(timeout=120)
    assert loader.stdout is not None
    out = loader.stdout.read()
    bulks = [float(line) for line in out.split()]
    bulk_ms = sum(bulks) / max(len(bulks), 1)
    report += [
        Row(f"GET /check beside {BULK:,}-number bulk checks", summary(beside),
            "GET /check beside 2 busy cores", summary(busy), None, "", None),
        Row("GET /check beside 2 busy cores", summary(busy),
            "GET /check alone", summary(alone), None, "", None),
        Row(f"POST /check, {BULK:,} numbers, one after another", f"{bulk_ms:.0f} ms each",
            "bulk checks sent", f"{len(bulks)}", None, "", None),
    ]  # fmt: skip
