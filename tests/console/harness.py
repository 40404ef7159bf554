"""The tests' own view of the server: the ingress to make invocations, `/query` to check
what the console's actions did (never through the console itself)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.polling import eventually_sync


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Shop:
    def __init__(self, ingress_url: str, admin_url: str) -> None:
        self.ingress_url = ingress_url
        self.admin_url = admin_url
        self.http = httpx.Client(timeout=30.0)

    def __enter__(self) -> Shop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def ui(self, path: str = "") -> str:
        return f"{self.admin_url}/ui/{path}"

    def call(self, path: str, body: Any = None) -> httpx.Response:
        """POST `/{path}` on the ingress (a call: waits for the result)."""
        if body is None:
            return self.http.post(f"{self.ingress_url}/{path}")
        return self.http.post(f"{self.ingress_url}/{path}", json=body)

    def call_id(self, path: str, body: Any = None) -> str:
        """Call and return the invocation's id (whatever the handler answered)."""
        answer = self.call(path, body)
        invocation_id = answer.headers.get("x-restate-id")
        assert invocation_id, answer.text
        return invocation_id

    def send(self, path: str, body: Any = None) -> str:
        """POST `/{path}/send` on the ingress; the new invocation's id."""
        answer = self.call(f"{path}/send", body)
        assert answer.status_code == 202, answer.text
        invocation_id: str = answer.json()["invocationId"]
        return invocation_id

    def query(self, sql: str) -> list[dict[str, Any]]:
        answer = self.http.post(
            f"{self.admin_url}/query", json={"query": sql}, headers={"accept": "application/json"}
        )
        assert answer.status_code == 200, answer.text
        rows: list[dict[str, Any]] = answer.json()["rows"]
        return rows

    def invocation(self, invocation_id: str) -> dict[str, Any] | None:
        rows = self.query(f"SELECT * FROM sys_invocation WHERE id = {sql_text(invocation_id)}")
        return rows[0] if rows else None

    def wait_invocation(
        self, invocation_id: str, what: str, condition: Any, within: float = 15.0
    ) -> dict[str, Any]:
        """Poll the invocation's row until `condition(row)` holds; that row."""

        def probe() -> dict[str, Any] | None:
            row = self.invocation(invocation_id)
            return row if row is not None and condition(row) else None

        found: dict[str, Any] = eventually_sync(
            probe, what=f"{invocation_id} {what}", within=within
        )
        return found

    def wait_status(self, invocation_id: str, *statuses: str) -> dict[str, Any]:
        return self.wait_invocation(
            invocation_id, f"to be {' or '.join(statuses)}", lambda r: r["status"] in statuses
        )
