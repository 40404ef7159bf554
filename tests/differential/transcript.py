"""What a scenario saw from one server, normalised so two servers' answers compare equal
exactly when they agree on everything a client can rely on.

Each exchange is recorded as (label, method, path, status, headers, body). Normalised:

- ids: every `inv_1…`, `sign_1…`, `dp_1…` is replaced, in order of first appearance, by
  `<inv1>`, `<inv2>`, … (deterministic ids, e.g. of idempotent calls, are equal on both
  servers anyway; random ones only need to be used consistently);
- the scenario's unique keys (`Side.key`) by `<key1>`, …;
- timestamps by their shape (`<time 2026-01-01T00:00:00.000000000Z>` keeps the format, so
  `.912Z` and `.912000000Z` differ) — the value itself never compares;
- headers: only those a client reads (content-type, x-restate-id, x-restate-error-source,
  idempotency-expires, and `server`, which neither sends); transport headers (date,
  length, compression) are dropped, CORS headers have their own scenario.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

_ID = re.compile(r"\b(inv_1|sign_1|prom_1|dp_1)[0-9A-Za-z_-]{10,}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")
NOT_GIVEN: Any = object()
COMPARED_HEADERS = (
    "content-type",
    "x-restate-id",
    "x-restate-error-source",
    "idempotency-expires",
    "server",  # restate sends none
)


def _time_shape(match: re.Match[str]) -> str:
    return "<time " + re.sub(r"\d", "0", match.group(0)) + ">"


@dataclass
class Normaliser:
    """Consistent placeholders for one transcript."""

    keys: list[str] = field(default_factory=list)
    _ids: dict[str, str] = field(default_factory=dict)

    def text(self, value: str) -> str:
        for index, key in enumerate(self.keys, start=1):
            value = value.replace(key, f"<key{index}>")
        value = _ID.sub(self._id, value)
        return _TIME.sub(_time_shape, value)

    def _id(self, match: re.Match[str]) -> str:
        found = match.group(0)
        if found not in self._ids:
            kind = match.group(1).split("_")[0]
            count = sum(1 for v in self._ids.values() if v.startswith(f"<{kind}"))
            self._ids[found] = f"<{kind}{count + 1}>"
        return self._ids[found]

    def value(self, data: Any) -> Any:
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, list):
            return [self.value(v) for v in data]
        if isinstance(data, dict):
            return {self.text(k): self.value(v) for k, v in data.items()}
        return data


@dataclass(frozen=True)
class Exchange:
    label: str
    request: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: Any

    def render(self) -> str:
        headers = ", ".join(f"{k}: {v}" for k, v in self.headers)
        body = (
            json.dumps(self.body, sort_keys=True) if not isinstance(self.body, str) else self.body
        )
        return f"[{self.label}] {self.request} -> {self.status} {{{headers}}} {body}"


def body_of(response: httpx.Response) -> Any:
    """The body as JSON when it is JSON, else as text (bytes as their repr)."""
    if not response.content:
        return ""
    try:
        return json.loads(response.content)
    except ValueError:
        try:
            return response.content.decode()
        except UnicodeDecodeError:
            return repr(response.content)


@dataclass
class Transcript:
    normaliser: Normaliser = field(default_factory=Normaliser)
    exchanges: list[Exchange] = field(default_factory=list)

    def record(self, label: str, response: httpx.Response, body: Any = NOT_GIVEN) -> None:
        n = self.normaliser
        url = response.request.url
        target = url.path + (f"?{url.query.decode()}" if url.query else "")
        headers = tuple(
            (name, n.text(response.headers[name]))
            for name in COMPARED_HEADERS
            if name in response.headers
        )
        data = body_of(response) if body is NOT_GIVEN else body
        self.exchanges.append(
            Exchange(
                n.text(label),
                f"{response.request.method} {n.text(target)}",
                response.status_code,
                headers,
                n.value(data),
            )
        )

    def note(self, label: str, value: Any) -> None:
        """A value the scenario computed (a count, a state), compared like a response."""
        n = self.normaliser
        self.exchanges.append(Exchange(n.text(label), "-", 0, (), n.value(value)))

    def lines(self) -> list[str]:
        return [e.render() for e in self.exchanges]
