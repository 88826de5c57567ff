"""What the admins' emails say."""

from domain.model import DncEntry, Email


def dnc_added_email(
    entry: DncEntry, organization_name: str, recipient: str, idempotency_key: str
) -> Email:
    label = " ".join((entry.type or "").split()) or "unspecified"  # one line, for the subject
    lines = [
        f"A number was added to the Do-Not-Call list of {organization_name}.",
        "",
        f"Phone number:  +{entry.phone_number}",
        f"Type:          {label}",
        f"Batch:         {entry.batch_id or '-'}",
        f"Call:          {entry.request_uuid or '-'}",
        f"Recording:     {entry.call_recording or 'no recording on the call'}",
        f"Added at:      {entry.created_at.isoformat()}",
        "",
        "Transcription:",
        entry.transcription or "(no transcription on the call)",
        "",
        "Dialers of your organization will skip this number from now on.",
    ]
    return Email(
        to=recipient,
        subject=f"DNC: +{entry.phone_number} added ({label}), batch {entry.batch_id or '-'}",
        body="\n".join(lines) + "\n",
        message_id=idempotency_key,
    )
