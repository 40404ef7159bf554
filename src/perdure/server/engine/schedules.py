"""Cron schedules: each tick invokes a handler exactly once, even across crashes.

A schedule's next tick is a timer (kind `schedule`). Firing it is one command: the tick's
invocation is created, the schedule row moves on and the next tick's timer is stored, all
in one transaction, so a crash leaves either all of it or none (the timer then fires again
after the restart). The tick's invocation id is derived from (schedule, tick time) through
an idempotency key, so even a tick handled twice would be the same invocation.

When the timer fires late (the server was down), every tick since the last handled one is
due, and the catch-up policy decides which run: `all` of them, only the `latest`, or
(`skip`) only those at most `GRACE_MS` late. The overlap policy decides what a tick does
while the previous tick's invocation still runs: `allow` another, `skip` this tick, or
`buffer_one`: run it once the previous one ended (a newer tick replaces a buffered one).
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import replace

from perdure.server.engine.commands import InvocationEnded
from perdure.server.engine.cron import Cron, iso
from perdure.server.engine.errors import Conflict, InvalidRequest, NotFound
from perdure.server.engine.ids import choose_invocation_id
from perdure.server.engine.invocations import create_invocation
from perdure.server.engine.lifecycle import InvocationStatus as S
from perdure.server.engine.schedule_commands import (
    CATCH_UPS,
    OVERLAPS,
    BackfillSchedule,
    ControlSchedule,
    CreateSchedule,
    ScheduleSpec,
    SyncCodeSchedules,
)
from perdure.server.engine.services import ServiceInfo
from perdure.server.engine.txn import EngineTxn
from perdure.store.api import ScheduleRow, TimerKind, TimerRow

logger = logging.getLogger(__name__)

GRACE_MS = 1_000  # catch-up "skip": a tick this late still runs; a later one was missed
MAX_TICKS_PER_COMMAND = 500  # more due ticks continue in the next command (timer due now)
MAX_BACKFILL = 10_000
METADATA_KEY = "perdure.schedules"  # handler metadata in the manifest: code schedules
SCHEDULE_HEADER = "x-perdure-schedule"
TICK_HEADER = "x-perdure-schedule-tick"
_TIMER_PREFIX = "schedule:"
_IDEMPOTENCY_PREFIX = "schedule/"


# ---- creating and changing schedules --------------------------------------------------


def create(tx: EngineTxn, cmd: CreateSchedule) -> ScheduleRow:
    if tx.store.get_schedule(cmd.spec.name) is not None:
        raise Conflict(f"schedule '{cmd.spec.name}' exists; delete it first to change it")
    return _insert(tx, cmd.spec, "api")


def _insert(tx: EngineTxn, spec: ScheduleSpec, source: str) -> ScheduleRow:
    cron = _validate(tx, spec)
    row = ScheduleRow(
        name=spec.name,
        cron=spec.cron,
        timezone=spec.timezone,
        service=spec.service,
        handler=spec.handler,
        key=spec.key,
        argument=spec.argument,
        overlap=spec.overlap,
        catch_up=spec.catch_up,
        source=source,
        created_at=tx.now,
        modified_at=tx.now,
    )
    return _arm(tx, row, cron.next_after(tx.now))


def _validate(tx: EngineTxn, spec: ScheduleSpec) -> Cron:
    if not spec.name or "/" in spec.name:
        raise InvalidRequest("a schedule needs a name without '/'")
    if spec.overlap not in OVERLAPS:
        raise InvalidRequest(f"overlap must be one of {', '.join(OVERLAPS)}")
    if spec.catch_up not in CATCH_UPS:
        raise InvalidRequest(f"catch_up must be one of {', '.join(CATCH_UPS)}")
    target = tx.resolve_target(spec.service, spec.handler)
    if target.keyed and not spec.key:
        raise InvalidRequest(f"{spec.service} is keyed: the schedule needs a key")
    if not target.keyed and spec.key:
        raise InvalidRequest(f"{spec.service} is a service: a schedule for it has no key")
    return Cron.parse(spec.cron, spec.timezone)


def _arm(tx: EngineTxn, row: ScheduleRow, due: int | None) -> ScheduleRow:
    """Store `row` waiting for the tick at `due` (its old timer dropped)."""
    if row.timer_id is not None:
        tx.store.delete_timer(row.timer_id)
    timer_id = None
    if due is not None and not row.paused:
        timer_id = tx.add_timer(
            TimerRow(None, due, _TIMER_PREFIX + row.name, TimerKind.SCHEDULE)
        ).id
    row = replace(
        row,
        next_fire_at=due if timer_id is not None else None,
        timer_id=timer_id,
        modified_at=tx.now,
    )
    tx.store.put_schedule(row)
    return row


def control(tx: EngineTxn, cmd: ControlSchedule) -> ScheduleRow | str | None:
    row = _get(tx, cmd.name)
    if cmd.operation == "delete":
        if row.timer_id is not None:
            tx.store.delete_timer(row.timer_id)
        tx.store.delete_schedule(row.name)
        return None
    if cmd.operation == "pause":
        return _arm(tx, replace(row, paused=True), None)
    if cmd.operation == "resume":
        # Ticks while paused are not caught up: the schedule goes on from now.
        cron = Cron.parse(row.cron, row.timezone)
        return _arm(tx, replace(row, paused=False, last_fire_at=tx.now), cron.next_after(tx.now))
    invocation_id, _ = _invoke_tick(tx, row, tx.now, manual=True)
    if invocation_id is None:
        raise NotFound(f"the target of schedule '{row.name}' is not registered")
    tx.store.put_schedule(replace(row, last_invocation_id=invocation_id, modified_at=tx.now))
    return invocation_id


def backfill(tx: EngineTxn, cmd: BackfillSchedule) -> list[str]:
    row = _get(tx, cmd.name)
    if cmd.to_ms < cmd.from_ms:
        raise InvalidRequest("backfill: FROM must not be after TO")
    ticks = Cron.parse(row.cron, row.timezone).ticks(cmd.from_ms - 1, cmd.to_ms, MAX_BACKFILL + 1)
    if len(ticks) > MAX_BACKFILL:
        raise InvalidRequest(f"backfill: more than {MAX_BACKFILL} ticks in that range")
    started: list[str] = []
    for tick in ticks:
        invocation_id, created = _invoke_tick(tx, row, tick)
        if invocation_id is None:
            raise NotFound(f"the target of schedule '{row.name}' is not registered")
        if created:
            started.append(invocation_id)
            row = replace(row, last_invocation_id=invocation_id, fired=row.fired + 1)
    tx.store.put_schedule(replace(row, modified_at=tx.now))
    return started


def _get(tx: EngineTxn, name: str) -> ScheduleRow:
    row = tx.store.get_schedule(name)
    if row is None:
        raise NotFound(f"schedule '{name}' not found")
    return row


# ---- code schedules -----------------------------------------------------------------------


def sync_code(tx: EngineTxn, cmd: SyncCodeSchedules) -> int:
    """Create, change or drop code schedules to match the manifests; keep the progress
    (last tick, counters) of those whose definition did not change."""
    declared: dict[str, ScheduleSpec] = {}
    for service in tx.store.list_services():
        for spec in declared_schedules(ServiceInfo.from_row(service)):
            declared.setdefault(spec.name, spec)
    changed = 0
    for row in tx.store.list_schedules():
        if row.source == "code" and row.name not in declared:
            control(tx, ControlSchedule("delete", row.name))
            changed += 1
    for name, spec in declared.items():
        existing = tx.store.get_schedule(name)
        if existing is not None and existing.source != "code":
            logger.warning("code schedule %s ignored: an API schedule has that name", name)
            continue
        if existing is not None and _spec_of(existing) == spec:
            continue
        try:
            if existing is None:
                _insert(tx, spec, "code")
            else:
                cron = _validate(tx, spec)
                row = _with_spec(existing, spec)
                due = existing.next_fire_at
                if (spec.cron, spec.timezone) != (existing.cron, existing.timezone):
                    due = cron.next_after(tx.now)
                _arm(tx, row, due)
        except (InvalidRequest, NotFound) as exc:
            logger.warning("code schedule %s ignored: %s", name, exc.message)
            continue
        changed += 1
    return changed


def declared_schedules(info: ServiceInfo) -> list[ScheduleSpec]:
    """The schedules a service's manifest declares (handler metadata `perdure.schedules`)."""
    out: list[ScheduleSpec] = []
    for handler in info.manifest.handlers:
        text = (handler.options.metadata or {}).get(METADATA_KEY)
        if not text:
            continue
        try:
            for item in json.loads(text):
                out.append(
                    ScheduleSpec(
                        name=str(item["name"]),
                        cron=str(item["cron"]),
                        service=info.name,
                        handler=handler.name,
                        key=item.get("key"),
                        argument=base64.b64decode(item.get("argument", "")),
                        timezone=str(item.get("timezone", "UTC")),
                        overlap=item.get("overlap", "skip"),
                        catch_up=item.get("catchUp", "skip"),
                    )
                )
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning(
                "bad %s metadata on %s/%s: %s", METADATA_KEY, info.name, handler.name, exc
            )
    return out


def _spec_of(row: ScheduleRow) -> ScheduleSpec:
    return ScheduleSpec(
        row.name,
        row.cron,
        row.service,
        row.handler,
        row.key,
        row.argument,
        row.timezone,
        row.overlap,  # type: ignore[arg-type]
        row.catch_up,  # type: ignore[arg-type]
    )


def _with_spec(row: ScheduleRow, spec: ScheduleSpec) -> ScheduleRow:
    return replace(
        row,
        cron=spec.cron,
        timezone=spec.timezone,
        service=spec.service,
        handler=spec.handler,
        key=spec.key,
        argument=spec.argument,
        overlap=spec.overlap,
        catch_up=spec.catch_up,
    )


# ---- ticks ------------------------------------------------------------------------------------


def fire_tick(tx: EngineTxn, timer: TimerRow) -> None:
    """A schedule's timer fired: handle every tick due since (catch-up, overlap)."""
    row = tx.store.get_schedule(timer.invocation_id.removeprefix(_TIMER_PREFIX))
    if row is None or row.paused or row.timer_id != timer.id or row.next_fire_at is None:
        return  # deleted, paused or re-armed since: this timer is stale
    cron = Cron.parse(row.cron, row.timezone)
    due = [row.next_fire_at, *cron.ticks(row.next_fire_at, tx.now, MAX_TICKS_PER_COMMAND)]
    more = len(due) > MAX_TICKS_PER_COMMAND
    due = due[:MAX_TICKS_PER_COMMAND]
    run = _caught_up(row.catch_up, due, tx.now)
    row = replace(row, skipped=row.skipped + len(due) - len(run), last_fire_at=due[-1])
    for tick in run:
        row = _tick(tx, row, tick)
    nxt = cron.next_after(due[-1]) if more else cron.next_after(max(tx.now, due[-1]))
    _arm(tx, replace(row, timer_id=None), nxt)


def _caught_up(policy: str, due: list[int], now: int) -> list[int]:
    if policy == "all":
        return due
    if policy == "latest":
        return due[-1:]
    return [tick for tick in due if now - tick < GRACE_MS]


def _tick(tx: EngineTxn, row: ScheduleRow, tick: int) -> ScheduleRow:
    """One due tick, through the overlap policy; the schedule row after it (not stored)."""
    if row.overlap != "allow" and _still_running(tx, row.last_invocation_id):
        if row.overlap == "skip":
            return replace(row, skipped=row.skipped + 1)
        dropped = 1 if row.buffered_tick is not None else 0
        return replace(row, buffered_tick=tick, skipped=row.skipped + dropped)
    invocation_id, created = _invoke_tick(tx, row, tick)
    if invocation_id is None:
        logger.warning("schedule %s: its target is not registered; tick skipped", row.name)
        return replace(row, skipped=row.skipped + 1)
    return replace(row, last_invocation_id=invocation_id, fired=row.fired + int(created))


def _still_running(tx: EngineTxn, invocation_id: str | None) -> bool:
    if invocation_id is None:
        return False
    row = tx.get(invocation_id)
    return row is not None and row.status != S.COMPLETED


def _invoke_tick(
    tx: EngineTxn, row: ScheduleRow, tick: int, *, manual: bool = False
) -> tuple[str | None, bool]:
    """The invocation of `tick` (id, created now?); None if the target is gone."""
    try:
        target = tx.resolve_target(row.service, row.handler)
    except NotFound:
        return None, False
    when = iso(tick)
    key = None if row.key is None else row.key.replace("{tick}", when)
    kind = "manual/" if manual else ""
    idempotency_key = f"{_IDEMPOTENCY_PREFIX}{row.name}/{kind}{tick}"
    invocation_id = choose_invocation_id(target, key, idempotency_key)
    if tx.get(invocation_id) is not None:
        return invocation_id, False  # this tick ran already: never twice
    headers = ((SCHEDULE_HEADER, row.name), (TICK_HEADER, when))
    create_invocation(
        tx, invocation_id, target, key, headers, row.argument, idempotency_key=idempotency_key
    )
    return invocation_id, True


def on_ended(tx: EngineTxn) -> None:
    """Start the tick a `buffer_one` schedule held back for an invocation that ended in
    this command."""
    for effect in list(tx.effects):  # _tick may add effects
        if not isinstance(effect, InvocationEnded):
            continue
        row = tx.store.buffered_schedule_of(effect.invocation_id)
        if row is None or row.buffered_tick is None:
            continue
        tick = row.buffered_tick
        row = _tick(tx, replace(row, buffered_tick=None), tick)
        tx.store.put_schedule(replace(row, modified_at=tx.now))
