"""`Harness`: the whole server in the test's process, on virtual time.

    async with perdure.testing.Harness(app) as h:
        handle = await h.client.workflow(SignUp, "ann").submit(user)
        await h.advance(timedelta(hours=24))      # a day of timers, in milliseconds
        view = await h.invocation(handle.invocation_id)

The engine runs as `perdure dev` runs it (processor, timer service, invoker, ingress and
admin around one SQLite store, the app hosted in-process), with a `ManualClock`: nothing
that waits for time moves until `advance`. The ingress client talks to the ingress ASGI
app in-process (no ports). `restart` kills the server as `kill -9` would and recovers it
from the store; crash exploration (`explore_crashes`) does that after every journal entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import types
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

import perdure.client
from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.messages import MessageType
from perdure.sdk.endpoint import Endpoint
from perdure.server.app import Components
from perdure.server.clock import ManualClock
from perdure.server.config import RetryPolicy, ServerConfig
from perdure.server.embedded import register_embedded
from perdure.server.http import Receive, Scope, Send
from perdure.store.api import InvocationStatus
from perdure.store.sqlite import SqliteStore
from perdure.testing._effects import SideEffect, observed
from perdure.testing._hosting import AttemptTrace, current_attempt, hosted_app, observed_runner
from perdure.testing._ingress import IngressProxy
from perdure.testing._quiet import counting_executor, wait_quiet
from perdure.testing._store import EntryLog, TrackedStore
from perdure.testing.views import InvocationView, decode_value, invocation_view

if TYPE_CHECKING:
    from perdure.testing.crashes import CrashReport, Scenario
    from perdure.testing.replay import ReplayReport

START = datetime(2024, 1, 1, tzinfo=UTC)
"""Where virtual time starts (the same in every harness: runs are repeatable)."""

_BASE_URL = "http://perdure-testing"


@dataclass(frozen=True, slots=True)
class RunRepeated:
    """A `ctx.run` action executed again after its result was journaled."""

    invocation_id: str
    completion_id: int
    name: str


@dataclass(slots=True)
class _Generation:
    """One life of the server: a store opened on the data dir and the components on it."""

    number: int
    store: TrackedStore
    components: Components
    task: asyncio.Task[None]
    crashed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ingress(self) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        return self.components.ingress


class Harness:
    """The server and `app` in this process, on a temporary SQLite store and virtual time.

    Args:
        app: What `perdure.app(...)` returned.
        data_dir: Where the store lives (default: a temporary folder, removed on exit).
        start: Virtual time at start (default 2024-01-01T00:00:00Z).
        inactivity_timeout / abort_timeout: The attempt timeouts, on virtual time
            (defaults 1 min and 10 min, as the server's). Zero inactivity makes every
            await on something missing suspend the attempt (and the next one replay).
        retry_policy: The invocation retry policy (default: the server's).
        config: A whole `ServerConfig` instead (the options above then override it).
        idempotency_keys: Give every call and send of `client` that lacks one an
            idempotency key (`perdure-testing-<n>`), so that a request in flight when the
            server restarts is retried without making a second invocation.
    """

    def __init__(
        self,
        app: Endpoint,
        *,
        data_dir: Path | None = None,
        start: datetime = START,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
        config: ServerConfig | None = None,
        idempotency_keys: bool = True,
        crash_after: int | None = None,
    ) -> None:
        if not isinstance(app, Endpoint):
            raise TypeError(f"Harness needs an app made with perdure.app(...), not {app!r}")
        self.app = app
        self._options: dict[str, Any] = {
            "idempotency_keys": idempotency_keys,
            "inactivity_timeout": inactivity_timeout,
            "abort_timeout": abort_timeout,
            "retry_policy": retry_policy,
            "config": config,
            "start": start,
        }
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="perdure-testing-"))
        self.clock = ManualClock(int(start.timestamp() * 1000))
        base = config or ServerConfig.build({})
        overrides: dict[str, Any] = {"data_dir": self.data_dir, "sqlite_synchronous": "NORMAL"}
        if inactivity_timeout is not None:
            overrides["inactivity_timeout_ms"] = _ms(inactivity_timeout)
        if abort_timeout is not None:
            overrides["abort_timeout_ms"] = _ms(abort_timeout)
        if retry_policy is not None:
            overrides["retry_policy"] = retry_policy
        self.config = replace(base, **overrides)
        self.entry_log = EntryLog()
        self.side_effects: list[SideEffect] = []
        self.repeated_runs: list[RunRepeated] = []
        self.restarts = 0
        self._crash_after = crash_after
        self._hosted = hosted_app(app, observed_runner(app, self))
        self._gen: _Generation | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._next_generation = 0
        self._ingress = IngressProxy(
            self._current, keyed_handlers=self._takes_idempotency_key if idempotency_keys else None
        )
        self.client = perdure.client.connect(
            _BASE_URL, transport=httpx.ASGITransport(app=self._ingress)
        )
        self.admin = httpx.AsyncClient(
            base_url=_BASE_URL, transport=httpx.ASGITransport(app=self._admin_app)
        )

    def _takes_idempotency_key(self, service: str, handler: str) -> bool:
        spec = self.app.handler(service, handler)
        return spec is not None and spec.kind != "workflow"

    def like(self, **overrides: Any) -> Harness:
        """A new harness of the same app and options on a fresh store (not started)."""
        options = {**self._options, **overrides}
        return Harness(self.app, **options)

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Harness:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        if self._gen is not None:
            raise RuntimeError("the harness is already started")
        self._executor = counting_executor(asyncio.get_running_loop())
        self._gen = await self._start_generation(self._crash_after)

    async def close(self) -> None:
        """Stop everything; the store's folder is removed if the harness made it."""
        if self._recovery is not None:
            with contextlib.suppress(Exception):
                await self._recovery
        if self._gen is not None:
            await self._stop_generation(self._gen)
            self._gen = None
        await self.client.aclose()
        await self.admin.aclose()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    async def restart(self) -> None:
        """Kill the server now, as `kill -9` would (running attempts die, nothing in
        memory survives), and start it again on the same store: in-flight invocations
        recover with new attempts. Clients in the middle of a request retry it."""
        gen = await self._current()
        gen.store.fence()
        self._recovery = asyncio.get_running_loop().create_task(self._recover(gen))
        await self._recovery

    @property
    def generation(self) -> int:
        return self._gen.number if self._gen is not None else -1

    async def _start_generation(self, crash_after: int | None) -> _Generation:
        raw = SqliteStore.open(self.data_dir, "NORMAL")
        try:
            await register_embedded(raw, [self._hosted], self.clock.now_ms())
        except BaseException:
            await raw.close()
            raise
        number = self._next_generation
        self._next_generation += 1
        store = TrackedStore(
            raw, self.entry_log, crash_after=crash_after, on_crash=partial(self._crashed, number)
        )
        components = Components(self.config, store, self.clock, [self._hosted])
        task = asyncio.create_task(components.run(), name=f"perdure-testing server {number}")
        started = asyncio.ensure_future(components.started.wait())
        await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            started.cancel()
            await raw.close()
            task.result()  # why the engine did not start
        return _Generation(number, store, components, task)

    async def _stop_generation(self, gen: _Generation) -> None:
        gen.crashed.set()
        gen.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gen.task
        await gen.store.close()

    def _crashed(self, number: int) -> None:
        """Generation `number`'s store reached the crash point (its commit is done)."""
        gen = self._gen
        if gen is not None and gen.number == number and self._recovery is None:
            self._recovery = asyncio.get_running_loop().create_task(self._recover(gen))

    async def _recover(self, gen: _Generation) -> None:
        await self._stop_generation(gen)
        self._gen = await self._start_generation(None)
        self.restarts += 1
        self._recovery = None

    async def _current(self) -> _Generation:
        """The running generation (after a crash: once the next one recovered)."""
        if self._recovery is not None:
            await asyncio.shield(self._recovery)
        if self._gen is None:
            raise RuntimeError("the harness is not started; use `async with Harness(app)`")
        return self._gen

    async def _admin_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        gen = await self._current()
        await gen.components.admin(scope, receive, send)

    # -- time ----------------------------------------------------------------------------

    def wall_time(self) -> float:
        """Observer hook: now on the virtual clock, in seconds (handlers' `time.time()`)."""
        return self.clock.now_ms() / 1000

    @property
    def now(self) -> datetime:
        """The virtual time."""
        return datetime.fromtimestamp(self.clock.now_ms() / 1000, UTC)

    async def settle(self) -> None:
        """Wait until nothing happens any more without time passing: every invocation
        finished, or waits for a timer, a promise, an awakeable or a call."""
        await wait_quiet(self.busy, self._executor)

    def busy(self) -> bool:
        """Store work in flight, or the server recovering from a crash."""
        gen = self._gen
        return self._recovery is not None or gen is None or gen.store.in_flight > 0

    async def advance(self, by: timedelta | float) -> None:
        """Move virtual time forward by `by` (a timedelta, or seconds). Everything due in
        that span happens in due order — timers fire, attempts hit their inactivity and
        abort timeouts, retries start — and what each wakes runs (until the server is
        quiet again) before the next one is due."""
        ms = _ms(by) if isinstance(by, timedelta) else round(by * 1000)
        if ms < 0:
            raise ValueError("time only moves forward")
        target = self.clock.now_ms() + ms
        await self.settle()
        while (due := self.clock.next_wakeup_ms()) is not None and due <= target:
            self.clock.advance(due - self.clock.now_ms())
            await self.settle()
        self.clock.advance(target - self.clock.now_ms())
        await self.settle()

    # -- looking inside ------------------------------------------------------------------

    async def invocation(self, invocation_id: str) -> InvocationView:
        """A snapshot of the invocation: status, decoded journal, state, result."""
        gen = await self._current()

        def read(txn: Any) -> InvocationView | None:
            row = txn.get_invocation(invocation_id)
            if row is None:
                return None
            state = txn.all_state(row.service, row.key) if row.key is not None else []
            return invocation_view(row, txn.read_journal(invocation_id), state)

        view = await gen.store.read(read)
        if view is None:
            raise LookupError(f"no invocation {invocation_id}")
        return view

    async def invocations(
        self, service: str | None = None, key: str | None = None, handler: str | None = None
    ) -> list[InvocationView]:
        """Snapshots of every invocation the store holds (oldest first), optionally only
        those of `service`, `key` and/or `handler`."""
        gen = await self._current()

        def read(txn: Any) -> list[InvocationView]:
            views = []
            for row in sorted(txn.list_invocations(100_000), key=lambda r: (r.created_at, r.id)):
                if service not in (None, row.service) or handler not in (None, row.handler):
                    continue
                if key is not None and row.key != key:
                    continue
                state = txn.all_state(row.service, row.key) if row.key is not None else []
                views.append(invocation_view(row, txn.read_journal(row.id), state))
            return views

        found: list[InvocationView] = await gen.store.read(read)
        return found

    async def state(self, service: str, key: str) -> dict[str, Any]:
        """The state of one object or workflow key (JSON-decoded where it parses)."""
        gen = await self._current()
        rows = await gen.store.read(lambda txn: txn.all_state(service, key))
        return {k.decode("utf-8", "replace"): decode_value(v) for k, v in rows}

    async def wait_completed(self, invocation_id: str) -> InvocationView:
        """Settle, then the invocation, which must have completed (AssertionError if it
        still waits: time may need to `advance`)."""
        await self.settle()
        view = await self.invocation(invocation_id)
        if view.status != InvocationStatus.COMPLETED:
            raise AssertionError(
                f"{view.target} ({invocation_id}) is {view.status}, not completed"
                + (f"; last failure: {view.last_failure}" if view.last_failure else "")
            )
        return view

    # -- side effects ----------------------------------------------------------------------

    def side_effect(self, name: str) -> None:
        """Count a side effect: `h.side_effect("e-mail")` from a fake the test gives the
        handlers (or `perdure.testing.side_effect("e-mail")`, which finds the harness)."""
        self.side_effect_marked(current_attempt.get(), name)

    def side_effect_marked(self, attempt: AttemptTrace | None, name: str) -> None:
        """Observer hook: handler code (or the test) marked a side effect."""
        self.side_effects.append(observed(attempt, name, self.generation))

    def count(self, name: str, *, outside_runs: bool = False) -> int:
        """How often the side effect `name` happened (only outside `ctx.run` actions)."""
        return sum(
            1 for e in self.side_effects if e.name == name and not (outside_runs and e.in_run)
        )

    def side_effect_counts(self) -> Counter[str]:
        return Counter(e.name for e in self.side_effects)

    def run_proposed(self, attempt: AttemptTrace, completion_id: int) -> None:
        """Observer hook: an attempt proposes a `ctx.run` result. Proposing one whose
        result is already journaled means the action ran again after it was journaled."""
        gen = self._gen
        if gen is None or attempt.generation != gen.number or gen.store.crashed:
            return  # an attempt of a dead server generation, still unwinding
        if attempt.invocation_id is None:
            return
        if self.entry_log.run_completed(attempt.invocation_id, completion_id):
            name = _run_name(self.entry_log, attempt.invocation_id, completion_id)
            self.repeated_runs.append(RunRepeated(attempt.invocation_id, completion_id, name))

    # -- checks ----------------------------------------------------------------------------

    async def explore_crashes(self, scenario: Scenario, **options: Any) -> CrashReport:
        """Run `scenario` once, then once per journal entry it produces, each time on a
        fresh store with the server killed right after that entry's commit; report every
        run whose outcome differs, that repeats a journaled side effect, or that does not
        finish. See `perdure.testing.crashes.explore_crashes` for the options."""
        from perdure.testing.crashes import explore_crashes

        return await explore_crashes(self, scenario, **options)

    async def replay_check(self, app: Endpoint) -> ReplayReport:
        """Replay every in-flight invocation of this harness against `app` (the new code),
        without running any `ctx.run` action: which ones would hit a journal mismatch."""
        from perdure.testing.replay import replay_store

        gen = await self._current()
        await self.settle()
        return await replay_store(gen.store, app)


def _run_name(log: EntryLog, invocation_id: str, completion_id: int) -> str:
    for entry in list(log.entries):
        if entry.invocation_id == invocation_id and entry.type == MessageType.RUN:
            command = pb.RunCommandMessage()
            command.ParseFromString(entry.payload)
            if command.result_completion_id == completion_id:
                return command.name
    return f"completion {completion_id}"


def _ms(delta: timedelta) -> int:
    return round(delta.total_seconds() * 1000)
