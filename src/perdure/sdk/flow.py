"""Flow control declared in code (perdure extension): concurrency limits, rate limits and
priority on services and handlers.

    perdure.Service("Mail", concurrency=10, rate=perdure.Rate(100, per=timedelta(seconds=1)))
    @svc.handler(concurrency=2, limit_by="key_before::", priority=5)

The limits travel in the endpoint manifest as the service's or handler's metadata entry
``perdure.limits`` (JSON); restate-server keeps metadata as opaque strings and ignores
it. A perdure server enforces them when an invocation is about to start: see
docs/flow-control.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta

METADATA_KEY = "perdure.limits"
_LIMIT_BY = re.compile(r"^(key|limit_key|key_prefix:[1-9][0-9]*|key_before:.+)$")


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket: `count` starts per `per`, at most `burst` at once. The default burst
    is 1: starts are spaced evenly (20 per second: one every 50 ms)."""

    count: int
    per: timedelta = timedelta(seconds=1)
    burst: int | None = None

    def __post_init__(self) -> None:
        if self.count < 1 or self.per <= timedelta(0):
            raise ValueError("a Rate needs a count of at least 1 per a positive period")
        if self.burst is not None and self.burst < 1:
            raise ValueError("a Rate's burst must be at least 1")


def limits_metadata(
    concurrency: int | None,
    rate: Rate | None,
    priority: int | None,
    limit_by: str | None,
) -> dict[str, str]:
    """The metadata entry for these limits ({} when none is set)."""
    if concurrency is None and rate is None and priority is None:
        if limit_by is not None:
            raise ValueError("limit_by needs a concurrency or a rate")
        return {}
    if concurrency is not None and concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if rate is not None and not isinstance(rate, Rate):
        raise TypeError("rate must be a perdure.Rate")
    if limit_by is not None and not _LIMIT_BY.match(limit_by):
        raise ValueError(
            "limit_by must be 'key', 'limit_key', 'key_prefix:N' or 'key_before:SEPARATOR'"
        )
    spec: dict[str, object] = {}
    if concurrency is not None:
        spec["concurrency"] = concurrency
    if rate is not None:
        spec["rate"] = {
            "count": rate.count,
            "periodMs": int(rate.per.total_seconds() * 1000),
            "burst": rate.burst or 1,
        }
    if priority is not None:
        spec["priority"] = priority
    if limit_by is not None:
        spec["limitBy"] = limit_by
    return {METADATA_KEY: json.dumps(spec, separators=(",", ":"))}
