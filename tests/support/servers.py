"""Servers a test owns: a private redis-server it may stop, restart or flush, and a TCP proxy
it may cut. Both live on loopback ports of their own; the shared services are never touched."""

import asyncio
import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Self

import redis

from tests.support.helpers import free_port


class PrivateRedis:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server must be installed (make test installs it)"
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tempfile.mkdtemp(prefix="dnc-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start empty: nothing is saved to disk, so every start is a restart from nothing."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self.dir,
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def flush(self) -> None:
        client = redis.Redis(port=self.port)
        try:
            client.flushall()
        finally:
            client.close()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        """Started; stopped and its directory removed on the way out."""
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()


class TcpProxy:
    """Forwards a loopback port to a target; :meth:`cut` drops every connection and refuses new
    ones until :meth:`restore`. It runs on an event loop in a thread of its own, so it keeps
    forwarding while the test (or an app under test) blocks its own loop."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> None:
        self._thread.start()
        self._call(self._listen())

    def cut(self) -> None:
        self._call(self._cut())

    def restore(self) -> None:
        self._call(self._listen())

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()


class ThrottledProxy(TcpProxy):
    """A :class:`TcpProxy` that passes at most ``bytes_per_second`` each way on each
    connection: a slow network in front of a real server."""

    CHUNK = 16384

    def __init__(self, target_port: int, bytes_per_second: int) -> None:
        super().__init__(target_port)
        self.bytes_per_second = bytes_per_second

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            with contextlib.suppress(OSError):  # either side hung up
                while data := await reader.read(self.CHUNK):
                    writer.write(data)
                    await writer.drain()
                    await asyncio.sleep(len(data) / self.bytes_per_second)
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()


class PrivateRedisCluster:
    """A 3-master Redis Cluster of the test session's own (``.ci/redis-cluster``), on free
    loopback ports whose cluster-bus ports (+10000) are free too."""

    SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "redis-cluster"

    def __init__(self, directory: Path) -> None:
        self.directory = directory / "nodes"

    def start(self) -> str:
        for _ in range(50):
            first = random.randrange(20_000, 25_000)
            ports = [first, first + 1, first + 2]
            if all(_port_free(p) and _port_free(p + 10_000) for p in ports):
                break
        else:
            raise RuntimeError("no free ports for a Redis Cluster")
        out = subprocess.run(
            ["bash", str(self.SCRIPT), "start", str(self.directory), str(first)],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        return out.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        subprocess.run(
            ["bash", str(self.SCRIPT), "stop", str(self.directory)], check=False, timeout=30
        )

    @staticmethod
    def flush(nodes: str) -> None:
        for node in nodes.split(","):
            host, _, port = node.rpartition(":")
            client = redis.Redis(host=host, port=int(port))
            try:
                client.flushall()
            finally:
                client.close()


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
