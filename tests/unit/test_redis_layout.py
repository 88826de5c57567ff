"""The mirror's key names and bucket math (``infra/redis/layout.py``), and the same math in SQL:
the rebuild groups numbers by bucket in Postgres (``stream_blocked_buckets`` in
``infra/db/repositories.py``), with the expression built here the same way."""

from uuid import UUID

import pytest
from redis.crc import key_slot
from sqlalchemy import BigInteger, column, select, text
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg

from domain.model import Blocking
from infra.redis import layout
from infra.settings import Settings
from tests.support.helpers import sql

ORG = UUID("5b0c6f8e-2a4f-4c1e-9d7a-3f2b1c0d9e8f")
NUMBERS = [1, 7, 255, 256, 12125551234, 12125550100, 442079460958, 999_999_999_999_999]
BUCKET_COUNTS = [1, 3, 7, 41, 3907, layout.bucket_count_for(1_000_000)]
DIALECT = pg_asyncpg.dialect()  # type: ignore[no-untyped-call]  # what the app speaks


def test_every_key_of_an_organization_is_in_one_cluster_slot() -> None:
    keys = [
        *layout.script_keys("dnc", ORG),
        layout.bucket_key("dnc", ORG, "abcd1234", 0),
        layout.bucket_key("dnc", ORG, "abcd1234", 3906),
        *layout.check_keys("dnc", ORG, ["a1b2c3d4e5f6"]),
        layout.list_bucket_key("dnc", ORG, "a1b2c3d4e5f6", "abcd1234", 7),
    ]
    assert keys[0] == f"dnc:{{{ORG}}}:meta"
    assert keys[1] == f"dnc:{{{ORG}}}:n:"
    assert keys[2] == f"dnc:{{{ORG}}}:n:abcd1234:0"
    assert keys[2].startswith(keys[1])
    assert keys[4:6] == keys[:2]  # check.lua: the org-wide list's keys first
    assert keys[6] == f"dnc:{{{ORG}}}:l:a1b2c3d4e5f6:meta"
    assert keys[8] == f"dnc:{{{ORG}}}:l:a1b2c3d4e5f6:n:abcd1234:7"
    assert keys[8].startswith(keys[7])
    assert len({key_slot(key.encode()) for key in keys}) == 1
    assert layout.cursor_key("dnc") == "dnc:reconcile:cursor"


def test_bucket_counts_are_coprime_with_ten() -> None:
    assert layout.bucket_count_for(0) == 1
    assert layout.bucket_count_for(256) == 1
    assert layout.bucket_count_for(257) == 3
    for size in (1_000, 65_536, 1_000_000):
        buckets = layout.bucket_count_for(size)
        assert buckets % 2 != 0
        assert buckets % 5 != 0
        assert buckets * layout.TARGET_PER_BUCKET >= size


@pytest.mark.parametrize("buckets", BUCKET_COUNTS)
def test_locate_and_number_at_are_each_others_reverse(buckets: int) -> None:
    for number in NUMBERS:
        bucket, member = layout.locate(number, buckets)
        assert 0 <= bucket < buckets
        assert layout.number_at(bucket, member, buckets) == number


def test_a_packed_check_reply_is_read_once_for_every_caller() -> None:
    assert layout.read_check_reply([-1, 0], 2) == (False, False, b"")
    assert layout.read_check_reply([0, 1], 2) == (True, False, b"")
    assert layout.read_check_reply([1, 1, b"10"], 2) == (True, True, b"10")
    assert layout.blocking_of(b"10", ["default"]) == (Blocking(("default",), False), None)
    with pytest.raises(layout.UnexpectedReply):
        layout.read_check_reply([1, 1, b"1"], 2)


def test_each_number_gets_a_mask_of_the_lists_and_the_prefix_rules_that_block_it() -> None:
    """Bit 0 the org-wide list, bit j the j-th named list, the bit after them a prefix rule;
    a mask is one hex digit up to two named lists, two from three to six."""
    lists = ["default", "camp1", "camp2"]
    ready, enabled, masks = layout.read_check_reply([1, 1, b"0159"], 4, named_lists=2)
    assert (ready, enabled) == (True, True)
    assert layout.blocking_of(masks, lists) == (
        None,
        Blocking(("default",), False),
        Blocking(("default", "camp2"), False),
        Blocking(("default",), True),
    )
    assert Blocking((), True).reason == "prefix"
    assert Blocking(("camp1",), True).reason == "dnc"
    assert layout.digits_per_number(3) == 2
    six = ["default", *(f"c{i}" for i in range(6))]
    _, _, masks = layout.read_check_reply([1, 1, b"0080"], 2, named_lists=6)
    assert layout.blocking_of(masks, six) == (None, Blocking((), True))
    with pytest.raises(layout.UnexpectedReply):  # one digit a number is too few for 3 lists
        layout.read_check_reply([1, 1, b"01"], 2, named_lists=3)
    with pytest.raises(layout.UnexpectedReply):  # a bit no list stands for
        layout.blocking_of(b"8", ["default", "camp1"])


def test_a_reply_read_as_text_still_blocks_and_anything_else_is_no_answer() -> None:
    """A dialer's client made with ``decode_responses=True`` gets the masks as ``str``: they
    must read as the same masks, never as "nothing listed"."""
    assert layout.read_check_reply([1, 1, "10"], 2) == (True, True, b"10")
    masks = layout.read_check_reply([1, 1, "01"], 2)[2]
    assert layout.blocking_of(masks, ["default"]) == (None, Blocking(("default",), False))
    for memberships in (["1", "0"], 10, b"1x", "\u00e91", b"1A"):
        with pytest.raises(layout.UnexpectedReply):
            layout.read_check_reply([1, 1, memberships], 2)


async def test_postgres_puts_every_number_in_the_bucket_layout_py_does(
    base_settings: Settings,
) -> None:
    n = column("n", BigInteger)
    for buckets in BUCKET_COUNTS:
        query = select(n % buckets, (n - n % buckets) // buckets).select_from(
            text("unnest($1::bigint[]) AS t(n)")
        )
        compiled = str(query.compile(dialect=DIALECT, compile_kwargs={"literal_binds": True}))
        rows = await sql(base_settings, compiled, NUMBERS)
        assert [(int(r[0]), int(r[1])) for r in rows] == [
            layout.locate(number, buckets) for number in NUMBERS
        ]
