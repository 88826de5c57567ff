"""The README's Python client example runs as written: the block is taken from the README
and run as its own process against a real API and Redis."""

import os
import re
import subprocess
import sys
from pathlib import Path

from infra.settings import Settings
from tests.support.helpers import Org, add_listed_number
from tests.support.processes import served_in_thread

README = Path(__file__).resolve().parents[2] / "README.md"


def example() -> str:
    blocks: list[str] = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    [script] = [b for b in blocks if b.startswith("# check_numbers.py")]
    return script


async def test_the_readme_client_example_runs_as_written(
    settings: Settings, org: Org, tmp_path: Path
) -> None:
    await add_listed_number(settings, org)  # 2125551234, through the API
    token = await org.token_for(org.admin_email, scope="check")
    script = tmp_path / "check_numbers.py"
    script.write_text(example())
    with served_in_thread(settings) as base:
        env = {
            **os.environ,
            "ORG_ID": str(org.id),
            "CHECK_TOKEN": token,
            "DNC_REDIS_URL": settings.redis_url,
            "DNC_REDIS_PREFIX": settings.redis_prefix,
            "DNC_API_URL": base,
        }
        done = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True,
            timeout=60, check=False, cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "12125551234 blocked dnc",
        "12125550100 callable None",
        "answered by redis",
    ]
