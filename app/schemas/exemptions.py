"""Business-relationship exemptions from the shared lists."""

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from app.schemas import enveloped
from app.schemas.fields import AwareDatetime, PhoneText
from domain.model import EXEMPTION_BASES, Exemption, ExemptionBasis

BASIS_DESCRIPTION = (
    f"One of {', '.join(EXEMPTION_BASES)}: a purchase lifts the shared lists for 18 months "
    "from since, an inquiry for 3 months, written consent until the exemption is deleted"
)
SINCE_DESCRIPTION = (
    "When the purchase, the inquiry or the consent happened (with a timezone; not in the "
    "future). Required for ebr_purchase and ebr_inquiry; for written_consent, default now"
)


class NewExemption(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """An unknown field is a 400: a misspelt ``since`` would otherwise be ignored."""

    phone_number: PhoneText
    basis: Annotated[str, Meta(max_length=32, description=BASIS_DESCRIPTION)]
    since: Annotated[AwareDatetime, Meta(description=SINCE_DESCRIPTION)] | None = None


@enveloped
class ExemptionRead(msgspec.Struct, rename="camel"):
    id: str
    phone_number: str
    basis: ExemptionBasis
    since: datetime
    lapses_at: datetime | None  # null: until deleted (written consent)
    created_at: datetime
    created_by: str | None

    @classmethod
    def of(cls, exemption: Exemption) -> "ExemptionRead":
        created_by = str(exemption.created_by) if exemption.created_by else None
        return cls(
            str(exemption.id),
            exemption.phone_number,
            exemption.basis,
            exemption.since,
            exemption.lapses_at,
            exemption.created_at,
            created_by,
        )


@enveloped
class ExemptionPageRead(msgspec.Struct):
    items: list[ExemptionRead]
    page: int
    limit: int
    total: int
