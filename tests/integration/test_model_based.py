"""A model-based test of the central promise: a listed number is never answered "callable".

Hypothesis drives random sequences of the operations that change what a check answers, through
the real app (two app instances, as two API processes: ``dnc serve``'s stack with its fast
``GET /check`` path, and the plain Litestar app), real Postgres, real Redis and a real arq
worker. A small universe of numbers keeps collisions frequent. The model is which numbers are
on the org-wide list (with their ``expiresAt``), which are on each named list (up to two alive
at once, created and deleted as the run goes), which prefix rules are in force, whether DNC
is enabled, and, for the two shared lists of the example (a registry the organization
subscribes to from the start, and a litigator list), which numbers each holds, whether its data
is stale, which the organization subscribes to, and which numbers have an exemption (some of
them numbers the organization blocks itself, to prove an exemption lifts the shared lists
only); after every step every check path is asked about every number of the universe, naming
every named list alive:

- ``GET /api/dnc/check``, one number at a time, on the two apps in turn (the fast path and
  the Litestar route: the dearest path, so each step asks one app);
- ``POST /api/dnc/check`` on both apps, all numbers at once;
- ``infra.dnc_client.DncClient`` (the direct script; it must answer from Redis when the
  script says ready, and fall back to the API when it says "unknown");
- ``check.lua`` itself, asked two ways: by hand here (the organization's call, then one call
  per subscribed shared list, the bits combined as the README says), and through
  ``infra.redis.checking.ScriptCheck`` as the API and the client ask it.

What is asserted, for a number the model says is

- **on a named list asked about, or under a prefix rule, or listed on the org-wide list and not
  expired, or (without an exemption) on a subscribed shared list or a subscribed list is stale,
  DNC enabled**: every path answers blocked (safety), and says why: ``lists`` is the lists that
  block it (the org-wide list, the named ones, then the shared ones that hold it and the stale
  ones), ``reason`` "dnc", else "prefix", else "registry", else "registry_stale".
  ``check.lua`` may answer ``ready = 0`` ("unknown"); every other path must answer.
- **on no list asked about and under no rule, or DNC disabled**: every path answers
  callable. Every write settles the
  mirror before it returns, so this holds right after each step, with no extra sync step
  (a ready ``check.lua`` reply must agree exactly too).
- **listed with an ``expiresAt`` that has passed** (expired, not yet retired by the
  expiry job): either answer. Postgres stops blocking it at ``expiresAt``; Redis keeps
  blocking it until ``expire_due`` retires it, which errs towards blocking by design. The
  same holds for a number whose ``expiresAt`` falls while a request runs.

Also: ``dncEnabled`` is exact on every path; invalid numbers are blocked as invalid; after a
rebuild (direct, or through ``POST /api/dnc/cache/rebuild`` and a burst arq worker) the
mirror is ready until the organization's keys are deleted; the relay (``sync_all``) finds
nothing left to apply, since every write settled the mirror itself; the settings endpoint agrees;
each write answers what the model expects (added, duplicate, invalid, 404 ...).

**At past moments** (``at=`` on both checks): after every step the machine notes the moment
and a copy of the model; each invariant then asks ``POST /api/dnc/check`` with ``at`` about
every number at the moment just before the last step and at one earlier moment (chosen at
random), naming the named lists alive then (deleted ones included), and ``GET`` with ``at``
about a few numbers through ``dnc serve``'s stack (whose fast path must hand them to
Litestar). The answers must equal the copy's exactly (blocked, reason, lists, dncEnabled):
the switch, the entries (an entry blocks until its ``expiresAt``, exactly), the named lists,
prefix rules, exemptions and subscriptions as they were then; shared lists answer with their
current contents and freshness plus the numbers change files deleted since (README: what is
not reconstructed), and
``sharedListsChangedSince`` names exactly those subscribed then whose data changed since.

Expiry runs on the real clock: entries get an ``expiresAt`` a fraction of a second ahead,
and the expiry job (``domain.usecases.entries.expire_due``) runs either at once or after waiting for
them. Two neighbouring organizations share the numbers: one lists all of them, the other has
DNC off; neither may leak into this organization's answers.
"""

import asyncio
import copy
import csv
import io
import random
import time
from collections.abc import Awaitable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar, cast
from uuid import UUID, uuid4

from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from app.asgi import create_app, create_server_app
from domain.errors import Unavailable
from domain.model import MirrorAnswer
from domain.time import utcnow
from domain.usecases.checks import RebuildRequests, check_numbers
from domain.usecases.entries import expire_due
from domain.usecases.identity import create_organization, create_token
from domain.usecases.mirror_repair import rebuild_mirror
from domain.usecases.mirror_sync import sync_all
from domain.usecases.shared_lists import subscribe, unsubscribe
from infra.bootstrap import Resources
from infra.db.uow import SqlUnitOfWork
from infra.dnc_client import DncClient
from infra.redis import layout
from infra.redis.checking import CHECK_SCRIPT, ScriptCheck
from infra.redis.mirror import RedisMirror
from infra.settings import Settings
from tests.support.helpers import (
    bearer,
    body,
    mirror_for,
    new_org,
    resources_for,
    run_worker,
    uow_for,
)
from tests.support.shared import change, load, shared_list
from tests.support.suite import ON_CLUSTER

T = TypeVar("T")

# E.164 digits, and the ways a caller may write each (the contract's formats)
NANP = [
    "12125550101",
    "12125550102",
    "12125550103",
    "12125550104",
    "13105550105",
    "14155550106",
    "16175550107",
    "17185550108",
    "19175550109",
]
INTERNATIONAL = {
    "442079460958": ["+44 20 7946 0958", "+442079460958", "+44 (20) 7946-0958"],
    "6592345678": ["+65 9234 5678", "+6592345678", "+65-9234-5678"],
    "33142685300": ["+33 1 42 68 53 00", "+33142685300", "+33.1.42.68.53.00"],
}
UNIVERSE = NANP + list(INTERNATIONAL)
INVALID = ["12345", "+1 212 555 01", "call me maybe", "+999 1234"]
EXPIRY_SECONDS = 0.4  # how far ahead a short-lived entry expires
# prefix rules, each starting some numbers of the universe: four NANP ones, one, the UK one
PREFIXES = ["1212555", "1415555", "4420"]
MAX_NAMED = 2  # named lists alive at once

ACTIVE, EXPIRED, EDGE, ABSENT = "active", "expired", "edge", "absent"


def formats(number: str) -> list[str]:
    if number in INTERNATIONAL:
        return INTERNATIONAL[number]
    national = number[1:]
    area, exchange, line = national[:3], national[3:6], national[6:]
    return [
        number,
        f"+{number}",
        national,
        f"({area}) {exchange}-{line}",
        f"+1 {area}.{exchange}.{line}",
    ]


def written(number: str, style: int) -> str:
    ways = formats(number)
    return ways[style % len(ways)]


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


def moment_of(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass
class Model:
    enabled: bool = True
    listed: dict[str, float | None] = field(default_factory=dict)  # number -> expiresAt
    named: dict[str, set[str]] = field(default_factory=dict)  # named list id -> its numbers
    prefixes: dict[str, str] = field(default_factory=dict)  # prefix -> the rule's id
    # the shared lists of the run (in creation order, as checks name them): their numbers,
    # whether their data is stale, and which the organization subscribes to
    shared: dict[str, set[str]] = field(default_factory=dict)
    stale: set[str] = field(default_factory=set)
    subscribed: set[str] = field(default_factory=set)
    exempt: dict[str, str] = field(default_factory=dict)  # number -> its exemption's id
    changed: dict[str, float] = field(default_factory=dict)  # shared list -> its data changed
    # what change files deleted from the shared lists: (when, list, number)
    deleted: list[tuple[float, str, str]] = field(default_factory=list)

    def changed_since(self, then: "Model", moment: float) -> list[str]:
        """The shared lists subscribed to at ``moment`` (``then``) whose data (numbers or
        freshness) changed after it, as checks at that moment name them (this model being
        the present)."""
        return [x for x in self.shared if x in then.subscribed and self.changed[x] > moment]

    def held_by(self, number: str) -> list[str]:
        """The named lists that hold the number, in the order checks name them."""
        return [list_id for list_id, numbers in self.named.items() if number in numbers]

    def by_prefix(self, number: str) -> bool:
        return any(number.startswith(prefix) for prefix in self.prefixes)

    def shared_say(self, number: str) -> tuple[list[str], list[str]]:
        """The subscribed shared lists that block the number, as checks name them: those that
        hold it, then the stale ones that do not; none when an exemption lifts them."""
        if number in self.exempt:
            return [], []
        mine = [list_id for list_id in self.shared if list_id in self.subscribed]
        holding = [list_id for list_id in mine if number in self.shared[list_id]]
        stale = [list_id for list_id in mine if list_id in self.stale and list_id not in holding]
        return holding, stale

    def answer_at(
        self, number: str, moment: float, now: "Model"
    ) -> tuple[bool, str | None, list[str]]:
        """What a check at ``moment`` answers, this model being a copy taken then and ``now``
        the model of the present (shared lists answer with their current contents and
        freshness): blocked, reason and the lists that block, exactly."""
        if not self.enabled:
            return False, None, []
        expires = self.listed.get(number, 0.0)
        own = ["default"] if number in self.listed and (expires is None or expires > moment) else []
        own += self.held_by(number)
        holding: list[str] = []
        stale: list[str] = []
        if number not in self.exempt:
            mine = [list_id for list_id in now.shared if list_id in self.subscribed]
            since = {x for t, x, n in now.deleted if n == number and t > moment}
            holding = [x for x in mine if number in now.shared[x] or x in since]
            stale = [x for x in mine if x in now.stale and x not in holding]
        if own:
            reason = "dnc"
        elif self.by_prefix(number):
            reason = "prefix"
        elif holding or stale:
            reason = "registry" if holding else "registry_stale"
        else:
            return False, None, []
        return True, reason, [*own, *holding, *stale]

    def state(self, number: str, started: float, ended: float) -> str:
        """What the number is for a request that ran between ``started`` and ``ended``."""
        if number not in self.listed:
            return ABSENT
        expires = self.listed[number]
        if expires is None or expires > ended:
            return ACTIVE
        return EXPIRED if expires <= started else EDGE


@dataclass
class Harness:
    """What the whole test run shares: two apps, the mirror, a unit of work, one loop."""

    settings: Settings
    stack: AsyncExitStack
    server: AsyncTestClient[Any]  # `dnc serve`'s stack: the fast GET /check in front
    plain: AsyncTestClient[Any]  # the Litestar app alone
    mirror: RedisMirror
    uow: SqlUnitOfWork
    resources: Resources  # the shared lists' loads and changes

    @classmethod
    async def open(cls, settings: Settings) -> "Harness":
        stack = AsyncExitStack()
        server: AsyncTestClient[Any] = await stack.enter_async_context(
            AsyncTestClient(app=create_server_app(settings))
        )
        plain: AsyncTestClient[Any] = await stack.enter_async_context(
            AsyncTestClient(app=create_app(settings))
        )
        mirror = await stack.enter_async_context(mirror_for(settings))
        uow = await stack.enter_async_context(uow_for(settings))
        resources = await stack.enter_async_context(resources_for(settings))
        await _neighbours(settings, server)
        return cls(settings, stack, server, plain, mirror, uow, resources)


async def _neighbours(settings: Settings, client: AsyncTestClient[Any]) -> None:
    """Two organizations with the same numbers: one lists them all, one has DNC off."""
    listing, disabled = await new_org(settings, "Lists All"), await new_org(settings, "DNC Off")
    for org in (listing, disabled):
        numbers = [{"phoneNumber": f"+{n}"} for n in UNIVERSE]
        response = await client.post(
            "/api/dnc/bulk-add", json={"numbers": numbers}, headers=org.headers
        )
        assert response.status_code == 200, body(response)
    response = await client.post(
        "/api/dnc/enable-disable", json={"enable": False}, headers=disabled.headers
    )
    assert response.status_code == 200, body(response)


# Items of a bulk add or rows of an import: a universe number written some way (expiring
# soon or not), a string that is no phone number, or a number whose expiresAt has passed
Item = tuple[str, int, int, bool]  # kind, number index, writing style, expiring
item_strategy = st.one_of(
    st.tuples(
        st.just("number"),
        st.integers(0, len(UNIVERSE) - 1),
        st.integers(0, 4),
        st.sampled_from([False, False, True]),
    ),
    st.tuples(st.just("invalid"), st.integers(0, len(INVALID) - 1), st.just(0), st.just(False)),
    st.tuples(st.just("past"), st.integers(0, len(UNIVERSE) - 1), st.just(0), st.just(False)),
)
numbers = st.sampled_from(UNIVERSE)
styles = st.integers(0, 4)
apps = st.sampled_from(["server", "plain"])


class DncMachine(RuleBasedStateMachine):
    harness: ClassVar[Harness]
    runner: ClassVar[asyncio.Runner]

    def __init__(self) -> None:
        super().__init__()
        self.h = self.harness
        self.model = Model()
        self.calls = 0
        self.asked = 0
        self.lists_made = 0
        self.ready_expected = True  # the organization is created with its mirror built
        self.run(self._create_organization())
        self.past: list[tuple[float, Model]] = []  # (a moment between steps, the model then)

    # plumbing ------------------------------------------------------------------------------

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await awaitable

        return self.runner.run(wrapped())

    def app(self, via: str) -> AsyncTestClient[Any]:
        return self.h.server if via == "server" else self.h.plain

    async def _create_organization(self) -> None:
        """A new organization (and its mirror) per example, as `dnc org create` makes it."""
        admin = f"admin-{uuid4().hex[:8]}@example.test"
        organization, _ = await create_organization(self.h.uow, "Model Dialing", admin)
        self.org_id: UUID = organization.id
        self.headers = bearer(await create_token(self.h.uow, admin, "full"))
        check_token = await create_token(self.h.uow, admin, "check")
        await rebuild_mirror(self.h.uow, self.h.mirror, organization.id)
        response = await self.h.server.post(
            "/api/batches", json={"batchId": "model"}, headers=self.headers
        )
        assert response.status_code == 201, body(response)
        # a dialer's client: the script on the mirror's Redis, the server app as its API
        self.h.server.headers = bearer(check_token)
        self.dialer = DncClient(
            redis=self.h.mirror.redis,
            organization_id=organization.id,
            http=self.h.server,
            prefix=self.h.settings.redis_prefix,
        )
        self.check_headers = bearer(check_token)
        self.script = cast(Redis, self.h.mirror.redis).register_script(CHECK_SCRIPT)
        # two shared lists of this example's own (shared lists belong to no organization)
        tag = uuid4().hex[:8]
        for name, kind, held in (
            (f"Model registry {tag}", "registry", NANP[:4]),
            (f"Model litigators {tag}", "litigator", [NANP[3], *list(INTERNATIONAL)[:1]]),
        ):
            list_id = await shared_list(self.h.resources, name, kind, max_age_days=31)
            await load(self.h.resources, list_id, held)
            self.model.shared[list_id] = set(held)
            self.model.changed[list_id] = time.time()
        registry = next(iter(self.model.shared))  # subscribed from the start, as most are
        await subscribe(self.h.resources.uow(), self.h.resources.mirror, self.org_id, registry)
        self.model.subscribed.add(registry)

    # the writes ----------------------------------------------------------------------------

    @rule(number=numbers, style=styles, expiring=st.booleans(), via=apps)
    def add_from_call(self, number: str, style: int, expiring: bool, via: str) -> None:
        """POST /api/dnc/add for a call recorded just before (a call per add)."""
        self.calls += 1
        request_uuid = f"call-{self.calls}"
        client = self.app(via)
        call = {"requestUUID": request_uuid, "phoneNumber": written(number, style)}
        response = self.run(
            client.post("/api/batches/model/calls", json=call, headers=self.headers)
        )
        assert response.status_code == 201, body(response)
        started = time.time()
        expires = started + EXPIRY_SECONDS if expiring else None
        add: dict[str, Any] = {
            "phoneNumber": written(number, style + 1),
            "batchId": "model",
            "requestUUID": request_uuid,
        }
        if expires is not None:
            add["expiresAt"] = iso(expires)
        response = self.run(client.post("/api/dnc/add", json=add, headers=self.headers))
        ended = time.time()
        state, payload = self.model.state(number, started, ended), body(response)
        if response.status_code == 200:
            assert state in (ABSENT, EXPIRED, EDGE), (state, payload)
            self.model.listed[number] = expires
        elif "already on the DNC list" in payload.get("errorMessage", ""):
            assert response.status_code == 400, payload
            assert state in (ACTIVE, EDGE), (state, payload)
        else:  # only a request slower than the expiry may find its expiresAt passed
            assert response.status_code == 400, payload
            assert "expiresAt must be in the future" in payload["errorMessage"], payload
            assert expires is not None, payload
            assert ended >= expires, payload

    @rule(items=st.lists(item_strategy, min_size=1, max_size=8), via=apps)
    def bulk_add(self, items: list[Item], via: str) -> None:
        """POST /api/dnc/bulk-add with duplicates, invalid numbers and short expiries mixed in."""
        started = time.time()
        expires = started + EXPIRY_SECONDS
        sent = [self._bulk_item(item, expires) for item in items]
        response = self.run(
            self.app(via).post("/api/dnc/bulk-add", json={"numbers": sent}, headers=self.headers)
        )
        ended = time.time()
        assert response.status_code == 200, body(response)
        results = body(response)["data"]["results"]
        assert [r["phoneNumber"] for r in results] == [s["phoneNumber"] for s in sent]
        late = ended >= expires  # the request outlived its own expiresAt: may be refused
        seen: set[str] = set()
        for (kind, index, _, expiring), result in zip(items, results, strict=True):
            outcome = result["outcome"]
            if kind != "number":
                assert outcome == "invalid", result
                continue
            number = UNIVERSE[index]
            if expiring and late and outcome == "invalid":
                assert "expiresAt must be in the future" in result["error"], result
                continue
            assert result["normalized"] == number, result
            if number in seen:
                assert outcome == "duplicate", result
                continue
            seen.add(number)
            state = self.model.state(number, started, ended)
            expected = {ACTIVE: ["duplicate"], EDGE: ["added", "duplicate"]}.get(state, ["added"])
            assert outcome in expected, (state, result)
            if outcome == "added":
                self.model.listed[number] = expires if expiring else None

    @staticmethod
    def _bulk_item(item: Item, expires: float) -> dict[str, str]:
        kind, index, style, expiring = item
        if kind == "invalid":
            return {"phoneNumber": INVALID[index]}
        sent = {"phoneNumber": written(UNIVERSE[index], style)}
        if kind == "past":
            sent["expiresAt"] = iso(time.time() - 3600)
        elif expiring:
            sent["expiresAt"] = iso(expires)
        return sent

    @rule(rows=st.lists(item_strategy, min_size=1, max_size=8), via=apps)
    def import_csv(self, rows: list[Item], via: str) -> None:
        """POST /api/dnc/import, a small file processed inline."""
        started = time.time()
        expires = started + EXPIRY_SECONDS
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["phoneNumber", "type", "expiresAt"])
        for row in rows:
            item = self._bulk_item(row, expires)
            writer.writerow([item["phoneNumber"], "imported", item.get("expiresAt", "")])
        response = self.run(
            self.app(via).post(
                "/api/dnc/import",
                content=out.getvalue().encode(),
                headers={**self.headers, "Content-Type": "text/csv"},
            )
        )
        ended = time.time()
        assert response.status_code == 200, body(response)
        report = body(response)["data"]
        assert report["status"] == "done", report
        # the server reads every row at one moment: either all short-lived rows were still in
        # the future then, or (only if the import outlived them) all were refused
        refused = sum(kind != "number" for kind, _, _, _ in rows)
        short = sum(kind == "number" and expiring for kind, _, _, expiring in rows)
        late = short > 0 and ended >= expires and report["invalid"] == refused + short
        assert late or report["invalid"] == refused, report
        first: dict[str, bool] = {}  # number -> expiring, for each number's first valid row
        for kind, index, _, expiring in rows:
            if kind == "number" and not (expiring and late):
                first.setdefault(UNIVERSE[index], expiring)
        states = {n: self.model.state(n, started, ended) for n in first}
        surely = [n for n, s in states.items() if s in (ABSENT, EXPIRED)]
        maybe = [n for n, s in states.items() if s == EDGE]
        assert len(surely) <= report["added"] <= len(surely) + len(maybe), (states, report)
        assert report["rows"] == len(rows)
        assert report["added"] + report["duplicate"] + report["invalid"] == len(rows), report
        for number in surely:
            self.model.listed[number] = expires if first[number] else None
        for number in maybe:  # its expiresAt fell during the import: ask which entry it kept
            entry = self._entry(number)
            if entry is not None and moment_of(entry["createdAt"]) >= started:
                self.model.listed[number] = expires if first[number] else None

    def _entry(self, number: str) -> dict[str, Any] | None:
        path = f"/api/dnc/entries/%2B{number}"  # E.164 with its '+': 6592345678 is NANP too
        response = self.run(self.h.plain.get(path, headers=self.headers))
        assert response.status_code in (200, 404), body(response)
        return body(response)["data"] if response.status_code == 200 else None

    @rule(number=numbers, style=styles, via=apps)
    def remove(self, number: str, style: int, via: str) -> None:
        """POST /api/dnc/remove: 200 while the number has an entry (expired or not), else 404."""
        request = {"phoneNumber": written(number, style), "reason": "model says so"}
        response = self.run(
            self.app(via).post("/api/dnc/remove", json=request, headers=self.headers)
        )
        if number in self.model.listed:
            assert response.status_code == 200, body(response)
            assert body(response)["data"]["phoneNumber"] == number
            del self.model.listed[number]
        else:
            assert response.status_code == 404, body(response)

    @rule(number=numbers, via=apps)
    def delete_by_id(self, number: str, via: str) -> None:
        """GET /api/dnc/entries/{number} for its id, then DELETE /api/dnc/delete/{id} (twice)."""
        entry = self._entry(number)
        assert (entry is not None) == (number in self.model.listed), entry
        entry_id = entry["id"] if entry else str(uuid4())
        client = self.app(via)
        response = self.run(client.delete(f"/api/dnc/delete/{entry_id}", headers=self.headers))
        assert response.status_code == (200 if entry else 404), body(response)
        self.model.listed.pop(number, None)
        again = self.run(client.delete(f"/api/dnc/delete/{entry_id}", headers=self.headers))
        assert again.status_code == 404, body(again)

    @rule(enable=st.booleans(), via=apps)
    def toggle(self, enable: bool, via: str) -> None:
        response = self.run(
            self.app(via).post(
                "/api/dnc/enable-disable", json={"enable": enable}, headers=self.headers
            )
        )
        assert response.status_code == 200, body(response)
        self.model.enabled = enable

    # named lists and prefix rules ----------------------------------------------------------

    @rule(via=apps)
    def create_list(self, via: str) -> None:
        """POST /api/dnc/lists (at most :data:`MAX_NAMED` alive at once)."""
        if len(self.model.named) >= MAX_NAMED:
            return
        self.lists_made += 1
        request = {"name": f"campaign {self.lists_made}"}
        response = self.run(
            self.app(via).post("/api/dnc/lists", json=request, headers=self.headers)
        )
        assert response.status_code == 201, body(response)
        self.model.named[body(response)["data"]["id"]] = set()

    @rule(which=st.integers(0, MAX_NAMED - 1), via=apps)
    def delete_list(self, which: int, via: str) -> None:
        """DELETE /api/dnc/lists/{listId}: its numbers stop blocking at once."""
        if not self.model.named:
            return
        list_id = list(self.model.named)[which % len(self.model.named)]
        response = self.run(self.app(via).delete(f"/api/dnc/lists/{list_id}", headers=self.headers))
        assert response.status_code == 200, body(response)
        assert body(response)["data"]["count"] == len(self.model.named.pop(list_id))

    @rule(
        which=st.integers(0, MAX_NAMED - 1),
        picked=st.lists(st.tuples(numbers, styles), min_size=1, max_size=5),
        via=apps,
    )
    def add_to_a_named_list(self, which: int, picked: list[tuple[str, int]], via: str) -> None:
        """POST /api/dnc/bulk-add with a listId: "duplicate" means on that list."""
        if not self.model.named:
            return
        list_id = list(self.model.named)[which % len(self.model.named)]
        sent = [{"phoneNumber": written(number, style)} for number, style in picked]
        request = {"numbers": sent, "listId": list_id}
        response = self.run(
            self.app(via).post("/api/dnc/bulk-add", json=request, headers=self.headers)
        )
        assert response.status_code == 200, body(response)
        held = self.model.named[list_id]
        for (number, _), result in zip(picked, body(response)["data"]["results"], strict=True):
            assert result["outcome"] == ("duplicate" if number in held else "added"), result
            held.add(number)

    @rule(which=st.integers(0, MAX_NAMED - 1), number=numbers, style=styles, via=apps)
    def remove_from_a_named_list(self, which: int, number: str, style: int, via: str) -> None:
        """POST /api/dnc/remove with a listId: the org-wide list keeps its entry."""
        if not self.model.named:
            return
        list_id = list(self.model.named)[which % len(self.model.named)]
        request = {"phoneNumber": written(number, style), "listId": list_id}
        response = self.run(
            self.app(via).post("/api/dnc/remove", json=request, headers=self.headers)
        )
        held = self.model.named[list_id]
        assert response.status_code == (200 if number in held else 404), body(response)
        held.discard(number)

    @rule(prefix=st.sampled_from(PREFIXES), via=apps)
    def toggle_prefix_rule(self, prefix: str, via: str) -> None:
        """POST /api/dnc/prefixes for a prefix without a rule, DELETE for one with."""
        client = self.app(via)
        if prefix in self.model.prefixes:
            rule_id = self.model.prefixes.pop(prefix)
            response = self.run(client.delete(f"/api/dnc/prefixes/{rule_id}", headers=self.headers))
            assert response.status_code == 200, body(response)
        else:
            request = {"prefix": f"+{prefix}", "reason": "model"}
            response = self.run(
                client.post("/api/dnc/prefixes", json=request, headers=self.headers)
            )
            assert response.status_code == 201, body(response)
            self.model.prefixes[prefix] = body(response)["data"]["id"]

    # shared lists and exemptions -----------------------------------------------------------

    def _shared(self, which: int) -> str:
        return list(self.model.shared)[which]

    @rule(which=st.integers(0, 1))
    def toggle_subscription(self, which: int) -> None:
        """``dnc shared-list subscribe`` or ``unsubscribe``, as an operator runs it."""
        list_id, resources = self._shared(which), self.h.resources
        if list_id in self.model.subscribed:
            self.run(unsubscribe(resources.uow(), resources.mirror, self.org_id, list_id))
            self.model.subscribed.discard(list_id)
        else:
            self.run(subscribe(resources.uow(), resources.mirror, self.org_id, list_id))
            self.model.subscribed.add(list_id)

    @rule(
        which=st.integers(0, 1),
        held=st.sets(st.sampled_from(UNIVERSE), min_size=1, max_size=5),  # an empty load is refused
        stale=st.sampled_from([False, False, True]),
    )
    def load_a_shared_list(self, which: int, held: set[str], stale: bool) -> None:
        """A full load, swapped in whole: data fetched now, or 40 days ago (past its age)."""
        list_id = self._shared(which)
        fetched = utcnow() - timedelta(days=40 if stale else 0)
        report = self.run(load(self.h.resources, list_id, sorted(held), fetched))
        assert report.mirrored, report
        assert report.shared.count == len(held), report
        self.model.shared[list_id] = set(held)
        self.model.changed[list_id] = time.time()  # a load is a change, whatever it holds
        if stale:
            self.model.stale.add(list_id)
        else:
            self.model.stale.discard(list_id)

    @rule(
        which=st.integers(0, 1),
        added=st.sets(st.sampled_from(UNIVERSE), max_size=3),
        deleted=st.sets(st.sampled_from(UNIVERSE), max_size=3),
    )
    def change_a_shared_list(self, which: int, added: set[str], deleted: set[str]) -> None:
        """A change file (a number both added and deleted is added), fetched now."""
        list_id = self._shared(which)
        report = self.run(change(self.h.resources, list_id, sorted(added), sorted(deleted)))
        assert report.mirrored, report
        held = (self.model.shared[list_id] - deleted) | added
        assert report.shared.count == len(held), (report, held)
        ended = time.time()
        self.model.changed[list_id] = ended  # its freshness is renewed, at least
        gone = (self.model.shared[list_id] & deleted) - added
        self.model.deleted += [(ended, list_id, number) for number in gone]
        self.model.shared[list_id] = held
        self.model.stale.discard(list_id)

    @rule(
        number=numbers,
        style=styles,
        basis=st.sampled_from(["ebr_purchase", "ebr_inquiry", "written_consent"]),
        via=apps,
    )
    def toggle_exemption(self, number: str, style: int, basis: str, via: str) -> None:
        """POST /api/dnc/exemptions for a number without one, DELETE for one with."""
        client = self.app(via)
        if number in self.model.exempt:
            exemption = self.model.exempt.pop(number)
            response = self.run(
                client.delete(f"/api/dnc/exemptions/{exemption}", headers=self.headers)
            )
            assert response.status_code == 200, body(response)
            return
        request = {"phoneNumber": written(number, style), "basis": basis, "since": iso(time.time())}
        response = self.run(client.post("/api/dnc/exemptions", json=request, headers=self.headers))
        assert response.status_code == 201, body(response)
        assert body(response)["data"]["phoneNumber"] == number, body(response)
        self.model.exempt[number] = body(response)["data"]["id"]

    @precondition(lambda self: any(self._blocked_by_its_own(n) for n in UNIVERSE))
    @rule(data=st.data(), via=apps)
    def exempt_a_number_the_organization_blocks(self, data: st.DataObject, via: str) -> None:
        """A business relationship with a number the organization itself blocks (its lists or
        a prefix rule): the exemption must lift the shared lists only."""
        mine = [n for n in UNIVERSE if self._blocked_by_its_own(n) and n not in self.model.exempt]
        if not mine:
            return
        number = data.draw(st.sampled_from(mine))
        request = {"phoneNumber": f"+{number}", "basis": "written_consent"}
        response = self.run(
            self.app(via).post("/api/dnc/exemptions", json=request, headers=self.headers)
        )
        assert response.status_code == 201, body(response)
        self.model.exempt[number] = body(response)["data"]["id"]

    def _blocked_by_its_own(self, number: str) -> bool:
        listed = number in self.model.listed and self.model.listed[number] is None
        return listed or bool(self.model.held_by(number)) or self.model.by_prefix(number)

    # the upkeep ----------------------------------------------------------------------------

    @rule(wait=st.sampled_from([True, True, False]))
    def expire(self, wait: bool) -> None:
        """The expiry job (``expire_due``), at once or once every short-lived entry has passed."""
        due = [e for e in self.model.listed.values() if e is not None]
        if wait and due:
            time.sleep(max(0.0, max(due) - time.time()) + 0.01)
        started = time.time()
        self.run(expire_due(self.h.uow, self.h.mirror))
        ended = time.time()
        for number in list(self.model.listed):
            state = self.model.state(number, started, ended)
            if state == EXPIRED or (state == EDGE and self._entry(number) is None):
                del self.model.listed[number]

    @rule()
    def rebuild_directly(self) -> None:
        report = self.run(rebuild_mirror(self.h.uow, self.h.mirror, self.org_id))
        assert report.swapped, report
        self.ready_expected = True

    @rule(via=apps)
    def rebuild_through_the_worker(self, via: str) -> None:
        """POST /api/dnc/cache/rebuild, then a real arq worker in burst mode runs the job."""
        response = self.run(self.app(via).post("/api/dnc/cache/rebuild", headers=self.headers))
        assert response.status_code == 202, body(response)
        self.run(run_worker(self.h.settings))
        self.ready_expected = True

    @rule()
    def delete_the_organizations_redis_keys(self) -> None:
        """Redis loses the organization's keys (only this organization's: never FLUSHALL)."""
        redis = self.h.mirror.redis
        pattern = f"{self.h.settings.redis_prefix}:{{{self.org_id}}}:*"

        async def delete() -> None:
            keys = [key async for key in redis.scan_iter(match=pattern, count=1000)]
            if keys:
                await redis.delete(*keys)

        self.run(delete())
        self.ready_expected = False  # (a list made now is ready; the organization is not)

    @rule()
    def relay(self) -> None:
        """The worker's periodic relay (``sync_all``): every write settled the mirror itself, so
        nothing is left for it to apply."""
        assert self.run(sync_all(self.h.uow, self.h.mirror)) == 0

    # the invariant -------------------------------------------------------------------------

    # Not on the Redis Cluster run: an answer at a past moment comes from Postgres alone
    # (``app.routes.check.run_check_at``), so the second run would ask the same questions
    # of the same database; the first run asks them.
    @invariant()
    @precondition(lambda self: not ON_CLUSTER)
    def the_past_answers_as_it_was(self) -> None:
        """Checks with ``at``: at the moment before the last step, and at an earlier one."""
        time.sleep(0.002)  # nothing of the last step shares the moment
        now = time.time()
        time.sleep(0.002)
        if self.past:
            moments = [self.past[-1]]
            if len(self.past) > 1:
                moments.append(random.Random(len(self.past)).choice(self.past[:-1]))
            for moment, then in moments:
                self.run(self._ask_the_past(moment, then))
        self.past.append((now, copy.deepcopy(self.model)))

    async def _ask_the_past(self, moment: float, then: Model) -> None:
        at = iso(moment)
        named = list(then.named)
        sent = self._probe()
        request = {"phoneNumbers": sent, "lists": named, "at": at}
        via = self.app(("server", "plain")[len(self.past) % 2])
        response = await via.post("/api/dnc/check", json=request, headers=self.check_headers)
        assert response.status_code == 200, body(response)
        data = body(response)["data"]
        detail = f"at={at} then={then} now={self.model}"
        assert data["dncEnabled"] is then.enabled, (data, detail)
        changed = self.model.changed_since(then, moment)
        assert data["sharedListsChangedSince"] == changed, (data["sharedListsChangedSince"], detail)
        wrong = []
        for result in data["results"]:
            number = result["normalized"]
            if number is None:
                assert (result["blocked"], result["reason"]) == (True, "invalid"), result
                continue
            expected = then.answer_at(number, moment, self.model)
            got = (result["blocked"], result["reason"], result["lists"])
            if got != expected:
                wrong.append((number, got, expected))
        unsafe = [w for w in wrong if w[2][0] and not w[1][0]]
        assert not unsafe, f"a number listed then answered callable: {unsafe}; {detail}"
        assert not wrong, f"the past answered wrongly: {wrong}; {detail}"
        # GET through `dnc serve`'s stack: its fast path must pass these to Litestar
        for number in random.Random(moment).sample(UNIVERSE, 3):
            params = {"phoneNumber": f"+{number}", "lists": ",".join(named), "at": at}
            response = await self.h.server.get(
                "/api/dnc/check", params=params, headers=self.check_headers
            )
            assert response.status_code == 200, body(response)
            single = body(response)["data"]
            got = (single["blocked"], single["reason"], single["lists"])
            expected = then.answer_at(number, moment, self.model)
            assert got == expected, (number, got, expected, detail)
            assert single["dncEnabled"] is then.enabled, (single, detail)
            assert single["sharedListsChangedSince"] == changed, (single, detail)

    @invariant()
    def no_path_calls_a_listed_number(self) -> None:
        started = time.time()
        answers = self.run(self._ask_every_path())
        ended = time.time()
        wrong = []
        for number in UNIVERSE:
            state = self.model.state(number, started, ended)
            holding, stale = self.model.shared_say(number)
            elsewhere = bool(self.model.held_by(number) or self.model.by_prefix(number))
            elsewhere = elsewhere or bool(holding or stale)
            must_block = self.model.enabled and (state == ACTIVE or elsewhere)
            must_call = not self.model.enabled or (state == ABSENT and not elsewhere)
            for path, answer in answers.items():
                blocked = answer.get(number)
                if blocked is None:  # check.lua: not ready, "unknown"
                    continue
                if (must_block and not blocked) or (must_call and blocked):
                    wrong.append((path, number, "blocked" if blocked else "callable", state))
        detail = (
            f"enabled={self.model.enabled} listed={self.model.listed} "
            f"named={self.model.named} prefixes={list(self.model.prefixes)} "
            f"shared={self.model.shared} stale={self.model.stale} "
            f"subscribed={self.model.subscribed} exempt={list(self.model.exempt)}"
        )
        safety = [w for w in wrong if w[2] == "callable"]
        assert not safety, f"a listed number answered callable: {safety}; {detail}"
        assert not wrong, f"a path answered wrongly: {wrong}; {detail}"

    async def _ask_every_path(self) -> dict[str, dict[str, bool | None]]:
        """Each path's answer for each number of the universe (None: the path did not know)."""
        answers: dict[str, dict[str, bool | None]] = {}
        self.asked += 1  # GET one number at a time is the dearest: the two apps take turns
        via = ("server", "plain")[self.asked % 2]
        answers[f"GET /check ({via})"] = await self._get_checks(self.app(via))
        for via in ("server", "plain"):
            answers[f"POST /check ({via})"] = await self._post_check(self.app(via))
        answers["check.lua"] = await self._script_check(by_layout=False)
        answers["DncClient"] = await self._dialer_check(ready=bool(answers["check.lua"]))
        answers["check.lua by layout"] = await self._script_check(by_layout=True)
        answers["Postgres"] = await self._postgres_check()
        await self._settings_agree()
        return answers

    async def _get_checks(self, client: AsyncTestClient[Any]) -> dict[str, bool | None]:
        found: dict[str, bool | None] = {}
        lists = ",".join(self.model.named)
        for number in [*UNIVERSE, INVALID[0]]:
            params = {"phoneNumber": f"+{number}", "lists": lists}
            response = await client.get("/api/dnc/check", params=params, headers=self.check_headers)
            assert response.status_code == 200, body(response)
            data = body(response)["data"]
            assert data["dncEnabled"] is self.model.enabled, data
            if number in UNIVERSE:
                assert data["phoneNumber"] == number, data
                self._why(number, data["blocked"], data["reason"], data["lists"])
                found[number] = data["blocked"]
            else:
                assert data["blocked"] is True, data
                assert data["reason"] == "invalid", data
        return found

    def _why(self, number: str, blocked: bool, reason: str | None, lists: list[str]) -> None:
        """A blocked number's reason and lists say what blocks it: the named lists that hold
        it, the org-wide list (unless its entry is expiring about now), a prefix rule."""
        if not blocked:
            assert (reason, lists) == (None, []), (number, reason, lists)
            return
        named = self.model.held_by(number)
        holding, stale = self.model.shared_say(number)
        theirs = [*named, *holding, *stale]
        assert [x for x in lists if x != "default"] == theirs, (number, lists, theirs)
        on_org_wide = "default" in lists
        if number not in self.model.listed:
            assert not on_org_wide, (number, lists)
        elif self.model.listed[number] is None:
            assert on_org_wide, (number, lists)
        if on_org_wide or named:
            expected = "dnc"
        elif self.model.by_prefix(number):
            expected = "prefix"
        else:
            expected = "registry" if holding else "registry_stale"
            assert holding or stale, (number, reason, lists)
        assert reason == expected, (number, reason, lists)

    def _probe(self) -> list[str]:
        return [written(n, i) for i, n in enumerate(UNIVERSE)] + INVALID

    async def _post_check(self, client: AsyncTestClient[Any]) -> dict[str, bool | None]:
        sent = self._probe()
        request = {"phoneNumbers": sent, "lists": list(self.model.named)}
        response = await client.post("/api/dnc/check", json=request, headers=self.check_headers)
        assert response.status_code == 200, body(response)
        data = body(response)["data"]
        assert data["dncEnabled"] is self.model.enabled, data
        for result in data["results"]:
            if result["normalized"] is None:
                assert (result["blocked"], result["reason"]) == (True, "invalid"), result
            else:
                why = (result["blocked"], result["reason"], result["lists"])
                self._why(result["normalized"], *why)
        assert data["blockedCount"] == sum(r["blocked"] for r in data["results"]), data
        return self._verdicts(sent, [(r["normalized"], r["blocked"]) for r in data["results"]])

    def _verdicts(
        self, sent: Sequence[str], results: Sequence[tuple[str | None, bool]]
    ) -> dict[str, bool | None]:
        assert len(results) == len(sent), results
        found: dict[str, bool | None] = {}
        for number, (normalized, blocked) in zip([*UNIVERSE, *INVALID], results, strict=True):
            if number in UNIVERSE:
                assert normalized == number, (number, normalized)
                found[number] = blocked
            else:
                assert normalized is None, (number, normalized)
                assert blocked, (number, blocked)
        return found

    async def _dialer_check(self, ready: bool) -> dict[str, bool | None]:
        """The client answers from the script when the mirror is ready; "unknown" falls back."""
        sent = self._probe()
        result = await self.dialer.check(sent, list(self.model.named))
        assert result.dnc_enabled is self.model.enabled, result
        assert result.source == ("redis" if ready else "api"), result
        for verdict in result.verdicts:
            if verdict.normalized is not None:
                why = (verdict.blocked, verdict.reason, list(verdict.lists))
                self._why(verdict.normalized, *why)
        return self._verdicts(sent, [(v.normalized, v.blocked) for v in result.verdicts])

    async def _script_check(self, by_layout: bool) -> dict[str, bool | None]:
        """``check.lua`` as a dialer asks it: by the shipped reader (``ScriptCheck``), or by
        hand here, its bits read one by one and combined by the contract in the README."""
        named = list(self.model.named)
        if by_layout:
            redis, prefix = self.h.mirror.redis, self.h.mirror.prefix
            known, on, answers = await ScriptCheck(redis, prefix).ask(
                self.org_id, tuple(named), UNIVERSE
            )
            if not known:
                assert not self.ready_expected, "the mirror is not ready after a rebuild"
                return {}
            assert on is self.model.enabled
            if not on:
                return dict.fromkeys(UNIVERSE, False)
            return {n: b is not None for n, b in zip(UNIVERSE, answers, strict=True)}
        keys = layout.check_keys(self.h.mirror.prefix, self.org_id, named)
        reply = await self.script(keys=keys, args=["o", ",".join(UNIVERSE)])
        enabled, ready = int(reply[0]), int(reply[1])
        if not ready:
            assert not self.ready_expected, f"the mirror is not ready after a rebuild: {reply}"
            assert reply == [-1, 0], reply
            return {}
        assert enabled == int(self.model.enabled), reply
        if not enabled:
            assert len(reply) == 2, reply
            return dict.fromkeys(UNIVERSE, False)
        subscribed = [s for s in reply[2].decode().split(",") if s]
        assert subscribed == [x for x in self.model.shared if x in self.model.subscribed], reply
        width = layout.digits_per_number(len(named))
        assert len(reply[3]) == width * len(UNIVERSE), reply
        masks = [int(reply[3][i * width : (i + 1) * width], 16) for i in range(len(UNIVERSE))]
        assert all(mask < 4 << (len(named) + 1) for mask in masks), reply
        held, stale = [False] * len(UNIVERSE), False
        for list_id in subscribed:  # one call a list: each lives in a slot of its own
            theirs = await self.script(
                keys=layout.shared_check_keys(self.h.mirror.prefix, [list_id]),
                args=["s", ",".join(UNIVERSE)],
            )
            assert theirs[0] == 1, theirs  # a shared list's mirror is always ready here
            stale = stale or theirs[1] == 1
            for i, digit in enumerate(theirs[2].decode()):
                held[i] = held[i] or digit == "1"
        exempt_bit = 4 << len(named)  # after the lists' bits and the prefix rules' bit
        own = [mask & (exempt_bit - 1) for mask in masks]
        lifted = [bool(mask & exempt_bit) for mask in masks]
        return {
            n: bool(o) or (not x and (h or stale))
            for n, o, x, h in zip(UNIVERSE, own, lifted, held, strict=True)
        }

    async def _postgres_check(self) -> dict[str, bool | None]:
        """The fallback every path takes when Redis cannot answer, asked directly (the mirror
        unreachable), so that it is compared at every step, not only after Redis lost keys."""
        sent = self._probe()
        result = await check_numbers(
            self.h.uow, Unreachable(), NoRebuilds(), self.org_id, sent, list(self.model.named)
        )
        assert (result.source, result.dnc_enabled) == ("postgres", self.model.enabled), result
        for verdict in result.verdicts:
            if verdict.normalized is not None:
                why = (verdict.blocked, verdict.reason, list(verdict.lists))
                self._why(verdict.normalized, *why)
        return self._verdicts(sent, [(v.normalized, v.blocked) for v in result.verdicts])

    async def _settings_agree(self) -> None:
        started = time.time()
        response = await self.h.plain.get("/api/dnc/settings", headers=self.headers)
        assert response.status_code == 200, body(response)
        data = body(response)["data"]
        assert data["enabled"] is self.model.enabled, data
        ended = time.time()
        surely = sum(1 for e in self.model.listed.values() if e is None or e > ended)
        maybe = sum(1 for e in self.model.listed.values() if e is None or e > started)
        assert surely <= data["count"] <= maybe, (data, self.model.listed)


class Unreachable(RedisMirror):
    """A mirror whose Redis cannot be reached: every check goes to Postgres."""

    def __init__(self) -> None:
        pass

    async def check(
        self, organization_id: UUID, numbers: Sequence[str], lists: Sequence[str] = ()
    ) -> MirrorAnswer:
        raise Unavailable("the model's unreachable Redis")


class NoRebuilds(RebuildRequests):
    """A check that reaches Postgres because Redis is unreachable asks for no rebuild."""

    def __init__(self) -> None:
        pass

    async def request(self, organization_id: UUID) -> None:
        raise AssertionError("a rebuild was asked for")


MODEL_SETTINGS = hypothesis_settings(
    max_examples=24,
    stateful_step_count=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # no explain: it is slow
)


def test_no_path_ever_calls_a_listed_number(settings: Settings) -> None:
    with asyncio.Runner() as runner:
        harness = runner.run(Harness.open(settings))
        machine = type("Machine", (DncMachine,), {"harness": harness, "runner": runner})
        try:
            run_state_machine_as_test(machine, settings=MODEL_SETTINGS)
        finally:
            runner.run(harness.stack.aclose())
