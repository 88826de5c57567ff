"""Shared test helpers: provisioning, requests a platform sends, a real SMTP server, a real arq
worker, free ports."""

import asyncio
import email
import http.client
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from email.message import Message
from typing import Any, Self, cast
from uuid import UUID, uuid4

import asyncpg
import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from arq.connections import ArqRedis
from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from domain.model import Role, Scope
from domain.usecases.identity import create_organization, create_token, create_user
from domain.usecases.mirror_repair import rebuild_mirror
from infra.bootstrap import Resources, open_resources
from infra.db.uow import SqlUnitOfWork
from infra.redis.mirror import RedisMirror
from infra.settings import Settings
from jobs.worker import build_worker

Client = AsyncTestClient[Litestar]

RECORDING = "https://recordings.example.test/calls/r-1.mp3"
TRANSCRIPT = "Agent: Hello... Customer: Please don't call me again."
SUCCESS_ADD = {
    "message": "Phone number added to DNC successfully",
    "status": True,
    "code": 200,
    "errorMessage": "",
}


@dataclass
class Org:
    id: UUID
    admin_id: UUID
    admin_email: str
    token: str
    settings: Settings

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    async def add_user(self, role: Role = "member", scope: Scope = "full") -> tuple[UUID, str]:
        """A new user of this organization and a token for it."""
        email_address = f"{role}-{uuid4().hex[:8]}@example.test"
        async with uow_for(self.settings) as uow:
            user = await create_user(uow, self.id, email_address, role)
            return user.id, await create_token(uow, email_address, scope)

    async def token_for(self, email_address: str, scope: Scope = "full") -> str:
        async with uow_for(self.settings) as uow:
            return await create_token(uow, email_address, scope)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def new_org(settings: Settings, name: str) -> Org:
    """An organization, its admin and a token, with its mirror built as `dnc org create` does."""
    admin_email = f"admin-{uuid4().hex[:8]}@example.test"
    async with resources_for(settings) as resources:
        uow = resources.uow()
        organization, admin = await create_organization(uow, name, admin_email)
        token = await create_token(uow, admin_email, "full")
        await rebuild_mirror(uow, resources.mirror, organization.id)
    return Org(organization.id, admin.id, admin_email, token, settings)


def resources_for(settings: Settings) -> AbstractAsyncContextManager[Resources]:
    """Every resource, as a process builds them (``infra.bootstrap``), on the test's own
    event loop."""
    return open_resources(settings, "dnc-tests")


@asynccontextmanager
async def mirror_for(settings: Settings) -> AsyncIterator[RedisMirror]:
    """The Redis mirror on the test's own event loop."""
    async with resources_for(settings) as resources:
        yield resources.mirror


async def forget_mirror(mirror: RedisMirror, organization_id: UUID) -> None:
    """Drop the organization's mirror entirely (it reads as not ready afterwards)."""
    state = await mirror.state(organization_id)
    await cast(Awaitable[int], mirror.redis.unlink(mirror.meta_key(organization_id)))
    if state.generation and state.buckets:
        await mirror.delete_generation(organization_id, state.generation, state.buckets)


@asynccontextmanager
async def uow_for(settings: Settings) -> AsyncIterator[SqlUnitOfWork]:
    async with resources_for(settings) as resources:
        yield resources.uow()


def body(response: Response) -> dict[str, Any]:
    data: dict[str, Any] = response.json()
    return data


def assert_error(response: Response, code: int, *fragments: str) -> dict[str, Any]:
    """The response is the error envelope with this status and an actionable message."""
    payload = body(response)
    assert response.status_code == code, payload
    assert payload["code"] == code
    assert payload["status"] is False
    assert payload["message"]
    assert payload["errorMessage"]
    assert "data" not in payload
    for fragment in fragments:
        assert fragment in payload["errorMessage"], payload
    return payload


async def seed_call(
    client: Client,
    org: Org,
    batch_id: str = "batch-1",
    request_uuid: str = "req-1",
    phone: str = "+1 (212) 555-1234",
    **extra: Any,
) -> None:
    """Create the batch (if new) and record one call in it, as a platform would."""
    response = await client.post("/api/batches", json={"batchId": batch_id}, headers=org.headers)
    assert response.status_code in (201, 409), body(response)
    call = {
        "requestUUID": request_uuid,
        "phoneNumber": phone,
        "recordingUrl": RECORDING,
        "transcription": TRANSCRIPT,
        **extra,
    }
    response = await client.post(f"/api/batches/{batch_id}/calls", json=call, headers=org.headers)
    assert response.status_code == 201, body(response)


def add_body(
    phone: str = "2125551234", batch_id: str = "batch-1", request_uuid: str = "req-1", **extra: Any
) -> dict[str, Any]:
    return {"phoneNumber": phone, "batchId": batch_id, "requestUUID": request_uuid, **extra}


async def is_blocked(client: Client, org: Org, number: str) -> bool:
    """What ``GET /api/dnc/check`` answers for the number: blocked or callable."""
    response = await client.get(
        "/api/dnc/check", params={"phoneNumber": number}, headers=org.headers
    )
    assert response.status_code == 200, response.text
    blocked: bool = body(response)["data"]["blocked"]
    return blocked


async def add_listed_number(settings: Settings, org: Org) -> None:
    """The default call seeded and its number listed through the API (the admins' email
    goes into the outbox)."""
    async with AsyncTestClient(app=create_app(settings)) as client:
        await seed_call(client, org)
        response = await client.post(
            "/api/dnc/add", json=add_body(type="customer_request"), headers=org.headers
        )
        assert response.status_code == 200


async def outbox_rows(settings: Settings) -> list[asyncpg.Record]:
    """The admins' emails in the outbox, in the order they were written."""
    return await sql(settings, "SELECT * FROM outbox WHERE kind = 'email.dnc_added' ORDER BY id")


@asynccontextmanager
async def arq_for(settings: Settings) -> AsyncIterator[ArqRedis]:
    """An arq connection on the test's own event loop."""
    async with resources_for(settings) as resources:
        yield resources.redis


async def run_worker(settings: Settings) -> None:
    """Run a real arq worker until its queue is empty."""
    worker = build_worker(settings, burst=True, with_cron=False)
    try:
        await worker.main()
    finally:
        await worker.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def envelope(self) -> dict[str, Any]:
        """The JSON envelope the answer carries; its ``code`` is the status."""
        answer: dict[str, Any] = json.loads(self.body)
        assert answer["code"] == self.status, answer
        return answer


def raw_exchange(port: int, request: bytes) -> RawAnswer:
    """Send ``request`` to 127.0.0.1:``port`` as it is, bytes no client library tidied up; the
    answer as the standard library's HTTP client reads it."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return RawAnswer(response.status, response.headers, response.read())


class _Collector:
    def __init__(self, sink: "SmtpSink") -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.sink.lock:
            if self.sink.refusals:
                return self.sink.refusals.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        with self.sink.lock:
            self.sink.messages.append(email.message_from_bytes(raw))
        return "250 OK"


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free loopback port that keeps what it receives."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[Message] = []
        self.refusals: list[str] = []  # replies to give the next RCPTs, e.g. "451 try later"
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(_Collector(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _SlowData(_Collector):
    def __init__(self, sink: "SlowSmtpSink") -> None:
        super().__init__(sink)
        self.slow = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        sink = self.slow
        with sink.lock:
            delay = sink.data_delay
            commit_first = any(r in sink.commit_before_reply for r in envelope.rcpt_tos)
        reply = await super().handle_DATA(server, session, envelope) if commit_first else ""
        with sink.lock:
            sink.data_started += 1
        # aiosmtpd cancels this handler when the client hangs up, so a message not committed
        # yet is dropped, as a real server drops a transaction whose client went away
        await asyncio.sleep(delay)
        return reply or await super().handle_DATA(server, session, envelope)


class SlowSmtpSink(SmtpSink):
    """An :class:`SmtpSink` that takes ``data_delay`` seconds to answer DATA (the whole message
    has arrived by then). It keeps a message when it answers, or, for a recipient in
    ``commit_before_reply``, as soon as the message has arrived: a server that has committed a
    message whose ``250`` its client may never read."""

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        self.data_delay = 0.0
        self.data_started = 0  # DATA commands whose message has arrived, answered or not
        self.commit_before_reply: set[str] = set()

    def start(self) -> None:
        self._controller = Controller(_SlowData(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()


def wait_until_healthy(base_url: str, seconds: float = 60) -> None:
    """Until ``GET /health`` answers 200 (a `dnc serve` process starting up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{base_url} did not become healthy in {seconds} s")


async def sql(settings: Settings, query: str, *args: object) -> list[asyncpg.Record]:
    """Run one statement straight against the suite's database (behind the API's back)."""
    connection = await asyncpg.connect(settings.database_url)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()
