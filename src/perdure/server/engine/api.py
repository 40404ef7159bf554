"""`Engine.apply`: one command in, its reply and effects out, inside a write transaction.

This is the engine's single entry point (the partition processor calls it on the store's
writer); which module handles which command is decided here and nowhere else.

An engine with a `PartitionScope` (cluster mode) applies commands of that one partition:
its bulk queries see only the partition's rows, and effects on other partitions become
messages to them (`crossing`, `inbox`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from perdure.server.clock import Clock
from perdure.server.config import ServerConfig
from perdure.server.engine import (
    control,
    flow,
    frames,
    inbox,
    invocations,
    retention,
    schedules,
    signals,
    subscriptions,
    timer_kinds,
)
from perdure.server.engine.commands import (
    AttemptFailed,
    Cleanup,
    Command,
    CompleteSignal,
    Effect,
    FireTimer,
    InvocationControl,
    Invoke,
    Recover,
    ReplaceState,
    SdkFrames,
)
from perdure.server.engine.crossing import ApplyMessage, PartitionScope, scoped
from perdure.server.engine.flow_commands import DeleteLimitRules, PutLimitRule, SyncCodeLimits
from perdure.server.engine.schedule_commands import (
    BackfillSchedule,
    ControlSchedule,
    CreateSchedule,
    SyncCodeSchedules,
)
from perdure.server.engine.subscription_commands import (
    CreateSubscription,
    DeleteSubscription,
    IngestRecords,
)
from perdure.server.engine.txn import EngineTxn
from perdure.store.api import WriteTxn

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Applied(Generic[R]):
    reply: R
    effects: list[Effect]


_HANDLERS: dict[type[Any], Callable[[EngineTxn, Any], Any]] = {
    Invoke: invocations.invoke,
    SdkFrames: frames.apply_sdk_frames,
    AttemptFailed: invocations.on_attempt_failed,
    FireTimer: timer_kinds.fire_timer,
    Recover: invocations.recover,
    CompleteSignal: signals.on_complete_signal,
    InvocationControl: control.apply,
    Cleanup: retention.cleanup,
    ReplaceState: invocations.replace_state,
    CreateSchedule: schedules.create,
    ControlSchedule: schedules.control,
    BackfillSchedule: schedules.backfill,
    SyncCodeSchedules: schedules.sync_code,
    PutLimitRule: flow.put_rule,
    DeleteLimitRules: flow.delete_rules,
    SyncCodeLimits: flow.sync_code,
    CreateSubscription: subscriptions.create,
    DeleteSubscription: subscriptions.delete,
    IngestRecords: subscriptions.ingest,
}


_HANDLERS[ApplyMessage] = lambda tx, cmd: inbox.apply_message(tx, cmd, _HANDLERS)


class Engine:
    def __init__(
        self, config: ServerConfig, clock: Clock, scope: PartitionScope | None = None
    ) -> None:
        self.config = config
        self.clock = clock
        self.scope = scope

    def apply(self, txn: WriteTxn, command: Command[R]) -> Applied[R]:
        """Apply `command` in `txn` (runs on the store's writer thread). Its effects must
        run only after `txn` committed. Refusals raise `EngineError`."""
        store = txn if self.scope is None else scoped(txn, self.scope)
        tx = EngineTxn(store, self.config, self.clock.now_ms(), self.scope)
        reply: R = _HANDLERS[type(command)](tx, command)
        # What waited for an invocation that ended here: a buffered tick, a limit's queue.
        schedules.on_ended(tx)
        flow.on_ended(tx)
        return Applied(reply, tx.finish())
