"""Retry policies of `ctx.run` steps, decided inside the SDK.

When a run closure fails with a retryable error, the SDK either asks the server to retry the
attempt (an ErrorMessage carrying `next_retry_delay` and the Run as related command) or, once
the policy is exhausted, journals a terminal failure so that `ctx.run` raises `TerminalError`.

The retry count and elapsed time survive attempts through the StartMessage fields
``retry_count_since_last_stored_entry`` / ``duration_since_last_stored_entry``: they describe
the Run command that the previous attempt stored and could not complete.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InfiniteRetry:
    """Leave the delay to the server's invocation retry policy; never give up."""


@dataclass(frozen=True, slots=True)
class FixedDelayRetry:
    """Retry after `interval_ms` (server default if None) until a bound is reached."""

    interval_ms: int | None = None
    max_attempts: int | None = None
    max_duration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class ExponentialRetry:
    """Delay ``initial * factor**(n-1)`` capped at `max_interval_ms`, until a bound is reached."""

    initial_interval_ms: int = 50
    factor: float = 2.0
    max_interval_ms: int | None = 10_000
    max_attempts: int | None = None
    max_duration_ms: int | None = None


RunRetryPolicy = InfiniteRetry | FixedDelayRetry | ExponentialRetry


@dataclass(frozen=True, slots=True)
class RetryAfter:
    """Fail the attempt; the server retries it after `delay_ms` (its own policy if None)."""

    delay_ms: int | None


@dataclass(frozen=True, slots=True)
class GiveUp:
    """The policy is exhausted: journal the failure as terminal."""


NextRetry = RetryAfter | GiveUp


def next_retry(policy: RunRetryPolicy, retry_count: int, retry_loop_ms: int) -> NextRetry:
    """What to do after the `retry_count`-th failed attempt (1-based) of one run."""
    if isinstance(policy, InfiniteRetry):
        return RetryAfter(None)
    if _exhausted(policy.max_attempts, policy.max_duration_ms, retry_count, retry_loop_ms):
        return GiveUp()
    if isinstance(policy, FixedDelayRetry):
        return RetryAfter(policy.interval_ms)
    delay = policy.initial_interval_ms * policy.factor ** (retry_count - 1)
    if policy.max_interval_ms is not None:
        delay = min(delay, policy.max_interval_ms)
    return RetryAfter(int(delay))


def _exhausted(
    max_attempts: int | None, max_duration_ms: int | None, count: int, elapsed_ms: int
) -> bool:
    return (max_attempts is not None and max_attempts <= count) or (
        max_duration_ms is not None and max_duration_ms <= elapsed_ms
    )


def run_options_policy(
    *,
    max_attempts: int | None = None,
    max_duration_ms: int | None = None,
    initial_retry_interval_ms: int | None = None,
    max_retry_interval_ms: int | None = None,
    retry_interval_factor: float | None = None,
) -> RunRetryPolicy:
    """The policy the official SDK derives from `RunOptions` (any field set => exponential)."""
    if (
        max_attempts is None
        and max_duration_ms is None
        and initial_retry_interval_ms is None
        and max_retry_interval_ms is None
        and retry_interval_factor is None
    ):
        return InfiniteRetry()
    return ExponentialRetry(
        initial_interval_ms=50 if initial_retry_interval_ms is None else initial_retry_interval_ms,
        factor=2.0 if retry_interval_factor is None else retry_interval_factor,
        max_interval_ms=10_000 if max_retry_interval_ms is None else max_retry_interval_ms,
        max_attempts=max_attempts,
        max_duration_ms=max_duration_ms,
    )


def retryable_error_policy(
    *,
    retry_after_ms: int | None,
    max_attempts: int | None,
    max_duration_ms: int | None,
) -> RunRetryPolicy:
    """The policy for a `RetryableError` raised in a run: its delay wins (official SDK)."""
    if retry_after_ms is None and max_attempts is None and max_duration_ms is None:
        return InfiniteRetry()
    return FixedDelayRetry(retry_after_ms, max_attempts, max_duration_ms)
