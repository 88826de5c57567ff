"""``GET /api/me``."""

import msgspec

from app.schemas import enveloped


class OrganizationRef(msgspec.Struct):
    id: str
    name: str


class UserRef(msgspec.Struct):
    id: str
    email: str
    role: str


@enveloped
class MeRead(msgspec.Struct):
    organization: OrganizationRef
    user: UserRef
    scope: str
