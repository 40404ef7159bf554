"""The schedule, flow-control and subscription tables, the same on every store (and their
views)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from perdure.store.api import LimitRuleRow, ScheduleRow, Store, SubscriptionRow, WriteTxn

SCHEDULE = ScheduleRow(
    name="nightly",
    cron="0 3 * * *",
    timezone="Europe/Berlin",
    service="Reports",
    handler="build",
    key=None,
    argument=b'"x"',
    overlap="buffer_one",
    catch_up="all",
    source="api",
    created_at=1_000,
    modified_at=2_000,
)


async def test_schedules_round_trip(store: Store) -> None:
    second = replace(SCHEDULE, name="hourly", key="k", argument=b"", paused=True)

    def write(txn: WriteTxn) -> None:
        txn.put_schedule(SCHEDULE)
        txn.put_schedule(second)
        txn.put_schedule(replace(SCHEDULE, next_fire_at=5_000, timer_id=7, fired=3))

    await store.write(write)
    got = await store.read(lambda txn: txn.get_schedule("nightly"))
    assert got == replace(SCHEDULE, next_fire_at=5_000, timer_id=7, fired=3)
    assert [s.name for s in await store.read(lambda txn: txn.list_schedules())] == [
        "hourly",
        "nightly",
    ]
    assert (await store.read(lambda txn: txn.get_schedule("hourly"))) == second
    await store.write(lambda txn: txn.delete_schedule("hourly"))
    assert await store.read(lambda txn: txn.get_schedule("hourly")) is None


async def test_a_buffered_tick_is_found_by_the_invocation_it_waits_for(store: Store) -> None:
    waiting = replace(SCHEDULE, last_invocation_id="inv_a", buffered_tick=9_000)
    await store.write(lambda txn: txn.put_schedule(waiting))
    assert await store.read(lambda txn: txn.buffered_schedule_of("inv_a")) == waiting
    assert await store.read(lambda txn: txn.buffered_schedule_of("inv_b")) is None
    await store.write(lambda txn: txn.put_schedule(replace(waiting, buffered_tick=None)))
    assert await store.read(lambda txn: txn.buffered_schedule_of("inv_a")) is None


RULE = LimitRuleRow(
    id="code:Mail",
    source="code",
    service="Mail",
    concurrency=2,
    rate_count=10,
    rate_period_ms=1000,
    rate_burst=1,
    priority=3,
    modified_at=5,
)


async def test_limit_rules_round_trip(store: Store) -> None:
    pattern = LimitRuleRow(id="rule:*", source="restate", pattern="*", concurrency=9, disabled=True)

    def write(txn: WriteTxn) -> None:
        txn.put_limit_rule(RULE)
        txn.put_limit_rule(pattern)
        txn.put_limit_rule(replace(RULE, version=2))

    await store.write(write)
    assert await store.read(lambda txn: txn.list_limit_rules()) == [
        replace(RULE, version=2),
        pattern,
    ]
    await store.write(lambda txn: txn.delete_limit_rule("rule:*"))
    assert await store.read(lambda txn: txn.get_limit_rule("rule:*")) is None


async def test_limit_slots_queue_and_buckets(store: Store) -> None:
    def fill(txn: WriteTxn) -> None:
        txn.put_limit_rule(RULE)
        txn.add_limit_slot(RULE.id, "", "inv_1")
        txn.add_limit_slot(RULE.id, "", "inv_1")  # twice: still one slot
        txn.add_limit_slot(RULE.id, "", "inv_2")
        txn.add_limit_slot(RULE.id, "b", "inv_3")
        for priority, invocation_id in ((1, "inv_4"), (5, "inv_5"), (5, "inv_6"), (0, "inv_7")):
            txn.push_limit_waiter(RULE.id, "", priority, invocation_id)
        txn.put_limit_bucket(RULE.id, "", 0.25, 100)

    await store.write(fill)

    def look(txn: WriteTxn) -> tuple[object, ...]:
        return (
            txn.count_limit_slots(RULE.id, ""),
            txn.count_limit_slots(RULE.id, "b"),
            txn.has_limit_slots("inv_2"),
            txn.has_limit_slots("inv_9"),
            txn.count_limit_waiters(RULE.id, ""),
            txn.first_limit_waiter(RULE.id, ""),  # highest priority, then oldest
            txn.limit_waiters_of_rule(RULE.id),
            txn.get_limit_bucket(RULE.id, ""),
            txn.get_limit_bucket(RULE.id, "b"),
        )

    assert await store.read(look) == (
        2, 1, True, False, 4, "inv_5", ["inv_5", "inv_6", "inv_4", "inv_7"], (0.25, 100), None,
    )  # fmt: skip
    released = await store.write(lambda txn: txn.release_limits_of("inv_2"))
    assert released == [(RULE.id, "")]
    await store.write(lambda txn: txn.release_limits_of("inv_5"))  # a queued one: unqueued
    await store.write(lambda txn: txn.delete_limit_waiter(RULE.id, "inv_6"))
    assert await store.read(lambda txn: txn.first_limit_waiter(RULE.id, "")) == "inv_4"
    rows = await store.query("SELECT rule, limit_group, running, queued FROM sys_limit ORDER BY 2")
    assert rows.rows == [(RULE.id, "", 1, 2), (RULE.id, "b", 1, 0)]
    await store.write(lambda txn: txn.delete_limit_state(RULE.id))
    rows = await store.query("SELECT rule, limit_group, running, queued FROM sys_limit")
    assert rows.rows == [(RULE.id, None, 0, 0)]  # a rule with nothing running or queued


async def test_the_feature_views_read_alike(store: Store) -> None:
    def write(txn: WriteTxn) -> None:
        txn.put_schedule(replace(SCHEDULE, next_fire_at=1_800_000_000_000))
        txn.put_limit_rule(
            LimitRuleRow(id="rule:a/*", source="restate", pattern="a/*", concurrency=4, version=3)
        )

    await store.write(write)
    schedules = await store.query(
        "SELECT name, target, paused, next_fire_at, fired FROM sys_schedule"
    )
    assert schedules.rows == [("nightly", "Reports/build", 0, "2027-01-15T08:00:00.000Z", 0)]
    rules = await store.query("SELECT pattern, concurrency, disabled, version FROM sys_rules")
    assert rules.rows == [("a/*", 4, 0, 3)]


async def test_subscriptions_and_their_offsets(store: Store) -> None:
    row = SubscriptionRow("sub_1a", "kafka://c/t", "service://S/h", {"x": "1"}, 7)

    def write(txn: WriteTxn) -> None:
        txn.put_subscription(row)
        txn.put_subscription_offset("sub_1a", 0, 10, 12)
        txn.put_subscription_offset("sub_1a", 1, 3, 3)
        txn.put_subscription_offset("sub_1a", 0, 11, 12)

    await store.write(write)
    assert await store.read(lambda txn: txn.get_subscription("sub_1a")) == row
    assert await store.read(lambda txn: txn.list_subscriptions()) == [row]
    offsets = await store.read(lambda txn: txn.subscription_offsets("sub_1a"))
    assert offsets == {0: (11, 12), 1: (3, 3)}
    lag = await store.query(
        "SELECT partition, committed_offset, lag FROM sys_subscription ORDER BY partition"
    )
    assert lag.rows == [(0, 11, 1), (1, 3, 0)]
    await store.write(lambda txn: txn.delete_subscription("sub_1a"))
    assert await store.read(lambda txn: txn.subscription_offsets("sub_1a")) == {}
    assert await store.read(lambda txn: txn.get_subscription("sub_1a")) is None


async def test_the_writers_view_of_rules_and_buffered_ticks_follows_commits(store: Store) -> None:
    # The writer may remember the rule list and whether any tick is buffered (asked by every
    # invocation); what it remembers must follow writes, failed jobs and deletions.
    def rules(txn: WriteTxn) -> list[LimitRuleRow]:
        return txn.list_limit_rules()

    assert await store.write(rules) == []  # remembered as empty
    await store.write(lambda txn: txn.put_limit_rule(RULE))
    assert await store.write(rules) == [RULE]

    def put_then_fail(txn: WriteTxn) -> None:
        txn.put_limit_rule(replace(RULE, id="rule:x"))
        assert txn.list_limit_rules() == [RULE, replace(RULE, id="rule:x")]
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await store.write(put_then_fail)
    assert await store.write(rules) == [RULE]
    await store.write(lambda txn: txn.add_limit_slot(RULE.id, "", "inv_1"))
    assert await store.write(lambda txn: txn.release_limits_of("inv_1")) == [(RULE.id, "")]
    await store.write(lambda txn: txn.delete_limit_rule(RULE.id))
    assert await store.write(rules) == []

    def buffered(txn: WriteTxn) -> ScheduleRow | None:
        return txn.buffered_schedule_of("inv_a")

    assert await store.write(buffered) is None  # remembered: nothing buffered
    waiting = replace(SCHEDULE, last_invocation_id="inv_a", buffered_tick=9_000)
    await store.write(lambda txn: txn.put_schedule(waiting))
    assert await store.write(buffered) == waiting
    await store.write(lambda txn: txn.put_schedule(replace(waiting, buffered_tick=None)))
    assert await store.write(buffered) is None
    await store.write(lambda txn: txn.put_schedule(waiting))
    assert await store.write(buffered) == waiting
    await store.write(lambda txn: txn.delete_schedule(waiting.name))
    assert await store.write(buffered) is None
