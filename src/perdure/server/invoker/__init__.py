"""The invoker: runs attempts against deployments, reports what they send to the engine.

`Invoker.start(plan)` is called by the processor's effects after the commit that began the
attempt. Each attempt is a task in the invoker's task group; an attempt never raises (a
failure becomes an `AttemptFailed` command), so one broken deployment cannot stop others.

Every attempt is one `AttemptSession` (session.py: the rules, sans-IO) run by one driver
loop (driver.py) over one of three thin transports:

- request-response over httpx (http1.py): HTTP/1.1 deployments, or any deployment when the
  inactivity timeout is 0; the whole journal in the request, every await on a missing
  result suspends;
- bidi over our own HTTP/2 client (bidi.py, h2client.py): BIDI_STREAM deployments over
  HTTP/2; notifications streamed live to the running attempt (mailboxes.py);
- in-process (in_process.py): `embedded://` deployments hosted by this process (`perdure
  dev`), in either mode, over an in-memory stream.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from functools import partial

import httpx

from perdure.protocol.identity import RequestSigner, load_private_key_pem
from perdure.server.clock import Clock, SystemClock
from perdure.server.config import ServerConfig
from perdure.server.engine import AttemptFailed, AttemptPlan, NotificationCommitted, SdkFrames
from perdure.server.invoker.bidi import H2Transport
from perdure.server.invoker.driver import AttemptTransport, run_session
from perdure.server.invoker.h2client import H2Pool
from perdure.server.invoker.headers import attempt_headers, invoke_url
from perdure.server.invoker.http1 import CONNECT_TIMEOUT_S, Http1Transport
from perdure.server.invoker.in_process import (
    AttemptRunner,
    InProcessTransport,
    is_embedded,
    runner_for,
)
from perdure.server.invoker.mailboxes import Mailbox, Mailboxes
from perdure.server.invoker.session import AttemptSession
from perdure.store.api import StoreError

logger = logging.getLogger(__name__)

# Reporting a failed attempt while the store cannot write: retried with this backoff.
STORE_RETRY_MIN_S = 0.1
STORE_RETRY_MAX_S = 5.0

Submit = Callable[[SdkFrames | AttemptFailed], Awaitable[None]]
TraceHeaders = Callable[[AttemptPlan], Mapping[str, str]]


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One for the process: loading the CA bundle costs ~80 ms, per client otherwise
    (every server start, and every restart of perdure.testing's in-process server)."""
    return httpx.create_ssl_context()  # what each client would build: certifi's CAs


class Invoker:
    def __init__(
        self,
        config: ServerConfig,
        submit: Submit,
        in_process: Mapping[str, AttemptRunner] | None = None,
        clock: Clock | None = None,
        trace_headers: TraceHeaders | None = None,
    ) -> None:
        self._config = config
        # The attempt's trace context (`traceparent`) for its request, when tracing is on.
        self._trace_headers = trace_headers
        self._in_process = dict(in_process or {})  # deployment uri -> its hosted app
        self._submit = submit
        self._clock = clock or SystemClock()
        self._plans: asyncio.Queue[tuple[AttemptPlan, Mailbox | None]] = asyncio.Queue()
        self._mailboxes = Mailboxes()
        self._running: dict[str, tuple[int, asyncio.Task[None] | None]] = {}
        self._signer: RequestSigner | None = None
        if config.request_identity_key_file is not None:
            pem = config.request_identity_key_file.read_bytes()
            self._signer = RequestSigner(load_private_key_pem(pem))

    def start(self, plan: AttemptPlan) -> None:
        mailbox = None
        if plan.streaming:
            # Opened now, synchronously in the effect that follows the replay's commit:
            # every later commit's notifications find it (nothing lost in between).
            mailbox = self._mailboxes.open(plan.invocation_id, plan.attempt, plan.known_entries)
        self._running[plan.invocation_id] = (plan.attempt, None)
        self._plans.put_nowait((plan, mailbox))

    @property
    def queued(self) -> int:
        """Attempts waiting for the invoker's loop to start them."""
        return self._plans.qsize()

    def forward(self, effect: NotificationCommitted) -> None:
        """A notification committed for `effect.invocation_id`: to its streaming attempt."""
        self._mailboxes.deliver(effect)

    def abort(self, invocation_id: str, attempt: int) -> None:
        """Stop attempt `attempt` now (the invocation was killed or paused), also when it
        is still queued and has no task yet."""
        running = self._running.get(invocation_id)
        if running is None or running[0] != attempt:
            return
        if running[1] is None:
            del self._running[invocation_id]  # queued: `run` skips it
        else:
            running[1].cancel()

    def abort_where(self, belongs: Callable[[str], bool]) -> None:
        """Abort every attempt whose invocation id `belongs` (a partition that moved)."""
        for invocation_id, (attempt, _) in list(self._running.items()):
            if belongs(invocation_id):
                self.abort(invocation_id, attempt)

    def _client(self, http2: bool) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=100)
        # http2 without http1 on an http:// URL is h2c with prior knowledge.
        return httpx.AsyncClient(
            http1=not http2,
            http2=http2,
            timeout=httpx.Timeout(CONNECT_TIMEOUT_S, read=None),
            limits=limits,
            trust_env=False,
            verify=_tls_context(),
        )

    async def run(self) -> None:
        pool = H2Pool(connect_timeout_s=CONNECT_TIMEOUT_S)
        try:
            async with (
                self._client(http2=False) as http1,
                self._client(http2=True) as http2,
                asyncio.TaskGroup() as tasks,
            ):
                while True:
                    plan, mailbox = await self._plans.get()
                    if self._running.get(plan.invocation_id) != (plan.attempt, None):
                        if mailbox is not None:
                            self._mailboxes.close(mailbox)
                        continue  # aborted (or superseded) before it started
                    opener = self._opener(plan, mailbox, pool, http1 if plan.use_http_11 else http2)
                    task = tasks.create_task(
                        self._attempt(plan, mailbox, opener), name=f"attempt {plan.invocation_id}"
                    )
                    self._running[plan.invocation_id] = (plan.attempt, task)
                    task.add_done_callback(partial(self._finished, plan))
        finally:
            await pool.aclose()

    def _opener(
        self, plan: AttemptPlan, mailbox: Mailbox | None, pool: H2Pool, client: httpx.AsyncClient
    ) -> Callable[[], Awaitable[AttemptTransport]]:
        cluster = self._config.cluster_name
        traced = {} if self._trace_headers is None else dict(self._trace_headers(plan))

        async def open_transport() -> AttemptTransport:
            if is_embedded(plan.uri):
                # Same headers as over HTTP, minus the signature (there is no hop to sign).
                headers = attempt_headers(plan, cluster, None) | traced
                return InProcessTransport(plan, runner_for(plan.uri, self._in_process), headers)
            headers = attempt_headers(plan, cluster, self._signer) | traced
            if mailbox is not None:
                return await H2Transport.open(pool, invoke_url(plan), headers)
            return Http1Transport(client, invoke_url(plan), headers)

        return open_transport

    async def _report_failure(self, failed: AttemptFailed) -> None:
        """Store that the attempt failed, so it is retried. While the store cannot write
        (a full disk) keep trying: otherwise the invocation would stay running with no
        attempt until the next restart. The attempt number fences a late report."""
        delay = STORE_RETRY_MIN_S
        while True:
            try:
                await self._submit(failed)
                return
            except StoreError as exc:
                logger.warning(
                    "cannot fail attempt %d of %s yet (%s); retrying in %gs",
                    failed.attempt,
                    failed.invocation_id,
                    exc,
                    delay,
                )
            except Exception:
                # The invocation stays running in the store; the next start recovers it.
                logger.exception(
                    "cannot fail attempt %d of %s", failed.attempt, failed.invocation_id
                )
                return
            await self._clock.sleep(delay)
            delay = min(delay * 2, STORE_RETRY_MAX_S)

    def _finished(self, plan: AttemptPlan, task: asyncio.Task[None]) -> None:
        running = self._running.get(plan.invocation_id)
        if running is not None and running[1] is task:
            del self._running[plan.invocation_id]

    async def _attempt(
        self,
        plan: AttemptPlan,
        mailbox: Mailbox | None,
        open_transport: Callable[[], Awaitable[AttemptTransport]],
    ) -> None:
        logger.debug("attempt %d of %s (%s)", plan.attempt, plan.invocation_id, plan.uri)
        session = AttemptSession(
            plan, self._config.message_size_limit, streaming=mailbox is not None
        )
        try:
            await run_session(
                session,
                open_transport,
                clock=self._clock,
                submit_frames=self._submit,
                submit_failure=self._report_failure,
                mailbox=mailbox,
            )
        except asyncio.CancelledError:
            # Aborted (kill, pause, shutdown): the engine has moved on, nothing to report.
            logger.debug("attempt %d of %s aborted", plan.attempt, plan.invocation_id)
            raise
        except StoreError as exc:
            # The store could not take the attempt's progress (a full disk): fail it, so it
            # is retried from what was stored, once the store writes again.
            logger.warning("attempt %d of %s: %s", plan.attempt, plan.invocation_id, exc)
            await self._report_failure(
                AttemptFailed(plan.invocation_id, plan.attempt, 500, f"attempt failed: {exc}")
            )
        except Exception as exc:
            # Never let one attempt break the task group; fail the attempt so it is retried.
            logger.exception("attempt %d of %s crashed", plan.attempt, plan.invocation_id)
            failed = AttemptFailed(plan.invocation_id, plan.attempt, 500, f"attempt failed: {exc}")
            await self._report_failure(failed)
        finally:
            if mailbox is not None:
                self._mailboxes.close(mailbox)
