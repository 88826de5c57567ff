"""Two `dnc serve` and two `dnc worker` processes on one database and one Redis, as a
scaled-out deployment runs them: every add blocks the number through either API, and each
admin gets each email once."""

import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from infra.settings import Settings
from tests.support.helpers import Org, SmtpSink, free_port, new_org
from tests.support.processes import running

NUMBERS = [f"21255501{n:02d}" for n in range(24)]


@pytest.fixture
def deployment(smtp_settings: Settings) -> Iterator[list[Settings]]:
    apis = [replace(smtp_settings, port=free_port()) for _ in range(2)]
    with running(*(("serve", api) for api in apis), ("worker", apis[0]), ("worker", apis[0])):
        yield apis


async def test_two_apis_and_two_workers_side_by_side(
    deployment: list[Settings], smtp_settings: Settings, smtp: SmtpSink
) -> None:
    org: Org = await new_org(smtp_settings, "Scaled Out")
    await org.add_user("admin")
    clients = [
        httpx.Client(base_url=f"http://127.0.0.1:{api.port}", headers=org.headers)
        for api in deployment
    ]
    assert clients[0].post("/api/batches", json={"batchId": "b"}).status_code == 201
    calls = [{"requestUUID": f"r{i}", "phoneNumber": n} for i, n in enumerate(NUMBERS)]
    assert clients[1].post("/api/batches/b/calls", json={"calls": calls}).status_code == 201
    for i, number in enumerate(NUMBERS):  # alternate between the two API processes
        added = clients[i % 2].post(
            "/api/dnc/add", json={"phoneNumber": number, "batchId": "b", "requestUUID": f"r{i}"}
        )
        assert added.status_code == 200, added.text
        for client in clients:  # blocked at once, through either process
            check = client.get("/api/dnc/check", params={"phoneNumber": number})
            assert check.json()["data"]["blocked"] is True

    expected = 2 * len(NUMBERS)  # two admins, one email each per number
    deadline = time.monotonic() + 60
    while len(smtp.messages) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # room for a duplicate to arrive, if the workers were to send one
    assert len(smtp.messages) == expected
    per_admin: dict[str, set[str]] = {}
    for message in smtp.messages:
        per_admin.setdefault(str(message["To"]), set()).add(str(message["Subject"]))
    assert len(per_admin) == 2
    assert all(len(subjects) == len(NUMBERS) for subjects in per_admin.values())
    for client in clients:
        client.close()
