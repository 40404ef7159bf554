"""Flow control after admission: release queued invocations when a slot or a token frees
up, and the rule commands (admin API, Restate's `/limits/rules`, code rules).

A started invocation holds one slot per limit that applies to it until it ends; when it
ends (`on_ended`, after every command) its slots are dropped and the heads of those limits'
queues are reconsidered. A rate-limited queue has a timer (kind `limit`) for the moment its
bucket has a token again. Everything happens in the command's transaction, so a crash
never loses a slot, a queue entry or a refill timer.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace

from perdure.server.engine.commands import InvocationEnded
from perdure.server.engine.errors import Conflict, InvalidRequest, NotFound
from perdure.server.engine.flow_commands import DeleteLimitRules, PutLimitRule, SyncCodeLimits
from perdure.server.engine.flow_gate import (
    TIMER_PREFIX,
    Limit,
    _Headers,
    arm_refill,
    has_room,
    limits_of,
    priority_of,
    queue,
    take,
)
from perdure.server.engine.invocations import start_attempt
from perdure.server.engine.lifecycle import InvocationStatus as S
from perdure.server.engine.services import ServiceInfo
from perdure.server.engine.txn import EngineTxn
from perdure.store.api import InvocationRow, LimitRuleRow, TimerRow

logger = logging.getLogger(__name__)

METADATA_KEY = "perdure.limits"  # service and handler metadata in the manifest


# ---- releasing queued invocations -----------------------------------------------------


def on_ended(tx: EngineTxn) -> None:
    """Free the slots of every invocation that ended in this command; start what waited."""
    index = 0
    while index < len(tx.effects):  # starts below may end more invocations (kill policy)
        effect = tx.effects[index]
        index += 1
        if isinstance(effect, InvocationEnded):
            for rule_id, group in tx.store.release_limits_of(effect.invocation_id):
                release(tx, rule_id, group)


def fire_refill(tx: EngineTxn, timer: TimerRow) -> None:
    rule_id, _, group = timer.invocation_id.removeprefix(TIMER_PREFIX).partition("\n")
    release(tx, rule_id, group)


def release(tx: EngineTxn, rule_id: str, group: str) -> None:
    """Start queued invocations of one limit while it has room (highest priority first)."""
    rule = tx.store.get_limit_rule(rule_id)
    if rule is None:
        return
    limit = Limit(rule, group)
    while (head := tx.store.first_limit_waiter(rule.id, group)) is not None:
        row = tx.get(head)
        if row is None or row.status != S.LIMITED:
            tx.store.delete_limit_waiter(rule.id, head)  # ended (killed) while queued
            continue
        if not has_room(tx, limit, queue_counts=False):
            arm_refill(tx, limit)
            return
        tx.store.delete_limit_waiter(rule.id, head)
        _readmit(tx, row, rule.id)


def _readmit(tx: EngineTxn, row: InvocationRow, released_from: str | None) -> None:
    """A queued invocation got room in one limit: start it, or queue it at the next full one."""
    limits = limits_of(tx, row)
    for limit in limits:
        if not has_room(tx, limit, queue_counts=limit.rule.id != released_from):
            queue(tx, limit, row.id, priority_of(tx, row, _Headers(tx, row)))
            return
    take(tx, limits, row.id)
    start_attempt(tx, row)


def _reconsider(tx: EngineTxn, rule_id: str) -> None:
    """A rule changed or went away: its queued invocations are admitted again."""
    waiting = tx.store.limit_waiters_of_rule(rule_id)
    for invocation_id in waiting:
        tx.store.delete_limit_waiter(rule_id, invocation_id)
    for invocation_id in waiting:
        row = tx.get(invocation_id)
        if row is not None and row.status == S.LIMITED:
            _readmit(tx, row, None)


# ---- rules ------------------------------------------------------------------------------


def put_rule(tx: EngineTxn, cmd: PutLimitRule) -> LimitRuleRow:
    rule = cmd.rule
    _validate(tx, rule)
    existing = tx.store.get_limit_rule(rule.id)
    if cmd.expect == "absent" and existing is not None:
        raise Conflict(f"rule {rule.id} exists (version {existing.version})")
    if isinstance(cmd.expect, int) and (existing is None or existing.version != cmd.expect):
        raise Conflict(f"rule {rule.id} is not at version {cmd.expect}")
    stored = replace(
        rule, version=1 if existing is None else existing.version + 1, modified_at=tx.now
    )
    tx.store.put_limit_rule(stored)
    if existing is not None:
        _reconsider(tx, rule.id)
    return stored


def _validate(tx: EngineTxn, rule: LimitRuleRow) -> None:
    if not rule.id:
        raise InvalidRequest("a limit rule needs an id")
    if rule.pattern is None:
        if rule.service is None:
            raise InvalidRequest("a limit rule needs a service (or a pattern)")
        if tx.service_info(rule.service) is None:
            raise NotFound(f"service '{rule.service}' not found")
    for name in ("concurrency", "rate_count", "rate_period_ms", "rate_burst"):
        value = getattr(rule, name)
        if value is not None and value < 1:
            raise InvalidRequest(f"{name} must be at least 1")
    if (rule.rate_count is None) != (rule.rate_period_ms is None):
        raise InvalidRequest("a rate needs both a count and a period")


def delete_rules(tx: EngineTxn, cmd: DeleteLimitRules) -> list[str]:
    expected = list(cmd.expected_versions) + [None] * (len(cmd.ids) - len(cmd.expected_versions))
    found = []
    for rule_id, version in zip(cmd.ids, expected, strict=True):
        rule = tx.store.get_limit_rule(rule_id)
        if version is not None and (rule is None or rule.version != version):
            raise Conflict(f"rule {rule_id} is not at version {version}")
        if rule is not None:
            found.append(rule_id)
    for rule_id in found:
        _drop(tx, rule_id)
    return found


def _drop(tx: EngineTxn, rule_id: str) -> None:
    tx.store.delete_limit_rule(rule_id)
    _reconsider(tx, rule_id)  # no rule now: they start, or queue behind another one
    tx.store.delete_limit_state(rule_id)


# ---- code rules -----------------------------------------------------------------------------


def sync_code(tx: EngineTxn, cmd: SyncCodeLimits) -> int:
    declared = {
        r.id: r
        for s in tx.store.list_services()
        for r in declared_rules(s.name, ServiceInfo.from_row(s))
    }
    changed = 0
    for rule in tx.store.list_limit_rules():
        if rule.source == "code" and rule.id not in declared:
            _drop(tx, rule.id)
            changed += 1
    for rule_id, rule in declared.items():
        existing = tx.store.get_limit_rule(rule_id)
        if existing is not None and replace(existing, version=1, modified_at=0) == rule:
            continue
        put_rule(tx, PutLimitRule(rule))
        changed += 1
    return changed


def declared_rules(service: str, info: ServiceInfo) -> list[LimitRuleRow]:
    """The rules a service's manifest declares (metadata `perdure.limits`)."""
    out = []
    places: list[tuple[str | None, dict[str, str] | None]] = [
        (None, info.manifest.options.metadata)
    ]
    places += [(h.name, h.options.metadata) for h in info.manifest.handlers]
    for handler, metadata in places:
        text = (metadata or {}).get(METADATA_KEY)
        if not text:
            continue
        try:
            spec = json.loads(text)
            rate = spec.get("rate") or {}
            out.append(
                LimitRuleRow(
                    id=f"code:{service}" + ("" if handler is None else f"/{handler}"),
                    source="code",
                    service=service,
                    handler=handler,
                    limit_by=spec.get("limitBy"),
                    concurrency=spec.get("concurrency"),
                    rate_count=rate.get("count"),
                    rate_period_ms=rate.get("periodMs"),
                    rate_burst=rate.get("burst"),
                    priority=spec.get("priority"),
                )
            )
        except (ValueError, AttributeError, TypeError) as exc:
            logger.warning("bad %s metadata on %s/%s: %s", METADATA_KEY, service, handler, exc)
    return out
