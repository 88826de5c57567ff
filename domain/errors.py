"""Errors the use cases raise; the edge maps each kind to one status code."""


class DomainError(Exception):
    """A failure the caller can act on; ``message`` is safe to show them."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    """The request is malformed or a value is not acceptable (400)."""


class InvalidPhoneNumber(InvalidInput):
    """A value is not a phone number we can normalize (400 on writes)."""


class UnsupportedMediaType(InvalidInput):
    """The body is not in a format the endpoint takes (415)."""


class AlreadyListed(InvalidInput):
    """The number is already on the organization's list (400, as the vendor documents)."""


class NotFound(DomainError):
    """Nothing by that id in the caller's organization (404)."""


class Conflict(DomainError):
    """The resource already exists (409)."""


class Unauthenticated(DomainError):
    """No usable credentials (401)."""


class Forbidden(DomainError):
    """Authenticated, but the token's scope or the user's role does not allow it (403)."""


class Unavailable(DomainError):
    """A backing service needed to answer safely is unreachable (503)."""
