"""Signing in to the console as a browser would: the sign-in form's cookie and token, then
the session cookie; and reading the CSRF token a page's forms carry."""

import re

from httpx import AsyncClient, Response

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:2000]
    return found.group(1)


async def sign_in(client: AsyncClient, token: str) -> Response:
    """POST the sign-in form with ``token``; the client keeps the cookies it is given."""
    form = await client.get("/console/login")
    assert form.status_code == 200
    return await client.post(
        "/console/login", data={"csrf": csrf_of(form), "token": token}, follow_redirects=False
    )


async def signed_in(client: AsyncClient, token: str) -> str:
    """Sign in; the CSRF token of the new session."""
    response = await sign_in(client, token)
    assert response.status_code == 303, response.text
    overview = await client.get("/console/")
    assert overview.status_code == 200, overview.text
    return csrf_of(overview)
