"""``dnc run`` (what ``make run`` runs): the API and the worker in the foreground, each started
again when it dies.

- The API counts as up once it answers ``GET /health``. An API that exits before that cannot
  start at all (its port taken, an address it may not bind): the worker is stopped and
  ``dnc run`` exits 1 with one line saying why. Its port is tried before every start, so an
  API whose port another process holds (even another ``dnc serve``, which would answer the
  health check) is reported at once, never restarted in a loop.
- A child that dies after that is started again after a short backoff (1 s, doubling up to
  30 s; back to 1 s once it had stayed up for a minute), with one line saying so.
- SIGINT (Ctrl-C) or SIGTERM stops both (SIGTERM, then SIGKILL after 10 s); exit status 0.
"""

import logging
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from types import FrameType

from infra.settings import Settings

log = logging.getLogger("app.supervisor")  # the name its lines have always carried (text logs)
RESTART_FIRST_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
STAYED_UP_SECONDS = 60.0
STOP_SECONDS = 10.0
TICK_SECONDS = 0.2


class Child:
    """One ``dnc <command>`` process, started again with a backoff when it exits."""

    def __init__(self, name: str, command: str) -> None:
        self.name = name
        self.command = command
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.restart_at: float | None = None
        self.delay = RESTART_FIRST_SECONDS
        self.healthy = False

    def start(self) -> None:
        command = [sys.executable, "-m", "app.cli", self.command]
        self.process = subprocess.Popen(command)  # noqa: S603 (our own command)
        self.started_at, self.restart_at, self.healthy = time.monotonic(), None, False
        log.info("%s started (pid %d)", self.name, self.process.pid)

    def exited(self) -> int | None:
        """The exit status if the process has ended since the last call, else None."""
        if self.process is None or (code := self.process.poll()) is None:
            return None
        self.process = None
        return code

    def restart_later(self, code: int) -> None:
        up_for = time.monotonic() - self.started_at
        if up_for >= STAYED_UP_SECONDS:
            self.delay = RESTART_FIRST_SECONDS
        log.warning(
            "%s exited (%s) after %.1f s; starting it again in %.0f s",
            self.name, describe(code), up_for, self.delay,
        )  # fmt: skip
        self.restart_at = time.monotonic() + self.delay
        self.delay = min(self.delay * 2, RESTART_MAX_SECONDS)

    def due(self) -> bool:
        return self.restart_at is not None and time.monotonic() >= self.restart_at

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def wait(self, deadline: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s; killing it", self.name, STOP_SECONDS)
            self.process.kill()
            self.process.wait()
        self.process = None


def describe(code: int) -> str:
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"status {code}"


def port_problem(host: str, port: int) -> str | None:
    """Why the API could not listen on ``host:port``, tried as uvicorn binds; None if it can."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def health_url(settings: Settings) -> str:
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(  # noqa: S104
        settings.host, settings.host
    )
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}/health"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (our own URL)
            return bool(response.status == 200)
    except OSError:
        return False


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.api, self.worker = Child("API", "serve"), Child("worker", "worker")
        self.url = health_url(settings)
        self.stopping: list[int] = []

    def run(self) -> int:
        """Until a signal (0) or an API that cannot start (1)."""
        while not self.stopping:
            if not (self.start_due() and self.reap()):
                return 1
            if self.api.process is not None and not self.api.healthy and answers(self.url):
                self.api.healthy = True
                log.info("API answering on %s", self.url.removesuffix("/health"))
            time.sleep(TICK_SECONDS)
        log.info("%s: stopping the API and the worker", signal.Signals(self.stopping[0]).name)
        return 0

    def start_due(self) -> bool:
        """Start what is not running and due; False if the API's port cannot be had."""
        for child in (self.api, self.worker):
            if child.process is not None or not (child.restart_at is None or child.due()):
                continue
            host, port = self.settings.host, self.settings.port
            if child is self.api and (problem := port_problem(host, port)):
                log.error("the API cannot start: %s:%d: %s; stopping", host, port, problem)
                return False
            child.start()
        return True

    def reap(self) -> bool:
        """Schedule the restart of what exited; False if the API exited before it was up."""
        for child in (self.api, self.worker):
            if (code := child.exited()) is None:
                continue
            if child is self.api and not child.healthy:
                log.error(
                    "the API cannot start: it exited (%s) before answering %s; stopping",
                    describe(code), self.url,
                )  # fmt: skip
                return False
            child.restart_later(code)
        return True

    def stop(self) -> None:
        for child in (self.api, self.worker):
            child.stop()
        deadline = time.monotonic() + STOP_SECONDS
        for child in (self.api, self.worker):
            child.wait(deadline)


def supervise(settings: Settings) -> int:
    supervisor = Supervisor(settings)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        supervisor.stopping.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return supervisor.run()
    finally:
        supervisor.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
