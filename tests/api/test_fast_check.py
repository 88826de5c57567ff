"""`dnc serve` answers ordinary single checks before Litestar routes them
(app/layers/fast_check.py). Whatever the request, the answer must be byte for byte Litestar's
own."""

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.asgi import create_server_app
from app.layers.fast_check import FastCheck
from infra.settings import Settings
from tests.support.helpers import Client, Org, add_body, bearer, seed_call

ORDINARY = [
    "phoneNumber=%2B12125551234",  # listed
    "phoneNumber=2125551234",
    "phoneNumber=%2B1%20(212)%20555-1234",
    "phoneNumber=2125550100",  # not listed
    "phoneNumber=555-0100",  # not a valid number: blocked as invalid
    "phoneNumber=%2B44%2020%207946%200958",  # not NANP: phonenumbers in full
    "phoneNumber=+12125551234",  # an unencoded "+" is a plus
    "phoneNumber=" + "9" * 70,  # too long: invalid
    "phoneNumber=%E2%82%AC",
]
UNUSUAL = [
    "",
    "phoneNumber=2125551234&other=1",  # a parameter a check does not take: a 400
    "phoneNumber=",
    "phoneNumber=2125551234&phoneNumber=2125550100",
    "phonenumber=2125551234",
]


class Counting:
    """The Litestar app behind FastCheck, counting the requests that reach it."""

    def __init__(self, app: Litestar) -> None:
        self.app = app
        self.state = app.state
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


@pytest.fixture
async def fast(settings: Settings) -> AsyncIterator[tuple[AsyncTestClient[Any], Counting]]:
    server = create_server_app(settings)
    fast_check: Any = server
    while not isinstance(fast_check, FastCheck):  # through the layers around it
        fast_check = fast_check.app
    counting = Counting(fast_check.app)
    fast_check.app = cast(Litestar, counting)
    async with AsyncTestClient(app=server) as client:
        yield client, counting


@pytest.fixture
async def listed(client: Client, org: Org) -> Org:
    await seed_call(client, org)
    assert (await client.post("/api/dnc/add", json=add_body(), headers=org.headers)).is_success
    return org


async def same_answer(
    fast: AsyncTestClient[Any], client: Client, url: str, headers: dict[str, str]
) -> None:
    quick, usual = await fast.get(url, headers=headers), await client.get(url, headers=headers)
    assert (quick.status_code, quick.content) == (usual.status_code, usual.content), url
    assert quick.headers.get("content-type") == usual.headers.get("content-type")
    assert quick.headers.get("content-length") == usual.headers.get("content-length")


async def test_ordinary_checks_skip_litestar_and_answer_the_same(
    fast: tuple[AsyncTestClient[Any], Counting], client: Client, listed: Org
) -> None:
    fast_client, counting = fast
    token = await listed.token_for(listed.admin_email, scope="check")
    await fast_client.get("/api/dnc/check?phoneNumber=2125551234", headers=bearer(token))
    counting.paths.clear()  # the first request looked the token up; it is cached now
    for query in ORDINARY:
        await same_answer(fast_client, client, f"/api/dnc/check?{query}", bearer(token))
    assert counting.paths == []

    assert (await client.post("/api/dnc/enable-disable", json={"enable": False},
                              headers=listed.headers)).is_success  # fmt: skip
    await same_answer(fast_client, client, "/api/dnc/check?phoneNumber=2125551234", bearer(token))
    assert counting.paths == []


@pytest.mark.parametrize("query", UNUSUAL)
async def test_unusual_queries_go_to_litestar(
    fast: tuple[AsyncTestClient[Any], Counting], client: Client, listed: Org, query: str
) -> None:
    fast_client, counting = fast
    await fast_client.get("/api/dnc/check?phoneNumber=2125551234", headers=listed.headers)
    counting.paths.clear()
    await same_answer(fast_client, client, f"/api/dnc/check?{query}", listed.headers)
    assert counting.paths == ["/api/dnc/check"]


@pytest.mark.parametrize(
    ("authorization", "fast_path"),
    [
        (None, False),
        ("", False),
        ("Bearer", False),
        ("Bearer nope", False),
        ("bearer {token}", True),  # the scheme in any case, as the middleware reads it
        ("BEARER {token}", True),
        ("Basic {token}", False),
        ("Bearer  {token} ", True),  # the same token once stripped, as Litestar reads it
    ],
)
async def test_unusual_credentials_go_to_litestar(
    fast: tuple[AsyncTestClient[Any], Counting],
    client: Client,
    listed: Org,
    authorization: str | None,
    fast_path: bool,
) -> None:
    fast_client, counting = fast
    await fast_client.get("/api/dnc/check?phoneNumber=2125551234", headers=listed.headers)
    counting.paths.clear()  # the organization's token is cached from here on
    headers = {} if authorization is None else {"Authorization": authorization}
    headers = {k: v.format(token=listed.token) for k, v in headers.items()}
    await same_answer(fast_client, client, "/api/dnc/check?phoneNumber=2125551234", headers)
    assert counting.paths == ([] if fast_path else ["/api/dnc/check"])


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
async def test_the_scheme_is_read_in_any_case_on_both_paths(
    fast: tuple[AsyncTestClient[Any], Counting], client: Client, listed: Org, scheme: str
) -> None:
    fast_client, counting = fast
    headers = {"Authorization": f"{scheme} {listed.token}"}
    url = "/api/dnc/check?phoneNumber=2125551234"
    usual = await client.get(url, headers=headers)  # Litestar's middleware
    assert usual.status_code == 200, usual.text
    assert usual.json()["data"]["blocked"] is True  # listed: read with this token
    await fast_client.get(url, headers=headers)  # looks the token up, through Litestar
    counting.paths.clear()
    quick = await fast_client.get(url, headers=headers)  # answered before routing
    assert (quick.status_code, quick.content) == (usual.status_code, usual.content)
    assert counting.paths == []


async def test_checks_that_name_lists_skip_litestar_and_answer_the_same(
    fast: tuple[AsyncTestClient[Any], Counting], client: Client, listed: Org
) -> None:
    fast_client, counting = fast
    response = await client.post("/api/dnc/lists", json={"name": "c"}, headers=listed.headers)
    named = response.json()["data"]["id"]
    numbers = {"numbers": [{"phoneNumber": "2125550100"}], "listId": named}
    assert (await client.post("/api/dnc/bulk-add", json=numbers, headers=listed.headers)).is_success
    rule = {"prefix": "4420"}
    assert (await client.post("/api/dnc/prefixes", json=rule, headers=listed.headers)).is_success
    token = await listed.token_for(listed.admin_email, scope="check")
    await fast_client.get("/api/dnc/check?phoneNumber=2125551234", headers=bearer(token))
    counting.paths.clear()
    for query in (
        f"phoneNumber=2125550100&lists={named}",
        f"phoneNumber=2125551234&lists=default,{named}",
        f"phoneNumber=2125550100&lists=+{named}+",
        "phoneNumber=2125550100&lists=",
        "phoneNumber=%2B442079460958",
    ):
        await same_answer(fast_client, client, f"/api/dnc/check?{query}", bearer(token))
    assert counting.paths == []
    for query in ("phoneNumber=2125550100&lists=nope", f"phoneNumber=1&lists={named}&lists=x"):
        await same_answer(fast_client, client, f"/api/dnc/check?{query}", bearer(token))
    assert counting.paths == ["/api/dnc/check"] * 2  # the errors are Litestar's
