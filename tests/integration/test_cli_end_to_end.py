"""The README's path as a new user walks it: the real ``dnc`` command provisions, ``dnc serve``
and ``dnc worker`` run as processes, the curl examples' requests get the documented answers,
and the admin's email arrives over SMTP."""

import json
import shutil
import subprocess
import time
from collections.abc import Awaitable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from infra.redis.layout import locate
from infra.settings import Settings
from tests.support.helpers import (
    SUCCESS_ADD,
    Client,
    Org,
    SmtpSink,
    add_body,
    bearer,
    free_port,
    mirror_for,
    seed_call,
)
from tests.support.processes import DNC, env_of, running


def dnc(settings: Settings, *args: str, expect: int = 0) -> dict[str, Any]:
    done = subprocess.run(
        [DNC, *args], env=env_of(settings), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == expect, done.stderr
    output = done.stdout if expect == 0 else done.stderr
    lines = output.strip().splitlines()
    assert len(lines) == 1, output  # one JSON object, nothing else
    result: dict[str, Any] = json.loads(lines[0])
    return result


@pytest.fixture
def served(smtp_settings: Settings) -> Iterator[Settings]:
    settings = replace(smtp_settings, port=free_port())
    with running(("serve", settings), ("worker", settings), stop_within=20):
        yield settings


def test_the_cli_reports_errors_as_json_with_a_nonzero_exit(settings: Settings) -> None:
    error = dnc(settings, "token", "create", "--email", "nobody@example.test", expect=1)
    assert "nobody@example.test" in error["error"]
    dnc(settings, "org", "create", "--name", "A", "--admin-email", "a@example.test")
    again = dnc(
        settings, "org", "create", "--name", "B", "--admin-email", "A@example.test", expect=1
    )
    assert "already exists" in again["error"]


def test_db_upgrade_is_idempotent(settings: Settings) -> None:
    assert dnc(settings, "db", "upgrade") == {"database": settings.database_name, "created": False}


def test_the_readme_walkthrough(served: Settings, smtp: SmtpSink) -> None:
    assert shutil.which(DNC)
    org = dnc(served, "org", "create", "--name", "Acme", "--admin-email", "ops@acme.test")
    assert set(org) == {"orgId", "userId"}
    member = dnc(served, "user", "create", "--org", org["orgId"], "--email", "agent@acme.test")
    assert set(member) == {"userId"}
    token = dnc(served, "token", "create", "--email", "ops@acme.test")["token"]
    check_token = dnc(served, "token", "create", "--email", "agent@acme.test", "--scope", "check")

    api = httpx.Client(
        base_url=f"http://127.0.0.1:{served.port}", headers={"Authorization": f"Bearer {token}"}
    )
    batch = api.post("/api/batches", json={"name": "November campaign"}).json()["data"]["batchId"]
    call = api.post(
        f"/api/batches/{batch}/calls",
        json={
            "phoneNumber": "+1 212-555-1234",
            "recordingUrl": "https://recordings.example.com/calls/abc.mp3",
            "transcription": "Please stop calling me.",
        },
    ).json()["data"]["calls"][0]["requestUUID"]
    response = api.post(
        "/api/dnc/add",
        json={
            "phoneNumber": "2125551234",
            "batchId": batch,
            "requestUUID": call,
            "type": "customer_request",
        },
    )
    assert (response.status_code, response.json()) == (200, SUCCESS_ADD)
    response = api.post("/api/dnc/enable-disable", json={"enable": True})
    assert response.json()["message"] == "DNC setting updated successfully"
    entry = api.get("/api/dnc/entries/12125551234").json()["data"]
    assert entry["callRecording"] == "https://recordings.example.com/calls/abc.mp3"
    denied = api.get(
        "/api/dnc/settings", headers={"Authorization": f"Bearer {check_token['token']}"}
    )
    assert denied.status_code == 403

    deadline = time.monotonic() + 30
    while not smtp.messages and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [str(m["To"]) for m in smtp.messages] == ["ops@acme.test"]
    assert "+12125551234" in str(smtp.messages[0]["Subject"])


def run_dnc(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DNC, *args], env=env_of(settings), capture_output=True, text=True, timeout=60, check=False
    )


async def test_cache_verify_and_rebuild(settings: Settings, client: Client, org: Org) -> None:
    await seed_call(client, org)
    assert (await client.post("/api/dnc/add", json=add_body(), headers=org.headers)).is_success

    clean = run_dnc(settings, "cache", "verify")
    assert clean.returncode == 0, clean.stderr
    [report] = json.loads(clean.stdout)["organizations"]
    assert (report["ready"], report["postgres"], report["redis"], report["drift"]) == (
        True,
        1,
        1,
        False,
    )

    async with mirror_for(settings) as mirror:  # lose a number from Redis
        state = await mirror.state(org.id)
        assert state.generation
        assert state.buckets
        bucket, member = locate(12125551234, state.buckets)
        key = mirror.bucket_key(org.id, state.generation, bucket)
        await cast(Awaitable[int], mirror.redis.srem(key, member))
    drifted = run_dnc(settings, "cache", "verify")
    assert drifted.returncode == 1
    assert json.loads(drifted.stdout)["organizations"][0]["missingInRedis"] == 1

    rebuilt = run_dnc(settings, "cache", "rebuild", "--org", str(org.id))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads(rebuilt.stdout) == {
        "rebuilt": [{"orgId": str(org.id), "numbers": 1, "swapped": True}]
    }
    assert f"rebuild {org.id}: 1/1 numbers" in rebuilt.stderr
    assert run_dnc(settings, "cache", "verify").returncode == 0
    every = run_dnc(settings, "cache", "rebuild", "--all")
    assert [r["orgId"] for r in json.loads(every.stdout)["rebuilt"]] == [str(org.id)]


async def test_token_revoke(settings: Settings, org: Org) -> None:
    token = await org.token_for(org.admin_email)
    assert dnc(settings, "token", "revoke", "--token", token) == {"revoked": True}
    again = dnc(settings, "token", "revoke", "--token", token, expect=1)
    assert "revoked already" in again["error"]
    async with AsyncTestClient(app=create_app(settings)) as fresh:
        response = await fresh.get("/api/dnc/settings", headers=bearer(token))
    assert response.status_code == 401


async def test_dnc_user_create_role_decides_admin_only_calls(
    settings: Settings, client: Client, org: Org
) -> None:
    for role, status in (("admin", 202), ("member", 403)):
        email = f"{role}-cli@example.test"
        dnc(settings, "user", "create", "--org", str(org.id), "--email", email, "--role", role)
        token = dnc(settings, "token", "create", "--email", email)["token"]
        response = await client.post("/api/dnc/cache/rebuild", headers=bearer(token))
        assert response.status_code == status, response.text


async def test_named_lists_from_the_cli(
    settings: Settings, client: Client, org: Org, tmp_path: Path
) -> None:
    """``dnc list create|ls|delete``, and ``--list`` on ``dnc import`` and ``dnc export``."""
    created = dnc(settings, "list", "create", "--org", str(org.id), "--name", "Winter")
    list_id = created["listId"]
    listed = dnc(settings, "list", "ls", "--org", str(org.id))["lists"]
    assert [(x["id"], x["kind"], x["count"]) for x in listed] == [
        ("default", "org", 0),
        (list_id, "campaign", 0),
    ]
    again = dnc(settings, "list", "create", "--org", str(org.id), "--name", "winter", expect=1)
    assert "exists already" in again["error"]

    csv = tmp_path / "winter.csv"
    csv.write_text("phoneNumber\n+1 212 555 0100\n2125550101\n")
    imported = dnc(settings, "import", "--org", str(org.id), "--list", list_id, str(csv))
    assert imported["added"] == 2
    unknown = dnc(settings, "import", "--org", str(org.id), "--list", "nope", str(csv), expect=1)
    assert "Unknown list id 'nope'" in unknown["error"]
    exported = run_dnc(settings, "export", "--org", str(org.id), "--list", list_id)
    assert exported.returncode == 0, exported.stderr
    assert sorted(line.split(",")[0] for line in exported.stdout.splitlines()[1:]) == [
        "12125550100",
        "12125550101",
    ]
    response = await client.get(
        "/api/dnc/check", params={"phoneNumber": "12125550100", "lists": list_id},
        headers=org.headers,
    )  # fmt: skip
    assert response.json()["data"]["lists"] == [list_id]
    clean = run_dnc(settings, "cache", "verify")
    assert clean.returncode == 0, clean.stdout
    reports = json.loads(clean.stdout)["organizations"]
    assert [(r["listId"], r["postgres"]) for r in reports] == [("default", 0), (list_id, 2)]

    deleted = dnc(settings, "list", "delete", "--org", str(org.id), list_id)
    assert deleted == {"listId": list_id, "removed": 2}
    gone = dnc(settings, "list", "delete", "--org", str(org.id), "default", expect=1)
    assert "cannot be deleted" in gone["error"]
    assert [x["id"] for x in dnc(settings, "list", "ls", "--org", str(org.id))["lists"]] == [
        "default"
    ]
