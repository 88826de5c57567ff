"""An organization's lists (its org-wide one and named campaign lists) and its prefix rules.

A named list works like the org-wide one in every respect (listing, removal, expiry, audit, its
own mirror in Redis); deleting it tombstones its entries. A prefix rule blocks every number
whose E.164 digits start with it, on every check of the organization.
"""

import re
import secrets
from collections.abc import Iterable, Sequence
from uuid import UUID, uuid4

import phonenumbers

from domain.errors import InvalidInput, NotFound, Unavailable
from domain.model import DEFAULT_LIST, AuditEvent, DncList, PrefixRule, Principal
from domain.ports import DncMirror, UnitOfWork
from domain.rules import LIST_DELETED
from domain.text import one_line
from domain.time import utcnow
from domain.usecases.mirror_repair import rebuild_mirror
from domain.usecases.mirror_sync import record_list_dropped, record_prefixes_changed, settle

ORG_WIDE_NAME = "Org-wide list"
MAX_NAME = 200
MAX_CHECK_LISTS = 20  # named lists one check may ask about
_LIST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PREFIX_SEPARATORS = re.compile(r"[ ().\-]")
MIN_PREFIX, MAX_PREFIX = 4, 14
COUNTRY_CODES = frozenset(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
# check.lua reads every rule of the organization on every call: a few hundred cost it tens of
# microseconds, tens of thousands would hold Redis up for every organization
MAX_PREFIX_RULES = 200


def org_wide_list(organization_id: UUID) -> DncList:
    return DncList(organization_id, DEFAULT_LIST, ORG_WIDE_NAME, "org", None, utcnow())


def list_id_of(raw: str | None) -> str:
    """A ``listId`` as sent (None: the org-wide list); a 400 for one that cannot be an id."""
    if raw is None:
        return DEFAULT_LIST
    if not isinstance(raw, str) or not _LIST_ID.fullmatch(raw):
        raise InvalidInput(f"Unknown list id {raw!r}")
    return raw


def named_lists_of(raw: Iterable[str]) -> tuple[str, ...]:
    """The named lists a check asks about, each once, in order; the org-wide list always
    applies, so naming it changes nothing."""
    named = tuple(dict.fromkeys(list_id_of(r) for r in raw if r != DEFAULT_LIST))
    if len(named) > MAX_CHECK_LISTS:
        raise InvalidInput(f"a check may name at most {MAX_CHECK_LISTS} lists")
    return named


async def require_lists(uow: UnitOfWork, organization_id: UUID, list_ids: Sequence[str]) -> None:
    """Inside a transaction that writes to these lists: hold them (none is deleted before the
    commit) or refuse the unknown ones."""
    unknown = await uow.lists.lock_shared(organization_id, sorted(set(list_ids)))
    if unknown:
        raise InvalidInput(f"Unknown list id {unknown[0]!r}")


async def known_list(uow: UnitOfWork, organization_id: UUID, raw: str | None) -> str:
    """A list id as sent (None: the org-wide list), the organization's own (a 400
    otherwise)."""
    list_id = list_id_of(raw)
    if list_id != DEFAULT_LIST:
        await require_known(uow, organization_id, [list_id])
    return list_id


async def require_known(uow: UnitOfWork, organization_id: UUID, list_ids: Sequence[str]) -> None:
    """Refuse (400) a read of a list the organization does not have."""
    async with uow:
        unknown = await uow.lists.missing(organization_id, list(list_ids))
    if unknown:
        raise InvalidInput(f"Unknown list id {unknown[0]!r}")


async def create_list(
    uow: UnitOfWork,
    mirror: DncMirror,
    organization_id: UUID,
    actor: UUID | None,
    name: str,
    description: str | None,
) -> DncList:
    """A new, empty named list; its mirror is made ready at once (or by the reconciliation).
    ``actor``: the user who asked (None: an operator, with the CLI)."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("name must not be empty")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"name must be at most {MAX_NAME} characters")
    one_line("name", name)
    org_id = organization_id
    new = DncList(org_id, secrets.token_hex(6), name, "campaign", description or None, utcnow(), 0)
    async with uow:
        created = await uow.lists.add(new, actor)
        await uow.audit.record(
            AuditEvent(
                organization_id=org_id,
                actor_user_id=actor,
                action="list.create",
                entity_id=created.id,
                list_id=created.id,
                after={"name": created.name, "description": created.description},
            )
        )
        await uow.commit()
    try:
        await rebuild_mirror(uow, mirror, org_id, actor, list_id=created.id)
    except Unavailable:  # checks naming it ask Postgres until the reconciliation builds it
        pass
    return created


async def get_list(uow: UnitOfWork, organization_id: UUID, list_id: str) -> DncList:
    found = None
    if _LIST_ID.fullmatch(list_id):  # a path that cannot be an id names no list either
        async with uow:
            found = await uow.lists.get(organization_id, list_id)
    if found is None:
        raise NotFound(f"No list {list_id!r}")
    return found


async def all_lists(uow: UnitOfWork, organization_id: UUID) -> list[DncList]:
    async with uow:
        return await uow.lists.all(organization_id)


async def delete_list(
    uow: UnitOfWork, mirror: DncMirror, organization_id: UUID, actor: UUID | None, list_id: str
) -> DncList:
    """Its entries stop blocking and stay as tombstones; audited. The org-wide list stays."""
    if list_id == DEFAULT_LIST:
        raise InvalidInput("the org-wide list cannot be deleted")
    org_id = organization_id
    if not _LIST_ID.fullmatch(list_id):
        raise NotFound(f"No list {list_id!r}")
    async with uow:
        found = await uow.lists.get(org_id, list_id, lock=True)
        if found is None:
            raise NotFound(f"No list {list_id!r}")
        removed = await uow.entries.remove_list(org_id, found.id, actor)
        await uow.audit.record_removed(
            org_id, actor, "dnc.remove", removed, {"reason": LIST_DELETED}
        )
        await uow.lists.delete(org_id, found.id, actor)
        await uow.audit.record(
            AuditEvent(
                organization_id=org_id,
                actor_user_id=actor,
                action="list.delete",
                entity_id=found.id,
                list_id=found.id,
                before={"name": found.name, "count": found.count},
                after={"removed": len(removed)},
            )
        )
        await record_list_dropped(uow, org_id, found.id)
        await uow.commit()
    await settle(uow, mirror, org_id)
    return found


# Prefix rules ------------------------------------------------------------------------------


def prefix_of(raw: str) -> str:
    """A prefix rule's digits: 4 to 14 E.164 digits (a ``+`` and separators may be sent) that
    start with a whole country code."""
    if not isinstance(raw, str):
        raise InvalidInput("prefix must be a string of digits")
    digits = _PREFIX_SEPARATORS.sub("", raw.strip()).removeprefix("+")
    if not digits.isascii() or not digits.isdigit():
        raise InvalidInput(f"prefix {raw!r} must be E.164 digits, e.g. 1212555")
    if not MIN_PREFIX <= len(digits) <= MAX_PREFIX:
        raise InvalidInput(f"prefix must have {MIN_PREFIX} to {MAX_PREFIX} digits")
    if not any(digits[:size] in COUNTRY_CODES for size in (1, 2, 3)):  # "001" is no "1"
        raise InvalidInput(f"prefix {raw!r} does not start with a country code")
    return digits


async def create_prefix(
    uow: UnitOfWork, mirror: DncMirror, principal: Principal, raw: str, reason: str | None
) -> PrefixRule:
    """Blocks at once: the rule reaches Redis before the commit (errs towards blocking)."""
    prefix = prefix_of(raw)
    one_line("reason", reason)
    org_id = principal.organization_id
    rule = PrefixRule(uuid4(), org_id, prefix, reason or None, principal.user_id, utcnow())
    async with uow:
        await uow.organizations.lock_mirror(org_id)  # one rule at a time: the count holds
        if len(await uow.prefixes.all(org_id)) >= MAX_PREFIX_RULES:
            raise InvalidInput(
                f"an organization may have at most {MAX_PREFIX_RULES} prefix rules; "
                "delete one first"
            )
        await uow.prefixes.add(rule)
        await uow.audit.record(
            AuditEvent(
                organization_id=org_id,
                actor_user_id=principal.user_id,
                action="prefix.add",
                entity_id=str(rule.id),
                after={"prefix": prefix, "reason": rule.reason},
            )
        )
        await record_prefixes_changed(uow, org_id)
        # under the mirror lock (taken above) until the commit: no sync interleaves
        await mirror.set_prefixes(org_id, [r.prefix for r in await uow.prefixes.all(org_id)])
        await uow.commit()
    await settle(uow, mirror, org_id)
    return rule


async def all_prefixes(uow: UnitOfWork, organization_id: UUID) -> list[PrefixRule]:
    async with uow:
        return await uow.prefixes.all(organization_id)


async def delete_prefix(
    uow: UnitOfWork, mirror: DncMirror, principal: Principal, raw_id: str
) -> PrefixRule:
    try:
        rule_id = UUID(raw_id)
    except ValueError:
        raise NotFound(f"No prefix rule {raw_id!r}") from None
    org_id = principal.organization_id
    async with uow:
        rule = await uow.prefixes.remove(org_id, rule_id, principal.user_id)
        if rule is None:
            raise NotFound(f"No prefix rule {raw_id!r}")
        await uow.audit.record(
            AuditEvent(
                organization_id=org_id,
                actor_user_id=principal.user_id,
                action="prefix.remove",
                entity_id=str(rule.id),
                before={"prefix": rule.prefix, "reason": rule.reason},
            )
        )
        await record_prefixes_changed(uow, org_id)
        await uow.commit()
    if not await settle(uow, mirror, org_id):
        raise Unavailable(
            f"The prefix rule {rule.prefix} was deleted, but the dialer cache could not be "
            "updated yet; it catches up by itself, and until then dialers keep skipping "
            "its numbers"
        )
    return rule
