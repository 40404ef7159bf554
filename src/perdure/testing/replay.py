"""Replay check: would the new code of an app replay the journals of the invocations in
flight, or would they hit a journal mismatch (570) after the deploy?

The journals come from the introspection views (`sys_invocation`, `sys_journal`: the raw
entry bytes) through one SQL path: the admin API's `POST /query`, a data dir opened
read-only, or a harness's store. Each in-flight invocation of one of the app's services
is replayed by the SDK's own journal machine, fed the StartMessage and the stored journal
with the input closed, exactly as a request-response attempt would be, except that no
`ctx.run` action runs: where the new code would execute one, the replay stops (the journal
was replayed to its end). The machine compares every command the new code issues with the
stored one; the first difference is the divergence, with what the journal holds, what the
code does and where in the handler (file:line) it did it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sysconfig
import traceback
import types
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

import perdure
from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.errors import JOURNAL_MISMATCH, PROTOCOL_VIOLATION
from perdure.protocol.framing import FrameDecoder, encode_frame
from perdure.protocol.ids import InvocationId, random_seed_for
from perdure.protocol.messages import MessageType, decode_message, encode_message
from perdure.sdk._run import run_attempt
from perdure.sdk.endpoint import Endpoint
from perdure.sdk.handler import HandlerSpec
from perdure.store.api import QueryResult, Store
from perdure.testing.views import entry_of

Query = Callable[[str], Awaitable[list[dict[str, Any]]]]
"""Runs one SQL statement over the introspection views; rows as dicts (blobs as bytes or
hex text, as the admin API prints them)."""

REPLAY_TIMEOUT_S = 10.0
_PAGE = 2_000  # journal rows per query (the views answer at most 10 000)
_LABELS = {t.entry_label: t for t in MessageType}
_SKIPPED_DIRS = (str(Path(perdure.__file__).parent), sysconfig.get_paths()["stdlib"])

Verdict = Literal["ok", "mismatch", "error", "missing handler"]


@dataclass(frozen=True, slots=True)
class Divergence:
    """Where the new code first differs from the journal."""

    command_index: int  # among the journal's commands (what the 570 message counts)
    journal_index: int | None  # the entry's index in the whole journal
    expected: str  # what the journal holds there ("Command: GetPromise 'email-link'")
    got: str  # what the new code does there
    location: str | None  # file:line in the handler's code, when known
    message: str  # the journal machine's own explanation

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        index = f"#{self.journal_index}" if self.journal_index is not None else "the end"
        return f"journal entry {index}: expected {self.expected}, got {self.got}{where}"


@dataclass(frozen=True, slots=True)
class ReplayResult:
    invocation_id: str
    target: str
    status: str
    deployment_id: str | None
    entries: int
    verdict: Verdict
    divergence: Divergence | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    def __str__(self) -> str:
        head = f"{self.invocation_id} {self.target} ({self.status}, {self.entries} entries)"
        if self.ok:
            return f"{head}: replays"
        if self.divergence is not None:
            return f"{head}: journal mismatch at {self.divergence}"
        return f"{head}: {self.verdict}: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["ok"] = self.ok
        return data


@dataclass(slots=True)
class ReplayReport:
    services: list[str]
    results: list[ReplayResult] = field(default_factory=list)

    @property
    def broken(self) -> list[ReplayResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.broken

    def __str__(self) -> str:
        count = len(self.results)
        if self.ok:
            return (
                f"{count} in-flight invocation{'s' if count != 1 else ''} of "
                f"{', '.join(self.services) or 'no service'} replay on the new code"
            )
        lines = [f"{len(self.broken)} of {count} in-flight invocations would break:"]
        lines += [f"  {r}" for r in self.broken]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "services": self.services,
            "checked": len(self.results),
            "broken": len(self.broken),
            "invocations": [r.to_json() for r in self.results],
        }


# -- where journals come from ---------------------------------------------------------------


def rows_of(result: QueryResult) -> list[dict[str, Any]]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def store_query(store: Store) -> Query:
    async def query(sql: str) -> list[dict[str, Any]]:
        return rows_of(await store.query(sql))

    return query


def data_dir_query(data_dir: Path) -> Query:
    """Read-only queries on the SQLite store of `data_dir` (a server may be running)."""
    from perdure.store.sqlite.query import run_query
    from perdure.store.sqlite.store import DB_FILE

    path = data_dir / DB_FILE
    if not path.exists():
        raise FileNotFoundError(f"{data_dir} holds no perdure store ({DB_FILE} is missing)")

    async def query(sql: str) -> list[dict[str, Any]]:
        return rows_of(await asyncio.to_thread(run_query, path, sql))

    return query


def admin_query(client: httpx.AsyncClient) -> Query:
    """`POST /query` of the admin API `client` is based on."""

    async def query(sql: str) -> list[dict[str, Any]]:
        response = await client.post(
            "/query", json={"query": sql}, headers={"accept": "application/json"}
        )
        if not response.is_success:
            raise RuntimeError(
                f"POST /query answered {response.status_code}: {response.text[:300]}"
            )
        rows = response.json().get("rows")
        if not isinstance(rows, list):
            raise RuntimeError("POST /query answered without a 'rows' list")
        return rows

    return query


@dataclass(frozen=True, slots=True)
class InFlight:
    invocation_id: str
    service: str
    handler: str
    key: str | None
    status: str
    protocol_version: int | None
    deployment_id: str | None
    journal: list[tuple[int, bytes]]  # (type code, payload), in order

    @property
    def target(self) -> str:
        return "/".join(p for p in (self.service, self.key, self.handler) if p is not None)


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def in_flight(query: Query, services: Sequence[str]) -> list[InFlight]:
    """The invocations of `services` that are not completed, with their journals."""
    if not services:
        return []
    names = ", ".join(_quoted(s) for s in services)
    rows = await query(
        "SELECT id, target_service_name, target_handler_name, target_service_key, status, "
        "pinned_service_protocol_version, pinned_deployment_id, journal_size "
        f"FROM sys_invocation WHERE status <> 'completed' AND target_service_name IN ({names}) "
        "ORDER BY created_at, id"
    )
    found = []
    for row in rows:
        journal = await _journal(query, str(row["id"]), int(row.get("journal_size") or 0))
        version = row.get("pinned_service_protocol_version")
        found.append(
            InFlight(
                invocation_id=str(row["id"]),
                service=str(row["target_service_name"]),
                handler=str(row["target_handler_name"]),
                key=row.get("target_service_key"),
                status=str(row["status"]),
                protocol_version=int(version) if version is not None else None,
                deployment_id=row.get("pinned_deployment_id"),
                journal=journal,
            )
        )
    return found


async def _journal(query: Query, invocation_id: str, size: int) -> list[tuple[int, bytes]]:
    entries: list[tuple[int, bytes]] = []
    start = 0
    while True:
        rows = await query(
            'SELECT "index", entry_type, raw FROM sys_journal '
            f'WHERE id = {_quoted(invocation_id)} AND "index" >= {start} '
            f'ORDER BY "index" LIMIT {_PAGE}'
        )
        for row in rows:
            entries.append((_type_code(str(row["entry_type"])), _raw(row.get("raw"))))
        if len(rows) < _PAGE:
            return entries
        start = int(rows[-1]["index"]) + 1


def _type_code(label: str) -> int:
    found = _LABELS.get(label)
    if found is not None:
        return int(found)
    if label.startswith("Unknown: 0x"):
        return int(label.removeprefix("Unknown: 0x"), 16)
    raise ValueError(f"unknown journal entry type {label!r}")


def _raw(value: object) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return bytes.fromhex(str(value))  # the admin API prints blobs as hex


# -- replaying ------------------------------------------------------------------------------


async def replay_check(query: Query, app: Endpoint) -> ReplayReport:
    """Replay every in-flight invocation of `app`'s services against `app`."""
    services = sorted(s.name for s in app.services)
    report = ReplayReport(services)
    for invocation in await in_flight(query, services):
        report.results.append(await replay_invocation(app, invocation))
    return report


async def replay_store(store: Store, app: Endpoint) -> ReplayReport:
    return await replay_check(store_query(store), app)


async def replay_data_dir(data_dir: Path, app: Endpoint) -> ReplayReport:
    return await replay_check(data_dir_query(data_dir), app)


async def replay_admin(admin_url: str, app: Endpoint) -> ReplayReport:
    async with httpx.AsyncClient(base_url=admin_url, timeout=30.0, trust_env=False) as client:
        return await replay_check(admin_query(client), app)


class _ReplayIO:
    """The journal in, the input closed after it; whatever the handler sends, kept."""

    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body
        self.output = bytearray()

    async def receive(self) -> bytes | None:
        body, self._body = self._body, None
        return body

    async def send(self, data: bytes) -> None:
        self.output += data


async def replay_invocation(app: Endpoint, invocation: InFlight) -> ReplayResult:
    def result(
        verdict: Verdict, divergence: Divergence | None = None, detail: str = ""
    ) -> ReplayResult:
        return ReplayResult(
            invocation.invocation_id,
            invocation.target,
            invocation.status,
            invocation.deployment_id,
            len(invocation.journal),
            verdict,
            divergence,
            detail,
        )

    spec = app.handler(invocation.service, invocation.handler)
    if spec is None:
        return result("missing handler", detail="the new code has no such handler")
    if not invocation.journal:
        return result("ok")  # not started: nothing journaled yet
    version = invocation.protocol_version or 6
    locations: list[str] = []
    io = _ReplayIO(_attempt_body(invocation, version))
    try:
        async with asyncio.timeout(REPLAY_TIMEOUT_S):
            await run_attempt(_located(spec, locations), version, {}, io, execute_runs=False)
    except TimeoutError:
        return result("error", detail=f"the replay did not end within {REPLAY_TIMEOUT_S:g} s")
    error = _error_in(bytes(io.output))
    if error is None:
        return result("ok")
    location = locations[-1] if locations else None
    if error.code in (JOURNAL_MISMATCH, PROTOCOL_VIOLATION) and error.HasField(
        "related_command_index"
    ):
        return result("mismatch", _divergence(invocation, error, location))
    detail = error.message.splitlines()[0] if error.message else f"error {error.code}"
    where = f" at {location}" if location else ""
    return result("error", detail=f"[{error.code}] {detail}{where}")


def _attempt_body(invocation: InFlight, version: int) -> bytes:
    invocation_id = InvocationId.parse(invocation.invocation_id)
    start = pb.StartMessage(
        id=invocation_id.to_bytes(),
        debug_id=invocation.invocation_id,
        known_entries=len(invocation.journal),
        key=invocation.key or "",
        partial_state=True,  # state values come from the journal; nothing is read live
    )
    if version >= 6:
        start.random_seed = random_seed_for(invocation_id)
    frames = [encode_message(start)]
    frames += [encode_frame(code, payload) for code, payload in invocation.journal]
    return b"".join(frames)


def _error_in(output: bytes) -> pb.ErrorMessage | None:
    for frame in FrameDecoder().feed(output):
        if frame.type == MessageType.ERROR:
            _, message = decode_message(frame)
            assert isinstance(message, pb.ErrorMessage)
            return message
    return None


def _divergence(invocation: InFlight, error: pb.ErrorMessage, location: str | None) -> Divergence:
    command_index = error.related_command_index
    commands = [
        (i, code, payload)
        for i, (code, payload) in enumerate(invocation.journal)
        if code in _CODES and MessageType(code).is_command
    ]
    expected, journal_index = "the end of the journal", None
    if command_index < len(commands):
        journal_index, code, payload = commands[command_index]
        entry = entry_of(journal_index, code, payload)
        expected = entry.type + (f" {entry.name!r}" if entry.name else "")
    got = "?"
    if error.HasField("related_command_type") and error.related_command_type in _CODES:
        got = MessageType(error.related_command_type).entry_label
        if error.related_command_name:
            got += f" {error.related_command_name!r}"
    return Divergence(command_index, journal_index, expected, got, location, error.message)


_CODES = frozenset(int(t) for t in MessageType)


def _located(spec: HandlerSpec, locations: list[str]) -> HandlerSpec:
    """`spec` whose handler records where in user code an exception passed (the await or
    call that diverged)."""
    fn = spec.fn

    async def handler(*args: Any) -> Any:
        try:
            return await fn(*args)
        except BaseException as exc:
            location = _user_frame(exc.__traceback__)
            if location is not None:
                locations.append(location)
            raise

    return dataclasses.replace(spec, fn=handler)


def _user_frame(tb: types.TracebackType | None) -> str | None:
    """file:line of the innermost frame outside perdure and the standard library."""
    found = None
    for frame, line in traceback.walk_tb(tb):
        filename = frame.f_code.co_filename
        if filename.startswith(_SKIPPED_DIRS) or filename.startswith("<"):
            continue
        found = f"{filename}:{line}"
    return found


def report_json(report: ReplayReport) -> str:
    return json.dumps(report.to_json(), indent=2)
