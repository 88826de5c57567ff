"""No tracebacks: what goes wrong outside the program (an unknown organization, a missing
file, Postgres down, a database that does not exist or was never migrated, Redis down) is one
line on stderr with what to do, and a non-zero exit."""

import json
import subprocess
import uuid
from dataclasses import replace
from pathlib import Path

import asyncpg

from infra.settings import Settings
from tests.support.helpers import Org, free_port
from tests.support.processes import DNC, env_of


def failing(settings: Settings, *args: str) -> str:
    done = subprocess.run(
        [DNC, *args], env=env_of(settings), capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert done.stdout == ""
    message: str = json.loads(lines[0])["error"]
    return message


def test_an_unknown_organization(settings: Settings, tmp_path: Path) -> None:
    unknown = str(uuid.uuid4())
    source = tmp_path / "list.csv"
    source.write_text("phoneNumber\n2125550101\n")
    assert unknown in failing(settings, "import", "--org", unknown, str(source))
    assert unknown in failing(settings, "export", "--org", unknown)


def test_a_missing_file(settings: Settings, org: Org, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.csv"
    assert str(missing) in failing(settings, "import", "--org", str(org.id), str(missing))


def test_postgres_down(settings: Settings, org: Org) -> None:
    down = replace(settings, database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/x")
    message = failing(down, "export", "--org", str(org.id))
    assert "Postgres" in message
    assert "DNC_DATABASE_URL" in message


def test_a_database_that_does_not_exist(settings: Settings, org: Org) -> None:
    name = f"dnc_missing_{uuid.uuid4().hex[:8]}"
    missing = replace(settings, database_url=f"postgresql://postgres@127.0.0.1:5432/{name}")
    message = failing(missing, "export", "--org", str(org.id))
    assert "does not exist" in message
    assert "dnc db upgrade" in message


async def test_a_database_never_migrated(settings: Settings, org: Org) -> None:
    name = f"dnc_empty_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        empty = replace(settings, database_url=f"postgresql://postgres@127.0.0.1:5432/{name}")
        message = failing(empty, "export", "--org", str(org.id))
        assert "dnc db upgrade" in message
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def test_redis_down(settings: Settings, org: Org) -> None:
    down = replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    message = failing(down, "cache", "rebuild", "--org", str(org.id))
    assert "Redis" in message
