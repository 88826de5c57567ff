"""One reading of ``Authorization: Bearer <token>`` for the middleware and the fast check."""

import pytest

from app.auth import bearer_token


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        ("bEaReR abc", "abc"),
        ("Bearer  abc ", "abc"),
        ("Bearer a b", "a b"),
        ("", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("Bearer   ", None),
        ("Basic abc", None),
        ("Bearerabc", None),
        (" Bearer abc", None),
    ],
)
def test_bearer_token(header: str, token: str | None) -> None:
    assert bearer_token(header) == token
