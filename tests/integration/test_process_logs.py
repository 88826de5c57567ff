"""What an operator reads in the logs of a real `dnc serve`: one access line per request
(method, route template, status, time, request id; never the token or the number asked),
each line naming the process that wrote it, as JSON or as text."""

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx

from infra.settings import Settings
from tests.support.helpers import Org, free_port, wait_until_healthy
from tests.support.processes import DNC, env_of

NUMBER = "2125551234"


@contextmanager
def serving(settings: Settings, log_format: str, log: Path) -> Iterator[str]:
    own = replace(settings, port=free_port())
    env = {**env_of(own), "DNC_LOG_LEVEL": "INFO", "DNC_LOG_FORMAT": log_format}
    with log.open("wb") as out:
        process = subprocess.Popen([DNC, "serve"], env=env, stderr=out)
        try:
            base = f"http://127.0.0.1:{own.port}"
            wait_until_healthy(base)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)


def ask(base: str, org: Org) -> None:
    headers = {**org.headers, "X-Request-ID": "dialer-7.call-42"}
    assert httpx.get(f"{base}/api/dnc/check?phoneNumber={NUMBER}", headers=headers).is_success
    assert httpx.get(f"{base}/api/dnc/entries/{NUMBER}", headers=org.headers).status_code == 404


def test_json_lines_name_the_process_and_each_request_has_an_access_line(
    settings: Settings, org: Org, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    with serving(settings, "json", log) as base:
        ask(base, org)
    text = log.read_text()
    entries = [json.loads(line) for line in text.splitlines()]
    assert {e["process"] for e in entries} == {"dnc-api"}
    access = [e for e in entries if e["logger"] == "dnc.access"]
    check = [e for e in access if e["message"].startswith("GET /api/dnc/check 200 ")]
    assert [e["requestId"] for e in check] == ["dialer-7.call-42"]
    assert any(e["message"].startswith("GET /api/dnc/entries/{") for e in access), access
    assert any(" 404 " in e["message"] for e in access)
    assert org.token not in text
    assert NUMBER not in text  # the route's template, never the path or the query


def test_text_lines_read_as_text(settings: Settings, org: Org, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with serving(settings, "text", log) as base:
        ask(base, org)
    lines = log.read_text().splitlines()
    access = [line for line in lines if " dnc.access: " in line]
    assert access
    assert all(" dnc-api[" in line for line in lines)
    assert any(
        "GET /api/dnc/check 200 " in line and "[request dialer-7.call-42]" in line
        for line in access
    )
    assert not any(line.lstrip().startswith("{") for line in lines)
