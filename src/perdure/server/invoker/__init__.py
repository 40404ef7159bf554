"""The invoker: runs attempts against deployments, reports what they send to the processor.

`Invoker.start(plan)` is called by the processor's effects after the commit that began the
attempt. Each attempt is a task in the invoker's task group; an attempt never raises (a
failure becomes an `AttemptFailed` command), so one broken deployment cannot stop others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httpx

from perdure.protocol.identity import RequestSigner, load_private_key_pem
from perdure.server.commands import AttemptFailed, AttemptPlan, Command
from perdure.server.config import ServerConfig
from perdure.server.invoker.request_response import run_attempt

logger = logging.getLogger(__name__)


class Invoker:
    def __init__(
        self, config: ServerConfig, submit: Callable[[Command], Awaitable[object]]
    ) -> None:
        self._config = config
        self._submit = submit
        self._plans: asyncio.Queue[AttemptPlan] = asyncio.Queue()
        self._signer: RequestSigner | None = None
        if config.request_identity_key_file is not None:
            pem = config.request_identity_key_file.read_bytes()
            self._signer = RequestSigner(load_private_key_pem(pem))

    def start(self, plan: AttemptPlan) -> None:
        self._plans.put_nowait(plan)

    def _client(self, http2: bool) -> httpx.AsyncClient:
        # The read timeout bounds the wait for the deployment's next bytes (abort timeout).
        timeout = httpx.Timeout(30.0, read=self._config.abort_timeout_ms / 1000)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=100)
        # http2 without http1 on an http:// URL is h2c with prior knowledge.
        return httpx.AsyncClient(
            http1=not http2, http2=http2, timeout=timeout, limits=limits, trust_env=False
        )

    async def run(self) -> None:
        async with (
            self._client(http2=False) as http1,
            self._client(http2=True) as http2,
            asyncio.TaskGroup() as tasks,
        ):
            while True:
                plan = await self._plans.get()
                client = http1 if plan.use_http_11 else http2
                tasks.create_task(self._attempt(plan, client))

    async def _attempt(self, plan: AttemptPlan, client: httpx.AsyncClient) -> None:
        logger.debug("attempt %d of %s", plan.attempt, plan.invocation_id)
        try:
            await run_attempt(
                plan,
                client,
                self._submit,
                cluster_name=self._config.cluster_name,
                signer=self._signer,
                max_frame_size=self._config.message_size_limit,
            )
        except Exception as exc:
            # Never let one attempt break the task group; fail the attempt so it is retried.
            logger.exception("attempt %d of %s crashed", plan.attempt, plan.invocation_id)
            failed = AttemptFailed(plan.invocation_id, plan.attempt, 500, f"internal error: {exc}")
            try:
                await self._submit(failed)
            except Exception:
                # The invocation stays running in the store; the next start recovers it.
                logger.exception("cannot fail attempt %d of %s", plan.attempt, plan.invocation_id)
