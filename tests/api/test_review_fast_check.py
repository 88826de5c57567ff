"""Adversarial review: the fast GET /check path against Litestar's, with lists and prefix
rules, for queries an outsider sends."""

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.api.test_fast_check import Counting, fast, listed, same_answer  # noqa: F401
from tests.support.helpers import Client, Org, bearer


@pytest.mark.parametrize(
    "query",
    [
        "phoneNumber=%FF2125551234",
        "phoneNumber=2125551234&lists=%FF",
        "phoneNumber=2125551234&lists=%C3%A9",
        "phoneNumber=2125551234&lists=%00",
        "phoneNumber=2125551234&list%73={named}",
        "phoneNumber=2125551234&lists={named}%2C{named}",
        "phoneNumber=2125551234&lists={named},{named},default",
        "phoneNumber=2125551234&lists=" + ",".join(["{named}"] * 25),
        "phoneNumber=2125551234&lists=" + ",".join(f"l{i}" for i in range(21)),
        "phoneNumber=2125551234&lists={named_upper}",
        "phoneNumber=%2B44%20207%20946%200958&lists={named}",
        "phoneNumber=+44+207+946+0958&lists={named}",
        "phoneNumber=2125551234&lists=%20%2B{named}%2B%20",
        "phoneNumber=2125551234&lists={named}&listId={named}",
        "phoneNumber=%EF%BC%92125551234",
    ],
)
async def test_odd_list_queries_answer_the_same_on_both_paths(
    fast: tuple[AsyncTestClient[Any], Counting],  # noqa: F811
    client: Client,
    listed: Org,  # noqa: F811
    query: str,
) -> None:
    fast_client, _ = fast
    response = await client.post("/api/dnc/lists", json={"name": "c"}, headers=listed.headers)
    named = response.json()["data"]["id"]
    numbers = {"numbers": [{"phoneNumber": "2125551234"}], "listId": named}
    assert (await client.post("/api/dnc/bulk-add", json=numbers, headers=listed.headers)).is_success
    assert (
        await client.post("/api/dnc/prefixes", json={"prefix": "4420"}, headers=listed.headers)
    ).is_success
    token = await listed.token_for(listed.admin_email, scope="check")
    await fast_client.get("/api/dnc/check?phoneNumber=2125551234", headers=bearer(token))
    url = "/api/dnc/check?" + query.format(named=named, named_upper=named.upper())
    await same_answer(fast_client, client, url, bearer(token))
    answer = await client.get(url, headers=bearer(token))
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 200:
        assert answer.json()["data"]["blocked"] is True, answer.text


async def test_another_organizations_list_on_the_fast_path_is_a_400(
    fast: tuple[AsyncTestClient[Any], Counting],  # noqa: F811
    client: Client,
    listed: Org,  # noqa: F811
    other_org: Org,
) -> None:
    fast_client, _ = fast
    response = await client.post("/api/dnc/lists", json={"name": "c"}, headers=other_org.headers)
    theirs = response.json()["data"]["id"]
    numbers = {"numbers": [{"phoneNumber": "2125551234"}], "listId": theirs}
    assert (
        await client.post("/api/dnc/bulk-add", json=numbers, headers=other_org.headers)
    ).is_success
    token = await listed.token_for(listed.admin_email, scope="check")
    await fast_client.get("/api/dnc/check?phoneNumber=2125551234", headers=bearer(token))
    url = f"/api/dnc/check?phoneNumber=2125551234&lists={theirs}"
    await same_answer(fast_client, client, url, bearer(token))
    answer = await fast_client.get(url, headers=bearer(token))
    assert answer.status_code == 400, answer.text
    # and their token, on their list, is blocked on the fast path
    their_token = await other_org.token_for(other_org.admin_email, scope="check")
    await fast_client.get("/api/dnc/check?phoneNumber=1", headers=bearer(their_token))
    answer = await fast_client.get(url, headers=bearer(their_token))
    assert answer.json()["data"]["lists"] == [theirs], answer.text
