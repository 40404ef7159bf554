"""Hosting the app under test in the harness's process, as `perdure dev` does, with the
attempts observed: which invocation each one runs (a context variable that the handler's
tasks and its `ctx.run` actions inherit), and every `ctx.run` result it proposes."""

from __future__ import annotations

import contextvars
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from perdure._version import __version__
from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.framing import FrameDecoder
from perdure.protocol.messages import MessageType, decode_message
from perdure.protocol.versions import manifest_accept_header
from perdure.sdk._clock import wall_clock
from perdure.sdk._run import run_attempt
from perdure.sdk.discovery import discover
from perdure.sdk.endpoint import Endpoint
from perdure.server.embedded import EmbeddedApp
from perdure.server.invoker.in_process import AttemptRunner, ByteStreams

HARNESS_URI = "embedded://perdure-testing/app"


class Observer(Protocol):
    """The harness, as the attempts it hosts report to it."""

    @property
    def generation(self) -> int:
        """Which server generation is current (a crash starts the next one)."""

    def wall_time(self) -> float:
        """The virtual time, in seconds since the epoch (what handlers see as now)."""

    def run_proposed(self, attempt: AttemptTrace, completion_id: int) -> None:
        """`attempt` proposes the result of the `ctx.run` with that completion id."""

    def side_effect_marked(self, attempt: AttemptTrace | None, name: str) -> None:
        """Handler code marked a side effect (`perdure.testing.side_effect`)."""


@dataclass(slots=True)
class AttemptTrace:
    """One attempt run by the harness; `invocation_id` is known once Start arrived."""

    observer: Observer
    generation: int
    service: str
    handler: str
    invocation_id: str | None = None


current_attempt: contextvars.ContextVar[AttemptTrace | None] = contextvars.ContextVar(
    "perdure_testing_attempt", default=None
)


class _ObservedIO:
    def __init__(self, io: ByteStreams, trace: AttemptTrace) -> None:
        self._io = io
        self._trace = trace
        self._inbound = FrameDecoder()
        self._outbound = FrameDecoder()

    async def receive(self) -> bytes | None:
        chunk = await self._io.receive()
        if chunk and self._trace.invocation_id is None:
            for frame in self._inbound.feed(chunk):
                if frame.type == MessageType.START:
                    _, start = decode_message(frame)
                    assert isinstance(start, pb.StartMessage)
                    self._trace.invocation_id = start.debug_id
        return chunk

    async def send(self, data: bytes) -> None:
        for frame in self._outbound.feed(data):
            if frame.type == MessageType.PROPOSE_RUN_COMPLETION:
                _, proposal = decode_message(frame)
                assert isinstance(proposal, pb.ProposeRunCompletionMessage)
                self._trace.observer.run_proposed(self._trace, proposal.result_completion_id)
        await self._io.send(data)


def observed_runner(endpoint: Endpoint, observer: Observer) -> AttemptRunner:
    async def run(
        service: str, handler: str, version: int, headers: Mapping[str, str], io: ByteStreams
    ) -> None:
        spec = endpoint.handler(service, handler)
        if spec is None:
            raise LookupError(f"the app has no handler {service}/{handler}")
        trace = AttemptTrace(observer, observer.generation, service, handler)
        # This task's context, inherited by the handler's tasks and its ctx.run actions.
        current_attempt.set(trace)
        wall_clock.set(observer.wall_time)  # sleeps and delayed sends on virtual time
        await run_attempt(spec, version, headers, _ObservedIO(io, trace))

    return run


def plain_runner(endpoint: Endpoint) -> AttemptRunner:
    """Runs attempts of `endpoint`'s handlers, unobserved (`perdure.harness`)."""

    async def run(
        service: str, handler: str, version: int, headers: Mapping[str, str], io: ByteStreams
    ) -> None:
        spec = endpoint.handler(service, handler)
        if spec is None:
            raise LookupError(f"the app has no handler {service}/{handler}")
        await run_attempt(spec, version, headers, io)

    return run


def manifest_of(endpoint: Endpoint) -> dict[str, object]:
    """The manifest `endpoint` would answer discovery with (bidi unless it forces
    request-response)."""
    reply = discover(endpoint.services, manifest_accept_header(), "2", endpoint.protocol)
    if reply.status != 200:
        raise ValueError(
            f"cannot describe the app's services: {reply.body.decode('utf-8', 'replace')}"
        )
    manifest: dict[str, object] = json.loads(reply.body)
    return manifest


def hosted_app(endpoint: Endpoint, runner: AttemptRunner) -> EmbeddedApp:
    return EmbeddedApp(HARNESS_URI, manifest_of(endpoint), runner, f"perdure/{__version__}")
