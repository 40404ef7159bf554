"""Cron expressions in a time zone: when a schedule ticks (croniter + zoneinfo).

Five fields (minute hour day-of-month month day-of-week) or six, the first being seconds
(as in Quartz and Spring): ``"*/5 * * * * *"`` ticks every five seconds. Ticks are computed
as wall-clock times in the schedule's time zone, so ``"0 9 * * MON"`` in Europe/Berlin is
09:00 local time on both sides of a daylight-saving change. Times are ms since the epoch.
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from perdure.server.engine.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class Cron:
    expression: str
    zone: zoneinfo.ZoneInfo

    @classmethod
    def parse(cls, expression: str, timezone: str) -> Cron:
        """Refuses (InvalidRequest) a bad expression or an unknown time zone."""
        try:
            zone = zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise InvalidRequest(f"unknown time zone {timezone!r} (use an IANA name)") from None
        fields = expression.split()
        if len(fields) not in (5, 6) or not croniter.is_valid(
            expression, second_at_beginning=len(fields) == 6
        ):
            raise InvalidRequest(
                f"bad cron expression {expression!r}: use 5 fields (minute hour day month "
                "weekday) or 6 with seconds first"
            )
        return cls(expression, zone)

    def next_after(self, after_ms: int) -> int | None:
        """The first tick strictly after `after_ms` (None: the expression never ticks)."""
        start = datetime.datetime.fromtimestamp(after_ms / 1000, self.zone)
        itr = croniter(
            self.expression,
            start,
            second_at_beginning=len(self.expression.split()) == 6,
        )
        try:
            tick: datetime.datetime = itr.get_next(datetime.datetime)
        except CroniterBadDateError:
            return None
        except CroniterBadCronError as exc:  # validated at parse time; kept as a refusal
            raise InvalidRequest(str(exc)) from None
        ms = round(tick.timestamp() * 1000)
        # croniter works in whole seconds from `start`: skip a tick within the same ms.
        return ms if ms > after_ms else self.next_after(ms)

    def ticks(self, after_ms: int, until_ms: int, limit: int) -> list[int]:
        """Ticks in (after_ms, until_ms], oldest first, at most `limit` of them."""
        out: list[int] = []
        cursor = after_ms
        while len(out) < limit:
            tick = self.next_after(cursor)
            if tick is None or tick > until_ms:
                break
            out.append(tick)
            cursor = tick
        return out


def iso(ms: int) -> str:
    """A tick as RFC 3339 UTC text (what the tick's invocation carries in a header)."""
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
