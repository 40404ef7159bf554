"""The commands of flow control (`engine/flow.py` applies them)."""

from __future__ import annotations

from dataclasses import dataclass

from perdure.server.engine.commands import Command
from perdure.store.api import LimitRuleRow


@dataclass(frozen=True, slots=True)
class PutLimitRule(Command[LimitRuleRow]):
    """Create or replace a rule (`version` and `modified_at` are set by the engine).
    `expect`: None (no condition), "absent" (refused if it exists) or the version it must
    have (Restate's upsert preconditions); a failed condition is a Conflict."""

    rule: LimitRuleRow
    expect: str | int | None = None


@dataclass(frozen=True, slots=True)
class DeleteLimitRules(Command[list[str]]):
    """Delete rules by id, each optionally only at an expected version (all or none);
    the ids that existed. Invocations queued behind them are reconsidered."""

    ids: tuple[str, ...]
    expected_versions: tuple[int | None, ...] = ()


@dataclass(frozen=True, slots=True)
class SyncCodeLimits(Command[int]):
    """Make the code-declared rules match the registered services' manifests; how many
    rules changed."""
