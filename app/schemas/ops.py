"""Liveness and readiness."""

import msgspec

from app.schemas import enveloped


@enveloped
class Health(msgspec.Struct):
    status: str


@enveloped
class Readiness(msgspec.Struct):
    postgres: bool
    redis: bool
