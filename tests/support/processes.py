"""The service as real processes: ``dnc serve`` and ``dnc worker`` started with a test's
settings, the app on a real server in a thread, and waiting for what they do."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import TypeVar

import pytest
import uvicorn
from litestar.types import ASGIApp

from app.asgi import create_app
from infra.settings import Settings
from tests.support.helpers import free_port, wait_until_healthy

T = TypeVar("T")
DNC = str(Path(sys.executable).with_name("dnc"))


def env_of(settings: Settings) -> dict[str, str]:
    """The environment that gives a `dnc` process exactly these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNC_")}
    env.update({f"DNC_{f.name.upper()}": str(getattr(settings, f.name)) for f in fields(settings)})
    env["DNC_LOG_LEVEL"] = "WARNING"
    return env


@contextmanager
def running(*commands: tuple[str, Settings], stop_within: float = 30) -> Iterator[None]:
    """A `dnc <command>` process for each (command, settings); the block starts once every
    `dnc serve` among them answers ``GET /health`` on its settings' port, and they are all
    terminated (and waited for) when it ends."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for command, settings in commands:
            processes.append(subprocess.Popen([DNC, command], env=env_of(settings)))
        for command, settings in commands:
            if command == "serve":
                wait_until_healthy(f"http://127.0.0.1:{settings.port}")
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=stop_within)


@contextmanager
def served_in_thread(
    settings: Settings, factory: Callable[[Settings], ASGIApp] = create_app
) -> Iterator[str]:
    """The app (or, with ``factory=create_server_app``, what ``dnc serve`` runs) on a real
    server (uvicorn) in a thread of this process: requests run side by side (the test client
    runs one at a time), and the test's patches apply to them."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(factory(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class Workers:
    """``dnc worker`` processes a test started, each logging to a file of its own."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"worker-{len(self.processes) + 1}.log").open("wb") as log:
            process = subprocess.Popen([DNC, "worker"], env=env, stdout=log, stderr=log)
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no shutdown handler runs, nothing is released or re-queued."""
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def output(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.logs.glob("worker-*.log"))
        )


def worker_env(settings: Settings, redis_url: str | None = None) -> dict[str, str]:
    """``env_of`` (every setting, the test timings included), logging at INFO, and maybe
    another Redis for the queue (``redis_url``)."""
    env = env_of(settings)
    env["DNC_LOG_LEVEL"] = "INFO"
    if redis_url is not None:
        env["DNC_REDIS_URL"] = redis_url
    return env


async def eventually(
    probe: Callable[[], Awaitable[T]], timeout: float, what: str, workers: Workers
) -> T:
    """The probe's first truthy answer within ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (answer := await probe()):
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"not within {timeout:.0f}s: {what}\n{workers.output()}")
        await asyncio.sleep(0.02)
    return answer


def polled(condition: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    """A plain condition as a probe for :func:`eventually`."""

    async def probe() -> T:
        return condition()

    return probe
