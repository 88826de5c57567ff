"""`dnc shared-list` as an operator runs it, with real files: the registry's area codes as a
zip, a gzip and a plain file in one load, a change file, bad lines reported with their file
and line, and the organization's API answering from what was loaded."""

import gzip
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from app.asgi import create_app
from infra.settings import Settings
from tests.support.helpers import Org, body
from tests.support.processes import DNC, env_of

A212, B212, C646, D917 = "2125550100", "2125550101", "6465550102", "9175550103"


def dnc(settings: Settings, *args: str, expect: int = 0) -> tuple[dict[str, Any], str]:
    """The command's one JSON object (stdout, or stderr when it fails), and its stderr."""
    done = subprocess.run(
        [DNC, *args], env=env_of(settings), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == expect, done.stderr
    output = done.stdout if expect == 0 else done.stderr
    lines = output.strip().splitlines()
    if expect:
        lines = lines[-1:]  # a failure's JSON comes last on stderr
    assert len(lines) == 1, output
    result: dict[str, Any] = json.loads(lines[0])
    return result, done.stderr


async def check(settings: Settings, org: Org, numbers: list[str]) -> list[tuple[Any, ...]]:
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.post(
            "/api/dnc/check", json={"phoneNumbers": numbers}, headers=org.headers
        )
    return [(r["reason"], r["lists"]) for r in body(response)["data"]["results"]]


async def test_an_operator_loads_the_registry_from_its_files_and_keeps_it_current(
    settings: Settings, org: Org, tmp_path: Path
) -> None:
    created, _ = dnc(settings, "shared-list", "create", "--name", "National", "--kind", "registry")
    registry = created["listId"]
    assert created["stale"] is True  # never loaded: it vouches for nothing yet
    assert created["maxAgeDays"] == 31
    with zipfile.ZipFile(tmp_path / "212.zip", "w") as archive:
        archive.writestr("212/", "")  # a directory entry: skipped
        archive.writestr("212/212.txt", f"212,{A212[3:]}\r\n212,{B212[3:]}\r\n")
    (tmp_path / "646.txt.gz").write_bytes(gzip.compress(f"+1{C646}\nnot a number\n".encode()))
    (tmp_path / "917.txt").write_text(f"\n{D917}\n{A212}\n")  # A again: kept once
    loaded, progress = dnc(
        settings,
        "shared-list", "load", "--list", registry, "--downloaded-at", "2026-11-30",
        str(tmp_path / "212.zip"), str(tmp_path / "646.txt.gz"), str(tmp_path / "917.txt"),
    )  # fmt: skip
    assert loaded["count"] == 4
    assert loaded["read"] == 5
    assert loaded["badLines"] == 1
    gz = str(tmp_path / "646.txt.gz")  # files are named as the command was given them
    assert loaded["errors"] == [{"file": gz, "line": 2, "text": "not a number"}]
    assert loaded["downloadedAt"].startswith("2026-11-30T00:00:00")
    assert loaded["mirrored"] is True
    assert f"{registry}: 4 numbers live" in progress
    subscribed, _ = dnc(
        settings, "shared-list", "subscribe", "--org", str(org.id), "--list", registry
    )
    assert subscribed == {"orgId": str(org.id), "listId": registry, "subscribed": True}
    numbers = [f"1{n}" for n in (A212, B212, C646, D917)] + ["13105550104"]
    fresh = "registry", [registry]
    assert await check(settings, org, numbers) == [fresh, fresh, fresh, fresh, (None, [])]

    (tmp_path / "changes.txt").write_text(f"{B212},D\n212,{A212[3:]},d\n3105550104,A\nbogus,Q\n")
    changed, _ = dnc(
        settings, "shared-list", "apply-changes", "--list", registry, str(tmp_path / "changes.txt")
    )
    assert (changed["added"], changed["deleted"], changed["count"]) == (1, 2, 3)
    assert changed["errors"] == [
        {"file": str(tmp_path / "changes.txt"), "line": 4, "text": "bogus,Q"}
    ]
    assert await check(settings, org, numbers) == [(None, []), (None, []), fresh, fresh, fresh]

    status, _ = dnc(settings, "shared-list", "status")
    [row] = status["lists"]
    assert (row["listId"], row["count"], row["subscribers"], row["mirrorReady"]) == (
        registry, 3, 1, True
    )  # fmt: skip
    # a refresh missed: the data is 40 days old, so every number it does not hold is blocked
    (tmp_path / "old.txt").write_text(f"{C646}\n")
    dnc(
        settings,
        "shared-list", "load", "--list", registry, "--downloaded-at", "2026-10-01T00:00:00Z",
        str(tmp_path / "old.txt"),
    )  # fmt: skip
    stale = "registry_stale", [registry]
    assert await check(settings, org, numbers) == [stale, stale, fresh, stale, stale]
    unsubscribed, _ = dnc(
        settings, "shared-list", "unsubscribe", "--org", str(org.id), "--list", registry
    )
    assert unsubscribed["subscribed"] is False
    assert await check(settings, org, numbers) == [(None, [])] * 5


def test_the_shared_list_commands_refuse_what_they_cannot_do(
    settings: Settings, tmp_path: Path
) -> None:
    error, _ = dnc(settings, "shared-list", "load", "--list", "sl_000000000000",
                   str(tmp_path / "missing.txt"), expect=1)  # fmt: skip
    assert "missing.txt" in error["error"]
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    created, _ = dnc(settings, "shared-list", "create", "--name", "State", "--kind", "state")
    error, _ = dnc(
        settings, "shared-list", "load", "--list", created["listId"], str(tmp_path / "bad.gz"),
        expect=1,
    )  # fmt: skip
    assert "bad.gz" in error["error"]
    (tmp_path / "ok.txt").write_text("2125550100\n")
    error, _ = dnc(
        settings, "shared-list", "load", "--list", "sl_000000000000", str(tmp_path / "ok.txt"),
        expect=1,
    )  # fmt: skip
    assert "sl_000000000000" in error["error"]
    error, _ = dnc(
        settings, "shared-list", "create", "--name", "state", "--kind", "state", expect=1
    )
    assert "exists already" in error["error"]
    error, _ = dnc(
        settings, "shared-list", "create", "--name", "X", "--kind", "registry",
        "--max-age-days", "0", expect=1,
    )  # fmt: skip
    assert "max-age-days" in error["error"]
    error, _ = dnc(
        settings, "shared-list", "subscribe", "--org", "00000000-0000-0000-0000-000000000000",
        "--list", created["listId"], expect=1,
    )  # fmt: skip
    assert "organization" in error["error"].lower()
    tomorrow = "2999-01-01T00:00:00Z"
    error, _ = dnc(
        settings, "shared-list", "load", "--list", created["listId"], "--downloaded-at", tomorrow,
        str(tmp_path / "ok.txt"), expect=1,
    )  # fmt: skip
    assert "future" in error["error"]
