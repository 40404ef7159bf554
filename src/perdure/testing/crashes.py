"""Crash exploration: does the app survive a crash after every journal entry?

`explore_crashes(harness, scenario)` runs `scenario` (an async function of a harness that
starts invocations and drives them: calls, approvals, `advance`) once on a fresh store to
learn how many journal entries it produces. Then, for each entry n, it runs the scenario
again on another fresh store, and the server dies right after the commit that holds entry
n — nothing after it commits, no effect of it runs, every attempt dies — and recovers from
the store, as after `kill -9` and a restart. Clients in the middle of a request retry it
(with the harness's idempotency keys, so a retry never makes a second invocation).

A run fails when:

- its outcome differs from the run without a crash: what the scenario returned or raised,
  the status, result or failure of every invocation (by target), the state of every key,
  how often each side effect marked outside `ctx.run` happened;
- a `ctx.run` action ran again after its result was journaled;
- a side effect marked outside `ctx.run` happened while the handler replayed its journal
  (checked in the run without a crash too: a suspension is a replay);
- it never finishes: the scenario still waits while the server has nothing left to do.

Each failure names the crash point: entry n, its invocation's target, its index, its type
and its name.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from perdure.testing.harness import Harness
from perdure.testing.views import InvocationView, entry_of

Scenario = Callable[[Harness], Awaitable[Any]]

IDLE_LIMIT_S = 2.0
"""A scenario that waits this long while the server is quiet and nothing changes never
finishes (real seconds)."""
RUN_LIMIT_S = 60.0


class ScenarioFailed(AssertionError):
    """The scenario failed without any crash: fix the scenario (or the app) first."""


class CrashesChangeTheOutcome(AssertionError):
    """At least one crash point breaks the scenario; `.report` says which and how."""

    def __init__(self, report: CrashReport) -> None:
        super().__init__(str(report))
        self.report = report


@dataclass(frozen=True, slots=True)
class Boundary:
    """A crash point: right after the commit of journal entry `number` (1-based, in
    commit order over all invocations of the run)."""

    number: int
    invocation_id: str
    target: str
    index: int
    type: str
    name: str | None

    def __str__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return f"entry {self.number}: {self.target} #{self.index} {self.type}{name}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a run leaves behind, compared between runs."""

    returned: str
    invocations: tuple[tuple[str, str, str], ...]
    state: tuple[tuple[str, str], ...]
    outside_effects: tuple[tuple[str, int], ...]

    def differences(self, other: Outcome) -> list[str]:
        """How `other` differs from this (the run without a crash)."""
        found = []
        if self.returned != other.returned:
            found.append(f"the scenario gave {other.returned}, not {self.returned}")
        for what, mine, theirs in (
            ("invocations", self.invocations, other.invocations),
            ("state", self.state, other.state),
            ("side effects outside ctx.run", self.outside_effects, other.outside_effects),
        ):
            missing = Counter(mine) - Counter(theirs)
            extra = Counter(theirs) - Counter(mine)
            if missing or extra:
                found.append(
                    f"{what}: expected {_items(missing)}, got {_items(extra)} instead"
                    if missing
                    else f"{what}: also {_items(extra)}"
                )
        return found


@dataclass(frozen=True, slots=True)
class CrashFailure:
    boundary: Boundary | None  # None: the run without a crash
    problems: tuple[str, ...]

    def __str__(self) -> str:
        where = f"crash after {self.boundary}" if self.boundary else "without a crash"
        return where + "".join(f"\n    - {p}" for p in self.problems)


@dataclass(slots=True)
class CrashReport:
    entries: list[Boundary]
    runs: int
    failures: list[CrashFailure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        head = f"{self.runs} runs ({len(self.entries)} crash points) in {self.seconds:.2f} s: " + (
            "no crash changes the outcome" if self.ok else f"{len(self.failures)} failed"
        )
        return "\n".join([head, *(f"  {failure}" for failure in self.failures)])


async def explore_crashes(
    template: Harness,
    scenario: Scenario,
    *,
    boundaries: Sequence[int] | None = None,
    raise_on_failure: bool = True,
    idle_limit: float = IDLE_LIMIT_S,
    run_limit: float = RUN_LIMIT_S,
) -> CrashReport:
    """Explore the crash points of `scenario` on harnesses like `template` (same app and
    options, fresh stores). `boundaries`: only these entry numbers (default: all).
    Raises `CrashesChangeTheOutcome` when a run fails (unless `raise_on_failure=False`),
    `ScenarioFailed` when the scenario fails without a crash."""
    started = time.perf_counter()
    harness = template.like()
    async with harness:
        try:
            returned = await _drive(harness, scenario, idle_limit, run_limit)
        except _NeverFinished as stuck:
            raise ScenarioFailed(f"the scenario never finishes without a crash: {stuck}") from None
        except Exception as exc:
            raise ScenarioFailed(f"the scenario fails without a crash: {exc!r}") from exc
        reference = await _outcome(harness, _shown(returned))
        views = await harness.invocations()
        entries = _boundaries(harness, views)
        report = CrashReport(entries, runs=1)
        if problems := _own_problems(harness, views):
            report.failures.append(CrashFailure(None, tuple(problems)))
    for number in range(1, len(entries) + 1) if boundaries is None else boundaries:
        report.runs += 1
        failure = await _crash_run(template, scenario, number, reference, idle_limit, run_limit)
        if failure is not None:
            report.failures.append(failure)
    report.seconds = time.perf_counter() - started
    if raise_on_failure and not report.ok:
        raise CrashesChangeTheOutcome(report)
    return report


async def _crash_run(
    template: Harness,
    scenario: Scenario,
    number: int,
    reference: Outcome,
    idle_limit: float,
    run_limit: float,
) -> CrashFailure | None:
    harness = template.like(crash_after=number)
    async with harness:
        problems: list[str] = []
        returned: Any = None
        try:
            returned = _shown(await _drive(harness, scenario, idle_limit, run_limit))
        except _NeverFinished as stuck:
            problems.append(f"never finishes: {stuck}")
        except Exception as exc:
            returned = _shown_error(exc)
        if not problems:
            outcome = await _outcome(harness, returned)
            problems += reference.differences(outcome)
        views = await harness.invocations()
        problems += _own_problems(harness, views)
        crashed_at = _boundaries(harness, views)
        if number > len(crashed_at):
            return None  # this run made fewer entries: it never reached the crash point
        if harness.restarts == 0 and not problems:
            problems.append("the server did not recover after the crash")
        return CrashFailure(crashed_at[number - 1], tuple(problems)) if problems else None


class _NeverFinished(Exception):
    pass


async def _drive(harness: Harness, scenario: Scenario, idle_limit: float, run_limit: float) -> Any:
    """Run the scenario; `_NeverFinished` when it waits with nothing happening."""
    task = asyncio.ensure_future(scenario(harness))
    deadline = time.monotonic() + run_limit
    last: tuple[int, int, int] | None = None
    idle_since = time.monotonic()
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.05)
            if done:
                result = task.result()
                await harness.settle()
                return result
            progress = (len(harness.entry_log), harness.restarts, len(harness.side_effects))
            now = time.monotonic()
            if progress != last or harness.busy():
                last, idle_since = progress, now
            elif now - idle_since > idle_limit:
                raise _NeverFinished(
                    f"the scenario still waits after {idle_limit:g} s with the server quiet; "
                    f"invocations: {_statuses(await harness.invocations())}"
                )
            if now > deadline:
                raise _NeverFinished(f"the scenario ran longer than {run_limit:g} s")
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _outcome(harness: Harness, returned: str) -> Outcome:
    views = await harness.invocations()
    invocations = tuple(sorted((v.target, v.status, _result_of(v)) for v in views))
    keys = sorted({(v.service, v.key) for v in views if v.key is not None})
    state = []
    for service, key in keys:
        assert key is not None
        for name, value in (await harness.state(service, key)).items():
            state.append((f"{service}/{key}/{name}", _shown(value)))
    outside = Counter(e.name for e in harness.side_effects if not e.in_run)
    return Outcome(returned, invocations, tuple(sorted(state)), tuple(sorted(outside.items())))


def _own_problems(harness: Harness, views: list[InvocationView]) -> list[str]:
    targets = {v.id: v.target for v in views}
    problems = [
        f"ctx.run {r.name!r} of {targets.get(r.invocation_id, r.invocation_id)} ran again "
        "after its result was journaled"
        for r in harness.repeated_runs
    ]
    replayed = Counter(
        (e.name, targets.get(e.invocation_id or "", "?"))
        for e in harness.side_effects
        if e.replaying
    )
    problems += [
        f"side effect {name!r} outside ctx.run happened again while {target} replayed"
        + (f" ({n} times)" if n > 1 else "")
        for (name, target), n in sorted(replayed.items())
    ]
    return problems


def _boundaries(harness: Harness, views: list[InvocationView]) -> list[Boundary]:
    targets = {v.id: v.target for v in views}
    found = []
    for number, entry in enumerate(list(harness.entry_log.entries), 1):
        decoded = entry_of(entry.index, entry.type, entry.payload)
        found.append(
            Boundary(
                number,
                entry.invocation_id,
                targets.get(entry.invocation_id, entry.invocation_id),
                entry.index,
                decoded.type,
                decoded.name,
            )
        )
    return found


def _result_of(view: InvocationView) -> str:
    if view.failure is not None:
        return f"failure [{view.failure.code}] {view.failure.message}"
    if view.status == "completed":
        return f"result {_shown(view.result)}"
    return ""


def _statuses(views: list[InvocationView]) -> str:
    return ", ".join(f"{v.target} {v.status}" for v in views) or "none"


def _shown(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        return repr(value)


def _shown_error(exc: BaseException) -> str:
    return f"error {type(exc).__name__}: {exc}"


def _items(counter: Counter[Any]) -> str:
    parts = []
    for item, n in sorted(counter.items(), key=repr):
        shown = " ".join(str(part) for part in item if part) if isinstance(item, tuple) else item
        parts.append(f"{shown}" + (f" (x{n})" if n > 1 else ""))
    return "; ".join(parts)
