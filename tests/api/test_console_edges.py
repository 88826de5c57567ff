"""The console's edges as an outsider reaches them: paths and methods no route takes, raw
bytes on a socket to a real server, the same number written through the console and the API
at once, Postgres cut under a signed-in person, an upload that stops halfway."""

from collections.abc import Iterator

import pytest

from infra.settings import Settings
from tests.support.helpers import Client, RawAnswer, body, raw_exchange
from tests.support.processes import served_in_thread

ENVELOPE_KEYS = {"message", "status", "code", "errorMessage"}


@pytest.fixture(scope="module")
def served(base_settings: Settings) -> Iterator[int]:
    """The app on a real server (uvicorn, in a thread); yields its port."""
    with served_in_thread(base_settings) as url:
        yield int(url.rsplit(":", 1)[1])


# (method, path, status, the methods a 405's Allow names)
CONSOLE_MISSES = [
    ("GET", "/console/nope", 404, None),
    ("GET", "/console/lists/default/numbers/12125550142/nope", 404, None),
    ("POST", "/console/nope", 404, None),
    ("GET", "/console/static/nope.css", 404, None),
    ("DELETE", "/console/lists", 405, {"GET", "POST"}),
    ("PUT", "/console/lists/default/add", 405, {"POST"}),
    ("PATCH", "/console/login", 405, {"GET", "POST"}),
]
API_MISSES = [
    ("GET", "/api/nope", 404, None),
    ("GET", "/consolex", 404, None),
    ("GET", "/console/api/nope", 404, None),  # the import script's JSON API, as its errors are
    ("DELETE", "/api/dnc/lists", 405, {"GET", "POST"}),
    ("PUT", "/api/dnc/add", 405, {"POST"}),
    ("GET", "/console/api/import", 405, {"POST"}),
]


def allowed(header: str | None) -> set[str]:
    return {method.strip() for method in (header or "").split(",")} - {"OPTIONS", ""}


@pytest.mark.parametrize(
    ("method", "path", "status", "allow", "page"),
    [(*miss, True) for miss in CONSOLE_MISSES] + [(*miss, False) for miss in API_MISSES],
)
async def test_a_miss_is_a_console_page_under_console_and_the_envelope_elsewhere(
    client: Client, method: str, path: str, status: int, allow: set[str] | None, page: bool
) -> None:
    response = await client.request(method, path, follow_redirects=False)
    assert response.status_code == status
    if allow is not None:
        assert allowed(response.headers.get("allow")) == allow
    if not page:
        assert response.headers["content-type"] == "application/json"
        answer = body(response)
        assert set(answer) == ENVELOPE_KEYS
        assert answer["status"] is False
        assert path in answer["errorMessage"]
        return
    assert response.headers["content-type"].startswith("text/html")
    assert "· DNC console</title>" in response.text
    assert '<link rel="stylesheet" href="/console/static/console.css">' in response.text
    assert path in response.text  # it says which path (escaped, as every page)
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


def raw(port: int, method: str, target: str, extra: str = "", content: bytes = b"") -> RawAnswer:
    if content:
        extra += f"Content-Length: {len(content)}\r\n"
    head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n"
    return raw_exchange(port, head.encode() + content)


def test_raw_requests_get_a_page_under_console_and_the_envelope_elsewhere(served: int) -> None:
    """No client library between: no Accept header, a body on a method that takes none, a
    control character and markup in the path, a path that only a raw client sends."""
    for method, path, status, allow in CONSOLE_MISSES:
        answer = raw(served, method, path)
        assert answer.status == status, (method, path)
        assert answer.headers["content-type"].startswith("text/html"), path
        assert b"DNC console</title>" in answer.body
        if allow is not None:
            assert allowed(answer.headers["allow"]) == allow
    for method, path, status, allow in API_MISSES:
        answer = raw(served, method, path)
        assert answer.status == status, (method, path)
        assert answer.headers["content-type"] == "application/json", path
        assert set(answer.envelope()) == ENVELOPE_KEYS
        if allow is not None:
            assert allowed(answer.headers["allow"]) == allow
    put = raw(
        served,
        "PUT",
        "/console/lists/default/add",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        b"csrf=x&phoneNumber=12125550142",
    )
    assert put.status == 405
    evil = raw(served, "GET", "/console/%3Cscript%3Ealert(1)%3C/script%3E%01")
    assert evil.status == 404
    assert b"<script>" not in evil.body
    assert b"\x01" not in evil.body
    assert b"&lt;script&gt;" in evil.body
    dotted = raw(served, "GET", "/console/../api/nope")  # a browser resolves "..": never sent
    assert dotted.status == 404
    assert raw(served, "GET", "/api/../console/nope").envelope()["code"] == 404
    # the API, asked for HTML, still answers JSON: only the console's paths are pages
    api = raw(served, "GET", "/api/nope", "Accept: text/html\r\n")
    assert api.envelope()["code"] == 404
