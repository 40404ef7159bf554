"""SQL of the flow-control tables (`perdure.store.api.LimitTable`), mixed into `SqliteTxn`."""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Sequence
from dataclasses import fields

from perdure.store.api import LimitRuleRow
from perdure.store.rowcache import LIMIT_RULES, RowCache

_COLUMNS = [f.name for f in fields(LimitRuleRow)]
_VALUES = operator.attrgetter(*_COLUMNS)
_INSERT = (
    f"INSERT OR REPLACE INTO limit_rules ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMNS)})"
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM limit_rules"
_DISABLED = _COLUMNS.index("disabled")


def _rule_from_row(row: Sequence[object]) -> LimitRuleRow:
    values = list(row)
    values[_DISABLED] = bool(values[_DISABLED])
    return LimitRuleRow(*values)  # type: ignore[arg-type]


class LimitTables:
    _conn: sqlite3.Connection
    _rows: RowCache | None  # the writer's: holds the list of rules (read at every start)

    def put_limit_rule(self, row: LimitRuleRow) -> None:
        self._conn.execute(_INSERT, _VALUES(row))
        self._rules_changed()

    def get_limit_rule(self, rule_id: str) -> LimitRuleRow | None:
        found = self._conn.execute(f"{_SELECT} WHERE id = ?", (rule_id,)).fetchone()
        return None if found is None else _rule_from_row(found)

    def list_limit_rules(self) -> list[LimitRuleRow]:
        if self._rows is not None:
            hit, cached = self._rows.lookup(LIMIT_RULES)
            if hit:
                assert isinstance(cached, tuple)
                return list(cached)
        rules = self._select_rules()
        if self._rows is not None:
            self._rows.loaded(LIMIT_RULES, tuple(rules))
        return rules

    def _select_rules(self) -> list[LimitRuleRow]:
        return [_rule_from_row(r) for r in self._conn.execute(f"{_SELECT} ORDER BY id")]

    def _rules_changed(self) -> None:
        if self._rows is not None:
            self._rows.written(LIMIT_RULES, tuple(self._select_rules()))

    def delete_limit_rule(self, rule_id: str) -> None:
        self._conn.execute("DELETE FROM limit_rules WHERE id = ?", (rule_id,))
        self._rules_changed()

    def add_limit_slot(self, rule_id: str, group: str, invocation_id: str) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO limit_slots VALUES (?, ?, ?)", (rule_id, group, invocation_id)
        )

    def has_limit_slots(self, invocation_id: str) -> bool:
        found = self._conn.execute(
            "SELECT 1 FROM limit_slots WHERE invocation_id = ? LIMIT 1", (invocation_id,)
        ).fetchone()
        return found is not None

    def count_limit_slots(self, rule_id: str, group: str) -> int:
        (count,) = self._conn.execute(
            "SELECT COUNT(*) FROM limit_slots WHERE rule_id = ? AND grp = ?", (rule_id, group)
        ).fetchone()
        return int(count)

    def release_limits_of(self, invocation_id: str) -> list[tuple[str, str]]:
        if self._rows is not None and not self.list_limit_rules():
            return []  # no rules, so no slots nor waiters (deleting a rule deletes its state)
        held = self._conn.execute(
            "DELETE FROM limit_slots WHERE invocation_id = ? RETURNING rule_id, grp",
            (invocation_id,),
        ).fetchall()
        self._conn.execute("DELETE FROM limit_waiters WHERE invocation_id = ?", (invocation_id,))
        return [(str(rule), str(group)) for rule, group in held]

    def push_limit_waiter(
        self, rule_id: str, group: str, priority: int, invocation_id: str
    ) -> None:
        self._conn.execute(
            "INSERT INTO limit_waiters (rule_id, grp, priority, invocation_id) VALUES (?, ?, ?, ?)",
            (rule_id, group, priority, invocation_id),
        )

    def first_limit_waiter(self, rule_id: str, group: str) -> str | None:
        found = self._conn.execute(
            "SELECT invocation_id FROM limit_waiters WHERE rule_id = ? AND grp = ? "
            "ORDER BY priority DESC, seq LIMIT 1",
            (rule_id, group),
        ).fetchone()
        return None if found is None else str(found[0])

    def delete_limit_waiter(self, rule_id: str, invocation_id: str) -> None:
        self._conn.execute(
            "DELETE FROM limit_waiters WHERE rule_id = ? AND invocation_id = ?",
            (rule_id, invocation_id),
        )

    def count_limit_waiters(self, rule_id: str, group: str) -> int:
        (count,) = self._conn.execute(
            "SELECT COUNT(*) FROM limit_waiters WHERE rule_id = ? AND grp = ?", (rule_id, group)
        ).fetchone()
        return int(count)

    def limit_waiters_of_rule(self, rule_id: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT invocation_id FROM limit_waiters WHERE rule_id = ? ORDER BY priority DESC, seq",
            (rule_id,),
        )
        return [str(r[0]) for r in rows]

    def get_limit_bucket(self, rule_id: str, group: str) -> tuple[float, int] | None:
        found = self._conn.execute(
            "SELECT tokens, updated_at FROM limit_buckets WHERE rule_id = ? AND grp = ?",
            (rule_id, group),
        ).fetchone()
        return None if found is None else (float(found[0]), int(found[1]))

    def put_limit_bucket(self, rule_id: str, group: str, tokens: float, at: int) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO limit_buckets VALUES (?, ?, ?, ?)", (rule_id, group, tokens, at)
        )

    def delete_limit_state(self, rule_id: str) -> None:
        for table in ("limit_slots", "limit_waiters", "limit_buckets"):
            self._conn.execute(f"DELETE FROM {table} WHERE rule_id = ?", (rule_id,))
