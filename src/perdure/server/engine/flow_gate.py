"""Flow control at the start of an invocation: may it start now, or must it wait?

`admit` runs when an invocation is about to start its first attempt (`start_attempt`).
Every enabled rule that applies to it (`LimitRuleRow`) must have room in the invocation's
group: fewer started-and-not-ended invocations than its concurrency, a token in its rate
bucket, and nobody queued ahead. Then the invocation takes a slot in each (and a token),
and keeps the slots until it ends (`flow.on_ended`). Otherwise it is queued in the first
full limit, by priority (highest first) then arrival, and is `limited` until `flow`
releases it. Priority: the `x-perdure-priority` header of the invocation, else its
handler's rule, else its service's, else 0. The limit key (`limit_by="limit_key"`, and
the levels of a Restate-style pattern rule) and the scope come from the headers
`x-perdure-limit-key` and `x-perdure-scope`.

This module never starts an attempt (that would import `invocations`, which imports this);
`flow` does, when it releases a queued invocation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from perdure.protocol import protocol_pb2 as pb
from perdure.server.engine.txn import EngineTxn
from perdure.store.api import InvocationRow, LimitRuleRow, TimerKind, TimerRow

logger = logging.getLogger(__name__)

PRIORITY_HEADER = "x-perdure-priority"
LIMIT_KEY_HEADER = "x-perdure-limit-key"
SCOPE_HEADER = "x-perdure-scope"
TIMER_PREFIX = "limit:"


@dataclass(frozen=True, slots=True)
class Limit:
    rule: LimitRuleRow
    group: str


def admit(tx: EngineTxn, row: InvocationRow) -> bool:
    """True: `row` may start now (slots and tokens taken). False: it is queued."""
    rules = [r for r in tx.store.list_limit_rules() if not r.disabled and _limits(r)]
    if not rules:
        return True
    if tx.store.has_limit_slots(row.id):
        return True  # admitted before (released from a queue, or a later attempt)
    headers = _Headers(tx, row)
    limits = [
        Limit(rule, group) for rule in rules if (group := group_of(rule, row, headers)) is not None
    ]
    if not limits:
        return True
    for limit in limits:
        if not has_room(tx, limit, queue_counts=True):
            queue(tx, limit, row.id, priority_of(tx, row, headers))
            return False
    take(tx, limits, row.id)
    return True


def limits_of(tx: EngineTxn, row: InvocationRow) -> list[Limit]:
    """Every limit that applies to `row` (for a queued one being reconsidered)."""
    headers = _Headers(tx, row)
    rules = [r for r in tx.store.list_limit_rules() if not r.disabled and _limits(r)]
    return [
        Limit(rule, group) for rule in rules if (group := group_of(rule, row, headers)) is not None
    ]


def _limits(rule: LimitRuleRow) -> bool:
    return rule.concurrency is not None or rule.rate_count is not None


def has_room(tx: EngineTxn, limit: Limit, *, queue_counts: bool) -> bool:
    rule, group = limit.rule, limit.group
    if queue_counts and tx.store.count_limit_waiters(rule.id, group) > 0:
        return False  # first come (or higher priority), first served
    if (
        rule.concurrency is not None
        and tx.store.count_limit_slots(rule.id, group) >= rule.concurrency
    ):
        return False
    return rule.rate_count is None or tokens(tx, limit) >= 1.0


def tokens(tx: EngineTxn, limit: Limit) -> float:
    """The rate bucket's tokens now (refilled since it was last used)."""
    rule = limit.rule
    assert rule.rate_count is not None and rule.rate_period_ms
    burst = float(rule.rate_burst or 1)
    stored = tx.store.get_limit_bucket(rule.id, limit.group)
    if stored is None:
        return burst
    level, at = stored
    return min(burst, level + (tx.now - at) * rule.rate_count / rule.rate_period_ms)


def next_token_at(tx: EngineTxn, limit: Limit) -> int:
    rule = limit.rule
    assert rule.rate_count is not None and rule.rate_period_ms
    missing = max(0.0, 1.0 - tokens(tx, limit))
    return tx.now + max(1, int(missing * rule.rate_period_ms / rule.rate_count + 0.999))


def take(tx: EngineTxn, limits: list[Limit], invocation_id: str) -> None:
    for limit in limits:
        tx.store.add_limit_slot(limit.rule.id, limit.group, invocation_id)
        if limit.rule.rate_count is not None:
            tx.store.put_limit_bucket(limit.rule.id, limit.group, tokens(tx, limit) - 1.0, tx.now)


def queue(tx: EngineTxn, limit: Limit, invocation_id: str, priority: int) -> None:
    first = tx.store.count_limit_waiters(limit.rule.id, limit.group) == 0
    tx.store.push_limit_waiter(limit.rule.id, limit.group, priority, invocation_id)
    if first:
        arm_refill(tx, limit)


def arm_refill(tx: EngineTxn, limit: Limit) -> None:
    """A rate-limited queue wakes up when its bucket has a token again."""
    if limit.rule.rate_count is None or tokens(tx, limit) >= 1.0:
        return
    owner = f"{TIMER_PREFIX}{limit.rule.id}\n{limit.group}"
    tx.add_timer(TimerRow(None, next_token_at(tx, limit), owner, TimerKind.LIMIT))


def group_of(rule: LimitRuleRow, row: InvocationRow, headers: _Headers) -> str | None:
    """The group of `rule` that `row` counts in; None if the rule does not apply to it."""
    if rule.pattern is not None:
        return _pattern_group(rule.pattern, headers)
    if rule.service != row.service or (rule.handler is not None and rule.handler != row.handler):
        return None
    by = rule.limit_by
    key = row.key or ""
    if by is None:
        return ""
    if by == "key":
        return key
    if by == "limit_key":
        return headers.get(LIMIT_KEY_HEADER) or ""
    if by.startswith("key_prefix:"):
        return key[: int(by.split(":", 1)[1])]
    if by.startswith("key_before:"):
        return key.split(by.split(":", 1)[1], 1)[0]
    return ""


def _pattern_group(pattern: str, headers: _Headers) -> str | None:
    """Restate's rule pattern "scope/l1/l2" against the invocation's scope and limit key."""
    levels = [headers.get(SCOPE_HEADER) or "", *(headers.get(LIMIT_KEY_HEADER) or "").split("/")]
    parts = pattern.split("/")
    if len(parts) > len(levels):
        return None
    for want, have in zip(parts, levels, strict=False):
        if want != "*" and want != have:
            return None
    return "/".join(levels[: len(parts)])


def priority_of(tx: EngineTxn, row: InvocationRow, headers: _Headers) -> int:
    given = headers.get(PRIORITY_HEADER)
    if given is not None:
        try:
            return int(given)
        except ValueError:
            logger.warning("invocation %s: bad %s %r", row.id, PRIORITY_HEADER, given)
    for rule_id in (f"code:{row.service}/{row.handler}", f"code:{row.service}"):
        rule = tx.store.get_limit_rule(rule_id)
        if rule is not None and rule.priority is not None:
            return rule.priority
    return 0


class _Headers:
    """The invocation's headers (from its Input entry), read only when a rule needs them."""

    def __init__(self, tx: EngineTxn, row: InvocationRow) -> None:
        self._tx = tx
        self._row = row
        self._values: dict[str, str] | None = None

    def get(self, name: str) -> str | None:
        if self._values is None:
            journal = self._tx.store.read_journal(self._row.id)
            entry = pb.InputCommandMessage()
            if journal:
                entry.ParseFromString(journal[0].payload)
            self._values = {h.key.lower(): h.value for h in entry.headers}
        return self._values.get(name)
