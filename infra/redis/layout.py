"""What Redis stores for the mirror: every key name and the bucket math, the one source.

Key layout (all keys of one organization share the Redis Cluster hash tag ``{orgId}``, so
they live in one slot and a script may touch all of them):

``<prefix>:{<orgId>}:meta`` (hash, :func:`meta_key`)
    ``ready``    "1" once a rebuild has loaded the whole list; absent means *unknown*
    ``enabled``  "1"/"0", the organization's DNC flag
    ``gen``, ``buckets``    the live generation of number sets and its bucket count
    ``bgen``, ``bbuckets``  a generation being built by a rebuild, if one is running
    ``rebuilt_at``, ``rebuilt_count``  when the last rebuild finished, and what it loaded
    ``run_id``   the Redis server that loaded the live generation (only it vouches for it)
    ``count``, ``sum1``, ``sum2``, ``sum3``  the live generation's checksum (see
        ``domain/checksum.py``): its number count and three sums modulo primes below 2^26,
        kept by the scripts from what SADD and SREM actually changed
    ``bcount``, ``bsum1``, ``bsum2``, ``bsum3``  the same for the generation being built
``<prefix>:{<orgId>}:n:<gen>:<r>`` (set of integers, :func:`bucket_key`)
    number ``n`` (E.164 digits as an integer) lives in bucket ``r = n mod buckets`` as the
    member ``(n - r) / buckets`` (:func:`locate`, reversed by :func:`number_at`). Buckets
    hold ~256 members, so Redis keeps them in its compact intset encoding, and a lookup is
    one SISMEMBER whatever the list's size.
``<prefix>:reconcile:cursor`` (hash: ``org``, ``phase``, ``after``, ``bucket``; :func:`cursor_key`)
    where the reconciliation's slice-by-slice full verification goes on; losing it only
    restarts the rotation

The Lua scripts in ``lua/`` get every key they need in ``KEYS`` (:func:`script_keys`):
``KEYS[1]`` the meta key and ``KEYS[2]`` the prefix of the organization's bucket keys
(:func:`buckets_prefix`), to which they append ``<gen>:<r>`` for a generation they read from
the meta key, exactly as :func:`bucket_key` does.

The same bucket math lives, necessarily, in the scripts (``lua/apply.lua``, ``check.lua``,
``load.lua``, ``probe.lua``: ``r = n mod buckets``, member ``(n - r) / buckets``) and in SQL:
the rebuild groups the numbers by bucket in Postgres (``stream_blocked_buckets`` in
``infra/db/repositories.py``: ``number % buckets`` and ``(number - number % buckets) /
buckets``). ``tests/unit/test_redis_layout.py`` checks the SQL against :func:`locate`.
"""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

DEFAULT_PREFIX = "dnc"
TARGET_PER_BUCKET = 256
_ONE = ord("1")


def meta_key(prefix: str, organization_id: UUID | str) -> str:
    return f"{prefix}:{{{organization_id}}}:meta"


def buckets_prefix(prefix: str, organization_id: UUID | str) -> str:
    """What every bucket key of the organization starts with (a key prefix, not a key)."""
    return f"{prefix}:{{{organization_id}}}:n:"


def bucket_key(prefix: str, organization_id: UUID | str, generation: str, bucket: int) -> str:
    return f"{buckets_prefix(prefix, organization_id)}{generation}:{bucket}"


def script_keys(prefix: str, organization_id: UUID | str) -> list[str]:
    """The ``KEYS`` of every mirror script: the meta key, then the bucket keys' prefix."""
    return [meta_key(prefix, organization_id), buckets_prefix(prefix, organization_id)]


def cursor_key(prefix: str) -> str:
    return f"{prefix}:reconcile:cursor"


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
    """``check.lua`` answered for a different count of numbers than it was asked about."""


def read_check_reply(reply: Sequence[Any], asked: int) -> tuple[bool, bool, bytes]:
    """``(ready, enabled, memberships)`` from a packed ``check.lua`` reply to ``asked``
    numbers: memberships are the characters ``1``/``0`` in the numbers' order (empty unless
    ready and enabled). Raises :class:`UnexpectedReply` when the reply is for a different
    count of numbers, or memberships that are not the characters ``1`` and ``0`` (a reply
    read as ``str`` is taken as its ASCII bytes, never as "nothing listed")."""
    enabled, ready = int(reply[0]), int(reply[1])
    listed = reply[2] if len(reply) > 2 else b""
    if isinstance(listed, str):  # a client made with decode_responses=True
        listed = listed.encode("ascii", "replace")
    if not isinstance(listed, bytes):
        raise UnexpectedReply(f"memberships of type {type(listed).__name__}")
    if ready and enabled == 1 and len(listed) != asked:
        raise UnexpectedReply(f"{len(listed)} answers for {asked} numbers")
    if listed.translate(None, b"01"):  # anything but 1 and 0 is not an answer to read
        raise UnexpectedReply("memberships other than 1 and 0")
    return ready == 1, ready == 1 and enabled == 1, listed if ready and enabled == 1 else b""


def hits(memberships: bytes) -> tuple[bool, ...]:
    """The memberships of a packed reply as booleans."""
    return tuple(map(_ONE.__eq__, memberships))
