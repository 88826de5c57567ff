"""CSV import (inline and in the background) and streamed export."""

import csv
import io
import json
import os
import pty
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.db import imports
from infra.settings import Settings
from tests.support.helpers import (
    Client,
    Org,
    assert_error,
    body,
    is_blocked,
    run_worker,
    sql,
)
from tests.support.processes import DNC, env_of

CSV = {"Content-Type": "text/csv"}


async def upload(client: Client, org: Org, text: str) -> tuple[int, dict[str, object]]:
    response = await client.post(
        "/api/dnc/import", content=text.encode(), headers={**org.headers, **CSV}
    )
    return response.status_code, body(response)


async def test_an_import_reports_counts_and_the_lines_of_bad_rows(client: Client, org: Org) -> None:
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    await client.post(
        "/api/dnc/bulk-add", json={"numbers": [{"phoneNumber": "2125550105"}]}, headers=org.headers
    )
    text = "\n".join(
        [
            "phoneNumber,type,expiresAt",
            "+1 212 555 0101,complaint,",
            "not a number,,",
            "(212) 555-0102,,",
            "2125550101,again,",  # a second time in the file
            f"2125550103,,{later}",
            "2125550104,,yesterday",
            "2125550105,,",  # listed already
            '"+1 212-555-0106","quoted, with a comma",',
        ]
    )
    code, payload = await upload(client, org, text + "\n")
    assert code == 200, payload
    data = payload["data"]
    assert isinstance(data, dict)
    assert (data["status"], data["rows"], data["added"], data["duplicate"], data["invalid"]) == (
        "done", 8, 4, 2, 2,
    )  # fmt: skip
    assert [e["line"] for e in data["errors"]] == [3, 7]
    assert "phoneNumber 'not a number'" in data["errors"][0]["error"]
    assert "ISO 8601" in data["errors"][1]["error"]
    for number in ("12125550101", "12125550102", "12125550103", "12125550106"):
        assert await is_blocked(client, org, number) is True
    entry = body(await client.get("/api/dnc/entries/12125550106", headers=org.headers))["data"]
    assert (entry["source"], entry["type"]) == ("import", "quoted, with a comma")
    audit = body(
        await client.get("/api/dnc/audit", params={"action": "dnc.import"}, headers=org.headers)
    )
    assert audit["data"]["items"][0]["after"]["added"] == 4


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("number\n2125550101\n", "header"),
        ("phoneNumber,color\n2125550101,red\n", "unknown column"),
        ("phoneNumber,phoneNumber\n1,2\n", "twice"),
        ("phoneNumber\n2125550101,extra\n", "line 2"),
    ],
)
async def test_unreadable_files_are_400s(
    client: Client, org: Org, text: str, fragment: str
) -> None:
    code, payload = await upload(client, org, text)
    assert code == 400
    assert fragment in str(payload["errorMessage"])


async def test_an_import_must_be_csv(client: Client, org: Org) -> None:
    response = await client.post(
        "/api/dnc/import", json={"phoneNumber": "2125550101"}, headers=org.headers
    )
    assert_error(response, 415, "text/csv")


async def test_a_large_import_finishes_in_the_background(
    settings: Settings, client: Client, org: Org
) -> None:
    text = "phoneNumber\n" + "".join(f"1212{n:07d}\n" for n in range(2_000_000, 2_060_000))
    code, payload = await upload(client, org, text)
    assert code == 202, payload
    data = payload["data"]
    assert isinstance(data, dict)
    assert (data["status"], data["rows"]) == ("queued", 60_000)
    assert data["jobId"].endswith(data["importId"])
    await run_worker(settings)
    status = body(await client.get(f"/api/dnc/imports/{data['importId']}", headers=org.headers))
    assert (status["data"]["status"], status["data"]["added"]) == ("done", 60_000)
    assert await is_blocked(client, org, "12122059999") is True
    assert_error(await client.get("/api/dnc/imports/nope", headers=org.headers), 404)


async def test_export_streams_the_list_and_imports_back(
    client: Client, org: Org, other_org: Org
) -> None:
    later = "2030-01-02T03:04:05Z"
    numbers = [
        {"phoneNumber": "2125550101", "type": "a"},
        {"phoneNumber": "2125550102", "expiresAt": later},
    ]
    await client.post("/api/dnc/bulk-add", json={"numbers": numbers}, headers=org.headers)
    await client.post(
        "/api/dnc/bulk-add", json={"numbers": [{"phoneNumber": "2125550103"}]}, headers=org.headers
    )
    await client.post("/api/dnc/remove", json={"phoneNumber": "2125550103"}, headers=org.headers)
    response = await client.get("/api/dnc/export", headers=org.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = {r["phoneNumber"]: r for r in csv.DictReader(io.StringIO(response.text))}
    assert sorted(rows) == ["12125550101", "12125550102"]  # the removed one is not exported
    assert rows["12125550101"]["type"] == "a"
    assert rows["12125550102"]["expiresAt"] == "2030-01-02T03:04:05.000000Z"
    assert datetime.fromisoformat(rows["12125550101"]["createdAt"].replace("Z", "+00:00"))
    code, payload = await upload(client, other_org, response.text)
    assert code == 200
    assert payload["data"]["added"] == 2  # type: ignore[index]
    assert await is_blocked(client, other_org, "12125550102") is True


async def test_the_cli_imports_and_exports_with_progress(
    settings: Settings, org: Org, tmp_path: Path
) -> None:
    source = tmp_path / "list.csv"
    source.write_text("phoneNumber,type\n2125550101,cli\n2125550102,\nbad,\n")
    done = subprocess.run(
        [DNC, "import", "--org", str(org.id), str(source)],
        env=env_of(settings), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["rows"], report["added"], report["invalid"]) == (3, 2, 1)
    assert "3/3 rows checked" in done.stderr
    exported = subprocess.run(
        [DNC, "export", "--org", str(org.id)],
        env=env_of(settings), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    lines = exported.stdout.splitlines()
    assert lines[0] == "phoneNumber,type,expiresAt,createdAt"
    assert sorted(line.split(",")[0] for line in lines[1:]) == ["12125550101", "12125550102"]
    assert "2 rows in all" in exported.stderr


@pytest.mark.slow
async def test_a_million_rows_in_and_out(settings: Settings, client: Client, org: Org) -> None:
    """1M numbers through the API: import in the background, then a streamed export."""
    text = "phoneNumber,type\n" + "".join(
        f"1212{n:07d},bulk\n" for n in range(2_000_000, 3_000_000)
    )
    started = time.perf_counter()
    code, payload = await upload(client, org, text)
    assert code == 202, payload
    await run_worker(settings)
    imported = time.perf_counter() - started
    data = payload["data"]
    assert isinstance(data, dict)
    status = body(await client.get(f"/api/dnc/imports/{data['importId']}", headers=org.headers))[
        "data"
    ]
    assert (status["status"], status["added"], status["invalid"]) == ("done", 1_000_000, 0)
    assert await is_blocked(client, org, "12122999999") is True

    started = time.perf_counter()
    lines = 0
    async with client.stream("GET", "/api/dnc/export", headers=org.headers) as response:
        async for chunk in response.aiter_bytes():
            lines += chunk.count(b"\n")
    exported = time.perf_counter() - started
    assert lines == 1_000_001
    print(f"\n1M rows: import {imported:.1f}s, export {exported:.1f}s")


async def test_a_line_that_would_end_copy_early_is_refused_not_dropped(
    client: Client, org: Org
) -> None:
    """Postgres's COPY reads a line of just '\\.' as the end of the data: without a check,
    every row after it would vanish from an import that still answered 200."""
    text = "phoneNumber\n2125550100\n\\.\n2125550101\n"
    status, payload = await upload(client, org, text)
    assert status == 400
    assert "line 3" in str(payload["errorMessage"])
    assert not await is_blocked(client, org, "2125550100")  # nothing was imported

    quoted = 'phoneNumber\n2125550100\n"\\."\n2125550101\n'  # quoted, it is data: an invalid row
    status, payload = await upload(client, org, quoted)
    assert status == 200, payload
    data = payload["data"]
    assert isinstance(data, dict)
    assert (data["added"], data["invalid"]) == (2, 1)
    assert await is_blocked(client, org, "2125550101")


def test_on_a_terminal_the_cli_draws_a_progress_bar(
    settings: Settings, org: Org, tmp_path: Path
) -> None:
    source = tmp_path / "list.csv"
    source.write_text("phoneNumber\n" + "".join(f"212555{n:04d}\n" for n in range(2000)))
    controller, terminal = pty.openpty()  # stderr is a terminal, stdout a pipe
    try:
        done = subprocess.run(
            [DNC, "import", "--org", str(org.id), str(source)], env=env_of(settings),
            stdout=subprocess.PIPE, stderr=terminal, timeout=60, check=False,
        )  # fmt: skip
        os.close(terminal)
        seen = b""
        while chunk := _read(controller):
            seen += chunk
    finally:
        os.close(controller)
    assert done.returncode == 0
    assert json.loads(done.stdout)["added"] == 2000
    text = seen.decode()
    assert "] 100% 2,000/2,000 rows checked" in text
    assert "\r" in text
    assert "2000/2000 rows checked" not in text  # the plain line is for logs


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the terminal's other end closed: all read
        return b""


@pytest.mark.parametrize("chunk", [1, 2, 3, 50_000])
async def test_an_import_lists_the_same_whatever_size_its_rows_are_read_in(
    settings: Settings, client: Client, org: Org, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Rows are checked and listed a chunk at a time: a number's first valid row wins across
    chunks, a number listed before (or by an earlier chunk) is a duplicate, an expired entry
    is retired and the number listed again, and the report's lines are the file's."""
    monkeypatch.setattr(imports, "CHUNK", chunk)
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    await client.post(
        "/api/dnc/bulk-add", json={"numbers": [{"phoneNumber": "2125550105"}]}, headers=org.headers
    )
    await sql(
        settings,
        "INSERT INTO dnc_entries (id, organization_id, phone_number, source, type, created_at, "
        "expires_at) VALUES (gen_random_uuid(), $1, '12125550107', 'api', 'old', "
        "now() - interval '2 hours', now() - interval '1 hour')",
        org.id,
    )
    text = "\n".join(
        [
            "phoneNumber,type,expiresAt",
            "+1 212 555 0101,complaint,",
            "not a number,first,",
            "(212) 555-0102,,",
            "2125550101,again,",  # a second time in the file
            f"2125550103,,{later}",
            "2125550104,,yesterday",
            "2125550105,,",  # listed already
            "2125550107,renewed,",  # its entry expired
            "2125550102,third,",
            "2125550104,valid now,",  # the first valid row of a number refused on line 7
        ]
    )
    code, payload = await upload(client, org, text + "\n")
    assert code == 200, payload
    data = payload["data"]
    assert isinstance(data, dict)
    assert (data["rows"], data["added"], data["duplicate"], data["invalid"]) == (10, 5, 3, 2)
    assert [e["line"] for e in data["errors"]] == [3, 7]
    listed = await sql(
        settings,
        "SELECT phone_number, type FROM dnc_entries WHERE organization_id = $1 "
        "AND removed_at IS NULL ORDER BY phone_number",
        org.id,
    )
    assert [tuple(r) for r in listed] == [
        ("12125550101", "complaint"),
        ("12125550102", None),
        ("12125550103", None),
        ("12125550104", "valid now"),
        ("12125550105", None),
        ("12125550107", "renewed"),
    ]
    expired = await sql(
        settings,
        "SELECT removal_reason FROM dnc_entries WHERE organization_id = $1 "
        "AND phone_number = '12125550107' AND type = 'old'",
        org.id,
    )
    assert [r[0] for r in expired] == ["expired"]
    audited = await sql(
        settings,
        "SELECT action, phone_number FROM audit_log WHERE organization_id = $1 "
        "AND phone_number IS NOT NULL AND after->>'importId' = $2 ORDER BY phone_number",
        org.id, data["importId"],
    )  # fmt: skip
    assert [tuple(r) for r in audited] == [
        ("dnc.add", n) for n in ("12125550101", "12125550102", "12125550103", "12125550104",
                                 "12125550107")
    ]  # fmt: skip
    for number in ("12125550101", "12125550102", "12125550104", "12125550107"):
        assert await is_blocked(client, org, number) is True
