"""Run one scripted scenario against restate-server and perdure's server, compare what
both answered.

A scenario is `async def scenario(side: Side) -> None`: it talks to one server's ingress
and admin API through `side`, which records every answer into the side's `Transcript`.
`differ` runs it on both servers at once and fails with a line diff of the normalised
transcripts when they disagree. Waiting (for a sleep to end, a status to be reached) goes
through `Side.eventually`, whose intermediate answers are not recorded: the two servers
may take different numbers of polls to get there.
"""

from __future__ import annotations

import asyncio
import difflib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.polling import eventually

from .transcript import Transcript, body_of

NO_BODY: Any = object()
# Where an expected difference is normalised away, the scenario says so with a reason.
Scenario = Callable[["Side"], Awaitable[None]]


@dataclass
class Side:
    """One server as a scenario sees it."""

    name: str  # "restate" or "perdure"
    ingress: httpx.AsyncClient
    admin: httpx.AsyncClient
    transcript: Transcript = field(default_factory=Transcript)

    def key(self, label: str = "k") -> str:
        """A fresh key (object key, idempotency key, …), the same placeholder on both."""
        key = f"{label}-{uuid.uuid4().hex[:10]}"
        self.transcript.normaliser.keys.append(key)
        return key

    async def call(
        self,
        path: str,
        body: Any = NO_BODY,
        *,
        label: str = "",
        method: str = "POST",
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        record: bool = True,
    ) -> httpx.Response:
        """A request to the ingress, recorded (unless `record=False`)."""
        kwargs: dict[str, Any] = {"headers": dict(headers or {}), "params": params}
        if body is not NO_BODY:
            kwargs["json"] = body
        elif content is not None:
            kwargs["content"] = content
        response = await self.ingress.request(method, path, **kwargs)
        if record:
            self.transcript.record(label or path, response)
        return response

    async def send(self, path: str, body: Any = NO_BODY, **kwargs: Any) -> str:
        """POST …/send; the new invocation id (the answer is recorded)."""
        response = await self.call(f"{path}/send", body, **kwargs)
        assert response.status_code == 202, response.text
        return str(response.json()["invocationId"])

    async def manage(
        self,
        method: str,
        path: str,
        body: Any = NO_BODY,
        *,
        label: str = "",
        transform: Callable[[Any], Any] | None = None,
    ) -> httpx.Response:
        """A request to the admin API, recorded; `transform` rewrites the JSON answer first
        (to sort what restate lists in no particular order)."""
        kwargs: dict[str, Any] = {}
        if body is not NO_BODY:
            kwargs["json"] = body
        response = await self.admin.request(method, path, **kwargs)
        answer = body_of(response)
        if transform is not None and response.status_code < 300:
            answer = transform(answer)
        self.transcript.record(label or f"admin {path}", response, answer)
        return response

    async def query(self, sql: str) -> list[dict[str, Any]]:
        """`POST /query` (not recorded: scenarios note the part they compare)."""
        response = await self.admin.post(
            "/query", json={"query": sql}, headers={"accept": "application/json"}
        )
        assert response.status_code == 200, f"{sql}: {response.text}"
        rows: list[dict[str, Any]] = response.json()["rows"]
        return rows

    async def status(self, invocation_id: str) -> str | None:
        rows = await self.query(f"SELECT status FROM sys_invocation WHERE id = '{invocation_id}'")
        return str(rows[0]["status"]) if rows else None

    async def wait_status(self, invocation_id: str, *wanted: str, within: float = 20.0) -> str:
        async def probe() -> str | None:
            status = await self.status(invocation_id)
            return status if status in wanted else None

        return await self.eventually(probe, what=f"{invocation_id} to be {wanted}", within=within)

    async def eventually(
        self, probe: Callable[[], Awaitable[Any]], *, what: str, within: float = 20.0
    ) -> Any:
        return await eventually(probe, what=f"{self.name}: {what}", within=within)

    def note(self, label: str, value: Any) -> None:
        self.transcript.note(label, value)


@dataclass
class Servers:
    """Both servers of a module, with the same deployments registered on each."""

    restate_urls: tuple[str, str]  # ingress, admin
    perdure_urls: tuple[str, str]


def _side(name: str, urls: tuple[str, str]) -> tuple[Side, list[httpx.AsyncClient]]:
    timeout = httpx.Timeout(30.0, connect=5.0)
    ingress = httpx.AsyncClient(base_url=urls[0], timeout=timeout)
    admin = httpx.AsyncClient(base_url=urls[1], timeout=timeout)
    return Side(name, ingress, admin), [ingress, admin]


async def differ(servers: Servers, scenario: Scenario) -> None:
    """Run `scenario` on both servers concurrently; fail on any normalised difference."""
    restate, clients_a = _side("restate", servers.restate_urls)
    perdure, clients_b = _side("perdure", servers.perdure_urls)
    try:
        await asyncio.gather(scenario(restate), scenario(perdure))
    finally:
        for client in (*clients_a, *clients_b):
            await client.aclose()
    expected, actual = restate.transcript.lines(), perdure.transcript.lines()
    if expected != actual:
        diff = "\n".join(
            difflib.unified_diff(expected, actual, "restate-server", "perdure", lineterm="", n=1)
        )
        raise AssertionError(f"perdure answered differently from restate-server:\n{diff}")
