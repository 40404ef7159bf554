"""Random soak programs, generated from a seed, and what each must do (the oracle).

A program is a JSON object run by `SoakProgram/{key}/run` (bench/soak_services.py):
`{"steps": [...], "fail_at": i | null}`. Each step is a list whose first item names it:

    ["add", counter, n]           object call SoakCounter/{counter}/add(n)
    ["send", counter, n, ms]      one-way send of the same, delayed by ms (0: none)
    ["run", v]                    ctx.run returning v
    ["flaky", v, in_sdk]          ctx.run that raises on its first execution, then returns v
                                  (in_sdk: retried by the SDK's RunOptions, else by the server)
    ["caught", msg]               ctx.run raising TerminalError(msg), caught by the program
    ["sleep", ms]                 durable sleep
    ["state", name, v]            set state `name`, read it back
    ["awake", v, ms, reject]      awakeable, settled by SoakResolver (a send delayed by ms)
    ["work", x]                   service call SoakWorker/compute(x): a ctx.run of 3x+1
    ["task", key, steps]          object call SoakTask/{key}/run({"steps": steps}) (layer 1:
                                  its steps never hold a "task" and never fail)

With `fail_at = i`, step i is a ctx.run raising TerminalError (journaled); the program then
compensates every top-level add and send it made (a call of add(-n) each, newest first) and
fails with 422. The oracle below says, for each program: its result (or failure message),
how much it adds to each counter, how many invocations it creates (itself included) and how
many `ctx.run` completions their journals must hold.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

FAIL_STATUS = 422
Step = list[Any]


@dataclass(frozen=True)
class Shape:
    """How big the generated world is."""

    programs_keys: int = 40
    task_keys: int = 12
    counters: int = 16
    max_steps: int = 6
    max_sleep_ms: int = 300
    max_delay_ms: int = 400
    fail_ratio: float = 0.12


@dataclass
class Expected:
    """What one program must have done once it completed."""

    result: list[Any] | None  # None when it fails
    failure: str | None
    adds: Counter[str] = field(default_factory=Counter)
    invocations: int = 1
    run_completions: int = 0


@dataclass(frozen=True)
class Program:
    number: int
    key: str  # the SoakProgram object key
    idempotency_key: str
    body: dict[str, Any]
    expected: Expected


_WEIGHTS = {
    "add": 5,
    "send": 4,
    "run": 4,
    "flaky": 3,
    "caught": 2,
    "sleep": 3,
    "state": 3,
    "awake": 3,
    "work": 3,
    "task": 3,
}


def _step(rng: random.Random, shape: Shape, *, layer: int) -> Step:
    kinds = [k for k in _WEIGHTS if layer == 0 or k != "task"]
    kind = rng.choices(kinds, weights=[_WEIGHTS[k] for k in kinds])[0]
    counter = f"c{rng.randrange(shape.counters)}"
    if kind == "add":
        return ["add", counter, rng.randint(1, 9)]
    if kind == "send":
        delay = rng.choice([0, 0, rng.randint(1, shape.max_delay_ms)])
        return ["send", counter, rng.randint(1, 9), delay]
    if kind == "run":
        return ["run", rng.randint(0, 10**6)]
    if kind == "flaky":
        return ["flaky", rng.randint(0, 10**6), rng.random() < 0.5]
    if kind == "caught":
        return ["caught", f"expected-{rng.randint(0, 999)}"]
    if kind == "sleep":
        return ["sleep", rng.randint(1, shape.max_sleep_ms)]
    if kind == "state":
        return ["state", f"s{rng.randrange(4)}", rng.randint(0, 10**6)]
    if kind == "awake":
        delay = rng.choice([0, rng.randint(1, shape.max_delay_ms)])
        return ["awake", rng.randint(0, 10**6), delay, rng.random() < 0.2]
    if kind == "work":
        return ["work", rng.randint(0, 10**6)]
    steps = [_step(rng, shape, layer=1) for _ in range(rng.randint(1, 3))]
    return ["task", f"t{rng.randrange(shape.task_keys)}", steps]


def run_steps(steps: list[Step], expected: Expected) -> list[Any]:
    """The results of `steps` (as the interpreter returns them); tallies into `expected`."""
    out: list[Any] = []
    for step in steps:
        kind = step[0]
        if kind in ("add", "send"):
            expected.adds[step[1]] += step[2]
            expected.invocations += 1
            out.append(kind[0])
        elif kind in ("run", "flaky"):
            expected.run_completions += 1
            out.append(step[1])
        elif kind == "caught":
            expected.run_completions += 1
            out.append(f"caught:{step[1]}")
        elif kind == "sleep":
            out.append("z")
        elif kind == "state":
            out.append(step[2])
        elif kind == "awake":
            expected.invocations += 1  # the resolver
            out.append(f"rejected:{step[1]}" if step[3] else step[1])
        elif kind == "work":
            expected.invocations += 1
            expected.run_completions += 1
            out.append(3 * step[1] + 1)
        elif kind == "task":
            expected.invocations += 1
            out.append(run_steps(step[2], expected))
        else:
            raise ValueError(f"unknown step {step!r}")
    return out


def failure_message(fail_at: int, compensated: int) -> str:
    return f"failed at step {fail_at}, {compensated} adds compensated"


def oracle(body: dict[str, Any]) -> Expected:
    """What `body` must do: result, counter deltas, invocations, run completions."""
    steps: list[Step] = body["steps"]
    fail_at: int | None = body.get("fail_at")
    expected = Expected(result=None, failure=None)
    if fail_at is None:
        expected.result = run_steps(steps, expected)
        return expected
    run_steps(steps[:fail_at], expected)
    expected.run_completions += 1  # the failing step
    compensated = [s for s in steps[:fail_at] if s[0] in ("add", "send")]
    for step in compensated:
        expected.adds[step[1]] -= step[2]
        expected.invocations += 1  # each compensation is a call
    expected.failure = failure_message(fail_at, len(compensated))
    return expected


def generate(seed: int, invocations: int, shape: Shape | None = None) -> list[Program]:
    """Programs until together they create at least `invocations` invocations."""
    shape = shape or Shape()
    rng = random.Random(seed)
    programs: list[Program] = []
    total = 0
    while total < invocations:
        number = len(programs)
        steps = [_step(rng, shape, layer=0) for _ in range(rng.randint(1, shape.max_steps))]
        fail_at = rng.randrange(len(steps) + 1) if rng.random() < shape.fail_ratio else None
        body = {"steps": steps, "fail_at": fail_at}
        expected = oracle(body)
        key = f"p{rng.randrange(shape.programs_keys)}"
        programs.append(Program(number, key, f"soak-{seed}-{number}", body, expected))
        total += expected.invocations
    return programs


def totals(programs: list[Program]) -> tuple[Counter[str], int, int]:
    """(expected value of every counter, invocations, run completions) of all programs."""
    counters: Counter[str] = Counter()
    invocations = runs = 0
    for program in programs:
        counters.update(program.expected.adds)
        invocations += program.expected.invocations
        runs += program.expected.run_completions
    return counters, invocations, runs
