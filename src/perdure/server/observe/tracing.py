"""OpenTelemetry traces of invocations and their attempts.

    invocation Service/handler     from its creation to its end, over every attempt
      attempt Service/handler      one per attempt; the journal entries it produced (and
                                   the notifications it was sent) are its span events

Fed like the metrics (metrics.py), never inside the engine's transactions: the effects
after a commit (an attempt started or was aborted, a notification committed, the
invocation ended) and the commands the invoker submits (the frames an attempt sent, a
failed attempt). The server only creates spans when `OTEL_*` configures an exporter
(trace_config.py); otherwise `Components` has no `ServerTracing` at all, and OpenTelemetry
is not even imported.

Parents, so that one trace holds an invocation's whole story, across restarts:

- an invocation's span has the `traceparent` of its Input entry's headers as parent: what
  the ingress caller sent, or, for a call or send from a handler, the calling attempt's
  span (the server adds it to the frames it submits, `SdkFrames.call_headers`, and the
  engine stores it with the child's Input). Without one, it starts a trace;
- its span id (and the trace id of a trace it starts) derive from the invocation id, so
  every attempt, also after a restart, points at the same span. The span object lives
  while an attempt runs and is made again (same id, same start) for the next one; it is
  exported once, when the invocation ends;
- an attempt's span is a child of its invocation's; the deployment gets it as the
  `traceparent` header of the attempt's request, so the handler's own spans (perdure's
  SDK makes them with `perdure[otel]`) are its children.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.framing import HEADER_SIZE, decode_header
from perdure.protocol.messages import MessageType, decode_payload
from perdure.server.engine import (
    AbortAttempt,
    AttemptFailed,
    AttemptPlan,
    Effect,
    InvocationEnded,
    NotificationCommitted,
    SdkFrames,
    StartAttempt,
)
from perdure.server.observe.otel import ChosenIds, tracer_provider
from perdure.server.observe.trace_config import Exporter
from perdure.store.api import InvocationRow, ReadTxn, Store

logger = logging.getLogger(__name__)

_PROPAGATOR = TraceContextTextMapPropagator()
_TRACE_HEADERS = ("traceparent", "tracestate")
_CALLS = (MessageType.CALL, MessageType.ONE_WAY_CALL)
Attributes = dict[str, AttributeValue]
Headers = tuple[tuple[str, str], ...]


def invocation_span_ids(invocation_id: str) -> tuple[int, int]:
    """(span id, trace id) of an invocation's span: the same on every node and restart."""
    digest = hashlib.sha256(invocation_id.encode()).digest()
    return int.from_bytes(digest[:8]) or 1, int.from_bytes(digest[8:24]) or 1


def trace_parent(headers: Iterable[tuple[str, str]]) -> Context | None:
    """The W3C trace context in `headers` (an Input entry's), None when there is none."""
    carrier = {k.lower(): v for k, v in headers if k.lower() in _TRACE_HEADERS}
    if "traceparent" not in carrier:
        return None
    context = _PROPAGATOR.extract(carrier)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def input_headers(body: bytes) -> Headers:
    """The headers of the Input entry in an attempt's body (StartMessage, then the journal,
    Input first), decoding only those two frames."""
    offset = 0
    for _ in range(2):
        if len(body) < offset + HEADER_SIZE:
            return ()
        message_type, _flags, length = decode_header(body[offset : offset + HEADER_SIZE])
        payload = body[offset + HEADER_SIZE : offset + HEADER_SIZE + length]
        offset += HEADER_SIZE + length
    if message_type != MessageType.INPUT:
        return ()
    message = pb.InputCommandMessage.FromString(payload)
    return tuple((h.key, h.value) for h in message.headers)


@dataclass(slots=True)
class _Attempt:
    number: int
    span: Span
    headers: dict[str, str]  # the span's traceparent (and tracestate), for the deployment


@dataclass(slots=True)
class _Invocation:
    span: Span
    target: str
    attempt: _Attempt | None = None


class ServerTracing:
    def __init__(
        self, provider: TracerProvider, ids: ChosenIds, store: Store, now_ns: Callable[[], int]
    ) -> None:
        self._provider = provider
        self._tracer = provider.get_tracer("perdure.server")
        self._ids = ids
        self._store = store
        self._now_ns = now_ns
        self._invocations: dict[str, _Invocation] = {}  # those with an attempt running
        self._reads: set[asyncio.Task[None]] = set()

    @classmethod
    def create(cls, exporter: Exporter, store: Store, now_ns: Callable[[], int]) -> ServerTracing:
        """Tracing to `exporter`, further configured by the `OTEL_*` variables."""
        ids = ChosenIds()
        provider = tracer_provider(exporter, "perdure-server", id_generator=ids)
        return cls(provider, ids, store, now_ns)

    # ---- hooks ---------------------------------------------------------------------------

    def effect(self, effect: Effect) -> None:
        """After the commit that produced `effect` (never raises: tracing must not fail
        the server's work)."""
        try:
            if isinstance(effect, StartAttempt):
                self._attempt_started(effect.plan)
            elif isinstance(effect, NotificationCommitted):
                self._notification(effect)
            elif isinstance(effect, AbortAttempt):
                self._end_attempt(effect.invocation_id, effect.attempt, "aborted")
                # Paused, or killed (then this commit's InvocationEnded ends the span):
                # once every effect of the commit ran, forget an invocation left idle.
                loop = asyncio.get_running_loop()
                loop.call_soon(self._forget_if_idle, effect.invocation_id)
            elif isinstance(effect, InvocationEnded):
                self._invocation_ended(effect)
        except Exception:
            logger.exception("tracing %s failed", type(effect).__name__)

    def submitted(self, command: SdkFrames | AttemptFailed) -> SdkFrames | AttemptFailed:
        """A command the invoker submits about an attempt: its frames become span events
        (a terminal one ends the span); the invocations they call get its trace context."""
        try:
            if isinstance(command, AttemptFailed):
                status = Status(StatusCode.ERROR, command.message)
                self._end_attempt(command.invocation_id, command.attempt, "failed", status)
                return command
            running = self._attempt(command.invocation_id, command.attempt)
            if running is None:
                return command
            calls = self._frames(command, running)
            if calls:
                call_headers = tuple(running.headers.items())
                return replace(command, call_headers=call_headers)
        except Exception:
            logger.exception("tracing the frames of %s failed", command.invocation_id)
        return command

    def settled(self, command: SdkFrames | AttemptFailed) -> None:
        """After the command committed (and its effects ran): an invocation left with no
        attempt running (suspended, backing off) drops its span, unexported; its next
        attempt makes it again."""
        self._forget_if_idle(command.invocation_id)

    def _forget_if_idle(self, invocation_id: str) -> None:
        invocation = self._invocations.get(invocation_id)
        if invocation is not None and invocation.attempt is None:
            del self._invocations[invocation_id]

    def attempt_headers(self, plan: AttemptPlan) -> dict[str, str]:
        """The trace context headers the attempt's request carries to the deployment."""
        running = self._attempt(plan.invocation_id, plan.attempt)
        return dict(running.headers) if running is not None else {}

    async def shutdown(self) -> None:
        """End the attempts still running (the server stops them) and flush every span."""
        for invocation_id, invocation in list(self._invocations.items()):
            if invocation.attempt is not None:
                self._end_attempt(invocation_id, invocation.attempt.number, "server stopped")
        self._invocations.clear()
        for read in list(self._reads):
            read.cancel()
        await asyncio.to_thread(self._provider.shutdown)

    # ---- spans ---------------------------------------------------------------------------

    def _attempt(self, invocation_id: str, number: int) -> _Attempt | None:
        invocation = self._invocations.get(invocation_id)
        if invocation is None or invocation.attempt is None:
            return None
        return invocation.attempt if invocation.attempt.number == number else None

    def _open_invocation(
        self,
        invocation_id: str,
        service: str,
        handler: str,
        key: str | None,
        created_at_ms: int,
        headers: Iterable[tuple[str, str]],
    ) -> _Invocation:
        target = f"{service}/{key}/{handler}" if key is not None else f"{service}/{handler}"
        attributes: Attributes = {
            "restate.invocation.id": invocation_id,
            "restate.invocation.target": target,
            "rpc.service": service,
            "rpc.method": handler,
        }
        span_id, trace_id = invocation_span_ids(invocation_id)
        with self._ids.choose(span_id, trace_id):
            span = self._tracer.start_span(
                f"invocation {service}/{handler}",
                context=trace_parent(headers) or Context(),
                kind=SpanKind.SERVER,
                attributes=attributes,
                start_time=created_at_ms * 1_000_000,
            )
        return _Invocation(span, target)

    def _attempt_started(self, plan: AttemptPlan) -> None:
        invocation = self._invocations.get(plan.invocation_id)
        if invocation is None:
            invocation = self._open_invocation(
                plan.invocation_id,
                plan.service,
                plan.handler,
                plan.key,
                plan.created_at,
                input_headers(plan.body),
            )
            self._invocations[plan.invocation_id] = invocation
        elif invocation.attempt is not None:
            self._end_attempt(plan.invocation_id, invocation.attempt.number, "superseded")
        span = self._tracer.start_span(
            f"attempt {plan.service}/{plan.handler}",
            context=trace.set_span_in_context(invocation.span),
            kind=SpanKind.CLIENT,
            attributes={
                "restate.invocation.id": plan.invocation_id,
                "restate.invocation.target": invocation.target,
                "restate.invocation.attempt": plan.attempt,
                "restate.deployment.id": plan.deployment_id,
                "restate.journal.replayed_entries": plan.known_entries,
            },
            start_time=self._now_ns(),
        )
        headers: dict[str, str] = {}
        _PROPAGATOR.inject(headers, context=trace.set_span_in_context(span))
        invocation.attempt = _Attempt(plan.attempt, span, headers)

    def _end_attempt(
        self, invocation_id: str, number: int, outcome: str, status: Status | None = None
    ) -> None:
        invocation = self._invocations.get(invocation_id)
        if invocation is None or invocation.attempt is None:
            return
        if invocation.attempt.number != number:
            return
        span = invocation.attempt.span
        invocation.attempt = None
        span.set_attribute("restate.attempt.outcome", outcome)
        if status is not None:
            span.set_status(status)
        elif outcome == "aborted":
            span.set_status(Status(StatusCode.ERROR, "the attempt was aborted"))
        span.end(end_time=self._now_ns())

    def _frames(self, command: SdkFrames, running: _Attempt) -> bool:
        """Record each frame on the attempt's span; True if one calls or sends."""
        calls = False
        now = self._now_ns()
        for frame in command.frames:
            try:
                message_type = MessageType(frame.type)
                message = decode_payload(message_type, frame.payload)
            except Exception:
                continue  # the engine refuses it and fails the attempt
            if message_type in _CALLS:
                calls = True
            if message_type.is_command:
                running.span.add_event(message_type.entry_label, _entry(message), now)
            elif isinstance(message, pb.ProposeRunCompletionMessage):
                attributes: Attributes = {
                    "restate.journal.completion_id": message.result_completion_id
                }
                running.span.add_event(message_type.entry_label, attributes, now)
            elif message_type == MessageType.END:
                self._end_attempt(command.invocation_id, command.attempt, "ended")
            elif isinstance(message, pb.SuspensionMessage):
                self._end_attempt(command.invocation_id, command.attempt, "suspended")
            elif isinstance(message, pb.ErrorMessage):
                error = Status(StatusCode.ERROR, message.message or f"error {message.code}")
                running.span.set_attribute("restate.error.code", message.code)
                self._end_attempt(command.invocation_id, command.attempt, "error", error)
        return calls

    def _notification(self, effect: NotificationCommitted) -> None:
        running = self._attempt(effect.invocation_id, effect.attempt)
        if running is None:
            return
        try:
            label = MessageType(effect.entry_type).entry_label
        except ValueError:
            label = f"Notification: {effect.entry_type:#06x}"
        attributes: Attributes = {"restate.journal.index": effect.index}
        running.span.add_event(label, attributes, self._now_ns())

    def _invocation_ended(self, effect: InvocationEnded) -> None:
        invocation = self._invocations.get(effect.invocation_id)
        if invocation is not None:
            if invocation.attempt is not None:  # killed while it ran
                self._end_attempt(effect.invocation_id, invocation.attempt.number, "aborted")
            del self._invocations[effect.invocation_id]
            _end_invocation(invocation.span, effect.result, self._now_ns())
            return
        # Ended with no attempt running here (killed while suspended or waiting, or
        # before this server's first attempt of it): make its span from the store.
        read = asyncio.get_running_loop().create_task(self._end_from_store(effect))
        self._reads.add(read)
        read.add_done_callback(self._reads.discard)

    async def _end_from_store(self, effect: InvocationEnded) -> None:
        invocation_id = effect.invocation_id

        def read(txn: ReadTxn) -> tuple[InvocationRow, Headers] | None:
            row = txn.get_invocation(invocation_id)
            if row is None:
                return None
            journal = txn.read_journal(invocation_id)
            headers: Headers = ()
            if journal and journal[0].type == MessageType.INPUT:
                message = pb.InputCommandMessage.FromString(journal[0].payload)
                headers = tuple((h.key, h.value) for h in message.headers)
            return row, headers

        try:
            found = await self._store.read(read)
        except Exception:
            logger.exception("cannot read invocation %s to trace its end", invocation_id)
            return
        if found is None:
            return  # purged with its end: nothing left to say when it began
        row, headers = found
        invocation = self._open_invocation(
            invocation_id, row.service, row.handler, row.key, row.created_at, headers
        )
        _end_invocation(invocation.span, effect.result, self._now_ns())


def _entry(message: object) -> Attributes:
    """What a span event tells of a command: its name, and where a call goes."""
    attributes: Attributes = {}
    name = getattr(message, "name", "")
    if name:
        attributes["restate.journal.name"] = name
    if isinstance(message, pb.CallCommandMessage | pb.OneWayCallCommandMessage):
        target = [message.service_name, message.key, message.handler_name]
        attributes["restate.call.target"] = "/".join(part for part in target if part)
    return attributes


def _end_invocation(span: Span, result: bytes, end_ns: int) -> None:
    output = pb.OutputCommandMessage.FromString(result)
    if output.HasField("failure"):
        failure = output.failure
        span.set_attribute("restate.invocation.result", "failure")
        span.set_status(Status(StatusCode.ERROR, f"[{failure.code}] {failure.message}"))
    else:
        span.set_attribute("restate.invocation.result", "success")
    span.end(end_time=end_ns)
