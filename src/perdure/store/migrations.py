"""Named schema migrations, one registry for every store, applied in order and recorded in
the store's `migrations` table.

A migration's SQL lives in `perdure/store/schema/<dialect>/<name>.sql`. Each is applied in
the same transaction as its record, so a crash leaves either both or neither. Never edit a
released migration: add a new one. Views are not migrations: they hold no data, and each
store installs its current ones at every open.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Literal

Dialect = Literal["sqlite", "postgres"]

MIGRATION_NAMES: tuple[str, ...] = (
    "0001_initial",
    "0002_retention_promises_attach",
    "0003_introspection_views",
    "0004_inbox_state_mutations",
    "0005_named_signals_failures",
    "0006_schedules",
    "0007_flow_control",
    "0008_subscriptions",
    "0009_cluster",
    "0010_journal_callee",
)


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    sql: str

    def statements(self) -> list[str]:
        """The migration's statements (its SQL split on `;`, comments and blanks dropped)."""
        out = []
        for statement in self.sql.split(";"):
            lines = [ln for ln in statement.splitlines() if not ln.strip().startswith("--")]
            text = "\n".join(lines).strip()
            if text:
                out.append(text)
        return out


def migrations(dialect: Dialect) -> tuple[Migration, ...]:
    folder = resources.files("perdure.store") / "schema" / dialect
    return tuple(Migration(n, (folder / f"{n}.sql").read_text("utf-8")) for n in MIGRATION_NAMES)
