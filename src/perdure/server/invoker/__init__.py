"""The invoker: runs attempts against deployments, reports what they send to the processor.

`Invoker.start(plan)` is called by the processor's effects after the commit that began the
attempt. Each attempt is a task in the invoker's task group; an attempt never raises (a
failure becomes an `AttemptFailed` command), so one broken deployment cannot stop others.

Two transport modes (protocol reference §2.4):

- request-response (HTTP/1.1 deployments, or any deployment when the inactivity timeout
  is 0): httpx, the whole journal in the request, every await on a missing result
  suspends (request_response.py);
- bidi (HTTP/2 deployments whose manifest says BIDI_STREAM): our own h2 client, one
  connection per deployment, notifications streamed live to the running attempt
  (bidi.py, h2client.py, live.py).

Embedded deployments (`embedded://…`, hosted by this process: `perdure dev`) take neither
HTTP path: their attempts run in-process over an in-memory stream, in either mode
(in_process.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import partial

import httpx

from perdure.protocol.identity import RequestSigner, load_private_key_pem
from perdure.server.commands import AttemptFailed, AttemptPlan, Command, NotificationCommitted
from perdure.server.config import ServerConfig
from perdure.server.invoker.bidi import run_bidi_attempt
from perdure.server.invoker.h2client import H2Pool
from perdure.server.invoker.in_process import (
    AttemptRunner,
    is_embedded,
    run_in_process_attempt,
    runner_for,
)
from perdure.server.invoker.live import Mailbox, Mailboxes, known_entries
from perdure.server.invoker.request_response import run_attempt

logger = logging.getLogger(__name__)

_CONNECT_TIMEOUT_S = 30.0


def is_bidi(plan: AttemptPlan) -> bool:
    """Bidi needs HTTP/2 and a BIDI_STREAM manifest; an inactivity timeout of 0 forces
    request-response, as the real server does (every await then suspends)."""
    return (
        not plan.use_http_11
        and plan.protocol_mode == "BIDI_STREAM"
        and plan.inactivity_timeout_ms > 0
    )


class Invoker:
    def __init__(
        self,
        config: ServerConfig,
        submit: Callable[[Command], Awaitable[object]],
        in_process: Mapping[str, AttemptRunner] | None = None,
    ) -> None:
        self._config = config
        self._in_process = dict(in_process or {})  # deployment uri -> its hosted app
        self._submit = submit
        self._plans: asyncio.Queue[tuple[AttemptPlan, Mailbox | None]] = asyncio.Queue()
        self._mailboxes = Mailboxes()
        self._running: dict[str, tuple[int, asyncio.Task[None]]] = {}
        self._signer: RequestSigner | None = None
        if config.request_identity_key_file is not None:
            pem = config.request_identity_key_file.read_bytes()
            self._signer = RequestSigner(load_private_key_pem(pem))

    def start(self, plan: AttemptPlan) -> None:
        mailbox = None
        if is_bidi(plan):
            # Opened now, synchronously in the effect that follows the snapshot's commit:
            # every later commit's notifications find it (nothing lost in between).
            snapshot = known_entries(plan.body)
            mailbox = self._mailboxes.open(plan.invocation_id, plan.attempt, snapshot)
        self._plans.put_nowait((plan, mailbox))

    def forward(self, effect: NotificationCommitted) -> None:
        """A notification committed for `effect.invocation_id`: to its bidi attempt."""
        self._mailboxes.deliver(effect)

    def abort(self, invocation_id: str, attempt: int) -> None:
        """Stop attempt `attempt` now (the invocation was killed or paused)."""
        running = self._running.get(invocation_id)
        if running is not None and running[0] == attempt:
            running[1].cancel()

    def _client(self, http2: bool) -> httpx.AsyncClient:
        # Each request sets its read timeout (the plan's abort timeout).
        timeout = httpx.Timeout(_CONNECT_TIMEOUT_S, read=self._config.abort_timeout_ms / 1000)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=100)
        # http2 without http1 on an http:// URL is h2c with prior knowledge.
        return httpx.AsyncClient(
            http1=not http2, http2=http2, timeout=timeout, limits=limits, trust_env=False
        )

    async def run(self) -> None:
        pool = H2Pool(connect_timeout_s=_CONNECT_TIMEOUT_S)
        try:
            async with (
                self._client(http2=False) as http1,
                self._client(http2=True) as http2,
                asyncio.TaskGroup() as tasks,
            ):
                while True:
                    plan, mailbox = await self._plans.get()
                    if is_embedded(plan.uri):
                        attempt = self._in_process_attempt(plan, mailbox)
                    elif mailbox is not None:
                        attempt = self._bidi_attempt(plan, pool, mailbox)
                    else:
                        client = http1 if plan.use_http_11 else http2
                        attempt = self._attempt(plan, client)
                    task = tasks.create_task(attempt, name=f"attempt {plan.invocation_id}")
                    self._running[plan.invocation_id] = (plan.attempt, task)
                    task.add_done_callback(partial(self._finished, plan))
        finally:
            await pool.aclose()

    def _finished(self, plan: AttemptPlan, task: asyncio.Task[None]) -> None:
        running = self._running.get(plan.invocation_id)
        if running is not None and running[1] is task:
            del self._running[plan.invocation_id]

    async def _bidi_attempt(self, plan: AttemptPlan, pool: H2Pool, mailbox: Mailbox) -> None:
        logger.debug("attempt %d of %s (bidi)", plan.attempt, plan.invocation_id)
        try:
            await self._guard(
                plan,
                run_bidi_attempt(
                    plan,
                    pool,
                    mailbox,
                    self._submit,
                    cluster_name=self._config.cluster_name,
                    signer=self._signer,
                    max_frame_size=self._config.message_size_limit,
                ),
            )
        finally:
            self._mailboxes.close(mailbox)

    async def _in_process_attempt(self, plan: AttemptPlan, mailbox: Mailbox | None) -> None:
        logger.debug("attempt %d of %s (in-process)", plan.attempt, plan.invocation_id)
        try:
            await self._guard(
                plan,
                run_in_process_attempt(
                    plan,
                    runner_for(plan.uri, self._in_process),
                    mailbox,
                    self._submit,
                    cluster_name=self._config.cluster_name,
                    max_frame_size=self._config.message_size_limit,
                ),
            )
        finally:
            if mailbox is not None:
                self._mailboxes.close(mailbox)

    async def _attempt(self, plan: AttemptPlan, client: httpx.AsyncClient) -> None:
        logger.debug("attempt %d of %s", plan.attempt, plan.invocation_id)
        await self._guard(
            plan,
            run_attempt(
                plan,
                client,
                self._submit,
                cluster_name=self._config.cluster_name,
                signer=self._signer,
                max_frame_size=self._config.message_size_limit,
            ),
        )

    async def _guard(self, plan: AttemptPlan, attempt: Awaitable[None]) -> None:
        try:
            await attempt
        except asyncio.CancelledError:
            # Aborted (kill, pause, shutdown): the engine has moved on, nothing to report.
            logger.debug("attempt %d of %s aborted", plan.attempt, plan.invocation_id)
            raise
        except Exception as exc:
            # Never let one attempt break the task group; fail the attempt so it is retried.
            logger.exception("attempt %d of %s crashed", plan.attempt, plan.invocation_id)
            failed = AttemptFailed(plan.invocation_id, plan.attempt, 500, f"internal error: {exc}")
            try:
                await self._submit(failed)
            except Exception:
                # The invocation stays running in the store; the next start recovers it.
                logger.exception("cannot fail attempt %d of %s", plan.attempt, plan.invocation_id)
