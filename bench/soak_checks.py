"""The soak's final checks, on the server's own introspection (`POST /query`) and data file.

Every figure is compared with the oracle (soak_programs.py): counters exact, invocations per
service exactly as many as the programs create (none lost, none doubled), each completed, one
invocation per idempotency key, one Output per journal, exactly one RunCompletion per
completion id per invocation and as many as the programs ran, and `PRAGMA integrity_check` ok.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

RUN_COMPLETION = "Notification: Run"
OUTPUT = "Command: Output"


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def expect(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)


def query(admin_url: str, sql: str) -> list[dict[str, Any]]:
    try:
        response = httpx.post(
            f"{admin_url}/query",
            json={"query": sql},
            headers={"accept": "application/json"},
            timeout=60,
        )
    except httpx.TransportError as exc:
        raise AssertionError(f"/query at {admin_url}: {exc!r}") from exc
    if response.status_code != 200:
        raise AssertionError(f"/query {sql!r} -> {response.status_code} {response.text}")
    rows: list[dict[str, Any]] = response.json()["rows"]
    return rows


def check_store(
    admin_url: str,
    findings: Findings,
    *,
    programs: int,
    invocations: int,
    run_completions: int,
    counters: Counter[str],
) -> None:
    by_status = query(
        admin_url,
        "SELECT status, count(*) AS n FROM sys_invocation GROUP BY status",
    )
    statuses = {row["status"]: int(row["n"]) for row in by_status}
    total = sum(statuses.values())
    findings.figures["invocations_stored"] = total
    findings.expect(
        total == invocations,
        f"the store holds {total} invocations, the programs made {invocations}",
    )
    findings.expect(set(statuses) <= {"completed"}, f"invocations not completed: {statuses}")

    keyed = query(
        admin_url,
        "SELECT count(*) AS n, count(DISTINCT idempotency_key) AS keys FROM sys_invocation "
        "WHERE target_service_name = 'SoakProgram'",
    )[0]
    findings.expect(
        int(keyed["n"]) == int(keyed["keys"]) == programs,
        f"{keyed['n']} program invocations for {keyed['keys']} idempotency keys "
        f"({programs} accepted)",
    )

    outputs = query(
        admin_url,
        f"SELECT count(*) AS n, count(DISTINCT id) AS ids FROM sys_journal "
        f"WHERE entry_type = '{OUTPUT}'",
    )[0]
    findings.expect(
        int(outputs["n"]) == int(outputs["ids"]) == invocations,
        f"{outputs['n']} Output entries in {outputs['ids']} journals ({invocations} invocations)",
    )

    doubled = query(
        admin_url,
        "SELECT id, entry_json -> 'Notification' -> 'Completion' -> 'Run' ->> 'completion_id' "
        "AS completion, count(*) AS n "
        f"FROM sys_journal WHERE entry_type = '{RUN_COMPLETION}' "
        "GROUP BY id, completion HAVING count(*) > 1 LIMIT 20",
    )
    findings.expect(not doubled, f"ctx.run results recorded twice: {doubled}")
    runs = int(
        query(
            admin_url,
            f"SELECT count(*) AS n FROM sys_journal WHERE entry_type = '{RUN_COMPLETION}'",
        )[0]["n"]
    )
    findings.figures["run_completions"] = runs
    findings.figures["run_completions_doubled"] = len(doubled)
    findings.expect(
        runs == run_completions,
        f"{runs} RunCompletion entries, the programs ran {run_completions} ctx.run",
    )

    state = query(
        admin_url,
        "SELECT service_key, value_utf8 FROM state "
        "WHERE service_name = 'SoakCounter' AND key = 'count'",
    )
    actual = Counter({row["service_key"]: int(json.loads(row["value_utf8"])) for row in state})
    wrong = {
        key: (actual.get(key, 0), counters.get(key, 0))
        for key in set(actual) | set(counters)
        if actual.get(key, 0) != counters.get(key, 0)
    }
    findings.figures["counters"] = len(set(actual) | set(counters))
    findings.figures["counter_diff"] = sum(abs(a - e) for a, e in wrong.values())
    findings.expect(not wrong, f"counters off (actual, expected): {wrong}")


def integrity(data_dir: Path) -> str:
    """`PRAGMA integrity_check` of the data file (the server stopped)."""
    conn = sqlite3.connect(f"file:{data_dir}/perdure.sqlite3?mode=ro", uri=True)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    return ", ".join(str(row[0]) for row in rows)
