"""Prometheus metrics, served as text at the admin API's `GET /metrics`.

They are fed where the server already observes its work, never inside the engine's
transactions: the effects that run after a commit (an attempt started), the commands the
invoker submits (an attempt failed, a suspension), the processor's commit callback (commit
latency), and at scrape time the queues themselves and one count query over the store's
introspection view (invocations by status, the same on every store).

    perdure_invocations{status}          invocations in the store, by status
    perdure_attempts_started_total       attempts handed to the invoker
    perdure_attempts_failed_total        attempts that failed (transport, or the SDK's Error)
    perdure_suspensions_total            attempts that ended suspended
    perdure_commit_seconds               histogram: a flush of commands, queued to committed
    perdure_processor_pending            commands waiting for the next flush
    perdure_invoker_queued               attempts waiting for the invoker to start them
    perdure_timers_armed / _due          timers held in memory / due now and not fired yet
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from perdure.protocol.messages import MessageType
from perdure.server.engine import AttemptFailed, Command, Effect, SdkFrames, StartAttempt
from perdure.store.api import InvocationStatus, QueryError, Store

CONTENT_TYPE = CONTENT_TYPE_LATEST
_COMMIT_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class ServerMetrics:
    """One server's metrics, in a registry of its own (several servers may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.invocations = Gauge(
            "perdure_invocations", "Invocations in the store, by status", ["status"], registry=r
        )
        self.attempts_started = Counter(
            "perdure_attempts_started", "Attempts handed to the invoker", registry=r
        )
        self.attempts_failed = Counter(
            "perdure_attempts_failed",
            "Attempts that failed (transport, HTTP status, timeout, or an Error from the SDK)",
            registry=r,
        )
        self.suspensions = Counter(
            "perdure_suspensions", "Attempts that ended with a suspension", registry=r
        )
        self.commit_seconds = Histogram(
            "perdure_commit_seconds",
            "Time from a flush of commands being queued to its commit",
            buckets=_COMMIT_BUCKETS,
            registry=r,
        )
        self.processor_pending = Gauge(
            "perdure_processor_pending", "Commands waiting for the next flush", registry=r
        )
        self.invoker_queued = Gauge(
            "perdure_invoker_queued", "Attempts waiting for the invoker to start them", registry=r
        )
        self.timers_armed = Gauge("perdure_timers_armed", "Timers held in memory", registry=r)
        self.timers_due = Gauge(
            "perdure_timers_due", "Armed timers that are due and not fired yet", registry=r
        )
        self.subscription_lag = Gauge(
            "perdure_subscription_lag",
            "Kafka records of a subscription's partition not ingested yet (high watermark "
            "minus the next offset)",
            ["subscription", "partition"],
            registry=r,
        )
        for status in InvocationStatus:
            self.invocations.labels(status=status.value).set(0)

    def effect(self, effect: Effect) -> None:
        """After the commit that produced `effect`."""
        if isinstance(effect, StartAttempt):
            self.attempts_started.inc()

    def submitted(self, command: Command[object]) -> None:
        """A command the invoker submits about an attempt."""
        if isinstance(command, AttemptFailed):
            self.attempts_failed.inc()
        elif isinstance(command, SdkFrames):
            for frame in command.frames:
                if frame.type == MessageType.SUSPENSION:
                    self.suspensions.inc()
                elif frame.type == MessageType.ERROR:
                    self.attempts_failed.inc()

    def committed(self, seconds: float) -> None:
        self.commit_seconds.observe(seconds)

    async def render(
        self,
        store: Store,
        *,
        processor_pending: Callable[[], int],
        invoker_queued: Callable[[], int],
        timers: Callable[[], tuple[int, int]],
    ) -> bytes:
        """The text a scrape gets, with the gauges read now."""
        try:
            counted = await store.query(
                "SELECT status, COUNT(*) AS n FROM sys_invocation GROUP BY status"
            )
        except QueryError:
            counted = None  # too many queries right now: keep the last counts
        if counted is not None:
            found = {str(status): int(n) for status, n in counted.rows}  # type: ignore[call-overload]
            for status in InvocationStatus:
                self.invocations.labels(status=status.value).set(found.get(status.value, 0))
        await self._subscription_lag(store)
        self.processor_pending.set(processor_pending())
        self.invoker_queued.set(invoker_queued())
        armed, due = timers()
        self.timers_armed.set(armed)
        self.timers_due.set(due)
        return bytes(generate_latest(self.registry))

    async def _subscription_lag(self, store: Store) -> None:
        try:
            lags = await store.query(
                "SELECT id, partition, lag FROM sys_subscription WHERE partition IS NOT NULL"
            )
        except QueryError:
            return  # too many queries right now: keep the last values
        self.subscription_lag.clear()
        for subscription, partition, lag in lags.rows:
            self.subscription_lag.labels(
                subscription=str(subscription), partition=str(partition)
            ).set(
                float(lag or 0)  # type: ignore[arg-type]
            )
