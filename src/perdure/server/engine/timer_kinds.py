"""`FireTimer`: which module handles a timer, by its kind (schedule ticks, rate-limit
refills, and the invocation timers: sleeps, retries, delayed sends)."""

from __future__ import annotations

from perdure.server.engine import flow, invocations, schedules
from perdure.server.engine.commands import FireTimer
from perdure.server.engine.txn import EngineTxn
from perdure.store.api import TimerKind


def fire_timer(tx: EngineTxn, cmd: FireTimer) -> None:
    timer = tx.store.get_timer(cmd.timer_id)
    if timer is None or timer.kind not in (TimerKind.SCHEDULE, TimerKind.LIMIT):
        invocations.fire_timer(tx, cmd)  # fires at most once: it deletes the row
        return
    tx.store.delete_timer(cmd.timer_id)
    if timer.kind == TimerKind.SCHEDULE:
        schedules.fire_tick(tx, timer)
    else:
        flow.fire_refill(tx, timer)
