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
`attach`, `promises`, `signals`, `control` (operator actions), `retention`, `schedules`
(cron ticks; `cron`, `schedule_commands`), `flow_gate` and `flow` (concurrency and rate
limits, priority; `flow_commands`), `subscriptions` (Kafka records become invocations;
`subscription_commands`), `timer_kinds` (which module fires which timer).
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
    Unsupported,
)
from perdure.server.engine.flow_commands import DeleteLimitRules, PutLimitRule, SyncCodeLimits
from perdure.server.engine.ids import (
    choose_invocation_id,
    idempotent_invocation_id,
    workflow_invocation_id,
)
from perdure.server.engine.invocations import WORKFLOW_ALREADY_INVOKED
from perdure.server.engine.lifecycle import InvocationStatus
from perdure.server.engine.processor import PartitionProcessor, Submit
from perdure.server.engine.results import completed_result, expires_at, failure_result
from perdure.server.engine.schedule_commands import (
    CATCH_UPS,
    OVERLAPS,
    BackfillSchedule,
    ControlSchedule,
    CreateSchedule,
    ScheduleSpec,
    SyncCodeSchedules,
)
from perdure.server.engine.schedules import METADATA_KEY as SCHEDULES_METADATA_KEY
from perdure.server.engine.services import ServiceInfo, Target
from perdure.server.engine.state_hash import state_version
from perdure.server.engine.subscription_commands import (
    CreateSubscription,
    DeleteSubscription,
    IngestRecords,
    KafkaRecord,
)
from perdure.server.engine.subscriptions import parse_sink, parse_source
from perdure.server.engine.timers import TimerService
from perdure.server.engine.waiters import ResultWaiters
from perdure.server.engine.wire import decode as decode_wire, encode as encode_wire

__all__ = [
    "CATCH_UPS",
    "CONTROL_OPERATIONS",
    "ENDED",
    "OVERLAPS",
    "SCHEDULES_METADATA_KEY",
    "UNKNOWN",
    "WORKFLOW_ALREADY_INVOKED",
    "AbortAttempt",
    "Applied",
    "ApplyMessage",
    "ArmTimer",
    "AttemptFailed",
    "AttemptPlan",
    "BackfillSchedule",
    "Cleanup",
    "Command",
    "CompleteSignal",
    "Conflict",
    "ControlOperation",
    "ControlResult",
    "ControlSchedule",
    "CreateSchedule",
    "CreateSubscription",
    "DeleteLimitRules",
    "DeleteSubscription",
    "Effect",
    "Engine",
    "EngineError",
    "FireTimer",
    "IngestRecords",
    "InvalidRequest",
    "InvocationControl",
    "InvocationEnded",
    "InvocationStatus",
    "Invoke",
    "InvokeReply",
    "KafkaRecord",
    "NotFound",
    "NotStarted",
    "NotificationCommitted",
    "PartitionProcessor",
    "PartitionScope",
    "PutLimitRule",
    "Recover",
    "ReplaceState",
    "Reply",
    "ResultWaiters",
    "Routed",
    "ScheduleSpec",
    "SdkFrames",
    "ServiceInfo",
    "StartAttempt",
    "StateChange",
    "Submit",
    "SyncCodeLimits",
    "SyncCodeSchedules",
    "Target",
    "TimerService",
    "Unsupported",
    "WatchResult",
    "choose_invocation_id",
    "completed_result",
    "decode_wire",
    "encode_wire",
    "expires_at",
    "failure_result",
    "idempotent_invocation_id",
    "parse_sink",
    "parse_source",
    "state_version",
    "workflow_invocation_id",
]
