"""How the server retries failed attempts of a service or handler (endpoint manifest v4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from perdure.protocol.manifest import RetryPolicySpec


@dataclass(frozen=True, slots=True)
class InvocationRetryPolicy:
    """The retry policy the server applies to invocations of a service or handler.

    Every field is optional; an unset field keeps the server's default. Registering a
    deployment that sets any of them needs a server speaking endpoint manifest v4
    (restate-server 1.5 or newer); older servers fail the discovery.
    """

    initial_interval: timedelta | None = None
    """Delay before the first retry."""
    exponentiation_factor: float | None = None
    """Each retry waits this many times longer than the one before."""
    max_interval: timedelta | None = None
    """Upper bound of any retry delay."""
    max_attempts: int | None = None
    """Attempts before giving up; the first attempt counts."""
    on_max_attempts: Literal["pause", "kill"] | None = None
    """What happens after the last attempt failed: pause the invocation, or kill it."""

    def __post_init__(self) -> None:
        if self.on_max_attempts not in (None, "pause", "kill"):
            raise ValueError(
                f"on_max_attempts must be 'pause' or 'kill', got {self.on_max_attempts!r}"
            )
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")

    def to_spec(self) -> RetryPolicySpec:
        """The manifest form: milliseconds and upper-case enum values."""
        return RetryPolicySpec(
            initial_interval_ms=to_millis(self.initial_interval, "initial_interval"),
            max_interval_ms=to_millis(self.max_interval, "max_interval"),
            max_attempts=self.max_attempts,
            exponentiation_factor=(
                None if self.exponentiation_factor is None else float(self.exponentiation_factor)
            ),
            on_max_attempts=(
                None
                if self.on_max_attempts is None
                else ("PAUSE" if self.on_max_attempts == "pause" else "KILL")
            ),
        )


def to_millis(duration: timedelta | None, what: str) -> int | None:
    """A duration as whole milliseconds, the unit of every manifest duration."""
    if duration is None:
        return None
    if not isinstance(duration, timedelta):
        raise TypeError(f"{what} must be a datetime.timedelta, got {type(duration).__name__}")
    if duration < timedelta(0):
        raise ValueError(f"{what} must not be negative, got {duration}")
    return duration // timedelta(milliseconds=1)
