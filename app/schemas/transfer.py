"""CSV import and export."""

import msgspec

from app.schemas import enveloped


class ImportLineError(msgspec.Struct):
    line: int
    error: str


@enveloped
class ImportOut(msgspec.Struct, rename="camel"):
    import_id: str
    status: str
    rows: int
    processed: int
    added: int
    duplicate: int
    invalid: int
    errors: list[ImportLineError]
    job_id: str | None = None
    failure: str | None = None
