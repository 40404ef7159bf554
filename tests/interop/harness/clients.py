"""Thin clients for the real server's ingress (:8080-like) and admin (:9070-like) HTTP APIs.

They return raw httpx responses where the status and body are what a test checks, and decoded
values where only success makes sense (then a failure raises with the full response text).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

_NO_BODY = object()


def _describe(resp: httpx.Response) -> str:
    return f"{resp.request.method} {resp.request.url} -> {resp.status_code} {resp.text!r}"


def expect_status(resp: httpx.Response, *statuses: int) -> httpx.Response:
    assert resp.status_code in statuses, f"expected {statuses}: {_describe(resp)}"
    return resp


def json_result(resp: httpx.Response) -> Any:
    """The handler's JSON output of a successful call (None for an empty body)."""
    expect_status(resp, 200)
    return resp.json() if resp.content else None


def error_body(resp: httpx.Response) -> dict[str, Any]:
    """The invocation failure an ingress caller sees: `{code?, message, metadata?, ...}`."""
    assert resp.status_code >= 400, f"expected a failure: {_describe(resp)}"
    body = resp.json()
    assert isinstance(body, dict) and "message" in body, _describe(resp)
    return body


class Ingress:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client

    async def call(
        self, path: str, body: Any = _NO_BODY, *, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """POST /{service}[/{key}]/{handler} with a JSON body (or none)."""
        if body is _NO_BODY:
            return await self.http.post(path, headers=headers)
        return await self.http.post(path, json=body, headers=headers)

    async def send(
        self,
        path: str,
        body: Any = _NO_BODY,
        *,
        delay: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """POST …/send; returns `{"invocationId": …, "status": "Accepted"|"PreviouslyAccepted"}`."""
        headers = {"idempotency-key": idempotency_key} if idempotency_key else None
        params = {"delay": delay} if delay else None
        kwargs: dict[str, Any] = {"headers": headers, "params": params}
        if body is not _NO_BODY:
            kwargs["json"] = body
        resp = expect_status(await self.http.post(f"{path}/send", **kwargs), 202)
        result: dict[str, Any] = resp.json()
        return result

    async def attach(self, invocation_id: str) -> httpx.Response:
        return await self.http.get(f"/restate/invocation/{invocation_id}/attach")

    async def attach_workflow(self, workflow: str, key: str) -> httpx.Response:
        return await self.http.get(f"/restate/workflow/{workflow}/{key}/attach")

    async def resolve_awakeable(self, awakeable_id: str, value: Any) -> None:
        resp = await self.http.post(
            f"/restate/awakeables/{awakeable_id}/resolve",
            content=json.dumps(value).encode(),
            headers={"content-type": "application/json"},
        )
        expect_status(resp, 202)

    async def reject_awakeable(self, awakeable_id: str, reason: str) -> None:
        resp = await self.http.post(
            f"/restate/awakeables/{awakeable_id}/reject",
            content=reason.encode(),
            headers={"content-type": "text/plain"},
        )
        expect_status(resp, 202)


class Admin:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client

    async def cancel(self, invocation_id: str) -> httpx.Response:
        return await self.http.patch(f"/invocations/{invocation_id}/cancel")

    async def kill(self, invocation_id: str) -> httpx.Response:
        return await self.http.patch(f"/invocations/{invocation_id}/kill")

    async def query(self, sql: str) -> list[dict[str, Any]]:
        resp = await self.http.post(
            "/query", json={"query": sql}, headers={"accept": "application/json"}
        )
        expect_status(resp, 200)
        rows: list[dict[str, Any]] = resp.json()["rows"]
        return rows

    async def invocation(self, invocation_id: str) -> dict[str, Any] | None:
        """The sys_invocation row (JSON rows omit null columns), or None when unknown."""
        rows = await self.query(f"SELECT * FROM sys_invocation WHERE id = '{invocation_id}'")
        return rows[0] if rows else None
