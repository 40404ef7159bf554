"""SQL of the schedule and flow-control tables (`perdure.store.api.ScheduleTable`,
`LimitTable`) on PostgreSQL, mixed into `PostgresTxn` (the SQLite ones: `sqlite/
schedule_tables.py`, `sqlite/limit_tables.py`)."""

from __future__ import annotations

import json
import operator
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from perdure.store.api import LimitRuleRow, ScheduleRow, SubscriptionRow

_SCHEDULE_COLUMNS = [f.name for f in fields(ScheduleRow)]
_SCHEDULE_VALUES = operator.attrgetter(*_SCHEDULE_COLUMNS)
_SCHEDULE_UPSERT = (
    f"INSERT INTO schedules ({', '.join(_SCHEDULE_COLUMNS)}) "
    f"VALUES ({', '.join('%s' for _ in _SCHEDULE_COLUMNS)}) ON CONFLICT (name) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _SCHEDULE_COLUMNS if c != "name")
)
_SCHEDULE_SELECT = f"SELECT {', '.join(_SCHEDULE_COLUMNS)} FROM schedules"

_RULE_COLUMNS = [f.name for f in fields(LimitRuleRow)]
_RULE_VALUES = operator.attrgetter(*_RULE_COLUMNS)
_RULE_UPSERT = (
    f"INSERT INTO limit_rules ({', '.join(_RULE_COLUMNS)}) "
    f"VALUES ({', '.join('%s' for _ in _RULE_COLUMNS)}) ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _RULE_COLUMNS if c != "id")
)
_RULE_SELECT = f"SELECT {', '.join(_RULE_COLUMNS)} FROM limit_rules"


def _schedule(row: Sequence[Any]) -> ScheduleRow:
    values = list(row)
    values[_SCHEDULE_COLUMNS.index("argument")] = bytes(values[_SCHEDULE_COLUMNS.index("argument")])
    return ScheduleRow(*values)


class FeatureTables:
    """Needs `_one`, `_all` and `_run` of `PostgresTxn`."""

    def _one(self, sql: str, params: Sequence[object]) -> tuple[Any, ...] | None:
        raise NotImplementedError

    def _all(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _run(self, sql: str, params: Sequence[object]) -> None:
        raise NotImplementedError

    # -- schedules ------------------------------------------------------------------

    def put_schedule(self, row: ScheduleRow) -> None:
        self._run(_SCHEDULE_UPSERT, _SCHEDULE_VALUES(row))

    def get_schedule(self, name: str) -> ScheduleRow | None:
        found = self._one(f"{_SCHEDULE_SELECT} WHERE name = %s", (name,))
        return None if found is None else _schedule(found)

    def list_schedules(self) -> list[ScheduleRow]:
        return [_schedule(r) for r in self._all(f"{_SCHEDULE_SELECT} ORDER BY name")]

    def delete_schedule(self, name: str) -> None:
        self._run("DELETE FROM schedules WHERE name = %s", (name,))

    def buffered_schedule_of(self, invocation_id: str) -> ScheduleRow | None:
        found = self._one(
            f"{_SCHEDULE_SELECT} WHERE last_invocation_id = %s AND buffered_tick IS NOT NULL "
            "LIMIT 1",
            (invocation_id,),
        )
        return None if found is None else _schedule(found)

    # -- flow control -----------------------------------------------------------------

    def put_limit_rule(self, row: LimitRuleRow) -> None:
        self._run(_RULE_UPSERT, _RULE_VALUES(row))

    def get_limit_rule(self, rule_id: str) -> LimitRuleRow | None:
        found = self._one(f"{_RULE_SELECT} WHERE id = %s", (rule_id,))
        return None if found is None else LimitRuleRow(*found)

    def list_limit_rules(self) -> list[LimitRuleRow]:
        return [LimitRuleRow(*r) for r in self._all(f"{_RULE_SELECT} ORDER BY id")]

    def delete_limit_rule(self, rule_id: str) -> None:
        self._run("DELETE FROM limit_rules WHERE id = %s", (rule_id,))

    def add_limit_slot(self, rule_id: str, group: str, invocation_id: str) -> None:
        self._run(
            "INSERT INTO limit_slots VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (rule_id, group, invocation_id),
        )

    def has_limit_slots(self, invocation_id: str) -> bool:
        found = self._one(
            "SELECT 1 FROM limit_slots WHERE invocation_id = %s LIMIT 1", (invocation_id,)
        )
        return found is not None

    def count_limit_slots(self, rule_id: str, group: str) -> int:
        found = self._one(
            "SELECT COUNT(*) FROM limit_slots WHERE rule_id = %s AND grp = %s", (rule_id, group)
        )
        return 0 if found is None else int(found[0])

    def release_limits_of(self, invocation_id: str) -> list[tuple[str, str]]:
        held = self._all(
            "DELETE FROM limit_slots WHERE invocation_id = %s RETURNING rule_id, grp",
            (invocation_id,),
        )
        self._run("DELETE FROM limit_waiters WHERE invocation_id = %s", (invocation_id,))
        return [(str(rule), str(group)) for rule, group in held]

    def push_limit_waiter(
        self, rule_id: str, group: str, priority: int, invocation_id: str
    ) -> None:
        self._run(
            "INSERT INTO limit_waiters (rule_id, grp, priority, invocation_id) "
            "VALUES (%s, %s, %s, %s)",
            (rule_id, group, priority, invocation_id),
        )

    def first_limit_waiter(self, rule_id: str, group: str) -> str | None:
        found = self._one(
            "SELECT invocation_id FROM limit_waiters WHERE rule_id = %s AND grp = %s "
            "ORDER BY priority DESC, seq LIMIT 1",
            (rule_id, group),
        )
        return None if found is None else str(found[0])

    def delete_limit_waiter(self, rule_id: str, invocation_id: str) -> None:
        self._run(
            "DELETE FROM limit_waiters WHERE rule_id = %s AND invocation_id = %s",
            (rule_id, invocation_id),
        )

    def count_limit_waiters(self, rule_id: str, group: str) -> int:
        found = self._one(
            "SELECT COUNT(*) FROM limit_waiters WHERE rule_id = %s AND grp = %s", (rule_id, group)
        )
        return 0 if found is None else int(found[0])

    def limit_waiters_of_rule(self, rule_id: str) -> list[str]:
        rows = self._all(
            "SELECT invocation_id FROM limit_waiters WHERE rule_id = %s "
            "ORDER BY priority DESC, seq",
            (rule_id,),
        )
        return [str(r[0]) for r in rows]

    def get_limit_bucket(self, rule_id: str, group: str) -> tuple[float, int] | None:
        found = self._one(
            "SELECT tokens, updated_at FROM limit_buckets WHERE rule_id = %s AND grp = %s",
            (rule_id, group),
        )
        return None if found is None else (float(found[0]), int(found[1]))

    def put_limit_bucket(self, rule_id: str, group: str, tokens: float, at: int) -> None:
        self._run(
            "INSERT INTO limit_buckets VALUES (%s, %s, %s, %s) ON CONFLICT (rule_id, grp) "
            "DO UPDATE SET tokens = EXCLUDED.tokens, updated_at = EXCLUDED.updated_at",
            (rule_id, group, tokens, at),
        )

    def delete_limit_state(self, rule_id: str) -> None:
        for table in ("limit_slots", "limit_waiters", "limit_buckets"):
            self._run(f"DELETE FROM {table} WHERE rule_id = %s", (rule_id,))

    # -- Kafka subscriptions -------------------------------------------------------------

    def put_subscription(self, row: SubscriptionRow) -> None:
        self._run(
            "INSERT INTO subscriptions VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE "
            "SET source = EXCLUDED.source, sink = EXCLUDED.sink, options = EXCLUDED.options",
            (row.id, row.source, row.sink, json.dumps(row.options, sort_keys=True), row.created_at),
        )

    def get_subscription(self, subscription_id: str) -> SubscriptionRow | None:
        found = self._one(
            "SELECT id, source, sink, options, created_at FROM subscriptions WHERE id = %s",
            (subscription_id,),
        )
        return None if found is None else _subscription(found)

    def list_subscriptions(self) -> list[SubscriptionRow]:
        rows = self._all(
            "SELECT id, source, sink, options, created_at FROM subscriptions "
            "ORDER BY created_at, id"
        )
        return [_subscription(r) for r in rows]

    def delete_subscription(self, subscription_id: str) -> None:
        self._run("DELETE FROM subscriptions WHERE id = %s", (subscription_id,))
        self._run("DELETE FROM subscription_offsets WHERE subscription_id = %s", (subscription_id,))

    def subscription_offsets(self, subscription_id: str) -> dict[int, tuple[int, int]]:
        rows = self._all(
            "SELECT partition, next_offset, high_watermark FROM subscription_offsets "
            "WHERE subscription_id = %s",
            (subscription_id,),
        )
        return {int(p): (int(n), int(h)) for p, n, h in rows}

    def put_subscription_offset(
        self, subscription_id: str, partition: int, next_offset: int, high_watermark: int
    ) -> None:
        self._run(
            "INSERT INTO subscription_offsets VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (subscription_id, partition) DO UPDATE SET "
            "next_offset = EXCLUDED.next_offset, high_watermark = EXCLUDED.high_watermark",
            (subscription_id, partition, next_offset, high_watermark),
        )


def _subscription(row: Sequence[Any]) -> SubscriptionRow:
    return SubscriptionRow(row[0], row[1], row[2], json.loads(row[3]), int(row[4]))
