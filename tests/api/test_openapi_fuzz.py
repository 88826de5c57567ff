"""Schemathesis fuzzes every operation of the app's own OpenAPI schema, in process.

Each operation gets generated requests (valid and invalid ones, schemathesis' examples,
coverage and fuzzing phases) sent with a real token of a test organization. Every answer must
be as documented: no 5xx at all, a status code the schema lists for that operation, the
documented content type, and a body that matches the documented schema.

Random values rarely name anything that exists, so the organization starts with a batch, calls
and a listed number, and schemathesis' dictionaries put their names (and valid phone numbers)
into about half of the generated values: the success paths get fuzzed too, not only the 4xx.
"""

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from litestar import Litestar
from litestar.testing import AsyncTestClient
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.asgi import create_app
from app.auth import PUBLIC_PATHS
from app.errors import AUTHENTICATED_ROUTE_ERRORS
from infra.settings import Settings
from tests.support.helpers import Org, add_body, new_org, seed_call

EXAMPLES_PER_OPERATION = 25  # fuzzing phase; the examples and coverage phases add their own
BATCH = "fuzz-batch"
CALLS = {"call-1": "2125551234", "call-2": "+44 20 7946 0958", "call-3": "+1 (212) 555-1235"}
PHONES = [*CALLS.values(), "12125551236", "+1 212.555.1237"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# The import takes its CSV as text/csv, application/csv or text/plain: all three go as text
schemathesis.serializer.alias("application/csv", "text/plain")

# The schema the app serves at /schema/openapi.json. It does not depend on the settings, so
# it is built (without starting the app) when the module is collected, which is when
# schemathesis makes one test per operation.
OPENAPI: dict[str, Any] = create_app(Settings()).openapi_schema.to_schema()
HALF = 0.5
NOW_AND_THEN = 0.2
EARLY = "0001-01-01T00:00:00+01:00"  # no time in UTC in the years 1 to 9999: Python cannot
LATE = "9999-12-31T23:59:59-01:00"  # convert it, and asyncpg fails on it
# Values of the kinds that once made the app answer 500, for the parameters that take them
NASTY = ["a\x00b", "\x00"]  # no Postgres text can hold a NUL
TIMES = ["2031-01-01T00:00:00Z", "2032-06-30T12:00:00+02:00", EARLY, LATE]
CURSORS = [  # "²".isdigit(), yet int("²") fails; past a bigint; no UTC time
    base64.urlsafe_b64encode(json.dumps(parts).encode()).decode()
    for parts in (["\u00b2"], ["9" * 30], [EARLY, "00000000-0000-4000-8000-000000000000"])
]
HUGE = [2**63 - 1, 2**63, 10**20]  # past a bigint, as an offset or an id


def known(dictionary: str, probability: float = HALF) -> dict[str, Any]:
    return {"dictionary": dictionary, "probability": probability}


schema = schemathesis.openapi.from_dict(
    OPENAPI,
    config=schemathesis.Config.from_dict(
        {
            "generation": {
                "max-examples": EXAMPLES_PER_OPERATION,
                "deterministic": True,
                "dictionaries": {"integer": {"dictionary": "huge", "probability": NOW_AND_THEN}},
            },
            # one operation at a time: sequences of calls are the other tests' business
            "phases": {"stateful": {"enabled": False}},
            "dictionaries": {
                "batches": {"values": [BATCH]},
                "calls": {"values": list(CALLS)},
                "phones": {"values": PHONES},
                "times": {"values": TIMES},
                "nasty": {"values": NASTY},
                "cursors": {"values": CURSORS},
                "huge": {"values": HUGE},
            },
            "parameters": {
                "path.batchId": known("batches"),
                "body.batchId": known("batches"),
                "body.requestUUID": known("calls"),
                "body.calls[*].requestUUID": known("calls"),
                "path.phoneNumber": known("phones"),
                "query.phoneNumber": known("phones"),
                "body.phoneNumber": known("phones"),
                "body.phoneNumbers[*]": known("phones"),
                "body.numbers[*].phoneNumber": known("phones"),
                "body.calls[*].phoneNumber": known("phones"),
                "body.expiresAt": known("times"),
                "body.numbers[*].expiresAt": known("times"),
                "body.startedAt": known("times"),
                "body.since": known("times"),
                "body.calls[*].startedAt": known("times"),
                "query.since": known("times"),
                "query.until": known("times"),
                "query.cursor": known("cursors", NOW_AND_THEN),
                "query.search": known("nasty", NOW_AND_THEN),
                "query.action": known("nasty", NOW_AND_THEN),
                "query.reason": known("nasty", NOW_AND_THEN),
            },
        }
    ),
)


@dataclass
class Target:
    app: Litestar
    headers: dict[str, str]


@pytest.fixture
def target(settings: Settings) -> Iterator[Target]:
    """The app on the test settings, and a real token of a test organization (an admin's
    full-scope one, so that every route is open to it), which holds a batch, its calls and a
    listed number."""
    org = asyncio.run(seeded_org(settings))
    try:
        yield Target(create_app(settings), org.headers)
    finally:
        # schemathesis runs the app's lifespan in an event-loop thread of its own: end it
        # (closing the Postgres and Redis pools) before the settings fixture cleans up
        asgi.shutdown_lifespans()


async def seeded_org(settings: Settings) -> Org:
    org = await new_org(settings, "Fuzzing Corp")
    async with AsyncTestClient(app=create_app(settings)) as client:
        for request_uuid, phone in CALLS.items():
            await seed_call(client, org, BATCH, request_uuid, phone)
        added = await client.post(
            "/api/dnc/add", json=add_body(PHONES[0], BATCH, "call-1"), headers=org.headers
        )
        assert added.status_code == 200, added.text
    return org


@schema.parametrize()
# One app and one organization per operation, shared by its generated requests (on purpose:
# what earlier requests left behind is more for later ones to trip over).
@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_operation_answers_as_documented(
    case: schemathesis.Case[Any], target: Target
) -> None:
    case.call_and_validate(headers=target.headers, checks=CHECKS, app=target.app)


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in OPENAPI["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


@pytest.mark.parametrize(("method", "path", "operation"), list(operations()))
def test_every_error_is_documented_as_the_envelope(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    responses = operation["responses"]
    for code, response in responses.items():
        if not code.startswith("2"):
            [(media_type, content)] = response["content"].items()
            assert media_type == "application/json", (method, path, code)
            assert content["schema"]["$ref"].startswith("#/components/schemas/"), (path, code)
            name = content["schema"]["$ref"].rsplit("/", 1)[1]
            assert name == "Envelope" or name.startswith("DataEnvelope"), (method, path, code)
    if not any(re.match(public, path) for public in PUBLIC_PATHS):
        assert {str(code) for code in AUTHENTICATED_ROUTE_ERRORS} <= set(responses), path
    if "requestBody" in operation:
        assert {"400", "413"} <= set(responses), (method, path)
    if operation.get("parameters"):
        assert "400" in responses, (method, path)


def test_the_envelope_is_documented() -> None:
    envelope = OPENAPI["components"]["schemas"]["Envelope"]
    assert set(envelope["properties"]) == {"message", "status", "code", "errorMessage"}
    assert set(envelope["required"]) == {"message", "status", "code"}
