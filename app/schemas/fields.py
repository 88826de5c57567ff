"""The constrained field types the features' messages share, and how their optional text is
read."""

from datetime import datetime
from typing import Annotated

from msgspec import Meta

Text64 = Annotated[str, Meta(max_length=64)]
Text200 = Annotated[str, Meta(max_length=200)]
Text2k = Annotated[str, Meta(max_length=2048)]
PhoneText = Annotated[str, Meta(max_length=40)]
AwareDatetime = Annotated[datetime, Meta(tz=True)]
ListId = Annotated[str, Meta(max_length=64)]  # which ids exist, the use cases say (a 400)


def trimmed(text: str | None) -> str | None:
    """``text`` without the blanks around it; None when nothing else is left."""
    return (text or "").strip() or None
