"""The mirror's key names and bucket math (``infra/redis/layout.py``), and the same math in SQL:
the rebuild groups numbers by bucket in Postgres (``stream_blocked_buckets`` in
``infra/db/repositories.py``), with the expression built here the same way."""

import random
from uuid import UUID

import pytest
from redis.crc import key_slot
from sqlalchemy import BigInteger, column, select, text
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg

from domain.model import Blocking
from domain.rules import blocking
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
    assert keys[6] == f"dnc:{{{ORG}}}:x" == layout.exemptions_key("dnc", ORG)  # then exemptions
    assert keys[7] == f"dnc:{{{ORG}}}:l:a1b2c3d4e5f6:meta"
    assert keys[9] == f"dnc:{{{ORG}}}:l:a1b2c3d4e5f6:n:abcd1234:7"
    assert keys[9].startswith(keys[8])
    assert len({key_slot(key.encode()) for key in keys}) == 1
    assert layout.cursor_key("dnc") == "dnc:reconcile:cursor"


def test_each_shared_list_has_its_own_slot_apart_from_the_organizations() -> None:
    """A shared lists' call takes two keys a list, under ``{shared:<listId>}``: its keys share
    a slot, and never pretend to be an organization's (a list id that looks like an
    organization's gets keys of its own)."""
    keys = layout.shared_check_keys("dnc", ["r1", str(ORG)])
    assert keys == [
        "dnc:{shared:r1}:meta",
        "dnc:{shared:r1}:n:",
        f"dnc:{{shared:{ORG}}}:meta",
        f"dnc:{{shared:{ORG}}}:n:",
    ]
    assert layout.shared_check_keys("dnc", []) == []
    assert key_slot(keys[0].encode()) == key_slot(keys[1].encode())
    assert key_slot(keys[2].encode()) == key_slot(keys[3].encode())
    assert keys[2] != layout.meta_key("dnc", ORG)


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
    """``{enabled, ready, subscriptions, masks}``; not ready and not enabled say nothing
    more. A reply of another shape (the three parts the script answered before shared lists)
    is no answer."""
    assert layout.read_check_reply([-1, 0], 2) == (False, False, (), b"")
    assert layout.read_check_reply([0, 1], 2) == (True, False, (), b"")
    assert layout.read_check_reply([1, 1, b"", b"10"], 2) == (True, True, (), b"10")
    assert layout.read_check_reply([1, 1, b"r1,r2", b"10"], 2).subscribed == ("r1", "r2")
    assert layout.blocking_of(b"10", ["default"]) == (Blocking(("default",), False), None)
    for reply in ([1, 1, b"1"], [1, 1, b"10"], [1, 1, b"", b"10", b""], [1, 1, b"", b"1"]):
        with pytest.raises(layout.UnexpectedReply):
            layout.read_check_reply(reply, 2)


def test_each_number_gets_a_mask_of_the_lists_and_the_prefix_rules_that_block_it() -> None:
    """Bit 0 the org-wide list, bit j the j-th named list, the bit after them a prefix rule,
    the next an exemption; a mask is one hex digit up to one named list, two from two to
    five, three from six."""
    assert [layout.digits_per_number(k) for k in range(10)] == [1, 1, 2, 2, 2, 2, 3, 3, 3, 3]
    lists = ["default", "camp1", "camp2"]
    ready, enabled, subscribed, masks = layout.read_check_reply(
        [1, 1, b"", b"0001050910"], 5, named_lists=2
    )
    assert (ready, enabled, subscribed) == (True, True, ())
    assert layout.blocking_of(masks, lists) == (
        None,
        Blocking(("default",), False),
        Blocking(("default", "camp2"), False),
        Blocking(("default",), True),
        None,  # an exemption alone lifts nothing: there are no shared lists to lift
    )
    assert Blocking((), True).reason == "prefix"
    assert Blocking(("camp1",), True).reason == "dnc"
    six = ["default", *(f"c{i}" for i in range(6))]
    _, _, _, masks = layout.read_check_reply([1, 1, b"", b"000080"], 2, named_lists=6)
    assert layout.blocking_of(masks, six) == (None, Blocking((), True))
    with pytest.raises(layout.UnexpectedReply):  # one digit a number is too few for 2 lists
        layout.read_check_reply([1, 1, b"", b"01"], 2, named_lists=2)
    for masks, list_ids in ((b"8", ["default"]), (b"20", lists), (b"200", six)):
        with pytest.raises(layout.UnexpectedReply):  # a bit no list stands for
            layout.blocking_of(masks, list_ids)


def test_a_reply_read_as_text_still_blocks_and_anything_else_is_no_answer() -> None:
    """A dialer's client made with ``decode_responses=True`` gets the subscriptions and the
    masks as ``str``: they must read as the same, never as "nothing listed"."""
    assert layout.read_check_reply([1, 1, "", "10"], 2) == (True, True, (), b"10")
    assert layout.read_check_reply([1, 1, "r1", "10"], 2).subscribed == ("r1",)
    masks = layout.read_check_reply([1, 1, "", "01"], 2).masks
    assert layout.blocking_of(masks, ["default"]) == (None, Blocking(("default",), False))
    for memberships in (["1", "0"], 10, b"1x", "\u00e91", b"1A", None):
        with pytest.raises(layout.UnexpectedReply):
            layout.read_check_reply([1, 1, b"", memberships], 2)
    for subscriptions in (["r1"], 1, None):
        with pytest.raises(layout.UnexpectedReply):
            layout.read_check_reply([1, 1, subscriptions, b"10"], 2)


def test_a_shared_lists_reply_is_read_or_refused() -> None:
    """``{1, stale, masks}`` (``{0}``: not ready): a bit a list, one hex digit up to four
    lists; a stale mask naming a list not asked about, or masks for other numbers, are no
    answer."""
    assert layout.read_shared_reply([0], 2, 2) == (False, 0, b"")
    assert layout.read_shared_reply([1, 0, b"13"], 2, 2) == (True, 0, b"13")
    assert layout.read_shared_reply([1, 3, b"03"], 2, 2) == (True, 3, b"03")
    assert layout.read_shared_reply([1, 0, b"0f1f"], 2, 5) == (True, 0, b"0f1f")
    assert [layout.shared_digits_per_number(s) for s in range(1, 10)] == [
        1, 1, 1, 1, 2, 2, 2, 2, 3,
    ]  # fmt: skip
    for stale in (4, -1, 1 << 40):
        with pytest.raises(layout.UnexpectedReply, match="stale mask"):
            layout.read_shared_reply([1, stale, b"13"], 2, 2)
    with pytest.raises(layout.UnexpectedReply, match="stale mask"):  # 5 lists: bits 0 to 4
        layout.read_shared_reply([1, 32, b"0000"], 2, 5)
    for masks, lists in ((b"1", 2), (b"130", 2), (b"13", 5), (b"", 1)):
        with pytest.raises(layout.UnexpectedReply, match="digits"):
            layout.read_shared_reply([1, 0, masks], 2, lists)
    for reply in ([1, 0], [1, 0, b"13", b""], [1]):
        with pytest.raises(layout.UnexpectedReply, match="parts"):
            layout.read_shared_reply(reply, 2, 2)


def test_a_shared_lists_reply_read_as_text_is_the_same_answer() -> None:
    assert layout.read_shared_reply([1, 1, "13"], 2, 2) == (True, 1, b"13")
    assert layout.read_shared_reply(["1", "2", "13"], 2, 2) == (True, 2, b"13")
    for masks in ("1g", "\u00e91", "1F", ["1", "3"], 13, None):
        with pytest.raises(layout.UnexpectedReply):
            layout.read_shared_reply([1, 0, masks], 2, 2)


SHARED = ("r1", "r2")


def test_an_exemption_lifts_the_shared_lists_and_their_staleness_only() -> None:
    """Org bits for the org-wide list alone: 1 the list, 2 a prefix rule, 4 an exemption;
    shared bits: 1 r1, 2 r2. An exemption lifts a registry's hit and its staleness, never
    the organization's own list or prefix rules (a do-not-call request beats a business
    relationship)."""
    masks, shared = b"0444560", b"1130310"
    assert layout.blocking_of(masks, ["default"], SHARED, shared) == (
        Blocking((), False, ("r1",)),
        None,  # exempt from r1
        None,  # exempt from both
        None,  # exempt, and on no list
        Blocking(("default",), False),  # exempt: r1 lifted, its own list stays
        Blocking((), True),  # exempt: r1 lifted, its prefix rule stays
        None,
    )
    assert Blocking((), False, ("r1",)).reason == "registry"
    stale = 0b11
    assert layout.blocking_of(masks, ["default"], SHARED, shared, stale) == (
        Blocking((), False, ("r1",), ("r2",)),
        None,
        None,
        None,  # exempt: its staleness is lifted too
        Blocking(("default",), False),
        Blocking((), True),
        Blocking((), False, (), ("r1", "r2")),
    )


def test_a_stale_list_blocks_only_the_numbers_it_cannot_vouch_for() -> None:
    """A stale list blocks with reason ``registry_stale`` only where no subscribed list
    holds the number; where it holds the number itself, that is a hit, not staleness."""
    masks, shared = b"00001", b"01230"
    answers = layout.blocking_of(masks, ["default"], SHARED, shared, stale=0b10)
    assert answers == (
        Blocking((), False, (), ("r2",)),
        Blocking((), False, ("r1",), ("r2",)),
        Blocking((), False, ("r2",)),  # r2 holds it: stale or not, it vouches for it
        Blocking((), False, ("r1", "r2")),
        Blocking(("default",), False, (), ("r2",)),
    )
    assert [a.reason for a in answers if a] == [
        "registry_stale", "registry", "registry", "registry", "dnc",
    ]  # fmt: skip
    assert [a.ids for a in answers if a] == [
        ("r2",), ("r1", "r2"), ("r2",), ("r1", "r2"), ("default", "r2"),
    ]  # fmt: skip
    fresh = layout.blocking_of(masks, ["default"], SHARED, shared)
    assert fresh == (
        None,
        Blocking((), False, ("r1",)),
        *answers[2:4],
        Blocking(("default",), False),
    )


def test_shared_masks_must_answer_the_same_numbers_with_bits_of_lists_asked_about() -> None:
    with pytest.raises(layout.UnexpectedReply, match="other numbers"):
        layout.blocking_of(b"00", ["default"], SHARED, b"1")
    with pytest.raises(layout.UnexpectedReply, match="other numbers"):
        layout.blocking_of(b"00", ["default"], (), b"11")
    with pytest.raises(layout.UnexpectedReply, match="shared lists"):  # bit 2: no third list
        layout.blocking_of(b"00", ["default"], SHARED, b"04")


def _decoded(
    mask: int, held: int, list_ids: list[str], shared: list[str], stale: int
) -> Blocking | None:
    """One number's answer from its bits, by the contract in check.lua's header."""
    k = len(list_ids)
    return blocking(
        tuple(list_id for i, list_id in enumerate(list_ids) if mask >> i & 1),
        bool(mask >> k & 1),
        tuple(list_id for j, list_id in enumerate(shared) if held >> j & 1),
        tuple(list_id for j, list_id in enumerate(shared) if stale >> j & 1),
        bool(mask >> (k + 1) & 1),
    )


@pytest.mark.parametrize("seed", range(20))
def test_memoized_answers_equal_each_numbers_own(seed: int) -> None:
    """blocking_of reads each distinct pair of masks once: on random masks (many numbers
    sharing few pairs, so most answers come from its memo), every answer is the one that
    number alone gets, and the one its bits say."""
    rng = random.Random(seed)
    named, subscribed = rng.randrange(0, 8), rng.randrange(0, 7)
    list_ids = ["default", *(f"c{i}" for i in range(named))]
    shared = [f"s{j}" for j in range(subscribed)]
    width = layout.digits_per_number(named)
    shared_width = layout.shared_digits_per_number(subscribed) if shared else 0
    stale = rng.randrange(1 << subscribed)
    pairs = [(rng.randrange(1 << (named + 3)), rng.randrange(1 << subscribed)) for _ in range(6)]
    numbers = [rng.choice(pairs) for _ in range(300)]
    masks = b"".join(b"%0*x" % (width, mask) for mask, _ in numbers)
    held = b"".join(b"%0*x" % (shared_width, h) for _, h in numbers) if shared else b""
    answers = layout.blocking_of(masks, list_ids, shared, held, stale)
    assert len(answers) == len(numbers)
    for n, (mask, theirs) in enumerate(numbers):
        alone = layout.blocking_of(
            masks[n * width : (n + 1) * width],
            list_ids,
            shared,
            held[n * shared_width : (n + 1) * shared_width],
            stale,
        )
        assert alone == (answers[n],)
        assert answers[n] == _decoded(mask, theirs, list_ids, shared, stale)


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
