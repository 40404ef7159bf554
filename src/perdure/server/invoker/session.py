"""One attempt as a sans-IO state machine: events in, actions out (protocol reference
§2.4, §6.1-§6.4).

Every transport (HTTP/1.1 request-response, HTTP/2 bidi, in-process) feeds the same
session with what happened (bytes received, the response head, a notification committed,
a write started or finished, time passing, the response ended) and carries out what it
answers: send bytes, end the request body, submit frames to the engine, finish, fail.
So the attempt's rules exist once:

- the request carries the StartMessage and the journal; a *streaming* attempt (bidi, or
  in-process with live notifications) keeps it open and forwards every notification
  committed after its replay, a non-streaming one ends it right away;
- frames are handed to the engine in arrival order, batched per received chunk, up to and
  including the first End, Suspension or Error; nothing after that counts. The request
  body is ended before that terminal batch is submitted (the SDKs end their response only
  after the request ended);
- the inactivity timeout restarts on every message in either direction; when it expires
  the request body is ended, which asks the handler to suspend. From then on (and from the
  start, for a non-streaming attempt) the abort timeout bounds each wait for the
  deployment's next bytes; when it expires the attempt fails (retried);
- a write the peer does not take (flow control) fails the attempt after the abort timeout
  (the first write, the journal, gets the inactivity timeout on top);
- the response head must be 200 with the negotiated protocol's content type;
- a heartbeat frame (perdure's extension, `protocol/heartbeat.py`) is activity like any
  other message, so a long step that heartbeats is never aborted; it never reaches the
  engine.

Times are seconds on any monotonic scale the driver chooses (its clock).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from perdure.protocol.framing import Frame, FrameDecoder, encode_frame
from perdure.protocol.heartbeat import HEARTBEAT_TYPE
from perdure.protocol.messages import MessageType
from perdure.protocol.versions import parse_protocol_content_type, protocol_content_type
from perdure.server.durations import DurationError, parse_duration_ms
from perdure.server.engine import AttemptPlan, NotificationCommitted, SdkFrames

TERMINAL = frozenset({MessageType.END, MessageType.SUSPENSION, MessageType.ERROR})


# ---- actions ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Write these bytes to the request body (in order, never interleaved)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class EndInput:
    """End the request body (after every earlier `Send`)."""


@dataclass(frozen=True, slots=True)
class Submit:
    """Hand these frames to the engine; await the commit before the next action."""

    frames: SdkFrames


@dataclass(frozen=True, slots=True)
class Finish:
    """The attempt ended with a terminal message: let the response run out, stop."""


@dataclass(frozen=True, slots=True)
class Fail:
    """The attempt failed outside the protocol; it is reported and retried."""

    message: str
    retry_after_ms: int | None = None


Action = Send | EndInput | Submit | Finish | Fail


class Phase(enum.Enum):
    OPEN = "open"  # the request body is open: notifications are forwarded
    CLOSED = "closed"  # the request body ended: waiting for the deployment to finish
    DONE = "done"  # finished or failed: no more events matter


# ---- the session -------------------------------------------------------------------------


class AttemptSession:
    def __init__(self, plan: AttemptPlan, max_frame_size: int, *, streaming: bool) -> None:
        self.plan = plan
        self.streaming = streaming
        self.inactivity_s = plan.inactivity_timeout_ms / 1000
        self.abort_s = plan.abort_timeout_ms / 1000
        self.phase = Phase.OPEN
        self._decoder = FrameDecoder(max_frame_size)
        self._last_activity = 0.0
        self._write_started: float | None = None
        self._write_limit = self.abort_s
        self._writes_done = 0
        self._head_checked = False

    # ---- events -------------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        """The attempt begins: send the journal (and end the body unless streaming)."""
        self._last_activity = now
        actions: list[Action] = [Send(self.plan.body)]
        if not self.streaming:
            actions.extend(self._end_input())
        return actions

    def head(
        self, now: float, status: int, headers: dict[str, str], error_body: bytes = b""
    ) -> list[Action]:
        """The response head (`error_body`: the start of the body, for a non-200)."""
        if self.phase is Phase.DONE:
            return []
        self._head_checked = True
        if status != 200:
            text = error_body[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
            return self._fail(
                f"deployment answered HTTP {status}: {text}",
                retry_after_ms(headers.get("retry-after")),
            )
        content_type = headers.get("content-type")
        if parse_protocol_content_type(content_type) != self.plan.protocol_version:
            expected = protocol_content_type(self.plan.protocol_version)
            return self._fail(
                f"deployment answered content-type {content_type!r}, expected {expected!r}"
            )
        return []

    def received(self, now: float, chunk: bytes) -> list[Action]:
        """Response bytes arrived."""
        if self.phase is Phase.DONE:
            return []
        self._last_activity = now
        frames, error = self._decoder.feed_until_error(chunk)
        batch: list[Frame] = []
        ended = False
        for frame in frames:
            if frame.type == HEARTBEAT_TYPE:
                continue  # activity only (counted above)
            batch.append(frame)
            if frame.type in TERMINAL:
                ended = True
                break
        if error is not None and not ended:
            # Junk *after* a terminal message does not count; before one it fails the attempt.
            return self._fail(str(error) or type(error).__name__)
        if not batch:
            return []
        plan = self.plan
        submit = Submit(
            SdkFrames(plan.invocation_id, plan.attempt, tuple(batch), plan.known_entries)
        )
        if not ended:
            return [submit]
        actions: list[Action] = [*self._end_input(), submit, Finish()]
        self.phase = Phase.DONE
        return actions

    def response_ended(self, now: float) -> list[Action]:
        """The response ended (without a terminal message, if the session is not done)."""
        if self.phase is Phase.DONE:
            return []
        if self._decoder.pending:
            return self._fail(
                f"the response ended in the middle of a frame ({self._decoder.pending} bytes "
                "of it arrived)"
            )
        return self._fail("the response ended without End, Suspension or Error")

    def notification(self, now: float, effect: NotificationCommitted) -> list[Action]:
        """A notification for this attempt was committed: forward it while the body is open
        (later ones reach the handler by replay in its next attempt)."""
        if self.phase is not Phase.OPEN:
            return []
        self._last_activity = now
        return [Send(encode_frame(effect.entry_type, effect.payload))]

    def write_started(self, now: float) -> None:
        self._write_started = now
        # The journal may be big and the peer slow to start reading: give it both budgets.
        first = self._writes_done == 0
        self._write_limit = self.inactivity_s + self.abort_s if first else self.abort_s

    def write_finished(self, now: float) -> None:
        self._write_started = None
        self._writes_done += 1
        self._last_activity = now

    def timer_due(self, now: float) -> list[Action]:
        """Time passed: act on whichever timeout expired (call at `deadline()` or later)."""
        if self.phase is Phase.DONE:
            return []
        if self._write_started is not None and now - self._write_started >= self._write_limit:
            return self._fail(
                f"the deployment took no request bytes for {self._write_limit:g}s (flow control)"
            )
        idle = now - self._last_activity
        if self.phase is Phase.OPEN and idle >= self.inactivity_s:
            self._last_activity = now
            return self._end_input()
        if self.phase is Phase.CLOSED and idle >= self.abort_s:
            return self._fail(
                f"no message from the deployment for {self.abort_s:g}s after the request "
                "body was closed (abort timeout)"
            )
        return []

    def deadline(self) -> float | None:
        """When `timer_due` must be called next (None: nothing is timed)."""
        if self.phase is Phase.DONE:
            return None
        limit = self.inactivity_s if self.phase is Phase.OPEN else self.abort_s
        due = self._last_activity + limit
        if self._write_started is not None:
            due = min(due, self._write_started + self._write_limit)
        return due

    # ---- helpers ----------------------------------------------------------------------------

    @property
    def head_checked(self) -> bool:
        return self._head_checked

    def _end_input(self) -> list[Action]:
        if self.phase is not Phase.OPEN:
            return []
        self.phase = Phase.CLOSED
        return [EndInput()]

    def _fail(self, message: str, retry_after: int | None = None) -> list[Action]:
        self.phase = Phase.DONE
        return [Fail(message, retry_after)]


ERROR_BODY_LIMIT = 500


def retry_after_ms(value: str | None) -> int | None:
    """A `retry-after` header (seconds, or a duration) in ms; None if absent or bad."""
    if value is None:
        return None
    try:
        if value.replace(".", "", 1).isdigit():
            return int(float(value) * 1000)
        return parse_duration_ms(value)
    except (ValueError, DurationError):
        return None
