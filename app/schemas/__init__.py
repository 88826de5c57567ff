"""Request and response messages (msgspec), named as the contract names them: one module per
feature, as ``app.routes`` has them, and ``fields`` for the field types they share. Import a
message from its feature's module.

The OpenAPI document names the envelope of a response after the full path of its data's type
(``DataEnvelope_app.schemas.EntryRead_``, as Litestar derives it from ``__module__``). Those
names are what client generators build their types from, and they are older than the feature
modules, so each type sent in an envelope is marked :func:`enveloped`, which keeps it named
as it always was.
"""

from typing import TypeVar

T = TypeVar("T", bound=type)


def enveloped(cls: T) -> T:
    """``cls``, named ``app.schemas.<name>`` in the OpenAPI document's component names."""
    cls.__module__ = __name__
    return cls
