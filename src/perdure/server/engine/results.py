"""Invocation results: a serialized `OutputCommandMessage` (a value or a terminal failure),
stored once the invocation completes and handed to every caller."""

from __future__ import annotations

from perdure.protocol import protocol_pb2 as pb
from perdure.store.api import InvocationRow, InvocationStatus


def failure_result(code: int, message: str) -> bytes:
    """A stored result that is a terminal failure."""
    failure = pb.Failure(code=code, message=message)
    return pb.OutputCommandMessage(failure=failure).SerializeToString()


def completed_result(row: InvocationRow) -> bytes | None:
    """`row`'s result for a caller, or None while the invocation is in flight.

    An Output is stored when it arrives, before End: it is the result only once the
    invocation is COMPLETED (the attempt may still fail and retry, or be killed).
    """
    return row.result if row.status == InvocationStatus.COMPLETED else None


def expires_at(row: InvocationRow) -> int | None:
    """Until when a completed result can be fetched again (None: it is not retained)."""
    if row.completed_at is None or row.completion_retention_ms <= 0:
        return None
    return row.completed_at + row.completion_retention_ms


def notification_from_result(result: bytes, completion_id: int) -> pb.NotificationTemplate:
    """The notification carrying a stored result to completion `completion_id`."""
    output = pb.OutputCommandMessage()
    output.ParseFromString(result)
    notification = pb.NotificationTemplate(completion_id=completion_id)
    if output.HasField("failure"):
        notification.failure.CopyFrom(output.failure)
    else:
        notification.value.CopyFrom(output.value)
    return notification
