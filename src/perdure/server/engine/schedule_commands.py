"""The commands of cron schedules (`engine/schedules.py` applies them) and what a schedule
is made of. Kept apart from `commands.py`: nothing else in the engine needs them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from perdure.server.engine.commands import Command
from perdure.store.api import ScheduleRow

Overlap = Literal["skip", "buffer_one", "allow"]
CatchUp = Literal["skip", "all", "latest"]
ScheduleOperation = Literal["pause", "resume", "trigger", "delete"]

OVERLAPS: tuple[Overlap, ...] = ("skip", "buffer_one", "allow")
CATCH_UPS: tuple[CatchUp, ...] = ("skip", "all", "latest")
DEFAULT_OVERLAP: Overlap = "skip"
DEFAULT_CATCH_UP: CatchUp = "skip"


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """What a schedule invokes and when. `key` may contain ``{tick}``, replaced by the
    tick's RFC 3339 time (one workflow run per tick)."""

    name: str
    cron: str
    service: str
    handler: str
    key: str | None = None
    argument: bytes = b""
    timezone: str = "UTC"
    overlap: Overlap = DEFAULT_OVERLAP
    catch_up: CatchUp = DEFAULT_CATCH_UP


@dataclass(frozen=True, slots=True)
class CreateSchedule(Command[ScheduleRow]):
    """A schedule from the admin API; refused (Conflict) if the name is taken."""

    spec: ScheduleSpec


@dataclass(frozen=True, slots=True)
class ControlSchedule(Command[ScheduleRow | str | None]):
    """pause / resume / delete answer the row (None once deleted); trigger answers the id
    of the invocation it started."""

    operation: ScheduleOperation
    name: str


@dataclass(frozen=True, slots=True)
class BackfillSchedule(Command[list[str]]):
    """Invoke every tick in [from_ms, to_ms] that has no invocation yet; their ids."""

    name: str
    from_ms: int
    to_ms: int


@dataclass(frozen=True, slots=True)
class SyncCodeSchedules(Command[int]):
    """Make the code-declared schedules match the registered services' manifests (at
    startup and after every registration); how many schedules changed."""
