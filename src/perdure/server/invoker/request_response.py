"""One attempt in request-response mode (protocol reference §2.4, §6.1).

Write StartMessage and the whole journal, close the request body, then read the response
frames and hand them to the processor in arrival order until End, Suspension or Error.
In this mode the deployment can receive nothing after the request body, so every await on
a result that is not yet in the journal ends in a suspension and a later full replay.

httpx is fine here because the request is complete before the response is read; the bidi
mode (HTTP/2, both sides streaming) uses our own `h2` client (bidi.py, h2client.py).
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Awaitable, Callable

import httpx

from perdure.protocol.errors import ProtocolError
from perdure.protocol.framing import Frame, FrameDecoder
from perdure.protocol.identity import RequestSigner
from perdure.protocol.messages import MessageType
from perdure.protocol.versions import parse_protocol_content_type, protocol_content_type
from perdure.server.commands import AttemptFailed, AttemptPlan, Command, SdkFrames
from perdure.server.durations import DurationError, parse_duration_ms

logger = logging.getLogger(__name__)

Submit = Callable[[Command], Awaitable[object]]

_TERMINAL = {MessageType.END, MessageType.SUSPENSION, MessageType.ERROR}
_ABORT_CODE = 500


class AttemptError(Exception):
    """The attempt failed at the transport level; it is retried."""

    def __init__(self, message: str, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


def invoke_url(plan: AttemptPlan) -> httpx.URL:
    """`{uri}/invoke/{service}/{handler}`, keeping the deployment's path prefix and query."""
    base = httpx.URL(plan.uri)
    path = base.path.rstrip("/") + f"/invoke/{plan.service}/{plan.handler}"
    return base.copy_with(path=path)


def attempt_headers(
    plan: AttemptPlan, cluster_name: str, signer: RequestSigner | None
) -> dict[str, str]:
    content_type = protocol_content_type(plan.protocol_version)
    headers = {
        "content-type": content_type,
        "accept": content_type,
        "x-restate-invocation-id": plan.invocation_id,
        "x-restate-cluster-name": cluster_name,
    }
    if plan.key is not None:
        headers["x-restate-service-key"] = urllib.parse.quote(plan.key, safe="")
    headers.update(plan.additional_headers)
    if signer is not None:
        headers.update(signer.headers(f"/invoke/{plan.service}/{plan.handler}", plan.key))
    return headers


def retry_after_ms(value: str | None) -> int | None:
    """A `retry-after` header (seconds, or a duration) in ms; None if absent or bad."""
    if value is None:
        return None
    try:
        return (
            int(float(value) * 1000)
            if value.replace(".", "", 1).isdigit()
            else (parse_duration_ms(value))
        )
    except (ValueError, DurationError):
        return None


async def run_attempt(
    plan: AttemptPlan,
    client: httpx.AsyncClient,
    submit: Submit,
    *,
    cluster_name: str,
    signer: RequestSigner | None,
    max_frame_size: int,
) -> None:
    """Drive one attempt to its end; report a transport failure as `AttemptFailed`."""
    try:
        await _exchange(plan, client, submit, cluster_name, signer, max_frame_size)
    except (AttemptError, httpx.HTTPError, ProtocolError) as exc:
        retry_after = exc.retry_after_ms if isinstance(exc, AttemptError) else None
        message = str(exc) or type(exc).__name__
        await submit(
            AttemptFailed(plan.invocation_id, plan.attempt, _ABORT_CODE, message, retry_after)
        )


async def _exchange(
    plan: AttemptPlan,
    client: httpx.AsyncClient,
    submit: Submit,
    cluster_name: str,
    signer: RequestSigner | None,
    max_frame_size: int,
) -> None:
    headers = attempt_headers(plan, cluster_name, signer)
    # The read timeout bounds each wait for the deployment's next bytes: the abort timeout
    # (the request body is closed from the start in this mode).
    timeout = httpx.Timeout(30.0, read=plan.abort_timeout_ms / 1000)
    async with client.stream(
        "POST", invoke_url(plan), content=plan.body, headers=headers, timeout=timeout
    ) as resp:
        if resp.status_code != 200:
            body = (await resp.aread())[:500].decode("utf-8", "replace")
            raise AttemptError(
                f"deployment answered HTTP {resp.status_code}: {body}",
                retry_after_ms(resp.headers.get("retry-after")),
            )
        version = parse_protocol_content_type(resp.headers.get("content-type"))
        if version != plan.protocol_version:
            raise AttemptError(
                f"deployment answered content-type {resp.headers.get('content-type')!r}, "
                f"expected {protocol_content_type(plan.protocol_version)!r}"
            )
        snapshot = plan.known_entries
        decoder = FrameDecoder(max_frame_size)
        async for chunk in resp.aiter_raw():
            frames = decoder.feed(chunk)
            if not frames:
                continue
            batch: list[Frame] = []
            ended = False
            for frame in frames:
                batch.append(frame)
                if frame.type in _TERMINAL:
                    ended = True
                    break
            await submit(SdkFrames(plan.invocation_id, plan.attempt, tuple(batch), snapshot))
            if ended:
                return
        raise AttemptError("the response ended without End, Suspension or Error")
