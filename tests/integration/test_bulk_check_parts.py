"""A check of more numbers than ``PART`` reaches Redis in parts of at most ``PART`` numbers
asked one after another (other checks' scripts run in between), and its answer is the same
as if it had been asked whole: every listed number in every part is listed."""

from typing import Any

from infra.redis.coalescer import PART
from infra.settings import Settings
from tests.support.helpers import Org, mirror_for

NUMBERS = [f"1212{n:07d}" for n in range(50_000)]
LISTED = set(NUMBERS[:: PART // 3] + NUMBERS[-1:])


async def test_a_big_check_is_asked_in_parts_and_answers_whole(
    settings: Settings, org: Org
) -> None:
    async with mirror_for(settings) as mirror:
        await mirror.apply(org.id, add=sorted(LISTED))
        sizes: list[int] = []
        script: Any = mirror._checking._script  # the organization's check.lua call

        async def counting(keys: list[str], args: list[str]) -> Any:
            assert args[0] == "o", args[:1]
            sizes.append(args[1].count(",") + 1)
            return await script(keys=keys, args=args)

        mirror._checking._script = counting  # type: ignore[assignment]
        answer = await mirror.check(org.id, NUMBERS)
        assert answer.ready
        assert answer.enabled
        assert {n for n, hit in zip(NUMBERS, answer.listed, strict=True) if hit} == LISTED
        assert max(sizes) <= PART
        assert sum(sizes) == len(NUMBERS)

        await mirror.apply(org.id, enabled=False)
        off = await mirror.check(org.id, NUMBERS)
        assert off.ready
        assert not off.enabled
