"""What a scenario drives a stack with: the server's ingress and admin HTTP APIs, nothing else."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from .stacks import Stack

NO_BODY: Any = object()


def new_key() -> str:
    return str(uuid.uuid4())


def describe(resp: httpx.Response) -> str:
    return f"{resp.request.method} {resp.request.url} -> {resp.status_code} {resp.text!r}"


def expect(resp: httpx.Response, *statuses: int) -> httpx.Response:
    assert resp.status_code in statuses, f"expected {statuses}: {describe(resp)}"
    return resp


def json_of(resp: httpx.Response) -> Any:
    """The JSON output of a successful call (None for an empty body)."""
    expect(resp, 200)
    return resp.json() if resp.content else None


def failure_of(resp: httpx.Response) -> dict[str, Any]:
    """The invocation failure an ingress caller sees: `{code?, message, metadata?, …}`."""
    assert resp.status_code >= 400, f"expected a failure: {describe(resp)}"
    body = resp.json()
    assert isinstance(body, dict) and isinstance(body.get("message"), str), describe(resp)
    return body


def proxy_request(
    service: str, key: str | None, handler: str, message: Any, **extra: Any
) -> dict[str, Any]:
    """Proxy's ProxyRequest: the proxied JSON body travels as an array of byte values."""
    body: dict[str, Any] = {
        "serviceName": service,
        "handlerName": handler,
        "message": list(json.dumps(message).encode()),
    }
    if key is not None:
        body["virtualObjectKey"] = key
    body.update(extra)
    return body


@dataclass
class Env:
    stack: Stack
    ingress: httpx.AsyncClient
    admin: httpx.AsyncClient

    async def call(
        self,
        target: str,
        body: Any = NO_BODY,
        *,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST /{service}[/{key}]/{handler} with a JSON body (or none)."""
        all_headers = dict(headers or {})
        if idempotency_key:
            all_headers["idempotency-key"] = idempotency_key
        kwargs: dict[str, Any] = {"headers": all_headers}
        if body is not NO_BODY:
            kwargs["json"] = body
        return await self.ingress.post(f"/{target}", **kwargs)

    async def ok(self, target: str, body: Any = NO_BODY, *, idempotent: bool = True) -> Any:
        """A call that must succeed; like Restate's e2e tests, with a fresh idempotency key."""
        key = new_key() if idempotent else None
        return json_of(await self.call(target, body, idempotency_key=key))

    async def send(
        self,
        target: str,
        body: Any = NO_BODY,
        *,
        idempotency_key: str | None = None,
        delay: str | None = None,
    ) -> dict[str, Any]:
        """POST …/send: `{"invocationId": …, "status": "Accepted"|"PreviouslyAccepted"}`."""
        headers = {"idempotency-key": idempotency_key} if idempotency_key else {}
        kwargs: dict[str, Any] = {"headers": headers}
        if delay:
            kwargs["params"] = {"delay": delay}
        if body is not NO_BODY:
            kwargs["json"] = body
        resp = expect(await self.ingress.post(f"/{target}/send", **kwargs), 202)
        result: dict[str, Any] = resp.json()
        assert str(result.get("invocationId", "")).startswith("inv_"), describe(resp)
        return result

    async def attach(self, invocation_id: str) -> httpx.Response:
        return await self.ingress.get(f"/restate/invocation/{invocation_id}/attach")

    async def attach_output(self, invocation_id: str) -> httpx.Response:
        """The output if completed, else 470 (never blocks)."""
        return await self.ingress.get(f"/restate/invocation/{invocation_id}/output")

    async def idempotent_output(
        self, service: str, key: str | None, handler: str, idempotency_key: str, *, attach: bool
    ) -> httpx.Response:
        target = f"{service}/{key}/{handler}" if key is not None else f"{service}/{handler}"
        what = "attach" if attach else "output"
        return await self.ingress.get(f"/restate/invocation/{target}/{idempotency_key}/{what}")

    async def workflow(self, workflow: str, key: str, what: str) -> httpx.Response:
        return await self.ingress.get(f"/restate/workflow/{workflow}/{key}/{what}")

    async def query(self, sql: str) -> list[dict[str, Any]]:
        resp = await self.admin.post(
            "/query", json={"query": sql}, headers={"accept": "application/json"}
        )
        expect(resp, 200)
        rows: list[dict[str, Any]] = resp.json()["rows"]
        return rows

    async def invocation_status(self, invocation_id: str) -> str | None:
        sql = f"SELECT id, status FROM sys_invocation WHERE id = '{invocation_id}'"
        rows = await self.query(sql)
        return str(rows[0]["status"]) if rows else None


@contextlib.asynccontextmanager
async def open_env(stack: Stack) -> AsyncIterator[Env]:
    # Generous read timeout: blocking calls and attaches wait for handlers; every scenario bounds
    # its own waits well below the per-test timeout.
    timeout = httpx.Timeout(60.0, connect=5.0)
    async with (
        httpx.AsyncClient(base_url=stack.server.ingress_url, timeout=timeout) as ingress,
        httpx.AsyncClient(base_url=stack.server.admin_url, timeout=timeout) as admin,
    ):
        yield Env(stack, ingress, admin)
