"""The invocation engine: everything that decides what happens to an invocation.

The rest of the server (ingress, admin, invoker, the app that wires them) imports only
this package, never its modules:

- `Engine.apply(txn, command)`: one command, applied in one write transaction, gives a
  typed reply and the effects to run after the commit (`api`);
- `PartitionProcessor`: the single writer that queues commands, applies them in order
  with group commit and runs their effects after the commit (`processor`);
- `TimerService`: fires stored timers on the injected clock (`timers`);
- `ResultWaiters`: in-memory waiters for ingress callers (`waiters`);
- the commands, replies and effects (`commands`), the refusals (`errors`), the invocation
  ids (`ids`) and what a registered service looks like (`services`);
- cluster mode: an `Engine` scoped to one partition (`PartitionScope`), the messages
  between partitions and nodes (`crossing`, applied by `inbox`) and their bytes (`wire`).

Inside: `txn` (the per-command context), `lifecycle` (the status table), `invocations`
(create, attempt, retry, complete), `frames` and `calls` (what a deployment sends),
`attach`, `promises`, `signals`, `control` (operator actions), `retention`.
"""

from __future__ import annotations

from perdure.server.engine.api import Applied, Engine
from perdure.server.engine.commands import (
    CONTROL_OPERATIONS,
    AbortAttempt,
    ArmTimer,
    AttemptFailed,
    AttemptPlan,
    Cleanup,
    Command,
    CompleteSignal,
    ControlOperation,
    ControlResult,
    Effect,
    FireTimer,
    InvocationControl,
    InvocationEnded,
    Invoke,
    InvokeReply,
    NotificationCommitted,
    Recover,
    ReplaceState,
    SdkFrames,
    StartAttempt,
    StateChange,
)
from perdure.server.engine.crossing import (
    ENDED,
    UNKNOWN,
    ApplyMessage,
    PartitionScope,
    Reply,
    Routed,
    WatchResult,
)
from perdure.server.engine.errors import (
    Conflict,
    EngineError,
    InvalidRequest,
    NotFound,
    NotStarted,
)
from perdure.server.engine.ids import (
    choose_invocation_id,
    idempotent_invocation_id,
    workflow_invocation_id,
)
from perdure.server.engine.invocations import WORKFLOW_ALREADY_INVOKED
from perdure.server.engine.lifecycle import InvocationStatus
from perdure.server.engine.processor import PartitionProcessor, Submit
from perdure.server.engine.results import completed_result, expires_at, failure_result
from perdure.server.engine.services import ServiceInfo, Target
from perdure.server.engine.state_hash import state_version
from perdure.server.engine.timers import TimerService
from perdure.server.engine.waiters import ResultWaiters
from perdure.server.engine.wire import decode as decode_wire, encode as encode_wire

__all__ = [
    "CONTROL_OPERATIONS",
    "ENDED",
    "UNKNOWN",
    "WORKFLOW_ALREADY_INVOKED",
    "AbortAttempt",
    "Applied",
    "ApplyMessage",
    "ArmTimer",
    "AttemptFailed",
    "AttemptPlan",
    "Cleanup",
    "Command",
    "CompleteSignal",
    "Conflict",
    "ControlOperation",
    "ControlResult",
    "Effect",
    "Engine",
    "EngineError",
    "FireTimer",
    "InvalidRequest",
    "InvocationControl",
    "InvocationEnded",
    "InvocationStatus",
    "Invoke",
    "InvokeReply",
    "NotFound",
    "NotStarted",
    "NotificationCommitted",
    "PartitionProcessor",
    "PartitionScope",
    "Recover",
    "ReplaceState",
    "Reply",
    "ResultWaiters",
    "Routed",
    "SdkFrames",
    "ServiceInfo",
    "StartAttempt",
    "StateChange",
    "Submit",
    "Target",
    "TimerService",
    "WatchResult",
    "choose_invocation_id",
    "completed_result",
    "decode_wire",
    "encode_wire",
    "expires_at",
    "failure_result",
    "idempotent_invocation_id",
    "state_version",
    "workflow_invocation_id",
]
