"""A bulk check's answer is encoded in turns (app.routes.check.bulk_answer); the bytes must be
exactly what Litestar's own encoding of the envelope gives."""

import pytest
from litestar.serialization import encode_json

from app.errors import ok
from app.routes.check import bulk_answer
from app.schemas.check import BulkCheck, CheckItem
from domain.model import CheckResult, Verdict
from domain.usecases.checks import YIELD_EVERY


def verdict(i: int) -> Verdict:
    if i % 7 == 0:
        return Verdict(f'bad "{i}" \u00e9', None, True, "invalid")
    if i % 5 == 0:
        return Verdict(f"+1 212 556 {i:04d}", f"1212556{i:04d}", True, "prefix")
    lists = ("default", "c1") if i % 3 == 0 else ()
    return Verdict(
        f"+1 212 555 {i:04d}", f"1212555{i:04d}", bool(lists), "dnc" if lists else None, lists
    )


@pytest.mark.parametrize("count", [0, 1, YIELD_EVERY - 1, YIELD_EVERY, YIELD_EVERY + 1, 2_500])
@pytest.mark.parametrize("enabled", [True, False])
async def test_the_answer_is_litestars_own_bytes(count: int, enabled: bool) -> None:
    result = CheckResult.of(enabled, [verdict(i) for i in range(count)], "redis")
    items = [
        CheckItem(v.phone_number, v.normalized, v.blocked, v.reason, list(v.lists))
        for v in result.verdicts
    ]
    expected = encode_json(ok(BulkCheck(result.dnc_enabled, items, result.blocked_count)))
    assert await bulk_answer(result) == expected
