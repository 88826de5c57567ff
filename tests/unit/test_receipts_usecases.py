"""Receipts' use cases against an in-memory store: what a receipt keeps, and how it is found."""

import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from domain.errors import InvalidInput, NotFound, Unavailable
from domain.model import CheckReceipt, CheckResult, Principal, Verdict
from domain.usecases.receipts import get_receipt, keep_receipt, new_receipt_id, receipt_id_of

ASKED = datetime(2026, 12, 7, 21, 0, tzinfo=UTC)


class MemoryStore:
    def __init__(self, broken: bool = False) -> None:
        self.kept: dict[UUID, CheckReceipt] = {}
        self.broken = broken

    async def add(self, receipt: CheckReceipt) -> None:
        if self.broken:
            raise Unavailable("the receipt could not be stored")
        self.kept[receipt.id] = receipt

    async def get(self, organization_id: UUID, receipt_id: UUID) -> CheckReceipt | None:
        found = self.kept.get(receipt_id)
        return found if found and found.organization_id == organization_id else None


def principal() -> Principal:
    return Principal(uuid4(), uuid4(), "member", "check", uuid4())


RESULT = CheckResult.of(
    True,
    [
        Verdict("2125551234", "12125551234", True, "dnc", ("default",)),
        Verdict("x", None, True, "invalid"),
    ],
    "postgres",
)


async def test_a_receipt_keeps_the_question_the_answer_and_what_it_rests_on() -> None:
    store, who, receipt_id = MemoryStore(), principal(), new_receipt_id()
    await keep_receipt(store, who, receipt_id, ASKED, b"{}", b'{"a":1}', RESULT, ("camp",), "1.0")
    kept = await get_receipt(store, who.organization_id, str(receipt_id))
    assert (kept.asked_by, kept.asked_at, kept.numbers) == (who.user_id, ASKED, 2)
    assert (kept.question, kept.answer) == (b"{}", b'{"a":1}')
    assert json.loads(kept.versions) == {
        "answeredFrom": "postgres",
        "lists": ["default", "camp"],
        "service": "1.0",
    }


async def test_a_receipt_is_found_by_its_organization_only() -> None:
    store, who, receipt_id = MemoryStore(), principal(), new_receipt_id()
    await keep_receipt(store, who, receipt_id, ASKED, b"{}", b"{}", RESULT, (), "1.0")
    with pytest.raises(NotFound):
        await get_receipt(store, uuid4(), str(receipt_id))
    with pytest.raises(NotFound):
        await get_receipt(store, who.organization_id, str(uuid4()))
    for malformed in ("", "receipt", str(receipt_id)[:-1], "9" * 500):
        with pytest.raises(InvalidInput):
            receipt_id_of(malformed)


async def test_a_receipt_that_cannot_be_kept_is_unavailable() -> None:
    with pytest.raises(Unavailable):
        await keep_receipt(
            MemoryStore(broken=True), principal(), uuid4(), ASKED, b"{}", b"{}", RESULT, (), "1"
        )
