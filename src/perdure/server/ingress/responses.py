"""Ingress response bodies: errors in the restate 1.7.4+ shape, invocation results."""

from __future__ import annotations

import datetime

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.manifest import OutputSpec
from perdure.server.http import Response, json_response


def ingress_error(status: int, message: str) -> Response:
    """An error of the ingress itself (bad path, unknown service, …): safe to act on."""
    return json_response(
        status,
        {"code": status, "message": message, "source": "ingress"},
        (("x-restate-error-source", "ingress"),),
    )


STORE_RETRY_AFTER_S = 1


def store_unavailable(error: Exception) -> Response:
    """503 for work the store could not take (a full or read-only disk, …): nothing of the
    request was stored, so sending it again later is safe (with its idempotency key)."""
    response = ingress_error(
        503,
        f"{error}; nothing of this request was stored: retry it later "
        "(with the same idempotency-key, if it has one)",
    )
    return Response(
        response.status,
        response.body,
        (*response.headers, ("retry-after", str(STORE_RETRY_AFTER_S))),
    )


def invocation_result(invocation_id: str, result: bytes, output: OutputSpec | None) -> Response:
    """The stored Output of an invocation as the caller sees it."""
    message = pb.OutputCommandMessage()
    message.ParseFromString(result)
    id_header = ("x-restate-id", invocation_id)
    if message.HasField("failure"):
        failure = message.failure
        status = failure.code if 100 <= failure.code <= 999 else 500
        body: dict[str, object] = {"code": failure.code, "message": failure.message}
        if failure.metadata:
            body["metadata"] = {m.key: m.value for m in failure.metadata}
        body["source"] = "invocation"
        return json_response(status, body, (id_header, ("x-restate-error-source", "invocation")))
    content = message.value.content
    headers = [id_header]
    spec = output or OutputSpec()
    if spec.content_type is not None and (content or spec.set_content_type_if_empty):
        headers.append(("content-type", spec.content_type))
    return Response(200, content, tuple(headers))


def _utc(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms // 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def execution_time(ms: int) -> str:
    """A send's `executionTime` as restate prints it (humantime: nanoseconds, `Z`)."""
    return f"{_utc(ms)}.{ms % 1000:03d}000000Z"


def expires_header(ms: int) -> str:
    """`idempotency-expires` as restate prints it (chrono's RFC 3339: `+00:00`, and the
    fraction only when there is one)."""
    fraction = f".{ms % 1000:03d}" if ms % 1000 else ""
    return f"{_utc(ms)}{fraction}+00:00"


def invocation_failure(invocation_id: str, code: int, message: str) -> Response:
    """A failure of the invocation itself (not of the ingress), e.g. attach to an unknown
    id: restate answers those as the invocation's outcome, with its id."""
    return json_response(
        code,
        {"code": code, "message": message, "source": "invocation"},
        (("x-restate-id", invocation_id), ("x-restate-error-source", "invocation")),
    )
