"""``dnc run`` (what ``make run`` runs) as a real process: an API whose port is taken ends it
with an error at once; a worker or an API killed with SIGKILL is started again and works;
SIGTERM stops both children."""

import asyncio
import os
import re
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from infra.settings import Settings
from tests.support.helpers import Org, SmtpSink, add_listed_number, free_port
from tests.support.processes import DNC, env_of


def run_env(settings: Settings) -> dict[str, str]:
    env = env_of(settings)
    env.update(DNC_LOG_LEVEL="INFO", DNC_LOG_FORMAT="text")
    return env


@dataclass
class Run:
    process: "subprocess.Popen[bytes]"
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def pids(self, child: str) -> list[int]:
        return [int(pid) for pid in re.findall(rf"{child} started \(pid (\d+)\)", self.output())]

    async def until(self, condition: Callable[[], bool], seconds: float, what: str) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"not within {seconds:.0f}s: {what}\n{self.output()[-5000:]}")
            await asyncio.sleep(0.1)


@pytest.fixture
def dnc_run(tmp_path: Path) -> Iterator[Callable[[Settings], Run]]:
    runs: list[Run] = []

    def start(settings: Settings) -> Run:
        log = tmp_path / f"run-{len(runs) + 1}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([DNC, "run"], env=run_env(settings), stdout=out, stderr=out)
        runs.append(Run(process, log))
        return runs[-1]

    try:
        yield start
    finally:
        for run in runs:
            if run.process.poll() is None:
                run.process.terminate()
            try:
                run.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                run.process.kill()
                run.process.wait(timeout=10)


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_an_api_whose_port_is_taken_ends_dnc_run_with_one_clear_line(settings: Settings) -> None:
    with socket.socket() as taken:  # any process listening on the port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [DNC, "run"],
            env=run_env(replace(settings, port=port)),
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    [line] = [line for line in done.stderr.splitlines() if "cannot start" in line]
    assert f"127.0.0.1:{port}" in line
    assert "Address already in use" in line
    assert "started (pid" not in done.stderr  # neither child was left running


async def test_dnc_run_restarts_a_killed_worker_and_api_and_sigterm_stops_both(
    smtp_settings: Settings, smtp: SmtpSink, org: Org, dnc_run: Callable[[Settings], Run]
) -> None:
    settings = replace(smtp_settings, port=free_port())
    run = dnc_run(settings)
    await run.until(lambda: "API answering" in run.output(), 90, "the API up")
    [api] = run.pids("API")
    [first_worker] = run.pids("worker")

    os.kill(first_worker, signal.SIGKILL)
    await run.until(lambda: len(run.pids("worker")) == 2, 30, "the worker started again")
    worker = run.pids("worker")[1]
    assert "worker exited (killed by SIGKILL)" in run.output()
    # the new worker works: an add's email to the admin goes out
    await add_listed_number(settings, org)
    await run.until(lambda: len(smtp.messages) == 1, 60, "the email sent")
    assert [str(m["To"]) for m in smtp.messages] == [org.admin_email]
    assert run.pids("API") == [api]  # the API was left alone
    assert alive(api)
    assert alive(worker)

    os.kill(api, signal.SIGKILL)
    await run.until(
        lambda: run.output().count("API answering") == 2, 90, "the API started again and up"
    )
    [_, api] = run.pids("API")
    assert "API exited (killed by SIGKILL)" in run.output()
    assert run.pids("worker") == [first_worker, worker]

    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(timeout=30) == 0
    assert not alive(api)
    assert not alive(worker)
    assert "SIGTERM: stopping the API and the worker" in run.output()
