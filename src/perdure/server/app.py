"""Wires the server together and runs every component in one task group.

Start order matters for durability: the store is opened (and migrated) first; stored
timers are armed; the processor gives in-flight invocations of the last run new attempts
(`Recover`); only then do the ingress and admin ports open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, cast

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

from perdure.protocol.identity import RequestSigner, load_private_key_pem
from perdure.server.admin.app import AdminApp
from perdure.server.clock import Clock, SystemClock
from perdure.server.commands import (
    AbortAttempt,
    ArmTimer,
    Cleanup,
    Effect,
    InvocationEnded,
    NotificationCommitted,
    Recover,
    StartAttempt,
)
from perdure.server.config import ServerConfig
from perdure.server.embedded import EmbeddedApp, register_embedded
from perdure.server.engine import Engine
from perdure.server.ingress.app import IngressApp
from perdure.server.invoker import Invoker
from perdure.server.partition import PartitionProcessor
from perdure.server.timers import TimerService
from perdure.server.waiters import ResultWaiters
from perdure.store.sqlite import SqliteStore

logger = logging.getLogger(__name__)


def _hypercorn_config(host: str, port: int) -> HypercornConfig:
    config = HypercornConfig()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    # Through logging (configured by the command), not hypercorn's own stderr handler.
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 2.0
    # Long calls wait for their invocation; do not cut idle keep-alive connections early.
    config.keep_alive_timeout = 75.0
    return config


async def _cleaner(processor: PartitionProcessor, interval_ms: int) -> None:
    """Purge expired completed invocations every `interval_ms` (retention, S13)."""
    while True:
        await asyncio.sleep(max(interval_ms, 10) / 1000)
        try:
            await processor.submit(Cleanup())
        except Exception:
            logger.exception("the cleaner pass failed; it runs again next interval")


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
    store = SqliteStore.open(config.data_dir, config.sqlite_synchronous)
    try:
        # Before Recover: the in-flight invocations it restarts may be pinned to them.
        await register_embedded(store, embedded, clock.now_ms())
        signer = None
        if config.request_identity_key_file is not None:
            signer = RequestSigner(
                load_private_key_pem(config.request_identity_key_file.read_bytes())
            )
        waiters = ResultWaiters()
        engine = Engine(config, clock)
        timers: TimerService
        invoker: Invoker

        def run_effect(effect: Effect) -> None:
            if isinstance(effect, StartAttempt):
                invoker.start(effect.plan)
            elif isinstance(effect, ArmTimer):
                timers.arm(effect.timer_id, effect.due_at)
            elif isinstance(effect, InvocationEnded):
                waiters.resolve(effect.invocation_id, effect.result)
            elif isinstance(effect, NotificationCommitted):
                invoker.forward(effect)
            elif isinstance(effect, AbortAttempt):
                # Fencing already drops the attempt's frames; aborting frees the
                # connection (and the deployment's work) early.
                invoker.abort(effect.invocation_id, effect.attempt)

        processor = PartitionProcessor(store, engine, run_effect)
        timers = TimerService(clock, processor.submit_nowait)
        invoker = Invoker(config, processor.submit, {app.uri: app.runner for app in embedded})
        ingress = IngressApp(config, store, processor.submit, waiters)
        admin = AdminApp(config, store, clock, signer, processor.submit)

        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(processor.run(), name="processor"),
                group.create_task(timers.run(), name="timers"),
                group.create_task(invoker.run(), name="invoker"),
                group.create_task(_cleaner(processor, config.cleanup_interval_ms), name="cleaner"),
            ]
            for timer in await store.read(lambda txn: txn.all_timers()):
                assert timer.id is not None
                timers.arm(timer.id, timer.due_at)
            await processor.submit(Recover())
            tasks.append(
                group.create_task(
                    hypercorn_serve(
                        cast(Any, ingress),
                        _hypercorn_config(config.host, config.ingress_port),
                        shutdown_trigger=shutdown.wait,
                    ),
                    name="ingress",
                )
            )
            tasks.append(
                group.create_task(
                    hypercorn_serve(
                        cast(Any, admin),
                        _hypercorn_config(config.host, config.admin_port),
                        shutdown_trigger=shutdown.wait,
                    ),
                    name="admin",
                )
            )
            logger.info(
                "perdure server ready: ingress http://%s:%d, admin http://%s:%d, data %s",
                config.host,
                config.ingress_port,
                config.host,
                config.admin_port,
                config.data_dir,
            )
            if on_ready is not None:
                on_ready()
            await shutdown.wait()
            # The HTTP servers stop on the trigger; the engine tasks loop forever.
            for task in tasks[:4]:
                task.cancel()
    finally:
        await store.close()
