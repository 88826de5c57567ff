"""What Redis stores for the mirror: every key name and the bucket math, the one source.

Key layout (all keys of one organization share the Redis Cluster hash tag ``{orgId}``, so
they live in one slot and a script may touch all of them). Each list of the organization (its
org-wide list ``default`` and every named list) has a meta hash and its number sets; the
org-wide list's meta hash is the organization's own and also holds its DNC flag and its
prefix rules:

``<prefix>:{<orgId>}:meta`` (hash, :func:`meta_key`): the organization, and its org-wide list
    ``enabled``  "1"/"0", the organization's DNC flag
    ``prefixes`` the organization's prefix rules, E.164 digits joined by "," ("" for none);
        absent means *unknown* (written by every rebuild of the org-wide list, and after
        every change of a rule)
    and the list fields below
``<prefix>:{<orgId>}:l:<listId>:meta`` (hash, :func:`list_meta_key`): a named list
    ``ready2``   "1" once a rebuild has loaded the whole list; absent means *unknown* (it was
        ``ready`` before lists; a rebuild deletes that field, so that a dialer's copy of the
        earlier ``check.lua``, which knows neither named lists nor prefix rules, finds no flag
        and answers "unknown")
    ``gen``, ``buckets``    the live generation of number sets and its bucket count
    ``bgen``, ``bbuckets``  a generation being built by a rebuild, if one is running
    ``rebuilt_at``, ``rebuilt_count``  when the last rebuild finished, and what it loaded
    ``run_id``   the Redis server that loaded the live generation (only it vouches for it)
    ``count``, ``sum1``, ``sum2``, ``sum3``  the live generation's checksum (see
        ``domain/checksum.py``): its number count and three sums modulo primes below 2^26,
        kept by the scripts from what SADD and SREM actually changed
    ``bcount``, ``bsum1``, ``bsum2``, ``bsum3``  the same for the generation being built
``<prefix>:{<orgId>}:n:<gen>:<r>`` (the org-wide list, :func:`bucket_key`) and
``<prefix>:{<orgId>}:l:<listId>:n:<gen>:<r>`` (a named list, :func:`list_bucket_key`): sets of
    integers: number ``n`` (E.164 digits as an integer) lives in bucket ``r = n mod buckets``
    as the member ``(n - r) / buckets`` (:func:`locate`, reversed by :func:`number_at`).
    Buckets hold ~256 members, so Redis keeps them in its compact intset encoding, and a
    lookup is one SISMEMBER whatever the list's size.
``<prefix>:reconcile:cursor`` (hash: ``org``, ``list``, ``phase``, ``after``, ``bucket``;
    :func:`cursor_key`) where the reconciliation's slice-by-slice full verification goes on;
    losing it only restarts the rotation

The Lua scripts in ``lua/`` get every key they need in ``KEYS``. The scripts that keep one
list (:func:`script_keys`) take ``KEYS[1]`` the list's meta key and ``KEYS[2]`` the prefix of
its bucket keys (:func:`list_buckets_prefix`), to which they append ``<gen>:<r>`` for a
generation they read from the meta key, exactly as :func:`list_bucket_key` does.
``check.lua`` (:func:`check_keys`) takes the org-wide list's two keys, then two for each named
list asked about; its reply (a bit mask a number, hex digits when packed) is read here only,
by :func:`read_check_reply` and :func:`blocking_of`.

The same bucket math lives, necessarily, in the scripts (``lua/apply.lua``, ``check.lua``,
``load.lua``, ``probe.lua``: ``r = n mod buckets``, member ``(n - r) / buckets``) and in SQL:
the rebuild groups the numbers by bucket in Postgres (``stream_blocked_buckets`` in
``infra/db/repositories.py``: ``number % buckets`` and ``(number - number % buckets) /
buckets``). ``tests/unit/test_redis_layout.py`` checks the SQL against :func:`locate`.
"""

from collections.abc import Sequence
from typing import Any, NamedTuple
from uuid import UUID

from domain.model import DEFAULT_LIST, Blocking
from domain.rules import blocking

DEFAULT_PREFIX = "dnc"
TARGET_PER_BUCKET = 256


def meta_key(prefix: str, organization_id: UUID | str) -> str:
    return f"{prefix}:{{{organization_id}}}:meta"


def buckets_prefix(prefix: str, organization_id: UUID | str) -> str:
    """What every bucket key of the organization starts with (a key prefix, not a key)."""
    return f"{prefix}:{{{organization_id}}}:n:"


def bucket_key(prefix: str, organization_id: UUID | str, generation: str, bucket: int) -> str:
    """A bucket key of the org-wide list."""
    return f"{buckets_prefix(prefix, organization_id)}{generation}:{bucket}"


def list_meta_key(prefix: str, organization_id: UUID | str, list_id: str) -> str:
    """A list's meta key: the organization's own for its org-wide list."""
    if list_id == DEFAULT_LIST:
        return meta_key(prefix, organization_id)
    return f"{prefix}:{{{organization_id}}}:l:{list_id}:meta"


def list_buckets_prefix(prefix: str, organization_id: UUID | str, list_id: str) -> str:
    """What every bucket key of one of the organization's lists starts with."""
    if list_id == DEFAULT_LIST:
        return buckets_prefix(prefix, organization_id)
    return f"{prefix}:{{{organization_id}}}:l:{list_id}:n:"


def list_bucket_key(
    prefix: str, organization_id: UUID | str, list_id: str, generation: str, bucket: int
) -> str:
    return f"{list_buckets_prefix(prefix, organization_id, list_id)}{generation}:{bucket}"


def script_keys(prefix: str, organization_id: UUID | str, list_id: str = DEFAULT_LIST) -> list[str]:
    """The ``KEYS`` of the scripts that keep one list: its meta key, then its bucket keys'
    prefix."""
    return [
        list_meta_key(prefix, organization_id, list_id),
        list_buckets_prefix(prefix, organization_id, list_id),
    ]


def exemptions_key(prefix: str, organization_id: UUID | str) -> str:
    return f"{prefix}:{{{organization_id}}}:x"


def shared_owner(list_id: str) -> str:
    """What a shared list's keys have in their hash tag where an organization's have its id:
    ``<prefix>:{shared:<listId>}:meta`` and so on."""
    return f"shared:{list_id}"


def check_keys(prefix: str, organization_id: UUID | str, named: Sequence[str] = ()) -> list[str]:
    """The ``KEYS`` of an organization's ``check.lua`` call: the org-wide list's two, its
    exemptions, then two for each named list."""
    keys = [*script_keys(prefix, organization_id), exemptions_key(prefix, organization_id)]
    for list_id in named:
        keys += script_keys(prefix, organization_id, list_id)
    return keys


def shared_check_keys(prefix: str, shared: Sequence[str]) -> list[str]:
    """The ``KEYS`` of a shared lists' ``check.lua`` call: two for each list."""
    return [key for list_id in shared for key in script_keys(prefix, shared_owner(list_id))]


def cursor_key(prefix: str) -> str:
    return f"{prefix}:reconcile:cursor"


def shared_cursor_key(prefix: str) -> str:
    """Where the shared lists' full verification stopped."""
    return f"{prefix}:reconcile:shared_cursor"


def bucket_count_for(numbers: int) -> int:
    """Buckets for a list of this size: ~256 numbers each, coprime with 10 so that numbers
    sharing their last digits still spread evenly."""
    buckets = max(1, -(-numbers // TARGET_PER_BUCKET))
    while buckets > 1 and (buckets % 2 == 0 or buckets % 5 == 0):
        buckets += 1
    return buckets


def locate(number: int, buckets: int) -> tuple[int, int]:
    """The bucket and the member that stand for ``number``."""
    bucket = number % buckets
    return bucket, (number - bucket) // buckets


def number_at(bucket: int, member: int, buckets: int) -> int:
    """The number that ``member`` of ``bucket`` stands for (the reverse of :func:`locate`)."""
    return member * buckets + bucket


class UnexpectedReply(Exception):
    """``check.lua`` answered for a different count of numbers than it was asked about, or
    with something that is not an answer."""


def digits_per_number(named_lists: int) -> int:
    """How many hex digits an organization's ``check.lua`` reply gives each number when asked
    about ``named_lists`` named lists: ``named_lists + 3`` bits, one for each list (the
    org-wide one first), one for the prefix rules, one for an exemption."""
    return (named_lists + 2) // 4 + 1


def shared_digits_per_number(shared_lists: int) -> int:
    """How many hex digits a shared lists' ``check.lua`` reply gives each number: a bit a
    list."""
    return (shared_lists - 1) // 4 + 1


class OrganizationReply(NamedTuple):
    """An organization's ``check.lua`` reply, read: ``masks`` (hex digits, empty unless ready
    and enabled) and ``subscribed``, the shared lists to ask about beside it."""

    ready: bool
    enabled: bool
    subscribed: tuple[str, ...] = ()
    masks: bytes = b""


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, str):  # a client made with decode_responses=True
        return value.encode("ascii", "replace")
    if not isinstance(value, bytes):
        raise UnexpectedReply(f"a reply of type {type(value).__name__}")
    return value


def _hex_digits(masks: bytes, asked: int, width: int) -> bytes:
    if len(masks) != asked * width:
        raise UnexpectedReply(f"{len(masks)} digits for {asked} numbers")
    if masks.translate(None, b"0123456789abcdef"):  # not an answer to read
        raise UnexpectedReply("masks other than hex digits")
    return masks


def read_check_reply(reply: Sequence[Any], asked: int, named_lists: int = 0) -> OrganizationReply:
    """An organization's ``check.lua`` reply to ``asked`` numbers and ``named_lists`` named
    lists. Raises :class:`UnexpectedReply` when the reply is for a different count of numbers,
    or holds anything but lowercase hex digits (a reply read as ``str`` is taken as its ASCII
    bytes, never as "nothing listed")."""
    enabled, ready = int(reply[0]), int(reply[1])
    if ready != 1:
        return OrganizationReply(False, False)
    if enabled != 1:
        return OrganizationReply(True, False)
    if len(reply) != 4:
        raise UnexpectedReply(f"{len(reply)} parts")
    subscribed = tuple(s for s in _as_bytes(reply[2]).decode("ascii").split(",") if s)
    masks = _hex_digits(_as_bytes(reply[3]), asked, digits_per_number(named_lists))
    return OrganizationReply(True, True, subscribed, masks)


def read_shared_reply(
    reply: Sequence[Any], asked: int, shared_lists: int
) -> tuple[bool, int, bytes]:
    """``(ready, stale, masks)`` from a shared lists' ``check.lua`` reply: ``stale`` a bit a
    list, ``masks`` :func:`shared_digits_per_number` hex digits a number."""
    if int(reply[0]) != 1:
        return False, 0, b""
    if len(reply) != 3:
        raise UnexpectedReply(f"{len(reply)} parts")
    stale = int(reply[1])
    if not 0 <= stale < 1 << shared_lists:
        raise UnexpectedReply(f"stale mask {stale} for {shared_lists} lists")
    masks = _hex_digits(_as_bytes(reply[2]), asked, shared_digits_per_number(shared_lists))
    return True, stale, masks


def merge_shared_replies(parts: Sequence[tuple[int, int, bytes]], asked: int) -> tuple[int, bytes]:
    """One ``(stale, masks)`` for every shared list, from the replies of calls that each
    asked about some of them, in order (``(lists, stale, masks)`` each, read by
    :func:`read_shared_reply`): on a Redis Cluster each list is asked in its own slot."""
    if len(parts) == 1:
        return parts[0][1], parts[0][2]
    total = sum(lists for lists, _, _ in parts)
    width = shared_digits_per_number(total)
    stale, held, shift = 0, [0] * asked, 0
    for lists, part_stale, masks in parts:
        stale |= part_stale << shift
        part_width = shared_digits_per_number(lists)
        for i in range(asked):
            held[i] |= int(masks[i * part_width : (i + 1) * part_width], 16) << shift
        shift += lists
    digits = f"%0{width}x"
    return stale, "".join(digits % mask for mask in held).encode("ascii")


def blocking_of(
    masks: bytes,
    list_ids: Sequence[str],
    shared: Sequence[str] = (),
    shared_masks: bytes = b"",
    stale: int = 0,
) -> tuple[Blocking | None, ...]:
    """What blocks each number, from the replies read by :func:`read_check_reply` (for the
    lists ``list_ids``, the org-wide list first, then the named ones asked about) and, when
    the organization subscribes to the ``shared`` lists, :func:`read_shared_reply`: None where
    nothing does (``domain.rules.blocking``). Raises :class:`UnexpectedReply` for a bit no
    list stands for."""
    width = digits_per_number(len(list_ids) - 1)
    prefix_bit, exempt_bit = 1 << len(list_ids), 2 << len(list_ids)
    shared_width = shared_digits_per_number(len(shared)) if shared else 0
    if len(shared_masks) != len(masks) // width * shared_width:
        raise UnexpectedReply("the shared lists' answer is for other numbers")
    stale_ids = tuple(list_id for j, list_id in enumerate(shared) if stale >> j & 1)
    seen: dict[tuple[bytes, bytes], Blocking | None] = {}
    answers: list[Blocking | None] = []
    for n, start in enumerate(range(0, len(masks), width)):
        digits = masks[start : start + width]
        theirs = shared_masks[n * shared_width : (n + 1) * shared_width]
        key = (digits, theirs)
        if key in seen:
            answers.append(seen[key])
            continue
        mask = int(digits, 16)
        if mask >= exempt_bit << 1:
            raise UnexpectedReply(f"mask {mask} for {len(list_ids)} lists")
        held = int(theirs, 16) if theirs else 0
        if held >= 1 << len(shared):
            raise UnexpectedReply(f"mask {held} for {len(shared)} shared lists")
        found = seen[key] = blocking(
            tuple(list_id for i, list_id in enumerate(list_ids) if mask >> i & 1),
            bool(mask & prefix_bit),
            tuple(list_id for j, list_id in enumerate(shared) if held >> j & 1),
            stale_ids,
            bool(mask & exempt_bit),
        )
        answers.append(found)
    return tuple(answers)
