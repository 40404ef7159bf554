"""The store interface of perdure's own features: cron schedules, flow-control limits and
Kafka subscriptions (their rows and tables). Part of `perdure.store.api`, which re-exports
everything here; kept apart so the core interface stays readable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    """A cron schedule: which handler it invokes, with what, when, and what it did last.

    `source` is "api" (created through the admin API) or "code" (declared in an app and
    synced from its deployment's manifest). Times are ms since the epoch; `next_fire_at`
    is the tick its timer (`timer_id`) waits for, None while paused. `last_fire_at` is the
    last tick that was handled (fired, or skipped by the overlap or catch-up policy): ticks
    after it are still to come. `buffered_tick`: a tick held back by overlap "buffer_one"
    until the invocation of the previous tick ended.
    """

    name: str
    cron: str
    timezone: str
    service: str
    handler: str
    key: str | None
    argument: bytes
    overlap: str  # "skip" | "buffer_one" | "allow"
    catch_up: str  # "skip" | "all" | "latest"
    source: str  # "api" | "code"
    created_at: int
    modified_at: int
    paused: bool = False
    next_fire_at: int | None = None
    timer_id: int | None = None
    last_fire_at: int | None = None
    last_invocation_id: str | None = None
    buffered_tick: int | None = None
    fired: int = 0  # ticks that invoked the handler
    skipped: int = 0  # ticks dropped by the overlap or catch-up policy


@dataclass(frozen=True, slots=True)
class LimitRuleRow:
    """A flow-control rule: which invocations it counts and what it allows.

    It applies to `service` (every handler, or only `handler`), or, for a rule in Restate's
    form, to the invocations whose scope and limit key match `pattern` ("scope/l1/l2",
    `*` matching anything). `limit_by` splits it into one limit per group: None (one for
    all), "key", "key_prefix:N", "key_before:SEP", "limit_key". `concurrency` bounds the
    invocations of a group that started and did not end; `rate_count` per
    `rate_period_ms` (at most `rate_burst` at once) bounds how fast they start.
    `priority` is the default priority of the invocations it applies to.
    """

    id: str
    source: str  # "code" | "api" | "restate"
    service: str | None = None
    handler: str | None = None
    pattern: str | None = None
    limit_by: str | None = None
    concurrency: int | None = None
    rate_count: int | None = None
    rate_period_ms: int | None = None
    rate_burst: int | None = None
    priority: int | None = None
    description: str | None = None
    disabled: bool = False
    version: int = 1
    modified_at: int = 0


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    """A Kafka subscription: records of `source` (``kafka://CLUSTER/TOPIC``) invoke `sink`
    (``service://SERVICE/HANDLER``); `options` go to the consumer (librdkafka names)."""

    id: str
    source: str
    sink: str
    options: dict[str, str]
    created_at: int


# ---- per-table interfaces ----------------------------------------------------


class ScheduleTable(Protocol):
    def put_schedule(self, row: ScheduleRow) -> None: ...
    def get_schedule(self, name: str) -> ScheduleRow | None: ...
    def list_schedules(self) -> list[ScheduleRow]: ...
    def delete_schedule(self, name: str) -> None: ...
    def buffered_schedule_of(self, invocation_id: str) -> ScheduleRow | None:
        """The schedule whose last tick ran as `invocation_id` and that holds back a tick."""
        ...


class LimitTable(Protocol):
    """Flow-control rules and their state: slots held by started invocations, the queue of
    limited ones (highest priority first, then oldest), and rate-limit token buckets.
    `group` names one limit of a rule split by `limit_by` ("" when it is not split)."""

    def put_limit_rule(self, row: LimitRuleRow) -> None: ...
    def get_limit_rule(self, rule_id: str) -> LimitRuleRow | None: ...
    def list_limit_rules(self) -> list[LimitRuleRow]: ...
    def delete_limit_rule(self, rule_id: str) -> None: ...
    def add_limit_slot(self, rule_id: str, group: str, invocation_id: str) -> None: ...
    def has_limit_slots(self, invocation_id: str) -> bool: ...
    def count_limit_slots(self, rule_id: str, group: str) -> int: ...
    def release_limits_of(self, invocation_id: str) -> list[tuple[str, str]]:
        """Drop the invocation's slots and queue entries; the (rule, group) of its slots."""
        ...

    def push_limit_waiter(
        self, rule_id: str, group: str, priority: int, invocation_id: str
    ) -> None: ...
    def first_limit_waiter(self, rule_id: str, group: str) -> str | None: ...
    def delete_limit_waiter(self, rule_id: str, invocation_id: str) -> None: ...
    def count_limit_waiters(self, rule_id: str, group: str) -> int: ...
    def limit_waiters_of_rule(self, rule_id: str) -> list[str]: ...
    def get_limit_bucket(self, rule_id: str, group: str) -> tuple[float, int] | None: ...
    def put_limit_bucket(self, rule_id: str, group: str, tokens: float, at: int) -> None: ...
    def delete_limit_state(self, rule_id: str) -> None:
        """Drop every slot, queue entry and bucket of a rule."""
        ...


class SubscriptionTable(Protocol):
    """Kafka subscriptions and, per partition, the next offset to ingest (every record
    before it has its invocation) and the high watermark last seen (for the lag)."""

    def put_subscription(self, row: SubscriptionRow) -> None: ...
    def get_subscription(self, subscription_id: str) -> SubscriptionRow | None: ...
    def list_subscriptions(self) -> list[SubscriptionRow]: ...
    def delete_subscription(self, subscription_id: str) -> None:
        """Drop the subscription and its offsets."""
        ...

    def subscription_offsets(self, subscription_id: str) -> dict[int, tuple[int, int]]:
        """partition -> (next offset, high watermark)."""
        ...

    def put_subscription_offset(
        self, subscription_id: str, partition: int, next_offset: int, high_watermark: int
    ) -> None: ...
