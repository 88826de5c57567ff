from typing import Any

from tests.helpers import Client, Org, body

RECORDING = "https://recordings.example.test/calls/r-1.mp3"
TRANSCRIPT = "Agent: Hello... Customer: Please don't call me again."


async def seed_call(
    client: Client,
    org: Org,
    batch_id: str = "batch-1",
    request_uuid: str = "req-1",
    phone: str = "+1 (212) 555-1234",
    **extra: Any,
) -> None:
    """Create the batch (if new) and record one call in it, as a platform would."""
    response = await client.post("/api/batches", json={"batchId": batch_id}, headers=org.headers)
    assert response.status_code in (201, 409), body(response)
    call = {
        "requestUUID": request_uuid,
        "phoneNumber": phone,
        "recordingUrl": RECORDING,
        "transcription": TRANSCRIPT,
        **extra,
    }
    response = await client.post(f"/api/batches/{batch_id}/calls", json=call, headers=org.headers)
    assert response.status_code == 201, body(response)


def add_body(
    phone: str = "2125551234", batch_id: str = "batch-1", request_uuid: str = "req-1", **extra: Any
) -> dict[str, Any]:
    return {"phoneNumber": phone, "batchId": batch_id, "requestUUID": request_uuid, **extra}
