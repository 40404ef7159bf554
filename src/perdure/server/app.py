"""Wires the server together and runs every component.

Start order matters for durability: the store is opened (and migrated) first; stored
timers are armed; the processor gives in-flight invocations of the last run new attempts
(`Recover`); only then do the ingress and admin ports open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from perdure.protocol.identity import RequestSigner, load_private_key_pem
from perdure.server.admin.app import AdminApp
from perdure.server.auth import warn_if_open
from perdure.server.clock import Clock, SystemClock
from perdure.server.config import ServerConfig
from perdure.server.embedded import EmbeddedApp, register_embedded
from perdure.server.engine import (
    AbortAttempt,
    ArmTimer,
    AttemptFailed,
    Cleanup,
    Effect,
    Engine,
    InvocationEnded,
    NotificationCommitted,
    PartitionProcessor,
    Recover,
    ResultWaiters,
    SdkFrames,
    StartAttempt,
    SyncCodeLimits,
    SyncCodeSchedules,
    TimerService,
)
from perdure.server.http_server import serve_http
from perdure.server.ingress.app import IngressApp
from perdure.server.invoker import Invoker
from perdure.server.kafka.runner import SubscriptionRunner
from perdure.server.observe.metrics import ServerMetrics
from perdure.server.observe.trace_config import traces_exporter
from perdure.server.stores import describe_store, open_store
from perdure.store.api import Store

if TYPE_CHECKING:
    from perdure.server.cluster import ClusterNode
    from perdure.server.observe.tracing import ServerTracing

logger = logging.getLogger(__name__)


async def _cleaner(processor: PartitionProcessor, clock: Clock, interval_ms: int) -> None:
    """Purge expired completed invocations every `interval_ms` (retention, S13)."""
    while True:
        await clock.sleep(max(interval_ms, 10) / 1000)
        try:
            await processor.submit(Cleanup())
        except Exception:
            logger.exception("the cleaner pass failed; it runs again next interval")


class Components:
    """The engine and its I/O around one store, wired; `run` runs them until cancelled.

    Start order matters for durability: stored timers are armed and the processor gives
    in-flight invocations of the last run new attempts (`Recover`) before anything else
    can submit work; the HTTP ports are opened by the caller after `started` is set.
    """

    def __init__(
        self,
        config: ServerConfig,
        store: Store,
        clock: Clock,
        embedded: Sequence[EmbeddedApp] = (),
        tracing: ServerTracing | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.waiters = ResultWaiters()
        self.metrics = ServerMetrics()
        self.tracing = tracing
        self.engine = Engine(config, clock)
        self.processor = PartitionProcessor(
            store, self.engine, self.run_effect, on_commit=self.metrics.committed
        )
        self.timers = TimerService(clock, self.processor.submit_nowait)
        self.invoker = Invoker(
            config,
            self._submit_attempt_news,
            {app.uri: app.runner for app in embedded},
            clock,
            trace_headers=None if tracing is None else tracing.attempt_headers,
        )
        signer = None
        if config.request_identity_key_file is not None:
            signer = RequestSigner(
                load_private_key_pem(config.request_identity_key_file.read_bytes())
            )
        self.ingress = IngressApp(config, store, self.processor.submit, self.waiters)
        self.subscriptions = SubscriptionRunner(store, self.processor.submit, config.kafka_clusters)
        self.admin = AdminApp(
            config, store, clock, signer, self.processor.submit, metrics=self.render_metrics
        )
        self.started = asyncio.Event()

    async def _submit_attempt_news(self, command: SdkFrames | AttemptFailed) -> None:
        """What the invoker reports about an attempt, to the engine (and the metrics and
        traces)."""
        self.metrics.submitted(command)
        if self.tracing is None:
            await self.processor.submit(command)
            return
        command = self.tracing.submitted(command)
        try:
            await self.processor.submit(command)
        finally:
            self.tracing.settled(command)

    async def render_metrics(self) -> bytes:
        return await self.metrics.render(
            self.store,
            processor_pending=lambda: self.processor.pending,
            invoker_queued=lambda: self.invoker.queued,
            timers=self.timers.counts,
        )

    def run_effect(self, effect: Effect) -> None:
        """Runs after the commit of the command that produced `effect`."""
        self.metrics.effect(effect)
        if self.tracing is not None:
            self.tracing.effect(effect)  # first: an attempt's span exists before it starts
        if isinstance(effect, StartAttempt):
            self.invoker.start(effect.plan)
        elif isinstance(effect, ArmTimer):
            self.timers.arm(effect.timer_id, effect.due_at)
        elif isinstance(effect, InvocationEnded):
            self.waiters.resolve(effect)
        elif isinstance(effect, NotificationCommitted):
            self.invoker.forward(effect)
        elif isinstance(effect, AbortAttempt):
            # Fencing already drops the attempt's frames; aborting frees the
            # connection (and the deployment's work) early.
            self.invoker.abort(effect.invocation_id, effect.attempt)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self.processor.run(), name="processor")
            group.create_task(self.timers.run(), name="timers")
            group.create_task(self.invoker.run(), name="invoker")
            interval = self.config.cleanup_interval_ms
            group.create_task(_cleaner(self.processor, self.clock, interval), name="cleaner")
            group.create_task(self.subscriptions.run(), name="subscriptions")
            for timer in await self.store.read(lambda txn: txn.all_timers()):
                assert timer.id is not None
                self.timers.arm(timer.id, timer.due_at)
            await self.processor.submit(Recover())
            # Embedded apps were registered before this ran: their code schedules too.
            await self.processor.submit(SyncCodeSchedules())
            await self.processor.submit(SyncCodeLimits())
            self.started.set()


def _components(
    config: ServerConfig,
    store: Store,
    clock: Clock,
    embedded: Sequence[EmbeddedApp],
    tracing: ServerTracing | None,
) -> Components | ClusterNode:
    if config.node_name is None:
        return Components(config, store, clock, embedded, tracing)
    from perdure.server.cluster import ClusterNode
    from perdure.store.postgres import PostgresStore

    assert isinstance(store, PostgresStore) and not embedded
    return ClusterNode(config, store, clock)


async def run_server(
    config: ServerConfig,
    *,
    shutdown: asyncio.Event,
    clock: Clock | None = None,
    embedded: Sequence[EmbeddedApp] = (),
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run until `shutdown` is set. `embedded`: apps this process hosts (`perdure dev`),
    registered before anything runs; `on_ready` is called once the ports are being served."""
    clock = clock or SystemClock()
    warn_if_open(config.host, config.admin_token)
    store = open_store(config)
    try:
        # Before Recover: the in-flight invocations it restarts may be pinned to them.
        await register_embedded(store, embedded, clock.now_ms())
        tracing = _tracing_from_env(store, clock)
        components = _components(config, store, clock, embedded, tracing)
        engine = asyncio.create_task(components.run(), name="engine")
        started = asyncio.create_task(components.started.wait())
        await asyncio.wait({engine, started}, return_when=asyncio.FIRST_COMPLETED)
        if engine.done():
            started.cancel()
            engine.result()  # the engine failed to start: raise why
        try:
            async with asyncio.TaskGroup() as group:
                for name, app, port in (
                    ("ingress", components.ingress, config.ingress_port),
                    ("admin", components.admin, config.admin_port),
                ):
                    group.create_task(serve_http(app, config.host, port, shutdown), name=name)
                logger.info(
                    "perdure server ready: ingress http://%s:%d, admin http://%s:%d, store %s",
                    config.host,
                    config.ingress_port,
                    config.host,
                    config.admin_port,
                    describe_store(config),
                )
                if on_ready is not None:
                    on_ready()
                await shutdown.wait()
        finally:
            # The HTTP servers stop on the trigger; the engine's tasks loop until cancelled.
            engine.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await engine
            if tracing is not None:
                await tracing.shutdown()  # exports what is batched
    finally:
        await store.close()


def _tracing_from_env(store: Store, clock: Clock) -> ServerTracing | None:
    """Traces, if the `OTEL_*` variables ask for them (else OpenTelemetry is not loaded)."""
    exporter = traces_exporter(os.environ)
    if exporter is None:
        return None
    try:
        from perdure.server.observe.tracing import ServerTracing
    except ImportError as exc:
        logger.warning("OTEL_* asks for traces, but %s: pip install 'perdure[otel]'", exc)
        return None
    return ServerTracing.create(exporter, store, span_clock(clock))


def span_clock(clock: Clock) -> Callable[[], int]:
    """Span times in ns: the wall clock's own resolution, or a manual clock's time."""
    if isinstance(clock, SystemClock):
        return time.time_ns
    return lambda: clock.now_ms() * 1_000_000
